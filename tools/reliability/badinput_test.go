package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/orders"
)

// TestBadAPIInput sends malformed and invalid orders to the real API
// process (linecookd api, with the environment its ECS task gets) and
// checks that each is answered 4xx with a JSON error naming the field, and
// that none of them wrote an order, claimed an Idempotency-Key or sent a
// message. The pipeline runs no workers, so the first queue keeps exactly
// what the API sent.
//
// The api package's tests check the same handler in-process; this test
// checks the binary that is deployed, HTTP server settings included.
func TestBadAPIInput(t *testing.T) {
	p := startPipeline(t, spec{scale: 10, stages: burgerStages(map[string]stageOpts{
		"payment": {idle: true}, "grill": {idle: true}, "fry": {idle: true}, "assemble": {idle: true},
	})})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// One good order, with a key, a charset in its content type and
	// spelled loosely: the control, and the key the reuse case reuses.
	const usedKey = "reliability-used-key"
	good := p.post(t, "application/json; charset=utf-8", map[string]string{"Idempotency-Key": usedKey},
		` { "items" : [ {"item":"burger","quantity":2}, {"item":"soda"} ] } `)
	if good.status != http.StatusAccepted {
		t.Fatalf("the control order was answered %d %s, want 202", good.status, good.raw)
	}

	menu := orders.MenuNames()
	manyLines := make([]string, orders.MaxLines+1)
	for i := range manyLines {
		manyLines[i] = fmt.Sprintf(`{"item":%q}`, menu[i%len(menu)])
	}
	const ctJSON = "application/json"
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	tests := []struct {
		name        string
		contentType string
		headers     map[string]string
		body        string
		status      int
		field       string
		contains    string
		accepted    []string // the choices the error lists, if any
	}{
		{"malformed JSON", ctJSON, nil, `{"items":[{"item":"burger"}`, 400, "", "not valid JSON", nil},
		{"trailing garbage", ctJSON, nil, `{"items":[{"item":"burger"}]} {}`, 400, "", "not valid JSON", nil},
		{"empty body", ctJSON, nil, ``, 400, "", "is empty", nil},
		{"an array, not an object", ctJSON, nil, `[{"item":"burger"}]`, 400, "", "must be a JSON object", nil},
		{"null", ctJSON, nil, `null`, 400, "", "must be a JSON object", nil},
		{"items missing", ctJSON, nil, `{}`, 400, "items", "at least one item", nil},
		{"items null", ctJSON, nil, `{"items":null}`, 400, "items", "is required", nil},
		{"items a string", ctJSON, nil, `{"items":"burger"}`, 400, "items", "must be an array", nil},
		{"items an object", ctJSON, nil, `{"items":{"item":"burger"}}`, 400, "items", "must be an array", nil},
		{"empty items", ctJSON, nil, `{"items":[]}`, 400, "items", "at least one item", nil},
		{"too many lines", ctJSON, nil, `{"items":[` + strings.Join(manyLines, ",") + `]}`, 400, "items", "more than 20", nil},
		{"line a string", ctJSON, nil, `{"items":["burger"]}`, 400, "items[0]", "must be an object", nil},
		{"item missing", ctJSON, nil, `{"items":[{"quantity":2}]}`, 400, "items[0].item", "is required", menu},
		{"item a number", ctJSON, nil, `{"items":[{"item":7}]}`, 400, "items[0].item", "must be a string", menu},
		{"item not on the menu", ctJSON, nil, `{"items":[{"item":"soda"},{"item":"pizza"}]}`, 400, "items[1].item", `"pizza" is not on the menu`, menu},
		{"item twice", ctJSON, nil, `{"items":[{"item":"soda"},{"item":"soda"}]}`, 400, "items[1].item", "already ordered", nil},
		{"quantity a string", ctJSON, nil, `{"items":[{"item":"burger","quantity":"two"}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity fractional", ctJSON, nil, `{"items":[{"item":"burger","quantity":1.5}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity zero", ctJSON, nil, `{"items":[{"item":"burger","quantity":0}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity negative", ctJSON, nil, `{"items":[{"item":"burger","quantity":-3}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity huge", ctJSON, nil, `{"items":[{"item":"burger","quantity":1000000000}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity beyond int64", ctJSON, nil, `{"items":[{"item":"burger","quantity":99999999999999999999999}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"quantity null", ctJSON, nil, `{"items":[{"item":"burger","quantity":null}]}`, 400, "items[0].quantity", "whole number from 1 to 20", nil},
		{"unknown field", ctJSON, nil, `{"items":[{"item":"soda"}],"coupon":"FREE"}`, 400, "coupon", "not a known field", []string{"items"}},
		{"unknown field in a line", ctJSON, nil, `{"items":[{"item":"soda","size":"XL"}]}`, 400, "items[0].size", "not a known field", []string{"item", "quantity"}},
		{"repeated key", ctJSON, nil, `{"items":[{"item":"soda"}],"items":[{"item":"shake"}]}`, 400, "items", "more than once", nil},
		{"2 MB body", ctJSON, nil, `{"items":[{"item":"soda"}],"pad":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "", "larger than 65536 bytes", nil},
		{"text/plain", "text/plain", nil, `{"items":[{"item":"soda"}]}`, 415, "Content-Type", "must be application/json", []string{"application/json"}},
		{"form", "application/x-www-form-urlencoded", nil, `items=soda`, 415, "Content-Type", "must be application/json", []string{"application/json"}},
		{"no content type", "", nil, `{"items":[{"item":"soda"}]}`, 415, "Content-Type", "must be application/json", []string{"application/json"}},
		{"over-long Idempotency-Key", ctJSON, key(strings.Repeat("k", 129)), `{"items":[{"item":"soda"}]}`, 400, "Idempotency-Key", "1 to 128 characters", nil},
		{"empty Idempotency-Key", ctJSON, key(""), `{"items":[{"item":"soda"}]}`, 400, "Idempotency-Key", "1 to 128 characters", nil},
		{"Idempotency-Key with a space", ctJSON, key("my key"), `{"items":[{"item":"soda"}]}`, 400, "Idempotency-Key", "visible ASCII", nil},
		{"valid key, bad body", ctJSON, key("reliability-unclaimed"), `{"items":{}}`, 400, "items", "must be an array", nil},
		{"reused key, different order", ctJSON, key(usedKey), `{"items":[{"item":"shake"}]}`, 422, "Idempotency-Key", "already used for a different order", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.post(t, tt.contentType, tt.headers, tt.body)
			if r.status != tt.status {
				t.Errorf("status = %d, want %d (%s)", r.status, tt.status, r.raw)
			}
			if r.contentType != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", r.contentType)
			}
			if r.body.Field != tt.field {
				t.Errorf("field = %q, want %q (%s)", r.body.Field, tt.field, r.raw)
			}
			if !strings.Contains(r.body.Error, tt.contains) {
				t.Errorf("error = %q, want it to contain %q", r.body.Error, tt.contains)
			}
			if tt.accepted != nil && strings.Join(r.body.Accepted, ",") != strings.Join(tt.accepted, ",") {
				t.Errorf("accepted = %v, want %v", r.body.Accepted, tt.accepted)
			}
		})
	}

	// Nothing but the control order reached the table or the queue.
	all := p.allOrders(t, ctx)
	if len(all) != 1 || all[0].ID != good.body.ID {
		t.Errorf("the table holds %d orders, want only the control order %s", len(all), good.body.ID)
	}
	if n, err := p.queueDepth(ctx, p.Queues()[0].URL); err != nil || n != 1 {
		t.Errorf("the first queue holds %d messages (%v), want only the control order's", n, err)
	}
	if _, err := p.store.GetIdempotency(ctx, "reliability-unclaimed"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("a rejected request claimed its Idempotency-Key: %v", err)
	}
	if rec, err := p.store.GetIdempotency(ctx, usedKey); err != nil || rec.OrderID != good.body.ID {
		t.Errorf("the control order's key = %+v, %v; want it bound to %s still", rec, err, good.body.ID)
	}
	figures(t, "bad input: %d malformed or invalid requests answered 4xx naming the field; 0 orders written, 0 messages sent, 0 keys claimed", len(tests))
}

// apiAnswer is an answer of the API.
type apiAnswer struct {
	status      int
	contentType string
	raw         string
	body        struct {
		ID       string   `json:"id"`
		Error    string   `json:"error"`
		Field    string   `json:"field"`
		Accepted []string `json:"accepted"`
	}
}

func (p *pipe) post(t *testing.T, contentType string, headers map[string]string, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.APIURL()+"/orders", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header[k] = []string{v} // as given: an empty key is sent empty
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := apiAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), raw: string(bytes.TrimSpace(raw))}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Errorf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return a
}
