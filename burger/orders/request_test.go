package orders

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRequestAccepts(t *testing.T) {
	tests := []struct {
		name, body string
		want       []Line
	}{
		{"one line", `{"items":[{"item":"burger","quantity":2}]}`, []Line{{"burger", 2}}},
		{"quantity defaults to 1", `{"items":[{"item":"fries"}]}`, []Line{{"fries", 1}}},
		{"key order and whitespace", " {\n \"items\" : [ {\"quantity\":20, \"item\":\"soda\"}, {\"item\":\"shake\",\"quantity\":1} ] }\n",
			[]Line{{"soda", 20}, {"shake", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest(strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("DecodeRequest(%s) = %v", tt.body, err)
			}
			if !reflect.DeepEqual(got.Items, tt.want) {
				t.Errorf("items = %+v, want %+v", got.Items, tt.want)
			}
		})
	}
}

func TestDecodeRequestRejectsNamingTheField(t *testing.T) {
	tests := []struct {
		name, body string
		field      string // "" for the body as a whole
		contains   string
	}{
		{"empty body", ``, "", "is empty"},
		{"malformed", `{"items":[`, "", "not valid JSON"},
		{"trailing data", `{"items":[{"item":"burger"}]} {}`, "", "not valid JSON"},
		{"not an object", `[{"item":"burger"}]`, "", "must be a JSON object, got an array"},
		{"null body", `null`, "", "must be a JSON object, got null"},
		{"unknown top-level field", `{"items":[{"item":"burger"}],"tip":5}`, "tip", "is not a known field (accepted: items)"},
		{"keys are case-sensitive", `{"Items":[{"item":"burger"}]}`, "Items", "is not a known field"},
		{"repeated key", `{"items":[{"item":"burger"}],"items":[]}`, "items", "appears more than once"},
		{"missing items", `{}`, "items", "must list at least one item"},
		{"null items", `{"items":null}`, "items", "is required"},
		{"items not an array", `{"items":"burger"}`, "items", `must be an array, got a string "burger"`},
		{"empty items", `{"items":[]}`, "items", "must list at least one item"},
		{"line not an object", `{"items":["burger"]}`, "items[0]", "must be an object"},
		{"unknown line field", `{"items":[{"item":"burger","size":"xl"}]}`, "items[0].size", "(accepted: item, quantity)"},
		{"missing item", `{"items":[{"quantity":1}]}`, "items[0].item", "is required"},
		{"item wrong type", `{"items":[{"item":7}]}`, "items[0].item", "must be a string naming a menu item, got the number 7"},
		{"not on the menu", `{"items":[{"item":"burger"},{"item":"pizza"}]}`, "items[1].item", `"pizza" is not on the menu (menu: burger, cheeseburger,`},
		{"duplicate item", `{"items":[{"item":"fries"},{"item":"burger"},{"item":"fries"}]}`, "items[2].item", "already ordered in items[0]"},
		{"quantity string", `{"items":[{"item":"burger","quantity":"2"}]}`, "items[0].quantity", `got a string "2"`},
		{"quantity zero", `{"items":[{"item":"burger","quantity":0}]}`, "items[0].quantity", "from 1 to 20, got 0"},
		{"quantity negative", `{"items":[{"item":"burger","quantity":-1}]}`, "items[0].quantity", "got -1"},
		{"quantity huge", `{"items":[{"item":"burger","quantity":1000000000000000000000}]}`, "items[0].quantity", "got 1000000000000000000000"},
		{"quantity over the limit", `{"items":[{"item":"burger","quantity":21}]}`, "items[0].quantity", "got 21"},
		{"quantity fractional", `{"items":[{"item":"burger","quantity":1.5}]}`, "items[0].quantity", "got 1.5"},
		{"quantity exponent", `{"items":[{"item":"burger","quantity":1e1}]}`, "items[0].quantity", "got 1e1"},
		{"quantity null", `{"items":[{"item":"burger","quantity":null}]}`, "items[0].quantity", "got null"},
		{"too many lines", `{"items":[` + strings.Repeat(`{"item":"soda"},`, MaxLines) + `{"item":"soda"}]}`, "items", "more than 20 lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest(strings.NewReader(tt.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeRequest(%s) = %v, want a *FieldError", tt.body, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error = %q, want it to contain %q", err, tt.contains)
			}
		})
	}
}

func TestDecodeRequestSizeLimit(t *testing.T) {
	// Valid JSON, padded with whitespace past the limit: size alone rejects it.
	body := `{"items":[{"item":"burger"}]}`
	at := append([]byte(body), bytes.Repeat([]byte(" "), MaxBodyBytes-len(body))...)
	if _, err := DecodeRequest(bytes.NewReader(at)); err != nil {
		t.Errorf("body of exactly %d bytes: %v, want it accepted", len(at), err)
	}
	over := append(at, ' ')
	if _, err := DecodeRequest(bytes.NewReader(over)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("body of %d bytes: %v, want ErrTooLarge", len(over), err)
	}
}

func TestHashIgnoresSpelling(t *testing.T) {
	a, err := DecodeRequest(strings.NewReader(`{"items":[{"item":"burger"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeRequest(strings.NewReader(`{ "items": [ {"quantity": 1, "item": "burger"} ] }`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeRequest(strings.NewReader(`{"items":[{"item":"burger","quantity":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Errorf("equal orders hash differently: %s vs %s", a.Hash(), b.Hash())
	}
	if a.Hash() == c.Hash() {
		t.Error("orders of different quantities hash equal")
	}
}

func TestErrorClipsHugeValues(t *testing.T) {
	huge := strings.Repeat("x", 10000)
	_, err := DecodeRequest(strings.NewReader(`{"items":[{"item":"` + huge + `"}]}`))
	if err == nil || len(err.Error()) > 400 {
		t.Errorf("error for a 10000-byte item name is %d bytes, want it clipped: %.100v", len(err.Error()), err)
	}
}
