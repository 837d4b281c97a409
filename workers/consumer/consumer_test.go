// The consumer's tests on the Fake: the conformance suite, and the tests
// that need what only the Fake can do. TestFake* tests inject failures SQS
// cannot be made to produce on demand (single failing batch entries, a
// message deleted behind the runtime's back), or read each message's
// visibility at an instant, exactly, where SQS counts only approximately
// and a round trip late.

package consumer_test

import (
	"context"
	"errors"
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

func TestConformanceOnTheFake(t *testing.T) {
	consumertest.RunConformance(t, newFakeHarness())
}

// fakeHarness is the conformance suite's SQS as one Fake, with queues of
// their own for each test.
type fakeHarness struct {
	fake *consumertest.Fake
	seq  atomic.Int64
}

func newFakeHarness() *fakeHarness { return &fakeHarness{fake: consumertest.NewFake()} }

func (h *fakeHarness) Queues(_ *testing.T, maxReceiveCount int) consumertest.Queues {
	name := "grill-" + strconv.FormatInt(h.seq.Add(1), 10)
	dlq := h.fake.CreateQueue(name+"-dlq", 0, "")
	return consumertest.Queues{
		URL:     h.fake.CreateQueue(name, maxReceiveCount, dlq),
		NextURL: h.fake.CreateQueue(name+"-next", 0, ""),
		DLQURL:  dlq,
	}
}

func (h *fakeHarness) Client() consumer.SQS { return h.fake }

func (h *fakeHarness) Depth(_ *testing.T, url string) consumertest.Depth {
	var d consumertest.Depth
	for _, m := range h.fake.Messages(url) {
		if m.Visible {
			d.Visible++
		} else {
			d.InFlight++
		}
	}
	return d
}

// Outage fails every call as a client finding the endpoint down does.
func (h *fakeHarness) Outage(*testing.T) (end func()) {
	h.fake.FailCalls(func(string, string) error {
		return errors.New("dial tcp 127.0.0.1:4566: connect: connection refused")
	})
	return func() { h.fake.FailCalls(nil) }
}

// fakeStage is a stage on a Fake of its own, for the TestFake* tests.
type fakeStage struct {
	fake           *consumertest.Fake
	rec            *consumertest.Recorder // the fake, as the consumer sees it
	url, next, dlq string
	cfg            consumer.Config
}

func newFakeStage(t *testing.T, maxReceiveCount int) *fakeStage {
	h := newFakeHarness()
	q := h.Queues(t, maxReceiveCount)
	return &fakeStage{fake: h.fake, rec: consumertest.NewRecorder(h.fake), url: q.URL, next: q.NextURL, dlq: q.DLQURL,
		cfg: consumertest.StageConfig(q, maxReceiveCount)}
}

func bodies(msgs []consumertest.Message) []string {
	var b []string
	for _, m := range msgs {
		b = append(b, m.Body)
	}
	slices.Sort(b)
	return b
}

// Fake only: SQS refuses one entry of a batch only when it wants to.
func TestFakeAMessageWhoseForwardFailedIsNeverDeleted(t *testing.T) {
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
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}))
	consumertest.Eventually(t, "the good messages forwarded, the refused one dead-lettered, the stuck one backing off", func() bool {
		calls := s.rec.Calls()
		for _, c := range calls {
			if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, stuck) {
				return len(s.fake.Messages(s.next)) == 10 && len(s.fake.Messages(s.dlq)) == 1
			}
		}
		return false
	})
	// The calls before the shutdown: a long poll that ends during the
	// drain may bring the stuck message back once its backoff is over,
	// and give it back at once, as it does any message it has not
	// started.
	calls := s.rec.Calls()
	r.Stop(t)

	if got := bodies(s.fake.Messages(s.url)); !slices.Equal(got, []string{"stuck"}) {
		t.Errorf("source queue holds %v, want only the stuck message", got)
	}
	if i := consumertest.CallIndex(s.rec.Calls(), "DeleteMessageBatch", stuck); i >= 0 {
		t.Errorf("the stuck message was deleted (call #%d) though its forward failed", i)
	}
	dead := s.fake.Messages(s.dlq)[0]
	if dead.Body != "refused" || !strings.Contains(dead.Attributes[consumer.ErrorAttribute], "bad characters") {
		t.Errorf("DLQ holds %q with %v; want the refused message and SQS's reason", dead.Body, dead.Attributes)
	}
	for _, c := range calls {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, stuck) && slices.Contains(c.Timeouts, 0) {
			t.Errorf("the stuck message was made visible at once (%v): a hot loop", c.Timeouts)
		}
	}
}

