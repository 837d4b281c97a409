package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
)

// sseClient follows one GET /orders/stream as a page does: it merges the
// "orders" events into the orders it shows and counts the heartbeats.
type sseClient struct {
	header http.Header
	done   chan struct{} // closed when the stream ends

	mu     sync.Mutex
	events int
	pings  int
	recent []string
	orders map[string]orders.Timeline
	err    string
	// seen is when each order was first shown in each status.
	seen map[string]time.Time
}

// openStream opens a stream that ends with ctx or the test.
func openStream(t *testing.T, ctx context.Context, url string, headers map[string]string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s = %d %s, want 200", url, resp.StatusCode, b)
	}
	c := &sseClient{header: resp.Header, done: make(chan struct{}), orders: map[string]orders.Timeline{}, seen: map[string]time.Time{}}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event == "orders" {
					c.apply(data)
				}
				event, data = "", ""
			case line == ": ping":
				c.mu.Lock()
				c.pings++
				c.mu.Unlock()
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

func (c *sseClient) apply(data string) {
	var m struct {
		Recent []string
		Orders []orders.Timeline
		Error  string
	}
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		panic("stream sent an event that is not JSON: " + data)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events++
	c.recent, c.err = m.Recent, m.Error
	for _, o := range m.Orders {
		c.orders[o.ID] = o
		if _, ok := c.seen[o.ID+string(o.Status)]; !ok {
			c.seen[o.ID+string(o.Status)] = time.Now()
		}
	}
}

