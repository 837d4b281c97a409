package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/consumer/consumertest"
)

// syncBuffer is a bytes.Buffer safe for the consumer's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// jsonLines parses the JSON lines written to s.
func (s *syncBuffer) jsonLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// logsWith returns the log records with the given level whose message
// contains msg.
func logsWith(t *testing.T, logs *syncBuffer, level, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range logs.jsonLines(t) {
		if l["level"] == level && strings.Contains(fmt.Sprint(l["msg"]), msg) {
			out = append(out, l)
		}
	}
	return out
}

// run starts a consumer and returns a function that stops it and waits
// for Run to return.
type run struct {
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returns, with err set
	err     error
	logs    *syncBuffer
	metrics *syncBuffer
}

func startConsumer(t *testing.T, cfg consumer.Config, client consumer.SQS, h workers.Handler, opts ...consumer.Option) *run {
	t.Helper()
	r := &run{done: make(chan struct{}), logs: &syncBuffer{}, metrics: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]consumer.Option{consumer.WithLogger(log), consumer.WithMetrics(r.metrics)}, opts...)
	c, err := consumer.New(cfg, client, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
		}
		if t.Failed() {
			t.Logf("consumer logs:\n%s", r.logs.String())
		}
	})
	return r
}

// stop cancels the consumer and waits for Run to return.
func (r *run) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run = %v", r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context ending")
	}
}

func (r *run) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// eventually waits (generously) for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fakeStage struct {
	fake              *consumertest.Fake
	rec               *consumertest.Recorder // the fake, as the consumer sees it
	url, next, dlq    string
	cfg               consumer.Config
	maxReceiveCountIn int
}

func newFakeStage(t *testing.T, maxReceiveCount int) *fakeStage {
	f := consumertest.NewFake()
	dlq := f.CreateQueue("grill-dlq", 0, "")
	next := f.CreateQueue("fry", 0, "")
	url := f.CreateQueue("grill", maxReceiveCount, dlq)
	return &fakeStage{fake: f, rec: consumertest.NewRecorder(f), url: url, next: next, dlq: dlq, cfg: consumer.Config{
		Stage: "grill", QueueURL: url, NextQueueURL: next, DLQURL: dlq,
		Concurrency: 8, VisibilityTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second, MaxReceiveCount: maxReceiveCount,
		RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
	}}
}

func bodies(msgs []consumertest.Message) []string {
	var b []string
	for _, m := range msgs {
		b = append(b, m.Body)
	}
	slices.Sort(b)
	return b
}

// callIndex is the index of the first call of op that lists entry, or -1.
func callIndex(calls []consumertest.Call, op, entry string) int {
	for i, c := range calls {
		if c.Op == op && c.Err == nil && slices.Contains(c.Entries, entry) {
			return i
		}
	}
	return -1
}