// Fake only: SQS fails one delete of a batch only when it wants to.
func TestFakeFailedDeletesAreRetriedEntryByEntry(t *testing.T) {
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
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}))
	consumertest.Eventually(t, "the queue to empty", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	r.Stop(t)
	if n := len(s.fake.Messages(s.next)); n != 12 {
		t.Errorf("next queue has %d messages, want each of the 12 once", n)
	}
	for i := range 6 {
		if got := failures["flaky-"+strconv.Itoa(i)]; got != 2 {
			t.Errorf("flaky-%d failed %d deletes, want 2 then success", i, got)
		}
	}
}

// Fake only: deletes a message behind the runtime's back (Fake.Remove),
// which on SQS takes a receipt handle only the runtime has.
func TestFakeHeartbeatStopsWhenTheMessageIsGone(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.VisibilityTimeout = 2 * time.Second
	id := s.fake.Send(s.url, "gone", nil)
	var handled atomic.Int32
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
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
	consumertest.Eventually(t, "the slow message to complete", func() bool { return len(s.fake.Messages(s.next)) == 1 })
	s.fake.Send(s.url, "later", nil)
	consumertest.Eventually(t, "a later message to be forwarded", func() bool { return len(s.fake.Messages(s.next)) == 2 })
	r.Stop(t)
	extensions := 0
	for _, c := range s.rec.Calls() {
		if c.Op == "ChangeMessageVisibilityBatch" && slices.Contains(c.Entries, id) {
			extensions++
		}
	}
	if extensions != 1 || handled.Load() != 1 {
		t.Errorf("%d extension attempts, handled %d times; want 1 and 1: a rejected extension ends the heartbeat", extensions, handled.Load())
	}
	if n := len(r.LogsWith(t, "WARN", "heartbeat rejected")); n != 1 {
		t.Errorf("%d heartbeat-rejected warnings, want 1", n)
	}
}

// Fake only: counts the messages in flight at one instant.
func TestFakeReceivesOnlyAsManyMessagesAsThereAreFreeSlots(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 3
	for i := range 20 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	gate := make(chan struct{})
	var running atomic.Int32
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		running.Add(1)
		<-gate
		return workers.Output{}, nil
	}))
	consumertest.Eventually(t, "three handlers to start", func() bool { return running.Load() == 3 })
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
	consumertest.Eventually(t, "all messages to complete", func() bool { return len(s.fake.Messages(s.next)) == 20 })
	r.Stop(t)
	for _, c := range s.rec.Calls() {
		if c.Op == "ReceiveMessage" && (c.Max > 3 || c.Max < 1) {
			t.Errorf("ReceiveMessage asked for %d messages with 3 slots", c.Max)
		}
	}
}

// Fake only: reads each message's visibility the moment Run returns.
func TestFakeDrainLetsInFlightHandlersFinishAndLeavesTheRestVisible(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 4
	for i := range 12 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	gate := make(chan struct{})
	var started, cancelled atomic.Int32
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		started.Add(1)
		<-gate
		if ctx.Err() != nil {
			cancelled.Add(1)
		}
		return workers.Output{}, nil
	}))
	consumertest.Eventually(t, "four handlers to start", func() bool { return started.Load() == 4 })
	r.Cancel()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	r.Stop(t)

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

// Fake only: reads each message's visibility the moment Run returns.
func TestFakeDrainTimeoutCancelsHandlersAndReturnsTheirMessagesAtOnce(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.Concurrency = 3
	s.cfg.DrainTimeout = 200 * time.Millisecond
	for i := range 3 {
		s.fake.Send(s.url, strconv.Itoa(i), nil)
	}
	var started atomic.Int32
	r := consumertest.Start(t, s.cfg, s.rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		started.Add(1)
		<-ctx.Done()
		return workers.Output{}, ctx.Err()
	}))
	consumertest.Eventually(t, "three handlers to start", func() bool { return started.Load() == 3 })
	r.Stop(t)

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
	if strings.Contains(r.Metrics.String(), `"Failed":1`) || strings.Contains(r.Metrics.String(), `"Failed":3`) {
		t.Errorf("messages cut off by the drain counted as failures: %s", r.Metrics.String())
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
