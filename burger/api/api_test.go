package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators/emutest"
	"github.com/linecook/linecook/workers"
)

func TestMain(m *testing.M) { emutest.Main(m) }

// fixture is an API served over HTTP against its own table and queue in
// the emulators.
type fixture struct {
	cfg      api.Config
	store    *dynamo.Store // the real table, for checking what was written
	sqs      *sqs.Client   // the real queue, for checking what was sent
	queueURL string
	url      string
	log      *bytes.Buffer
}

// deps lets a test swap the API's clients (for an unreachable service)
// and change its configuration.
type deps struct {
	cfg   *api.Config
	store api.Store
	queue api.Queue
	// server, if set, is called with the server before it serves.
	server func(*api.Server)
}

func start(t testing.TB, change func(*deps)) *fixture {
	t.Helper()
	awsCfg := emutest.Config(t)
	f := &fixture{store: emutest.Table(t), sqs: sqs.NewFromConfig(awsCfg), log: &bytes.Buffer{}}
	f.queueURL = emutest.Queue(t, f.sqs)
	f.cfg = api.Config{
		Port: 8080, NextQueueURL: f.queueURL, OrderTable: f.store.Table(),
		AWSTimeout: 2 * time.Second, ShutdownTimeout: 10 * time.Second,
		Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 0.01},
	}
	d := deps{cfg: &f.cfg, store: f.store, queue: f.sqs}
	if change != nil {
		change(&d)
	}
	var out io.Writer = f.log
	if os.Getenv("LINECOOK_TEST_LOG") != "" {
		out = io.MultiWriter(f.log, os.Stderr)
	}
	s, err := api.New(f.cfg, d.store, d.queue, slog.New(slog.NewJSONHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if d.server != nil {
		d.server(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// deadEndpoint is an address nothing listens on.
func deadEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, method, path, contentType string, headers map[string]string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s answered %d with a body that is not a JSON object: %q", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return r
}

func (f *fixture) post(t *testing.T, body string, headers map[string]string) response {
	t.Helper()
	return f.do(t, "POST", "/orders", "application/json", headers, []byte(body))
}

// received takes every message waiting in the fixture's queue.
func (f *fixture) received(t *testing.T) []sqstypes.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var all []sqstypes.Message
	for {
		out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &f.queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
	}
}

func (f *fixture) orders(t *testing.T) []orders.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all, err := f.store.Recent(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

const burgerAndFries = `{"items":[{"item":"burger","quantity":2},{"item":"fries"}]}`

func TestAcceptedOrderIsStoredAndQueuedWithItsTrace(t *testing.T) {
	f := start(t, nil)
	r := f.post(t, burgerAndFries, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /orders = %d %s, want 202", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	trace, _ := r.body["traceId"].(string)
	if !orders.ValidID(id) || len(trace) != 32 || r.body["status"] != "accepted" {
		t.Fatalf("answer = %s, want an order id, a trace id and status accepted", r.raw)
	}
	if loc := r.header.Get("Location"); loc != "/orders/"+id {
		t.Errorf("Location = %q, want /orders/%s", loc, id)
	}

	stored := f.orders(t)
	if len(stored) != 1 || stored[0].ID != id || stored[0].TraceID != trace || stored[0].Status != orders.Accepted ||
		len(stored[0].Items) != 2 || stored[0].Items[0] != (orders.Line{Item: "burger", Quantity: 2}) {
		t.Fatalf("table holds %+v, want the one order %s", stored, id)
	}
	msgs := f.received(t)
	if len(msgs) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(msgs))
	}
	m, err := orders.DecodeMessage([]byte(aws.ToString(msgs[0].Body)))
	if err != nil || m.OrderID != id || m.TraceID != trace {
		t.Errorf("message = %+v, %v; want order %s", m, err, id)
	}
	attr, ok := msgs[0].MessageAttributes[workers.TraceIDAttribute]
	if !ok || aws.ToString(attr.StringValue) != trace || aws.ToString(attr.DataType) != "String" {
		t.Errorf("message attribute %s = %+v, want String %s", workers.TraceIDAttribute, attr, trace)
	}
	// The keys the workers' lines of the order use too (package logkey).
	if !strings.Contains(f.log.String(), `"trace_id":"`+trace+`"`) || !strings.Contains(f.log.String(), `"order_id":"`+id+`"`) {
		t.Errorf("access log does not name the trace id %s and the order id %s:\n%s", trace, id, f.log)
	}
}

func TestBadInputIsRejectedNamingTheFieldAndLeavesNoTrace(t *testing.T) {
	f := start(t, nil)
	tests := []struct {
		name        string
		contentType string
		headers     map[string]string
		body        string
		status      int
		field       string
		contains    string
	}{
		{"malformed JSON", "application/json", nil, `{"items":[{"item":"burger"}`, 400, "", "not valid JSON"},
		{"quantity of the wrong type", "application/json", nil, `{"items":[{"item":"burger","quantity":"two"}]}`, 400, "items[0].quantity", "must be a whole number"},
		{"item of the wrong type", "application/json", nil, `{"items":[{"item":["burger"]}]}`, 400, "items[0].item", "must be a string"},
		{"empty items", "application/json", nil, `{"items":[]}`, 400, "items", "at least one item"},
		{"huge quantity", "application/json", nil, `{"items":[{"item":"burger","quantity":100000}]}`, 400, "items[0].quantity", "from 1 to 20"},
		{"not on the menu", "application/json", nil, `{"items":[{"item":"soda"},{"item":"pizza"}]}`, 400, "items[1].item", `"pizza" is not on the menu`},
		{"unknown field", "application/json", nil, `{"items":[{"item":"soda"}],"coupon":"FREE"}`, 400, "coupon", "not a known field"},
		{"2 MB body", "application/json", nil, `{"items":[{"item":"soda"}],"pad":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "", "larger than 65536 bytes"},
		{"wrong content type", "text/plain", nil, `{"items":[{"item":"soda"}]}`, 415, "Content-Type", "must be application/json"},
		{"form content type", "application/x-www-form-urlencoded", nil, `items=soda`, 415, "Content-Type", "must be application/json"},
		{"no content type", "", nil, `{"items":[{"item":"soda"}]}`, 415, "Content-Type", "must be application/json"},
		{"over-long Idempotency-Key", "application/json", map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, `{"items":[{"item":"soda"}]}`, 400, "Idempotency-Key", "1 to 128 characters"},
		{"Idempotency-Key with spaces", "application/json", map[string]string{"Idempotency-Key": "my key"}, `{"items":[{"item":"soda"}]}`, 400, "Idempotency-Key", "visible ASCII"},
		{"valid key, bad body", "application/json", map[string]string{"Idempotency-Key": "bad-body-key"}, `{"items":{}}`, 400, "items", "must be an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "POST", "/orders", tt.contentType, tt.headers, []byte(tt.body))
			if r.status != tt.status {
				t.Errorf("status = %d, want %d (%s)", r.status, tt.status, r.raw)
			}
			if got, _ := r.body["field"].(string); got != tt.field {
				t.Errorf("field = %q, want %q (%s)", got, tt.field, r.raw)
			}
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, tt.contains) {
				t.Errorf("error = %q, want it to contain %q", msg, tt.contains)
			}
		})
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Errorf("bad requests enqueued %d messages, want none: %v", len(msgs), aws.ToString(msgs[0].Body))
	}
	if stored := f.orders(t); len(stored) != 0 {
		t.Errorf("bad requests wrote %d orders, want none", len(stored))
	}
	ctx := context.Background()
	if _, err := f.store.GetIdempotency(ctx, "bad-body-key"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("a rejected request claimed its Idempotency-Key: %v", err)
	}
}

func TestMenuErrorListsTheMenu(t *testing.T) {
	f := start(t, nil)
	r := f.post(t, `{"items":[{"item":"pizza"}]}`, nil)
	accepted, _ := r.body["accepted"].([]any)
	if r.status != 400 || len(accepted) != len(orders.Menu) {
		t.Errorf("answer = %d %s, want 400 listing the %d menu items", r.status, r.raw, len(orders.Menu))
	}
}

func TestIdempotentRetryReturnsTheSameOrder(t *testing.T) {
	f := start(t, nil)
	key := map[string]string{"Idempotency-Key": "7b0c6a1e-retry"}
	first := f.post(t, burgerAndFries, key)
	if first.status != http.StatusAccepted {
		t.Fatalf("first POST = %d %s", first.status, first.raw)
	}
	// The same order spelled differently is the same request.
	retry := f.post(t, `{ "items": [ {"quantity": 2, "item": "burger"}, {"item": "fries", "quantity": 1} ] }`, key)
	if retry.status != http.StatusAccepted || retry.body["id"] != first.body["id"] || retry.body["traceId"] != first.body["traceId"] {
		t.Fatalf("retry = %d %s, want 202 with %s", retry.status, retry.raw, first.raw)
	}
	if retry.header.Get("Idempotent-Replayed") != "true" || retry.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("retry headers = %v, want Idempotent-Replayed: true and the same Location", retry.header)
	}
	conflict := f.post(t, `{"items":[{"item":"shake"}]}`, key)
	if conflict.status != http.StatusUnprocessableEntity || conflict.body["field"] != "Idempotency-Key" ||
		!strings.Contains(conflict.raw, "already used for a different order") {
		t.Errorf("same key, different order = %d %s; want 422 naming Idempotency-Key", conflict.status, conflict.raw)
	}
	if stored := f.orders(t); len(stored) != 1 {
		t.Errorf("table holds %d orders, want 1", len(stored))
	}
	if msgs := f.received(t); len(msgs) != 1 {
		t.Errorf("queue holds %d messages, want 1", len(msgs))
	}
}

// A request that claimed its key and died (the API task crashed) leaves an
// unfinished claim: within the window a retry is told to wait; after it,
// the retry finishes the dead request's work under its order id.
func TestIdempotencyKeyOfACrashedRequest(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()
	req, err := orders.DecodeRequest(strings.NewReader(burgerAndFries))
	if err != nil {
		t.Fatal(err)
	}
	claim := func(key string, age time.Duration) orders.Idempotency {
		o := orders.New(req, time.Now().Add(-age))
		rec := orders.Idempotency{Key: key, OrderID: o.ID, TraceID: o.TraceID, RequestHash: req.Hash(), CreatedAt: o.CreatedAt}
		if err := f.store.PutIdempotency(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}

	fresh := claim("crashed-just-now", 0)
	r := f.post(t, burgerAndFries, map[string]string{"Idempotency-Key": fresh.Key})
	if r.status != http.StatusConflict || r.header.Get("Retry-After") == "" || r.body["field"] != "Idempotency-Key" {
		t.Errorf("retry within the window = %d %s, want 409 with Retry-After", r.status, r.raw)
	}

	// Crashed before writing the order.
	old := claim("crashed-before-write", time.Hour)
	r = f.post(t, burgerAndFries, map[string]string{"Idempotency-Key": old.Key})
	if r.status != http.StatusAccepted || r.body["id"] != old.OrderID || r.body["traceId"] != old.TraceID {
		t.Errorf("retry after the window = %d %s, want 202 for order %s", r.status, r.raw, old.OrderID)
	}
	// Crashed between writing the order and sending it.
	sent := claim("crashed-before-send", time.Hour)
	if err := f.store.Create(ctx, orders.Order{ID: sent.OrderID, TraceID: sent.TraceID, Items: req.Items, Status: orders.Accepted, CreatedAt: sent.CreatedAt}); err != nil {
		t.Fatal(err)
	}
	r = f.post(t, burgerAndFries, map[string]string{"Idempotency-Key": sent.Key})
	if r.status != http.StatusAccepted || r.body["id"] != sent.OrderID {
		t.Errorf("retry after the window = %d %s, want 202 for order %s", r.status, r.raw, sent.OrderID)
	}

	got := map[string]bool{}
	for _, m := range f.received(t) {
		dm, err := orders.DecodeMessage([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		got[dm.OrderID] = true
	}
	if len(got) != 2 || !got[old.OrderID] || !got[sent.OrderID] {
		t.Errorf("queued orders %v, want exactly %s and %s", got, old.OrderID, sent.OrderID)
	}
	for _, k := range []string{old.Key, sent.Key} {
		if rec, err := f.store.GetIdempotency(ctx, k); err != nil || !rec.Done {
			t.Errorf("key %s after takeover = %+v, %v; want done", k, rec, err)
		}
	}
}

func TestQueueUnreachable(t *testing.T) {
	dead := deadEndpoint(t)
	f := start(t, func(d *deps) {
		d.cfg.AWSTimeout = 500 * time.Millisecond
		d.queue = sqs.NewFromConfig(emutest.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(dead) })
	})
	for _, key := range []string{"", "queue-down-key"} {
		headers := map[string]string{}
		if key != "" {
			headers["Idempotency-Key"] = key
		}
		r := f.post(t, burgerAndFries, headers)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "order queue") {
			t.Errorf("POST (key %q) with SQS down = %d %s, want 503 with Retry-After naming the queue", key, r.status, r.raw)
		}
	}
	if stored := f.orders(t); len(stored) != 0 {
		t.Errorf("table holds %d orders after failed sends, want none: %+v", len(stored), stored)
	}
	if _, err := f.store.GetIdempotency(context.Background(), "queue-down-key"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Idempotency-Key still claimed after a failed send (%v): a retry could not start afresh", err)
	}
	if r := f.do(t, "GET", "/readyz", "", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with SQS down = %d, want 503", r.status)
	}
	if r := f.do(t, "GET", "/healthz", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /healthz with SQS down = %d, want 200 (liveness checks no dependency)", r.status)
	}
}

func TestTableUnreachable(t *testing.T) {
	dead := deadEndpoint(t)
	f := start(t, func(d *deps) {
		d.cfg.AWSTimeout = 500 * time.Millisecond
		db := dynamodb.NewFromConfig(emutest.Config(t), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(dead) })
		d.store = dynamo.New(db, dynamo.Config{Table: d.cfg.OrderTable, Timeout: d.cfg.AWSTimeout})
	})
	for _, headers := range []map[string]string{nil, {"Idempotency-Key": "table-down-key"}} {
		r := f.post(t, burgerAndFries, headers)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "order table") {
			t.Errorf("POST (%v) with DynamoDB down = %d %s, want 503 with Retry-After naming the table", headers, r.status, r.raw)
		}
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Errorf("queue holds %d messages though the table was down, want none", len(msgs))
	}
	if r := f.do(t, "GET", "/orders/"+orders.NewID(time.Now()), "", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET with DynamoDB down = %d, want 503", r.status)
	}
}

func TestGetTimelineAfterTheStages(t *testing.T) {
	f := start(t, nil)
	r := f.post(t, burgerAndFries, nil)
	id, _ := r.body["id"].(string)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", r.status, r.raw)
	}
	got := f.do(t, "GET", "/orders/"+id, "", nil, nil)
	if got.status != http.StatusOK || got.body["status"] != "accepted" {
		t.Fatalf("GET before any stage = %d %s, want 200 accepted", got.status, got.raw)
	}

	msgs := f.received(t)
	if len(msgs) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(msgs))
	}
	msg := workers.Message{ID: aws.ToString(msgs[0].MessageId), Body: []byte(aws.ToString(msgs[0].Body)),
		TraceID: aws.ToString(msgs[0].MessageAttributes[workers.TraceIDAttribute].StringValue), ReceiveCount: 1}
	deps := handlers.Deps{Store: f.store, Config: handlers.Config{Work: f.cfg.Work}, Log: slog.New(slog.DiscardHandler)}
	last := deps
	last.Last = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range []workers.Handler{handlers.NewPayment(deps), handlers.NewGrill(deps), handlers.NewFry(deps), handlers.NewAssemble(last)} {
		if _, err := h.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}

	got = f.do(t, "GET", "/orders/"+id, "", nil, nil)
	var tl orders.Timeline
	if err := json.Unmarshal([]byte(got.raw), &tl); err != nil {
		t.Fatal(err)
	}
	if got.status != http.StatusOK || tl.ID != id || tl.Status != orders.Completed || tl.CompletedAt == nil || tl.EndToEndMs == nil || *tl.EndToEndMs <= 0 {
		t.Fatalf("GET after the stages = %d %s, want a completed order with its end-to-end time", got.status, got.raw)
	}
	var names []string
	for _, s := range tl.Stages {
		names = append(names, s.Name)
		if s.DurationMs == nil || s.WaitMs == nil || s.Attempts != 1 {
			t.Errorf("stage %s = %+v, want a duration, a wait and one attempt", s.Name, s)
		}
	}
	if strings.Join(names, ",") != "payment,grill,fry,assemble" {
		t.Errorf("timeline stages = %v, want payment,grill,fry,assemble", names)
	}
	if tl.TraceID != msg.TraceID {
		t.Errorf("timeline trace %s, message trace %s: want the same", tl.TraceID, msg.TraceID)
	}

	for _, path := range []string{"/orders/" + orders.NewID(time.Now()), "/orders/not-an-id", "/orders/idem%23" + "key"} {
		r := f.do(t, "GET", path, "", nil, nil)
		if r.status != http.StatusNotFound || r.body["error"] == nil {
			t.Errorf("GET %s = %d %s, want 404 JSON", path, r.status, r.raw)
		}
	}
}

func TestSyncPathPaysInlineAndWritesNothing(t *testing.T) {
	f := start(t, nil)
	r := f.do(t, "POST", "/orders/sync", "application/json", nil, []byte(burgerAndFries))
	if r.status != http.StatusOK || r.body["status"] != "paid" {
		t.Fatalf("POST /orders/sync = %d %s, want 200 paid", r.status, r.raw)
	}
	if ms, _ := r.body["paymentMs"].(float64); ms <= 0 {
		t.Errorf("paymentMs = %v, want the time the payment took", r.body["paymentMs"])
	}
	bad := f.do(t, "POST", "/orders/sync", "application/json", nil, []byte(`{"items":[{"item":"pizza"}]}`))
	if bad.status != http.StatusBadRequest || bad.body["field"] != "items[0].item" {
		t.Errorf("bad sync order = %d %s, want 400 naming items[0].item", bad.status, bad.raw)
	}
	if len(f.received(t)) != 0 || len(f.orders(t)) != 0 {
		t.Error("the synchronous path wrote or enqueued something")
	}
}

func TestAPIKey(t *testing.T) {
	f := start(t, func(d *deps) { d.cfg.APIKey = "s3cret-key" })
	for _, key := range []string{"", "wrong", "s3cret-key-but-longer"} {
		r := f.post(t, burgerAndFries, map[string]string{"X-Api-Key": key})
		if r.status != http.StatusUnauthorized || r.body["field"] != "X-Api-Key" {
			t.Errorf("POST with key %q = %d %s, want 401", key, r.status, r.raw)
		}
	}
	if r := f.do(t, "GET", "/orders/"+orders.NewID(time.Now()), "", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET without key = %d, want 401", r.status)
	}
	if r := f.post(t, burgerAndFries, map[string]string{"X-Api-Key": "s3cret-key"}); r.status != http.StatusAccepted {
		t.Errorf("POST with the key = %d %s, want 202", r.status, r.raw)
	}
	if r := f.do(t, "GET", "/healthz", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /healthz without key = %d, want 200 (the load balancer has no key)", r.status)
	}
	if n := len(f.orders(t)); n != 1 {
		t.Errorf("table holds %d orders, want only the authorized one", n)
	}
}

func TestUnknownRoutesAndMethodsAnswerJSON(t *testing.T) {
	f := start(t, nil)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/menus", 404, ""},
		{"GET", "/orders", 405, "POST"},
		{"POST", "/", 405, "GET, HEAD"},
		{"DELETE", "/menu", 405, "GET, HEAD"},
		{"POST", "/orders/stream", 405, "GET, HEAD"},
		{"DELETE", "/orders/" + orders.NewID(time.Now()), 405, "GET, HEAD"},
		{"PUT", "/healthz", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		r := f.do(t, tt.method, tt.path, "", nil, nil)
		if r.status != tt.status || r.header.Get("Allow") != tt.allow || r.body["error"] == nil {
			t.Errorf("%s %s = %d (Allow %q) %s, want %d (Allow %q)", tt.method, tt.path, r.status, r.header.Get("Allow"), r.raw, tt.status, tt.allow)
		}
	}
	if r := f.do(t, "GET", "/readyz", "", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /readyz = %d %s, want 200", r.status, r.raw)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	for _, kv := range [][2]string{
		{"LINECOOK_NEXT_QUEUE_URL", "http://sqs.local/000000000000/payment"}, {"LINECOOK_ORDER_TABLE", "orders"},
		{"LINECOOK_PORT", ""}, {"LINECOOK_API_KEY", ""}, {"LINECOOK_AWS_TIMEOUT", ""}, {"LINECOOK_SHUTDOWN_TIMEOUT", ""},
		{"LINECOOK_PAYMENT_DELAY", "1500ms"}, {"LINECOOK_WORK_SCALE", ""}, {"LINECOOK_WORK_JITTER", ""},
		{"LINECOOK_SWEEP_AFTER", ""}, {"LINECOOK_FAULT_CRASH_AFTER_WRITE", ""},
	} {
		t.Setenv(kv[0], kv[1])
		if kv[1] == "" {
			os.Unsetenv(kv[0])
		}
	}
	cfg, err := api.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8080 || cfg.OrderTable != "orders" || cfg.AWSTimeout != 3*time.Second || cfg.ShutdownTimeout != 20*time.Second ||
		cfg.PaymentDelay != 1500*time.Millisecond || cfg.WorkScale != 1 || cfg.APIKey != "" ||
		cfg.SweepAfter != pipeline.DefaultSweepAfter || cfg.FaultCrashAfterWrite != 0 {
		t.Errorf("LoadConfig() = %+v", cfg)
	}
	for _, bad := range [][3]string{
		{"LINECOOK_SWEEP_AFTER", "0s", "LINECOOK_SWEEP_AFTER=0s: must be positive"},
		{"LINECOOK_SWEEP_AFTER", "-1m", "LINECOOK_SWEEP_AFTER=-1m0s: must be positive"},
		{"LINECOOK_FAULT_CRASH_AFTER_WRITE", "1.5", "LINECOOK_FAULT_CRASH_AFTER_WRITE=1.5: must be a probability"},
		{"LINECOOK_FAULT_CRASH_AFTER_WRITE", "-0.1", "LINECOOK_FAULT_CRASH_AFTER_WRITE=-0.1: must be a probability"},
		{"LINECOOK_FAULT_CRASH_AFTER_WRITE", "NaN", "LINECOOK_FAULT_CRASH_AFTER_WRITE=NaN: must be a probability"},
	} {
		t.Run(bad[0]+"="+bad[1], func(t *testing.T) {
			t.Setenv(bad[0], bad[1])
			if _, err := api.LoadConfig(); err == nil || !strings.Contains(err.Error(), bad[2]) {
				t.Errorf("LoadConfig() = %v, want an error containing %q", err, bad[2])
			}
		})
	}
	os.Unsetenv("LINECOOK_ORDER_TABLE")
	if _, err := api.LoadConfig(); err == nil || !strings.Contains(err.Error(), "ORDER_TABLE") {
		t.Errorf("LoadConfig() without the table = %v, want an error naming LINECOOK_ORDER_TABLE", err)
	}
}

// lateWriteStore writes the order but reports a timeout, as a DynamoDB
// call does when its answer is slower than the client's deadline.
type lateWriteStore struct{ api.Store }

func (s lateWriteStore) Create(ctx context.Context, o orders.Order) error {
	if err := s.Store.Create(ctx, o); err != nil {
		return err
	}
	return fmt.Errorf("create order %s: %w", o.ID, context.DeadlineExceeded)
}

// TestTimedOutWriteLeavesNoOrder: a write that times out may still have
// landed; the API answers 503 and must not leave that order behind as
// accepted and never sent.
func TestTimedOutWriteLeavesNoOrder(t *testing.T) {
	f := start(t, func(d *deps) { d.store = lateWriteStore{d.store} })
	r := f.post(t, burgerAndFries, nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with a timed-out write = %d %s, want 503", r.status, r.raw)
	}
	if got := f.orders(t); len(got) != 0 {
		t.Errorf("table holds %d orders after a 503, want none: %+v", len(got), got)
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Errorf("queue holds %d messages after a 503, want none", len(msgs))
	}
}
