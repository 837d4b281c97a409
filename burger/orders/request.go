package orders

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of a new-order request.
const (
	// MaxBodyBytes is the largest request body accepted: a full order is
	// well under 2 KiB, so 64 KiB leaves room without inviting abuse.
	MaxBodyBytes = 64 << 10
	// MaxLines is the most lines an order may have. Each menu item may
	// appear on one line only, so the menu bounds it too.
	MaxLines = 20
	// MaxQuantity is the most units of one item an order may ask for.
	MaxQuantity = 20
)

// ErrTooLarge is returned for a request body over MaxBodyBytes.
var ErrTooLarge = fmt.Errorf("request body is larger than %d bytes", MaxBodyBytes)

// Request is a new order as the API accepts it:
//
//	{"items": [{"item": "burger", "quantity": 2}, {"item": "fries"}]}
//
// quantity defaults to 1.
type Request struct {
	Items []Line `json:"items"`
}

// FieldError is a rejected request: which field, why, and what is
// accepted there.
type FieldError struct {
	// Field is the path of the offending field, like "items[1].item";
	// empty when the body as a whole is wrong (not JSON, not an object).
	Field string
	// Reason says what is wrong with the value.
	Reason string
	// Accepted lists the values or keys that are accepted, when the field
	// is a choice.
	Accepted []string

	label string // names Accepted in the message; "accepted" when empty
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Field == "" {
		b.WriteString("request body")
	} else {
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if len(e.Accepted) > 0 {
		label := e.label
		if label == "" {
			label = "accepted"
		}
		fmt.Fprintf(&b, " (%s: %s)", label, strings.Join(e.Accepted, ", "))
	}
	return b.String()
}

// DecodeRequest reads and validates a new-order request. It is strict: the
// body must be one JSON object of at most MaxBodyBytes, with no unknown or
// repeated keys and every value of the right type, and the order must
// validate (see Request.Validate). Errors are *FieldError, or ErrTooLarge,
// or the reader's own error.
func DecodeRequest(r io.Reader) (Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return Request{}, err
	}
	if len(data) > MaxBodyBytes {
		return Request{}, ErrTooLarge
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Request{}, &FieldError{Reason: `is empty; send a JSON object like {"items":[{"item":"burger","quantity":1}]}`}
	}
	// Check the syntax of the whole body first, so a malformed body is
	// reported as such rather than by whatever schema check comes first.
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Request{}, &FieldError{Reason: fmt.Sprintf("is not valid JSON: %v (at byte %d)", syn, syn.Offset)}
		}
		return Request{}, &FieldError{Reason: fmt.Sprintf("is not valid JSON: %v", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := parser{dec: dec}
	req, err := p.request()
	if err != nil {
		return Request{}, err
	}
	if err := req.Validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

// Validate checks an order against the menu and the limits: 1 to MaxLines
// lines, each a menu item appearing once, quantities 1 to MaxQuantity.
func (r Request) Validate() error {
	if len(r.Items) == 0 {
		return &FieldError{Field: "items", Reason: "must list at least one item"}
	}
	if len(r.Items) > MaxLines {
		return &FieldError{Field: "items", Reason: fmt.Sprintf("has %d lines; at most %d are accepted", len(r.Items), MaxLines)}
	}
	first := make(map[string]int, len(r.Items))
	for i, l := range r.Items {
		field := fmt.Sprintf("items[%d]", i)
		if _, ok := Menu[l.Item]; !ok {
			return &FieldError{Field: field + ".item", Reason: fmt.Sprintf("%s is not on the menu", quote(l.Item)), Accepted: MenuNames(), label: "menu"}
		}
		if j, dup := first[l.Item]; dup {
			return &FieldError{Field: field + ".item", Reason: fmt.Sprintf("%q is already ordered in items[%d]; order it once with a larger quantity", l.Item, j)}
		}
		first[l.Item] = i
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return &FieldError{Field: field + ".quantity", Reason: fmt.Sprintf("must be a whole number from 1 to %d, got %d", MaxQuantity, l.Quantity)}
		}
	}
	return nil
}

// Hash identifies the order's content: equal requests, however they were
// spelled (whitespace, key order, an omitted quantity of 1), hash equal.
// It is what an Idempotency-Key is bound to.
func (r Request) Hash() string {
	b, err := json.Marshal(r)
	if err != nil {
		// A Request is strings and ints: marshalling cannot fail.
		panic(fmt.Sprintf("orders: marshal request: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// parser walks the token stream of a syntactically valid body against the
// request's schema. Tokens rather than Unmarshal because encoding/json
// silently takes the last of repeated keys, matches keys case-insensitively
// and names type errors without array indexes; here every error names the
// exact field.
type parser struct{ dec *json.Decoder }

func (p *parser) request() (Request, error) {
	var req Request
	err := p.object("", []string{"items"}, func(key, field string) error {
		items, err := p.items(field)
		req.Items = items
		return err
	})
	return req, err
}

func (p *parser) items(field string) ([]Line, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	if tok == nil {
		return nil, &FieldError{Field: field, Reason: `is required: a list of lines like {"item":"burger","quantity":1}`}
	}
	if tok != json.Delim('[') {
		return nil, &FieldError{Field: field, Reason: "must be an array, got " + describe(tok)}
	}
	var items []Line
	for i := 0; p.dec.More(); i++ {
		if i >= MaxLines {
			return nil, &FieldError{Field: field, Reason: fmt.Sprintf("has more than %d lines", MaxLines)}
		}
		line, err := p.line(fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		items = append(items, line)
	}
	if _, err := p.dec.Token(); err != nil { // ']'
		return nil, p.syntax(err)
	}
	return items, nil
}

func (p *parser) line(field string) (Line, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return Line{}, p.syntax(err)
	}
	if tok != json.Delim('{') {
		return Line{}, &FieldError{Field: field, Reason: `must be an object like {"item":"burger","quantity":1}, got ` + describe(tok)}
	}
	l := Line{Quantity: 1}
	haveItem := false
	err = p.fields(field, []string{"item", "quantity"}, func(key, f string) error {
		tok, err := p.dec.Token()
		if err != nil {
			return p.syntax(err)
		}
		switch key {
		case "item":
			s, ok := tok.(string)
			if !ok {
				return &FieldError{Field: f, Reason: "must be a string naming a menu item, got " + describe(tok), Accepted: MenuNames(), label: "menu"}
			}
			l.Item, haveItem = s, true
		case "quantity":
			n, ok := tok.(json.Number)
			if !ok {
				return &FieldError{Field: f, Reason: fmt.Sprintf("must be a whole number from 1 to %d, got %s", MaxQuantity, describe(tok))}
			}
			q, err := strconv.Atoi(string(n))
			if err != nil || q < 1 || q > MaxQuantity {
				return &FieldError{Field: f, Reason: fmt.Sprintf("must be a whole number from 1 to %d, got %s", MaxQuantity, clip(string(n)))}
			}
			l.Quantity = q
		}
		return nil
	})
	if err != nil {
		return Line{}, err
	}
	if !haveItem {
		return Line{}, &FieldError{Field: field + ".item", Reason: "is required", Accepted: MenuNames(), label: "menu"}
	}
	return l, nil
}

// object reads an object whose opening token is next, calling value for
// each accepted key (which must consume the value).
func (p *parser) object(field string, keys []string, value func(key, field string) error) error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.syntax(err)
	}
	if tok != json.Delim('{') {
		return &FieldError{Field: field, Reason: "must be a JSON object, got " + describe(tok)}
	}
	return p.fields(field, keys, value)
}

// fields reads the keys and values of an object whose '{' is consumed,
// through its closing '}'. Unknown and repeated keys are errors.
func (p *parser) fields(field string, keys []string, value func(key, field string) error) error {
	seen := make(map[string]bool, len(keys))
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return p.syntax(err)
		}
		key, _ := tok.(string)
		f := key
		if field != "" {
			f = field + "." + key
		}
		known := false
		for _, k := range keys {
			known = known || k == key
		}
		if !known {
			return &FieldError{Field: clip(f), Reason: "is not a known field", Accepted: keys}
		}
		if seen[key] {
			return &FieldError{Field: f, Reason: "appears more than once"}
		}
		seen[key] = true
		if err := value(key, f); err != nil {
			return err
		}
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return p.syntax(err)
	}
	return nil
}

// syntax reports a token error. The body passed json.Valid, so this is
// not expected; it is an error rather than a panic all the same.
func (p *parser) syntax(err error) error {
	return &FieldError{Reason: fmt.Sprintf("is not valid JSON: %v (at byte %d)", err, p.dec.InputOffset())}
}

// describe names a token's JSON type for error messages.
func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string " + quote(t)
	case json.Number:
		return "the number " + clip(string(t))
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// quote quotes a client-supplied string for an error message, clipped so a
// huge value cannot make a huge error.
func quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	// Cut on a rune boundary.
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