// waitFor polls cond on the client's state until it holds or a minute
// passes.
func (c *sseClient) waitFor(t *testing.T, what string, cond func(c *sseClient) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c.mu.Lock()
		ok := cond(c)
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("the stream ended before %s", what)
		default:
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("the stream never showed %s: recent %v, orders %v, error %q", what, c.recent, c.orders, c.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveServer serves another API on f's table and queue: another task
// behind the same load balancer. Its log goes to log, when given.
func liveServer(t *testing.T, f *fixture, store api.Store, poll, heartbeat time.Duration, log ...*logBuffer) string {
	t.Helper()
	if store == nil {
		store = f.store
	}
	var out io.Writer = io.Discard
	if len(log) > 0 {
		out = log[0]
	}
	s, err := api.New(f.cfg, store, f.sqs, slog.New(slog.NewJSONHandler(out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.LiveForTest(poll, heartbeat)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// logBuffer is a log a test reads while the server writes it.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runStages does what the pipeline's stages do to an order in the table.
func runStages(t *testing.T, store *dynamo.Store, id string, stages ...string) {
	t.Helper()
	ctx := context.Background()
	for i, st := range stages {
		if _, err := store.StartStage(ctx, id, st, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // a stage's work
		if _, err := store.EndStage(ctx, id, st, time.Now(), i == len(stages)-1); err != nil {
			t.Fatal(err)
		}
	}
}

var stages = []string{"payment", "grill", "fry", "assemble"}

// TestEveryTaskStreamsOrdersAnyTaskAccepted is the load balancer without
// sticky sessions: two API tasks share one table; an order accepted by one
// is streamed, and its progress through every stage, by both, although
// the other never saw the request.
func TestEveryTaskStreamsOrdersAnyTaskAccepted(t *testing.T) {
	f := start(t, nil)
	other := liveServer(t, f, nil, 100*time.Millisecond, time.Second)
	onOther := openStream(t, context.Background(), other+"/orders/stream", nil)
	onSame := openStream(t, context.Background(), f.url+"/orders/stream", nil)

	r := f.post(t, burgerAndFries, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /orders = %d %s", r.status, r.raw)
	}
	accepted := time.Now()
	id := r.body["id"].(string)
	for name, c := range map[string]*sseClient{"the task that accepted it": onSame, "the other task": onOther} {
		c.waitFor(t, "the accepted order on "+name, func(c *sseClient) bool {
			return slices.Contains(c.recent, id) && c.orders[id].Status == orders.Accepted
		})
	}
	onOther.mu.Lock()
	t.Logf("accepted order shown by the other task %v after its 202 (poll 100 ms)", onOther.seen[id+"accepted"].Sub(accepted).Round(time.Millisecond))
	onOther.mu.Unlock()

	runStages(t, f.store, id, stages...)
	done := time.Now()
	for _, c := range []*sseClient{onSame, onOther} {
		c.waitFor(t, "the order completed with every stage's times", func(c *sseClient) bool {
			o := c.orders[id]
			if o.Status != orders.Completed || o.EndToEndMs == nil || len(o.Stages) != len(stages) {
				return false
			}
			for i, st := range o.Stages {
				if st.Name != stages[i] || st.DurationMs == nil || *st.DurationMs < 30 || st.WaitMs == nil {
					return false
				}
			}
			return true
		})
	}
	onOther.mu.Lock()
	t.Logf("completion shown by the other task %v after the last write", onOther.seen[id+"completed"].Sub(done).Round(time.Millisecond))
	onOther.mu.Unlock()
	if h := onOther.header; h.Get("Content-Type") != "text/event-stream" || h.Get("X-Accel-Buffering") != "no" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("stream headers = %v, want text/event-stream, X-Accel-Buffering: no, Cache-Control: no-store", h)
	}
}

// board counts the live feed's reads of the table, and fails them on
// demand.
type board struct {
	*dynamo.Store
	mu      sync.Mutex
	queries int
	batches [][]string
	fail    bool
}

func (b *board) RecentIDs(ctx context.Context, now time.Time, n int) ([]string, error) {
	b.mu.Lock()
	b.queries++
	fail := b.fail
	b.mu.Unlock()
	if fail {
		return nil, errors.New("injected: table unreachable")
	}
	return b.Store.RecentIDs(ctx, now, n)
}

func (b *board) GetManyEventually(ctx context.Context, ids []string) (map[string]orders.Order, error) {
	b.mu.Lock()
	b.batches = append(b.batches, ids)
	b.mu.Unlock()
	return b.Store.GetManyEventually(ctx, ids)
}

func (b *board) reads() (int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queries, len(b.batches)
}

// TestOneReadPerPollForAllStreams: a task reads the table once per poll
// however many pages it streams to, reads completed orders no more, and
// reads nothing once the last stream is gone.
func TestOneReadPerPollForAllStreams(t *testing.T) {
	f := start(t, nil)
	b := &board{Store: f.store}
	const poll = 200 * time.Millisecond
	url := liveServer(t, f, b, poll, time.Second)
	done := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, time.Now())
	if err := f.store.Create(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	runStages(t, f.store, done.ID, "assemble")

	const pages = 20
	opened := time.Now()
	var clients []*sseClient
	ctx, closeAll := context.WithCancel(context.Background())
	for range pages {
		clients = append(clients, openStream(t, ctx, url+"/orders/stream", nil))
	}
	for _, c := range clients {
		c.waitFor(t, "the completed order", func(c *sseClient) bool { return c.orders[done.ID].Status == orders.Completed })
	}
	time.Sleep(2 * time.Second)
	queries, batches := b.reads()
	elapsed := time.Since(opened)
	t.Logf("%d streams for %v: %d queries and %d batch reads (one poll per %v)", pages, elapsed.Round(time.Millisecond), queries, batches, poll)
	if limit := int(elapsed/poll) + 2; queries > limit {
		t.Errorf("%d queries in %v for %d streams, want at most %d: one per poll, shared", queries, elapsed, pages, limit)
	}
	if batches > 1 {
		b.mu.Lock()
		t.Errorf("the completed order was read %d times (%v), want once: it cannot change", batches, b.batches)
		b.mu.Unlock()
	}
	for _, c := range clients {
		c.mu.Lock()
		if c.events != 1 {
			t.Errorf("a stream got %d events while nothing changed, want 1", c.events)
		}
		c.mu.Unlock()
	}

	closeAll()
	for _, c := range clients {
		<-c.done
	}
	time.Sleep(3 * poll) // the feed notices at its next tick
	before, _ := b.reads()
	time.Sleep(5 * poll)
	if after, _ := b.reads(); after != before {
		t.Errorf("the table was read %d more times with no stream open, want none", after-before)
	}
}

// TestPageIsPublicAndTheStreamIsNot: with an API key, a browser loads the
// page, its assets and the menu without one; the stream, like every order
// request, needs it.
func TestPageIsPublicAndTheStreamIsNot(t *testing.T) {
	f := start(t, func(d *deps) { d.cfg.APIKey = "s3cret-key" })
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="/live.js" defer></script>`},
		{"/live.js", "text/javascript; charset=utf-8", "/orders/stream"},
		{"/live.css", "text/css; charset=utf-8", ".station"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
		{"/menu", "application/json", `"cheeseburger"`},
	} {
		resp, err := http.Get(f.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s without a key = %d %q, %d bytes; want 200 %s containing %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tc.contentType, tc.contains)
		}
		if tc.path == "/" {
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("page CSP = %q, want scripts from the page's origin only", csp)
			}
			// Unchanged: revalidated for a 304, not sent again.
			req, _ := http.NewRequest("GET", f.url+"/", nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			again, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusNotModified || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("GET / with its ETag = %d (Cache-Control %q), want 304 (no-cache)", again.StatusCode, resp.Header.Get("Cache-Control"))
			}
		}
	}
	if r := f.do(t, "GET", "/orders/stream", "", nil, nil); r.status != http.StatusUnauthorized || r.body["field"] != "X-Api-Key" {
		t.Errorf("GET /orders/stream without the key = %d %s, want 401 naming X-Api-Key", r.status, r.raw)
	}
	if r := f.do(t, "GET", "/orders/stream", "", map[string]string{"X-Api-Key": "wrong"}, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /orders/stream with a wrong key = %d %s, want 401", r.status, r.raw)
	}
	c := openStream(t, context.Background(), f.url+"/orders/stream", map[string]string{"X-Api-Key": "s3cret-key"})
	c.waitFor(t, "a first event", func(c *sseClient) bool { return c.events > 0 })
}

// TestStreamFollowsOrdersByID: a page follows its own orders by id, even
// once newer orders have pushed them out of the newest.
func TestStreamFollowsOrdersByID(t *testing.T) {
	f := start(t, nil)
	url := liveServer(t, f, nil, 100*time.Millisecond, time.Second)
	ctx := context.Background()
	var ids []string
	for i := range 25 {
		o := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, time.Now().Add(time.Duration(i-25)*time.Second))
		if err := f.store.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	oldest := ids[0]
	c := openStream(t, ctx, url+"/orders/stream?watch="+oldest, nil)
	c.waitFor(t, "the 20 newest orders and the followed one", func(c *sseClient) bool {
		return len(c.recent) == 20 && c.recent[0] == ids[24] && !slices.Contains(c.recent, oldest) && c.orders[oldest].ID == oldest
	})
	runStages(t, f.store, oldest, "payment")
	c.waitFor(t, "the followed order's progress", func(c *sseClient) bool { return c.orders[oldest].Status == orders.Completed })

	for _, tc := range []struct{ query, contains string }{
		{"?watch=nope", `\"nope\" is not an order id`},
		{"?watch=" + strings.Join(ids[:6], ","), "6 orders, at most 5"},
	} {
		if r := f.do(t, "GET", "/orders/stream"+tc.query, "", nil, nil); r.status != http.StatusBadRequest || r.body["field"] != "watch" || !strings.Contains(r.raw, tc.contains) {
			t.Errorf("GET /orders/stream%s = %d %s, want 400 naming watch and saying %s", tc.query[:min(len(tc.query), 20)], r.status, r.raw, tc.contains)
		}
	}
}

// TestStreamOutlivesTheServerTimeouts: a stream lives as long as its page,
// beyond the server's write timeout (which ends ordinary responses after
// 30 s) and read timeout, kept open by its heartbeats.
func TestStreamOutlivesTheServerTimeouts(t *testing.T) {
	f := start(t, nil)
	s, err := api.New(f.cfg, f.store, f.sqs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.LiveForTest(100*time.Millisecond, 100*time.Millisecond)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	c := openStream(t, context.Background(), srv.URL+"/orders/stream", nil)
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-c.done:
		t.Fatal("the stream ended at the server's read or write timeout")
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pings < 5 {
		t.Errorf("%d heartbeats in 1.5 s, want one per 100 ms", c.pings)
	}
}

// TestStreamShowsTheTableUnavailable: while the table cannot be read, the
// page keeps the orders it has and is told why they stop changing.
func TestStreamShowsTheTableUnavailable(t *testing.T) {
	f := start(t, nil)
	b := &board{Store: f.store}
	log := &logBuffer{}
	url := liveServer(t, f, b, 50*time.Millisecond, time.Second, log)
	o := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, time.Now())
	if err := f.store.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	c := openStream(t, context.Background(), url+"/orders/stream", nil)
	c.waitFor(t, "the order", func(c *sseClient) bool { return slices.Contains(c.recent, o.ID) })
	b.mu.Lock()
	b.fail = true
	b.mu.Unlock()
	c.waitFor(t, "the table unavailable, the order kept", func(c *sseClient) bool {
		return c.err != "" && slices.Contains(c.recent, o.ID)
	})
	b.mu.Lock()
	b.fail = false
	b.mu.Unlock()
	c.waitFor(t, "the table back", func(c *sseClient) bool { return c.err == "" })
	if n := strings.Count(log.String(), "live page: cannot read the order table"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, log)
	}
}

// TestShutdownEndsStreams: streams never finish on their own, so the
// shutdown ends them rather than waiting out its deadline; their pages
// reconnect to another task.
func TestShutdownEndsStreams(t *testing.T) {
	f := start(t, nil)
	cfg := f.cfg
	cfg.ShutdownTimeout = 20 * time.Second
	s, err := api.New(cfg, f.store, f.sqs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	c := openStream(t, context.Background(), "http://"+ln.Addr().String()+"/orders/stream", nil)
	c.waitFor(t, "a first event", func(c *sseClient) bool { return c.events > 0 })
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve waited on an open stream at shutdown")
	}
	<-c.done
	t.Logf("shut down with a stream open in %v", time.Since(start).Round(time.Millisecond))
}

// TestStreamsAreBounded: a task keeps at most its bound of streams open;
// past it a page is told to come back (and the load balancer may send it
// to another task).
func TestStreamsAreBounded(t *testing.T) {
	f := start(t, nil)
	s, err := api.New(f.cfg, f.store, f.sqs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.MaxStreamsForTest(2)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ctx, closeFirst := context.WithCancel(context.Background())
	first := openStream(t, ctx, srv.URL+"/orders/stream", nil)
	openStream(t, context.Background(), srv.URL+"/orders/stream", nil)
	f.url = srv.URL
	if r := f.do(t, "GET", "/orders/stream", "", nil, nil); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("a third stream = %d %s, want 503 with Retry-After", r.status, r.raw)
	}
	closeFirst()
	<-first.done
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/orders/stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stream after one closed = %d, want 200", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