func TestSuccessForwardsWithTheTraceIDThenDeletes(t *testing.T) {
	s := newFakeStage(t, 3)
	ids := map[string]string{}
	for i := range 25 {
		body := "order-" + strconv.Itoa(i)
		attrs := map[string]string{workers.TraceIDAttribute: "trace-" + strconv.Itoa(i), "customer": "ada"}
		if i == 0 {
			attrs = nil // enters the pipeline here: starts its own trace
		}
		ids[body] = s.fake.Send(s.url, body, attrs)
	}
	s.fake.Send(s.url, "drop-me", nil)
	s.fake.Send(s.url, "rename-me", nil)
	h := workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		switch string(m.Body) {
		case "drop-me":
			return workers.Output{Drop: true}, nil
		case "rename-me":
			return workers.Output{Body: []byte("renamed")}, nil
		}
		if m.Stage != "grill" || m.ReceiveCount != 1 || m.SentAt.IsZero() {
			return workers.Output{}, fmt.Errorf("message fields not filled: %+v", m)
		}
		return workers.Output{Attributes: map[string]string{"grilled": "yes", "customer": ""}}, nil
	})
	r := startConsumer(t, s.cfg, s.rec, h)
	eventually(t, "every message to leave the queue", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	r.stop(t)

	next := s.fake.Messages(s.next)
	if len(next) != 26 {
		t.Fatalf("next queue has %d messages, want 26 (25 orders and the renamed one): %v", len(next), bodies(next))
	}
	calls := s.rec.Calls()
	for _, m := range next {
		if m.Body == "renamed" {
			continue
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(m.Body, "order-"))
		wantTrace := "trace-" + strconv.Itoa(i)
		if i == 0 {
			wantTrace = ids[m.Body]
		}
		if got := m.Attributes[workers.TraceIDAttribute]; got != wantTrace {
			t.Errorf("%s forwarded with trace id %q, want %q", m.Body, got, wantTrace)
		}
		if m.Attributes["grilled"] != "yes" {
			t.Errorf("%s forwarded without the handler's attribute: %v", m.Body, m.Attributes)
		}
		if _, ok := m.Attributes["customer"]; ok {
			t.Errorf("%s kept an attribute the handler removed: %v", m.Body, m.Attributes)
		}
		send, del := callIndex(calls, "SendMessageBatch", m.Body), callIndex(calls, "DeleteMessageBatch", ids[m.Body])
		if send < 0 || del < 0 || del < send {
			t.Errorf("%s: send call #%d, delete call #%d; want the delete after the send", m.Body, send, del)
		}
	}
	for _, c := range calls {
		if len(c.Entries) > 10 {
			t.Errorf("%s with %d entries", c.Op, len(c.Entries))
		}
	}

	var succeeded, failed, samples int
	for _, l := range r.metrics.jsonLines(t) {
		if v, ok := l["Succeeded"].(float64); ok {
			succeeded += int(v)
			failed += int(l["Failed"].(float64))
		}
		samples += len(l["ProcessingTime"].([]any))
	}
	if succeeded != 27 || failed != 0 || samples != 27 {
		t.Errorf("metrics: succeeded %d, failed %d, samples %d; want 27, 0, 27", succeeded, failed, samples)
	}
	if got := len(logsWith(t, r.logs, "DEBUG", "message completed")); got != 27 {
		t.Errorf("%d completion logs, want 27", got)
	}
}

func TestLastStageOnlyDeletes(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.NextQueueURL = ""
	for i := range 5 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{Body: []byte("ignored: no next stage")}, nil
	}))
	eventually(t, "the queue to empty", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	r.stop(t)
	for _, c := range s.rec.Calls() {
		if c.Op == "SendMessageBatch" {
			t.Errorf("the last stage sent %v", c.Entries)
		}
	}
}

func TestAMessageWhoseForwardFailedIsNeverDeleted(t *testing.T) {
	s := newFakeStage(t, 3)
	s.fake.FailEntries(func(op, url, body string) *types.BatchResultErrorEntry {
		switch {
		case op == "SendMessageBatch" && url == s.next && body == "stuck":
			return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try later")}
		case op == "SendMessageBatch" && url == s.next && body == "refused":
			return &types.BatchResultErrorEntry{Code: aws.String("InvalidMessageContents"), Message: aws.String("bad characters"), SenderFault: true}
		}
		return nil
	})
	stuck := s.fake.Send(s.url, "stuck", nil)
	s.fake.Send(s.url, "refused", nil)
	for i := range 10 {
		s.fake.Send(s.url, "ok-"+strconv.Itoa(i), nil)
	}
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}))
	eventually(t, "the good messages forwarded, the refused one dead-lettered, the stuck one backing off", func() bool {
		calls := s.rec.Calls()
		for _, c := range calls {
			if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, stuck) {
				return len(s.fake.Messages(s.next)) == 10 && len(s.fake.Messages(s.dlq)) == 1
			}
		}
		return false
	})
	r.stop(t)

	if got := bodies(s.fake.Messages(s.url)); !slices.Equal(got, []string{"stuck"}) {
		t.Errorf("source queue holds %v, want only the stuck message", got)
	}
	if i := callIndex(s.rec.Calls(), "DeleteMessageBatch", stuck); i >= 0 {
		t.Errorf("the stuck message was deleted (call #%d) though its forward failed", i)
	}
	dead := s.fake.Messages(s.dlq)[0]
	if dead.Body != "refused" || !strings.Contains(dead.Attributes[consumer.ErrorAttribute], "bad characters") {
		t.Errorf("DLQ holds %q with %v; want the refused message and SQS's reason", dead.Body, dead.Attributes)
	}
	for _, c := range s.rec.Calls() {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, stuck) && slices.Contains(c.Timeouts, 0) {
			t.Errorf("the stuck message was made visible at once (%v): a hot loop", c.Timeouts)
		}
	}
}

