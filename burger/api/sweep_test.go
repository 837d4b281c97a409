package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers"
)

// later is past every order's due time: the fixture's store and the API
// both default to sweeping after five minutes.
func later() time.Time { return time.Now().Add(6 * time.Minute) }

// sweeper is a sweeper over the fixture's table and queue whose clock
// reads now.
func (f *fixture) sweeper(t *testing.T, now func() time.Time) *api.Sweeper {
	t.Helper()
	sw, err := api.NewSweeper(f.cfg, f.store, f.sqs, slog.New(slog.NewJSONHandler(f.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sw.ClockForTest(now)
	return sw
}

// TestAnOrderStrandedByACrashIsSentAgainWithItsTrace: the API task dies
// between writing an order and sending it (the fault hook, as the fault
// tests use it). The order is left accepted and unsent; the sweeper sends
// it, once, with its id, items and trace id.
func TestAnOrderStrandedByACrashIsSentAgainWithItsTrace(t *testing.T) {
	crashes := 0
	f := start(t, func(d *deps) {
		d.cfg.FaultCrashAfterWrite = 1
		d.server = func(s *api.Server) {
			// Instead of exiting the test binary: the connection is cut,
			// as the client of a dead task sees it.
			s.ExitForTest(func(code int) {
				if code != 137 {
					t.Errorf("exit(%d), want 137, as a SIGKILL", code)
				}
				crashes++
				panic(http.ErrAbortHandler)
			})
		}
	})
	req, _ := http.NewRequest("POST", f.url+"/orders", strings.NewReader(burgerAndFries))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("POST answered %d, want the connection cut by the crash", resp.StatusCode)
	}
	stored := f.orders(t)
	if crashes != 1 || len(stored) != 1 || stored[0].Status != orders.Accepted {
		t.Fatalf("after the crash: %d crashes, orders %+v; want one accepted order", crashes, stored)
	}
	if msgs := f.received(t); len(msgs) != 0 {
		t.Fatalf("the queue holds %d messages after a crash before the send, want none", len(msgs))
	}
	o := stored[0]

	sw := f.sweeper(t, later)
	if res := sw.Sweep(context.Background()); res != (api.SweepResult{Stranded: 1, Resent: 1}) {
		t.Errorf("first sweep = %+v, want the stranded order sent again", res)
	}
	msgs := f.received(t)
	if len(msgs) != 1 {
		t.Fatalf("the queue holds %d messages after the sweep, want 1", len(msgs))
	}
	m, err := orders.DecodeMessage([]byte(aws.ToString(msgs[0].Body)))
	if err != nil {
		t.Fatal(err)
	}
	if m.OrderID != o.ID || m.TraceID != o.TraceID || len(m.Items) != len(o.Items) ||
		aws.ToString(msgs[0].MessageAttributes[workers.TraceIDAttribute].StringValue) != o.TraceID {
		t.Errorf("re-sent message %+v with attributes %v, want order %s with its trace id %s", m, msgs[0].MessageAttributes, o.ID, o.TraceID)
	}
	if res := sw.Sweep(context.Background()); res != (api.SweepResult{}) {
		t.Errorf("a second sweep at the same time = %+v, want nothing due: the order's next send is a backoff away", res)
	}
	r := f.do(t, "GET", "/orders/"+o.ID, "", nil, nil)
	if r.status != http.StatusOK || r.body["resends"] != 1.0 || r.body["traceId"] != o.TraceID {
		t.Errorf("GET /orders/%s = %d %s, want resends 1", o.ID, r.status, r.raw)
	}
	if !strings.Contains(f.log.String(), `"msg":"fault injected: exiting between writing an order and sending it"`) ||
		!strings.Contains(f.log.String(), `"msg":"sent an order left accepted to the first stage again"`) {
		t.Errorf("log %s: want the injected fault and the resend", f.log)
	}
}

// TestSweepersOfSeveralTasksSendEachOrderOnce: every API task sweeps; of
// their sweeps at the same moment, each stranded order is sent by one.
func TestSweepersOfSeveralTasksSendEachOrderOnce(t *testing.T) {
	f := start(t, nil)
	req, err := orders.DecodeRequest(strings.NewReader(burgerAndFries))
	if err != nil {
		t.Fatal(err)
	}
	const stranded = 30
	want := map[string]bool{}
	for range stranded { // written by tasks that died before sending
		o := orders.New(req, time.Now())
		if err := f.store.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		want[o.ID] = true
	}
	now := later()
	var wg sync.WaitGroup
	results := make([]api.SweepResult, 4)
	for i := range results {
		sw := f.sweeper(t, func() time.Time { return now })
		wg.Go(func() { results[i] = sw.Sweep(context.Background()) })
	}
	wg.Wait()
	resent := 0
	for _, r := range results {
		resent += r.Resent
		if r.Stranded != stranded || r.Failed != 0 || r.Resent+r.Skipped != r.Stranded {
			t.Errorf("a sweep = %+v, want %d found, each resent or skipped", r, stranded)
		}
	}
	got := map[string]int{}
	for _, m := range f.received(t) {
		dm, err := orders.DecodeMessage([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		got[dm.OrderID]++
	}
	if resent != stranded || len(got) != stranded {
		t.Errorf("4 sweepers resent %d, queue holds %d distinct orders; want %d each", resent, len(got), stranded)
	}
	for id, n := range got {
		if !want[id] || n != 1 {
			t.Errorf("order %s sent %d times (stranded: %v), want once", id, n, want[id])
		}
	}
}

// TestAnOrderResentWhileItsFirstMessageWaitsIsWorkedOnce: an order that was
// sent and is only waiting in the queue (a backlog) looks stranded too.
// The sweeper sends it again; the two messages reach payment together, and
// the work is done once, recorded once.
func TestAnOrderResentWhileItsFirstMessageWaitsIsWorkedOnce(t *testing.T) {
	f := start(t, nil)
	r := f.post(t, burgerAndFries, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST = %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if res := f.sweeper(t, later).Sweep(context.Background()); res.Resent != 1 {
		t.Fatalf("sweep = %+v, want the waiting order sent again", res)
	}
	msgs := f.received(t)
	if len(msgs) != 2 || aws.ToString(msgs[0].MessageId) == aws.ToString(msgs[1].MessageId) {
		t.Fatalf("queue holds %d messages, want the first and the re-sent one", len(msgs))
	}

	var works atomic.Int64
	// Payment takes 300 ms, so that the two deliveries overlap.
	cfg := handlers.Config{Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 0.1, Jitter: 0.1}}
	pay := handlers.NewPayment(handlers.Deps{Store: f.store, Config: cfg, Log: slog.New(slog.DiscardHandler), Rand: func() float64 { works.Add(1); return 0.5 }})
	var wg sync.WaitGroup
	outs := make([]workers.Output, len(msgs))
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		msg := workers.Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), ReceiveCount: 1, Stage: "payment",
			TraceID: aws.ToString(m.MessageAttributes[workers.TraceIDAttribute].StringValue)}
		wg.Go(func() { outs[i], errs[i] = pay.Handle(context.Background(), msg) })
	}
	wg.Wait()
	for i := range msgs {
		if errs[i] != nil {
			t.Errorf("delivery %d = %v, want success", i, errs[i])
		}
	}
	o, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	st := o.Stages["payment"]
	if n := works.Load(); n != 1 || st.Attempts != 1 || !st.Ended() || o.Resends != 1 {
		t.Errorf("payment worked %d times; stage %+v, resends %d; want the work once, one attempt, ended", n, st, o.Resends)
	}
	// Usually one is dropped as a duplicate; on a slow machine the second
	// may instead start after the first ended, and skip the work.
	if outs[0].Drop && outs[1].Drop {
		t.Errorf("outputs %+v: both dropped, want the holder's forwarded", outs)
	}
}
