package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/events"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/emulators/emutest"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/workertest"
)

func TestMain(m *testing.M) { emutest.Main(m) }

// fast runs the simulated work 100× faster than real time: payment 30 ms.
var fast = handlers.Config{Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 0.01, Jitter: 0.1}}

// slow makes every piece of work last far longer than any test.
var slow = handlers.Config{Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 1000, Jitter: 0.1}}

// An order that visits every station.
var meal = []orders.Line{{Item: "cheeseburger", Quantity: 2}, {Item: "fries", Quantity: 1}, {Item: "soda", Quantity: 2}}

var msgSeq atomic.Int64

// quiet discards the handlers' logs; set LINECOOK_TEST_LOG to see them.
var quiet = func() *slog.Logger {
	if os.Getenv("LINECOOK_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}()

func newMessage(t *testing.T, store *dynamo.Store, stage string) workers.Message {
	t.Helper()
	o := orders.New(orders.Request{Items: meal}, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	return workers.Message{
		ID: fmt.Sprintf("msg-%d", msgSeq.Add(1)), Body: orders.EncodeMessage(o), TraceID: o.TraceID,
		ReceiveCount: 1, Stage: stage, SentAt: time.Now(),
	}
}

func getOrder(t *testing.T, store *dynamo.Store, msg workers.Message) orders.Order {
	t.Helper()
	m, err := orders.DecodeMessage(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := store.Get(ctx, m.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHandlersPassTheConformanceSuite(t *testing.T) {
	cases := []struct {
		worker string
		last   bool
		make   func(handlers.Deps) workers.Handler
	}{
		{handlers.PaymentWorker, false, func(d handlers.Deps) workers.Handler { return handlers.NewPayment(d) }},
		{handlers.GrillWorker, false, func(d handlers.Deps) workers.Handler { return handlers.NewGrill(d) }},
		{handlers.FryWorker, false, func(d handlers.Deps) workers.Handler { return handlers.NewFry(d) }},
		{handlers.AssembleWorker, true, func(d handlers.Deps) workers.Handler { return handlers.NewAssemble(d) }},
	}
	for _, h := range cases {
		t.Run(h.worker, func(t *testing.T) {
			store := emutest.Table(t)
			// The stage's name differs from the worker's, as a stack may
			// configure it; the timeline must use the stage's.
			stage := "the-" + h.worker
			unknown := orders.New(orders.Request{Items: meal}, time.Now())
			// The quick handler draws one random number per piece of work
			// it does: counting them tells work done from work skipped.
			var works, worksBefore atomic.Int64
			countingRand := func() float64 { works.Add(1); return 0.5 }
			workertest.Run(t, workertest.Suite{
				Handler: h.make(handlers.Deps{Store: store, Config: fast, Last: h.last, Log: quiet, Rand: countingRand}),
				Slow:    h.make(handlers.Deps{Store: store, Config: slow, Last: h.last, Log: quiet}),
				Message: func(t *testing.T) workers.Message {
					worksBefore.Store(works.Load())
					return newMessage(t, store, stage)
				},
				Garbage: append(workertest.DefaultGarbage,
					[]byte(`{}`),
					orders.EncodeMessage(unknown), // never stored
					[]byte(`{"v":2,"orderId":"`+unknown.ID+`","items":[{"item":"soda","quantity":1}]}`),
					[]byte(`{"v":1,"orderId":"`+unknown.ID+`","items":[{"item":"pizza","quantity":1}]}`),
				),
				Check: func(t *testing.T, msg workers.Message, d workertest.Delivery) {
					o := getOrder(t, store, msg)
					st, ok := o.Stages[stage]
					if !ok || !st.Ended() {
						t.Fatalf("after %s delivery: stage %s = %+v (present %v), want ended", d, stage, st, ok)
					}
					lo, hi, maxWork := 1, 1, int64(1)
					switch d {
					case workertest.Concurrent:
						hi, maxWork = 2, 2
					case workertest.AfterCancel:
						lo, hi = 2, 2 // the slow handler's cancelled attempt, then the quick one
					}
					if st.Attempts < lo || st.Attempts > hi {
						t.Errorf("after %s delivery: %d attempts, want %d to %d", d, st.Attempts, lo, hi)
					}
					if n := works.Load() - worksBefore.Load(); n < 1 || n > maxWork {
						t.Errorf("after %s delivery: the work ran %d times, want 1 to %d", d, n, maxWork)
					}
					switch {
					case h.last && (o.Status != orders.Completed || !o.CompletedAt.Equal(st.EndedAt)):
						t.Errorf("last stage: order %s completed at %v, want completed when the stage ended (%v)", o.Status, o.CompletedAt, st.EndedAt)
					case !h.last && o.Status != orders.InProgress:
						t.Errorf("order status = %s, want in-progress", o.Status)
					}
				},
			})
		})
	}
}

func TestPipelineInOrderCompletesTheOrderOnce(t *testing.T) {
	store := emutest.Table(t)
	msg := newMessage(t, store, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deps := handlers.Deps{Store: store, Config: fast, Log: quiet}
	last := deps
	last.Last = true
	for _, h := range []workers.Handler{handlers.NewPayment(deps), handlers.NewGrill(deps), handlers.NewFry(deps), handlers.NewAssemble(last)} {
		if _, err := h.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	o := getOrder(t, store, msg)
	tl := o.Timeline()
	var names []string
	for _, s := range tl.Stages {
		names = append(names, s.Name)
		if s.DurationMs == nil || s.WaitMs == nil || *s.WaitMs < 0 || s.Attempts != 1 {
			t.Errorf("stage %s = %+v: want ended, after a non-negative wait, in one attempt", s.Name, s)
		}
	}
	if got := strings.Join(names, ","); got != "payment,grill,fry,assemble" {
		t.Errorf("timeline stages = %s, want payment,grill,fry,assemble", got)
	}
	if o.Status != orders.Completed || tl.EndToEndMs == nil {
		t.Errorf("order = %s, end to end %v; want completed", o.Status, tl.EndToEndMs)
	}
	// A stray redelivery to the last stage leaves the completion alone.
	if _, err := handlers.NewAssemble(last).Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if again := getOrder(t, store, msg); !again.CompletedAt.Equal(o.CompletedAt) {
		t.Errorf("redelivery moved completedAt from %v to %v", o.CompletedAt, again.CompletedAt)
	}
}

// A handler's lines name the order by order_id and trace_id, and the
// message by the keys the runtime's lines use, so that one query on the
// trace id finds the API's, the runtime's and the handlers' lines alike.
func TestLogLinesCarryTheOrdersJoinKeys(t *testing.T) {
	store := emutest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var buf bytes.Buffer
	grill := handlers.NewGrill(handlers.Deps{Store: store, Config: fast, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	msg := newMessage(t, store, "grill")
	for range 2 { // the redelivery finds the stage ended, and says so
		if _, err := grill.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
		msg.ReceiveCount++
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON line, got %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"msg":           "stage already ended; not redoing the work",
		"order_id":      getOrder(t, store, msg).ID,
		"trace_id":      msg.TraceID,
		"message_id":    msg.ID,
		"receive_count": 2.0,
		"stage":         "grill",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v in %s", k, line[k], v, buf.String())
		}
	}
	if _, ok := line["ended_at"]; !ok {
		t.Errorf("no ended_at in %s", buf.String())
	}
}

func TestWorkTimeFollowsTheMenuAndScale(t *testing.T) {
	items := []orders.Line{{Item: "burger", Quantity: 5}, {Item: "fries", Quantity: 1}}
	cfg := handlers.Config{Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 0.5, Jitter: 0.2}}
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"payment", handlers.NewPayment(handlers.Deps{Config: cfg}).WorkTime(items), 1500 * time.Millisecond},
		{"grill: two batches of patties", handlers.NewGrill(handlers.Deps{Config: cfg}).WorkTime(items), 2 * time.Second},
		{"fry", handlers.NewFry(handlers.Deps{Config: cfg}).WorkTime(items), 750 * time.Millisecond},
		{"assemble: one at a time", handlers.NewAssemble(handlers.Deps{Config: cfg}).WorkTime(items), 1350 * time.Millisecond},
		{"jitter low", cfg.Scale(time.Second, 0), 400 * time.Millisecond},
		{"jitter above the middle", cfg.Scale(time.Second, 0.75), 550 * time.Millisecond},
		{"zero Config means defaults", handlers.NewPayment(handlers.Deps{}).WorkTime(items), 3 * time.Second},
	}
	for _, tt := range tests {
		if tt.got.Round(time.Microsecond) != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestRegisterWithZeroDeps(t *testing.T) {
	r := workers.NewRegistry()
	if err := handlers.Register(r, handlers.Deps{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Names(), ","); got != "assemble,fry,grill,payment" {
		t.Errorf("registered %s, want assemble,fry,grill,payment", got)
	}
	if err := handlers.Register(r, handlers.Deps{}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second Register = %v, want an already-registered error", err)
	}
	// Without a store a message is retried, not sent to the DLQ: the
	// deployment is wrong, not the message.
	h, _ := r.Lookup("grill")
	_, err := h.Handle(context.Background(), workers.Message{Body: orders.EncodeMessage(orders.New(orders.Request{Items: meal}, time.Now()))})
	if err == nil || workers.IsPermanent(err) {
		t.Errorf("Handle without a store = %v, want a retryable error", err)
	}
}

func TestLoadConfig(t *testing.T) {
	for _, k := range []string{"LINECOOK_PAYMENT_DELAY", "LINECOOK_WORK_SCALE", "LINECOOK_WORK_JITTER", "LINECOOK_TABLE_TIMEOUT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	got, err := handlers.LoadConfig()
	if err != nil || got != handlers.DefaultConfig() {
		t.Fatalf("LoadConfig() with nothing set = %+v, %v; want %+v", got, err, handlers.DefaultConfig())
	}
	t.Setenv("LINECOOK_PAYMENT_DELAY", "250ms")
	t.Setenv("LINECOOK_WORK_SCALE", "0.01")
	t.Setenv("LINECOOK_TABLE_TIMEOUT", "40s")
	got, err = handlers.LoadConfig()
	if err != nil || got.PaymentDelay != 250*time.Millisecond || got.WorkScale != 0.01 || got.Jitter != handlers.DefaultJitter || got.TableTimeout != 40*time.Second {
		t.Errorf("LoadConfig() = %+v, %v", got, err)
	}
	bad := []struct{ key, value, want string }{
		{"LINECOOK_WORK_SCALE", "-1", "LINECOOK_WORK_SCALE=-1: must be from 0 to 1000"},
		{"LINECOOK_WORK_JITTER", "1", "LINECOOK_WORK_JITTER=1: must be at least 0 and below 1"},
		{"LINECOOK_PAYMENT_DELAY", "-3s", "LINECOOK_PAYMENT_DELAY=-3s"},
		{"LINECOOK_PAYMENT_DELAY", "soon", "LINECOOK_PAYMENT_DELAY"},
		{"LINECOOK_TABLE_TIMEOUT", "-1s", "LINECOOK_TABLE_TIMEOUT=-1s: must be from 0s"},
		{"LINECOOK_TABLE_TIMEOUT", "16m", "LINECOOK_TABLE_TIMEOUT=16m0s: must be from 0s"},
	}
	for _, b := range bad {
		t.Run(b.key+"="+b.value, func(t *testing.T) {
			t.Setenv(b.key, b.value)
			_, err := handlers.LoadConfig()
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("LoadConfig() = %v, want an error containing %q", err, b.want)
			}
		})
	}
}

// A message of an order the API withdrew (its send reported a failure,
// the client was answered 503) is dropped, not dead-lettered; a message
// of an order that never existed still goes to the DLQ.
func TestWithdrawnOrderIsDroppedUnknownOrderIsPermanent(t *testing.T) {
	store := emutest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pay := handlers.NewPayment(handlers.Deps{Store: store, Config: fast, Log: quiet})

	withdrawn := newMessage(t, store, "")
	if err := store.Withdraw(ctx, getOrder(t, store, withdrawn).ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, err := pay.Handle(ctx, withdrawn); err != nil || !out.Drop {
		t.Errorf("withdrawn order: %+v, %v; want dropped", out, err)
	}

	o := orders.New(orders.Request{Items: meal}, time.Now())
	unknown := workers.Message{ID: "msg-unknown", Body: orders.EncodeMessage(o), TraceID: o.TraceID, ReceiveCount: 1}
	if _, err := pay.Handle(ctx, unknown); !workers.IsPermanent(err) {
		t.Errorf("unknown order: %v; want a permanent failure", err)
	}
}

// recorder keeps the events a handler publishes.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) Publish(e events.Event) { r.mu.Lock(); r.evs = append(r.evs, e); r.mu.Unlock() }

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		out = append(out, strings.TrimSpace(e.Type+" "+e.Stage))
	}
	return out
}

// TestHandlersPublishOrderEvents: a stage publishes started and finished
// (the last stage completed too), again when a redelivery finds the work
// done, and failed when the message is about to be dead-lettered: at
// once for a permanent failure, on the last receive for any other.
func TestHandlersPublishOrderEvents(t *testing.T) {
	store := emutest.Table(t)
	ctx := context.Background()
	rec := &recorder{}
	last := handlers.NewAssemble(handlers.Deps{Store: store, Config: fast, Last: true, Log: quiet, Events: rec, MaxReceiveCount: 3})
	msg := newMessage(t, store, "assemble")
	if _, err := last.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := last.Handle(ctx, msg); err != nil { // a redelivery
		t.Fatal(err)
	}
	want := []string{"started assemble", "finished assemble", "completed", "finished assemble", "completed"}
	if got := rec.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for _, e := range rec.evs {
		if e.TraceID != msg.TraceID || e.Time.IsZero() {
			t.Errorf("event %+v: want the message's trace id and a time", e)
		}
	}

	// A permanent failure: an order the table does not have.
	rec = &recorder{}
	pay := handlers.NewPayment(handlers.Deps{Store: store, Config: fast, Log: quiet, Events: rec, MaxReceiveCount: 3})
	ghost := workers.Message{ID: "m-ghost", Body: orders.EncodeMessage(orders.New(orders.Request{Items: meal}, time.Now())), ReceiveCount: 1, Stage: "payment"}
	if _, err := pay.Handle(ctx, ghost); !workers.IsPermanent(err) {
		t.Fatalf("error %v, want a permanent failure", err)
	}
	if got := rec.kinds(); !slices.Equal(got, []string{"failed payment"}) || rec.evs[0].Reason == "" {
		t.Errorf("events %+v, want one failed with its reason", rec.evs)
	}
}

// TestAResentOrderBeingWorkedOnIsNotWorkedTwice: the API's sweeper sends
// an order again when it has stayed accepted too long, which it may have
// only because its first message was still waiting. When both messages
// reach the stage together, the second must be dropped, not worked: the
// first one holds the stage. After the stage has ended, a late duplicate
// finds it done.
func TestAResentOrderBeingWorkedOnIsNotWorkedTwice(t *testing.T) {
	store := emutest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var works atomic.Int64
	// Payment takes 300 ms: long enough for the duplicate to arrive mid-work.
	cfg := handlers.Config{Work: handlers.Work{PaymentDelay: 3 * time.Second, WorkScale: 0.1, Jitter: 0.1}}
	pay := handlers.NewPayment(handlers.Deps{Store: store, Config: cfg, Log: quiet, Rand: func() float64 { works.Add(1); return 0.5 }})

	first := newMessage(t, store, "payment")
	resent := first
	resent.ID = first.ID + "-resent" // the same body, as the sweeper sends it, in another message
	done := make(chan error, 1)
	go func() {
		_, err := pay.Handle(ctx, first)
		done <- err
	}()
	for getOrder(t, store, first).Stages["payment"].Attempts == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	out, err := pay.Handle(ctx, resent)
	if err != nil || !out.Drop {
		t.Errorf("the re-sent message while the first is worked on = %+v, %v; want dropped without error", out, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the first message = %v", err)
	}
	if out, err := pay.Handle(ctx, resent); err != nil || out.Drop {
		t.Errorf("the re-sent message after the stage ended = %+v, %v; want success, forwarded (the next stage absorbs it the same way)", out, err)
	}
	st := getOrder(t, store, first).Stages["payment"]
	if n := works.Load(); n != 1 || st.Attempts != 1 || !st.Ended() || st.MessageID != first.ID {
		t.Errorf("work ran %d times; stage %+v; want once, one attempt, ended, held by %s", n, st, first.ID)
	}
}