func TestFailedDeletesAreRetriedEntryByEntry(t *testing.T) {
	s := newFakeStage(t, 3)
	var mu sync.Mutex
	failures := map[string]int{}
	s.fake.FailEntries(func(op, _, body string) *types.BatchResultErrorEntry {
		mu.Lock()
		defer mu.Unlock()
		if op == "DeleteMessageBatch" && strings.HasPrefix(body, "flaky") && failures[body] < 2 {
			failures[body]++
			return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("oops")}
		}
		return nil
	})
	for i := range 6 {
		s.fake.Send(s.url, "flaky-"+strconv.Itoa(i), nil)
		s.fake.Send(s.url, "fine-"+strconv.Itoa(i), nil)
	}
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}))
	eventually(t, "the queue to empty", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	r.stop(t)
	if n := len(s.fake.Messages(s.next)); n != 12 {
		t.Errorf("next queue has %d messages, want each of the 12 once", n)
	}
	for i := range 6 {
		if got := failures["flaky-"+strconv.Itoa(i)]; got != 2 {
			t.Errorf("flaky-%d failed %d deletes, want 2 then success", i, got)
		}
	}
}

func TestFailuresBackOffByReceiveCountUntilSQSMovesThemToTheDLQ(t *testing.T) {
	s := newFakeStage(t, 3)
	id := s.fake.Send(s.url, "burnt", nil)
	var mu sync.Mutex
	var counts []int
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		mu.Lock()
		counts = append(counts, m.ReceiveCount)
		mu.Unlock()
		return workers.Output{}, errors.New("grill is cold")
	}))
	eventually(t, "the message to reach the DLQ", func() bool { return len(s.fake.Messages(s.dlq)) == 1 })
	r.stop(t)

	if !slices.Equal(counts, []int{1, 2, 3}) {
		t.Errorf("handler saw receive counts %v, want [1 2 3]", counts)
	}
	var delays []int32
	for _, c := range s.rec.Calls() {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, id) {
			delays = append(delays, c.Timeouts[slices.Index(c.Entries, id)])
		}
	}
	if len(delays) != 3 || delays[0] != 1 || delays[1] != 2 || delays[2] < 4 || delays[2] > 5 {
		t.Errorf("retry delays %v s, want [1 2 4-5]: doubling per receive, jitter only adding", delays)
	}
	if got := logsWith(t, r.logs, "ERROR", "last attempt"); len(got) != 1 {
		t.Errorf("%d last-attempt error logs, want 1", len(got))
	}
	if got := logsWith(t, r.logs, "WARN", "retrying"); len(got) != 2 || got[0]["retry_in"] != "1s" {
		t.Errorf("retry logs %v, want 2 at warn, the first retrying in 1s", got)
	}
}

func TestPermanentFailuresGoToTheDLQAtOnceWhileGoodMessagesFlow(t *testing.T) {
	s := newFakeStage(t, 5)
	type order struct{ Item string }
	calls := map[string]int{}
	var mu sync.Mutex
	h := workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		mu.Lock()
		calls[string(m.Body)]++
		mu.Unlock()
		var o order
		if err := json.Unmarshal(m.Body, &o); err != nil {
			return workers.Output{}, workers.Permanent(fmt.Errorf("undecodable order: %w", err))
		}
		if o.Item == "pizza" {
			return workers.Output{}, workers.Permanent(errors.New("no such item: pizza"))
		}
		return workers.Output{}, nil
	})
	badID := s.fake.Send(s.url, "{not json", map[string]string{workers.TraceIDAttribute: "t-bad"})
	s.fake.Send(s.url, `{"Item":"pizza"}`, nil)
	for range 10 {
		s.fake.Send(s.url, `{"Item":"burger"}`, nil)
	}
	r := startConsumer(t, s.cfg, s.rec, h)
	eventually(t, "good messages forwarded and bad ones dead-lettered", func() bool {
		return len(s.fake.Messages(s.next)) == 10 && len(s.fake.Messages(s.dlq)) == 2
	})
	r.stop(t)
	if n := len(s.fake.Messages(s.url)); n != 0 {
		t.Errorf("%d messages left in the source queue", n)
	}
	for _, d := range s.fake.Messages(s.dlq) {
		a := d.Attributes
		if calls[d.Body] != 1 || a[consumer.StageAttribute] != "grill" || a[consumer.ReceiveCountAttribute] != "1" || a[consumer.MessageIDAttribute] == "" {
			t.Errorf("dead letter %q (handled %d times) has %v; want handled once, stage grill, receive count 1, its message id", d.Body, calls[d.Body], a)
		}
		if d.Body == "{not json" && (a[consumer.MessageIDAttribute] != badID || a[workers.TraceIDAttribute] != "t-bad" ||
			!strings.Contains(a[consumer.ErrorAttribute], "undecodable order")) {
			t.Errorf("dead letter for the undecodable body has %v", a)
		}
		if d.Body == `{"Item":"pizza"}` && a[consumer.ErrorAttribute] != "no such item: pizza" {
			t.Errorf("dead letter for pizza says %q", a[consumer.ErrorAttribute])
		}
	}
}

func TestPermanentFailureWithoutADLQIsRetried(t *testing.T) {
	s := newFakeStage(t, 5)
	s.cfg.DLQURL = ""
	id := s.fake.Send(s.url, "bad", nil)
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, workers.Permanent(errors.New("bad"))
	}))
	eventually(t, "the message's backoff", func() bool {
		return callIndex(s.rec.Calls(), "ChangeMessageVisibilityBatch", id) >= 0
	})
	r.stop(t)
	if got := bodies(s.fake.Messages(s.url)); !slices.Equal(got, []string{"bad"}) {
		t.Errorf("source queue holds %v, want the message kept for SQS's redrive", got)
	}
}

func TestAPanickingHandlerDoesNotStopTheWorker(t *testing.T) {
	s := newFakeStage(t, 2)
	var boom atomic.Int32
	s.fake.Send(s.url, "boom", nil)
	for i := range 5 {
		s.fake.Send(s.url, "ok-"+strconv.Itoa(i), nil)
	}
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		if string(m.Body) == "boom" {
			boom.Add(1)
			panic("the fryer caught fire")
		}
		return workers.Output{}, nil
	}))
	eventually(t, "the panicking message to be retried into the DLQ", func() bool { return len(s.fake.Messages(s.dlq)) == 1 })
	s.fake.Send(s.url, "after", nil)
	eventually(t, "a message sent after the panics to be forwarded", func() bool { return len(s.fake.Messages(s.next)) == 6 })
	if !r.running() {
		t.Fatal("Run returned after a panic")
	}
	r.stop(t)
	if boom.Load() != 2 {
		t.Errorf("panicking message handled %d times, want 2 (maxReceiveCount)", boom.Load())
	}
	logs := logsWith(t, r.logs, "WARN", "retrying")
	if len(logs) == 0 || !strings.Contains(fmt.Sprint(logs[0]["stack"]), "consumer_test.go") {
		t.Errorf("the panic's failure log has no stack: %v", logs)
	}
}

func TestHeartbeatKeepsASlowMessageInvisible(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.VisibilityTimeout = 2 * time.Second
	id := s.fake.Send(s.url, "slow", nil)
	var handled atomic.Int32
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		handled.Add(1)
		select {
		case <-time.After(4500 * time.Millisecond): // more than twice the visibility timeout
		case <-ctx.Done():
		}
		return workers.Output{}, nil
	}))
	eventually(t, "the slow message to be forwarded", func() bool { return len(s.fake.Messages(s.next)) == 1 })
	eventually(t, "the slow message to be deleted", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	r.stop(t)

	if handled.Load() != 1 {
		t.Errorf("handled %d times, want once: the message became visible while in flight", handled.Load())
	}
	calls := s.rec.Calls()
	del := callIndex(calls, "DeleteMessageBatch", id)
	var before, after int
	for i, c := range calls {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, id) {
			if got := c.Timeouts[slices.Index(c.Entries, id)]; got != 2 {
				t.Errorf("heartbeat asked for %ds, want the 2s visibility timeout", got)
			}
			if i < del {
				before++
			} else {
				after++
			}
		}
	}
	if before < 2 {
		t.Errorf("%d extensions while handling, want at least 2 over 4.5s with a 2s timeout", before)
	}
	if after > 1 {
		t.Errorf("%d extensions after the delete, want the heartbeat stopped", after)
	}
}

func TestHeartbeatStopsWhenTheMessageIsGone(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.VisibilityTimeout = 2 * time.Second
	id := s.fake.Send(s.url, "gone", nil)
	var handled atomic.Int32
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
		if string(m.Body) == "gone" {
			handled.Add(1)
			// Someone deletes the message while it is being handled.
			if !s.fake.Remove(s.url, m.ID) {
				return workers.Output{}, errors.New("message not in the queue")
			}
			select {
			case <-time.After(3500 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return workers.Output{}, nil
	}))
	eventually(t, "the slow message to complete", func() bool { return len(s.fake.Messages(s.next)) == 1 })
	s.fake.Send(s.url, "later", nil)
	eventually(t, "a later message to be forwarded", func() bool { return len(s.fake.Messages(s.next)) == 2 })
	r.stop(t)
	extensions := 0
	for _, c := range s.rec.Calls() {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, id) {
			extensions++
		}
	}
	if extensions != 1 || handled.Load() != 1 {
		t.Errorf("%d extension attempts, handled %d times; want 1 and 1: a rejected extension ends the heartbeat", extensions, handled.Load())
	}
	if n := len(logsWith(t, r.logs, "WARN", "heartbeat rejected")); n != 1 {
		t.Errorf("%d heartbeat-rejected warnings, want 1", n)
	}
}

func TestReceivesOnlyAsManyMessagesAsThereAreFreeSlots(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 3
	for i := range 20 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	gate := make(chan struct{})
	var running atomic.Int32
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		running.Add(1)
		<-gate
		return workers.Output{}, nil
	}))
	eventually(t, "three handlers to start", func() bool { return running.Load() == 3 })
	time.Sleep(100 * time.Millisecond) // room for a wrong extra receive to happen
	inFlight := 0
	for _, m := range s.fake.Messages(s.url) {
		if !m.Visible {
			inFlight++
		}
	}
	if inFlight != 3 {
		t.Errorf("%d messages in flight with 3 slots, want 3", inFlight)
	}
	close(gate)
	eventually(t, "all messages to complete", func() bool { return len(s.fake.Messages(s.next)) == 20 })
	r.stop(t)
	for _, c := range s.rec.Calls() {
		if c.Op == "ReceiveMessage" && (c.Max > 3 || c.Max < 1) {
			t.Errorf("ReceiveMessage asked for %d messages with 3 slots", c.Max)
		}
	}
}

func TestDrainLetsInFlightHandlersFinishAndLeavesTheRestVisible(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 4
	for i := range 12 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	gate := make(chan struct{})
	var started, cancelled atomic.Int32
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		started.Add(1)
		<-gate
		if ctx.Err() != nil {
			cancelled.Add(1)
		}
		return workers.Output{}, nil
	}))
	eventually(t, "four handlers to start", func() bool { return started.Load() == 4 })
	r.cancel()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	r.stop(t)

	if started.Load() != 4 || cancelled.Load() != 0 {
		t.Errorf("%d handlers started, %d saw a cancelled ctx; want 4 and 0", started.Load(), cancelled.Load())
	}
	if n := len(s.fake.Messages(s.next)); n != 4 {
		t.Errorf("%d forwarded, want the 4 in flight", n)
	}
	left := s.fake.Messages(s.url)
	for _, m := range left {
		if !m.Visible {
			t.Errorf("message %s left invisible after the drain", m.Body)
		}
	}
	if len(left) != 8 {
		t.Errorf("%d left in the queue, want 8", len(left))
	}
}

func TestDrainTimeoutCancelsHandlersAndReturnsTheirMessagesAtOnce(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 3
	s.cfg.DrainTimeout = 200 * time.Millisecond
	for i := range 3 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	var started atomic.Int32
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		started.Add(1)
		<-ctx.Done()
		return workers.Output{}, ctx.Err()
	}))
	eventually(t, "three handlers to start", func() bool { return started.Load() == 3 })
	r.stop(t)

	left := s.fake.Messages(s.url)
	if len(left) != 3 {
		t.Fatalf("%d messages in the queue, want all 3 back", len(left))
	}
	for _, m := range left {
		if !m.Visible {
			t.Errorf("message %s still invisible: not returned to the queue", m.Body)
		}
	}
	for _, c := range s.rec.Calls() {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.ContainsFunc(c.Timeouts, func(v int32) bool { return v != 0 }) {
			t.Errorf("a cancelled message got a retry backoff %v instead of going back at once", c.Timeouts)
		}
	}
	if strings.Contains(r.metrics.String(), `"Failed":1`) || strings.Contains(r.metrics.String(), `"Failed":3`) {
		t.Errorf("messages cut off by the drain counted as failures: %s", r.metrics.String())
	}
}

func TestSQSOutageBacksOffAndLogsOncePerStateChange(t *testing.T) {
	s := newFakeStage(t, 3)
	var failing atomic.Bool
	failing.Store(true)
	s.fake.FailCalls(func(op, _ string) error {
		if failing.Load() {
			return errors.New("dial tcp 127.0.0.1:4566: connect: connection refused")
		}
		return nil
	})
	r := startConsumer(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}), consumer.WithSQSBackoff(10*time.Millisecond, 100*time.Millisecond))
	begin := time.Now()
	time.Sleep(time.Second)
	failing.Store(false)
	outage := time.Since(begin)
	s.fake.Send(s.url, "after the outage", nil)
	eventually(t, "a message to flow after the outage", func() bool { return len(s.fake.Messages(s.next)) == 1 })
	r.stop(t)

	failed := 0
	for _, c := range s.rec.Calls() {
		if c.Op == "ReceiveMessage" && c.Err != nil {
			failed++
		}
	}
	// Backing off from 10ms to 100ms, each poller makes about 20 calls a
	// second; a spinning loop would make tens of thousands.
	if limit := 2 * int(outage/(50*time.Millisecond)+10); failed > limit || failed < 2 {
		t.Errorf("%d failed receives in %v, want 2 to %d", failed, outage, limit)
	}
	if n := len(logsWith(t, r.logs, "WARN", "failing; backing off")); n != 1 {
		t.Errorf("%d outage warnings for %d failures, want 1", n, failed)
	}
	if n := len(logsWith(t, r.logs, "INFO", "recovered")); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	s := newFakeStage(t, 3)
	h := workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) { return workers.Output{}, nil })
	bad := s.cfg
	bad.Concurrency = 0
	tests := []struct {
		name   string
		cfg    consumer.Config
		client consumer.SQS
		h      workers.Handler
		want   string
	}{
		{"config", bad, s.fake, h, "LINECOOK_CONCURRENCY=0"},
		{"client", s.cfg, nil, h, "nil SQS client"},
		{"handler", s.cfg, s.fake, nil, "nil handler"},
	}
	for _, tt := range tests {
		if _, err := consumer.New(tt.cfg, tt.client, tt.h); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New with bad %s = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		count  int
		jitter float64
		want   time.Duration
	}{
		{0, 0, time.Second},
		{1, 0, time.Second},
		{1, 0.99, time.Second}, // 1.49s, whole seconds
		{2, 0, 2 * time.Second},
		{2, 0.99, 2 * time.Second},
		{3, 0, 4 * time.Second},
		{3, 0.99, 5 * time.Second},
		{4, 0.5, 10 * time.Second},
		{9, 0, 256 * time.Second},
		{10, 0, 300 * time.Second}, // capped
		{10, 0.99, 300 * time.Second},
		{1000, 0.5, 300 * time.Second},
	}
	for _, tt := range tests {
		if got := consumer.RetryDelay(tt.count, time.Second, 5*time.Minute, tt.jitter); got != tt.want {
			t.Errorf("RetryDelay(%d, 1s, 5m, %v) = %v, want %v", tt.count, tt.jitter, got, tt.want)
		}
	}
	for n := 1; n < 9; n++ {
		if lo, hi := consumer.RetryDelay(n+1, time.Second, time.Hour, 0), consumer.RetryDelay(n, time.Second, time.Hour, 0.999); lo <= hi {
			t.Errorf("delay for receive %d (%v at least) is not above receive %d's (%v at most)", n+1, lo, n, hi)
		}
	}
	if got := consumer.RetryDelay(3, 10*time.Hour, 24*time.Hour, 0); got != 12*time.Hour {
		t.Errorf("RetryDelay past SQS's 12h = %v, want 12h", got)
	}
}
