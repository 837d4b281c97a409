package consumertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
)

// Harness is an SQS for RunConformance to run the consumer on.
type Harness interface {
	// Queues creates a stage's queues, under names unique to t: the
	// stage's queue, which SQS redrives to the DLQ after maxReceiveCount
	// receives, the next stage's queue and the DLQ.
	Queues(t *testing.T, maxReceiveCount int) Queues
	// Client is the SQS the consumer runs on and the suite sends and
	// receives through.
	Client() consumer.SQS
	// Depth is how many messages a queue holds.
	Depth(t *testing.T, url string) Depth
	// Outage makes SQS unreachable, every call failing, until end is
	// called; end returns once SQS answers again.
	Outage(t *testing.T) (end func())
}

// Queues are one stage's queues.
type Queues struct {
	URL, NextURL, DLQURL string
}

// Depth is how many messages a queue holds, visible and in flight.
type Depth struct {
	Visible, InFlight int
}

// RunConformance checks, on h, the behaviours the consumer promises on any
// SQS (see the package documentation), one subtest each. The subtests run
// one after another: several check timing, which a busy machine skews.
func RunConformance(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"ForwardsWithTheTraceIDThenDeletes", testForwards},
		{"LastStageOnlyDeletes", testLastStage},
		{"FailuresBackOffByReceiveCountUntilSQSMovesThemToTheDLQ", testBackoffToDLQ},
		{"PermanentFailuresGoToTheDLQAtOnceWhileGoodMessagesFlow", testPermanent},
		{"PermanentFailureWithoutADLQIsRetried", testPermanentWithoutDLQ},
		{"APanickingHandlerDoesNotStopTheWorker", testPanic},
		{"HeartbeatKeepsASlowMessageInvisible", testHeartbeat},
		{"OutageBacksOffLogsOnceAndRecovers", testOutage},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h) })
	}
}

// StageConfig is the consumer's configuration for a stage on q: stage
// "grill", eight at a time, a 30 s visibility timeout, retries from 1 s,
// a 3 s drain (so long polls of 2 s: every test ends with a shutdown,
// which lets the polls in flight end).
func StageConfig(q Queues, maxReceiveCount int) consumer.Config {
	return consumer.Config{
		Stage: "grill", QueueURL: q.URL, NextQueueURL: q.NextURL, DLQURL: q.DLQURL,
		Concurrency: 8, VisibilityTimeout: 30 * time.Second, DrainTimeout: 3 * time.Second, MaxReceiveCount: maxReceiveCount,
		RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
	}
}

// empty reports whether a queue holds nothing, visible or in flight.
func empty(t *testing.T, h Harness, url string) bool {
	d := h.Depth(t, url)
	return d.Visible == 0 && d.InFlight == 0
}

// CallIndex is the index of the first successful call of op that lists
// entry, or -1.
func CallIndex(calls []Call, op, entry string) int {
	for i, c := range calls {
		if c.Op == op && c.Err == nil && slices.Contains(c.Entries, entry) {
			return i
		}
	}
	return -1
}

// timeoutsFor are the visibility timeouts asked for a message, in order.
func timeoutsFor(calls []Call, id string) []int32 {
	var out []int32
	for _, c := range calls {
		if c.Op == "ChangeMessageVisibilityBatch" {
			if i := slices.Index(c.Entries, id); i >= 0 {
				out = append(out, c.Timeouts[i])
			}
		}
	}
	return out
}

func bodiesOf(msgs []Received) []string {
	var b []string
	for _, m := range msgs {
		b = append(b, m.Body)
	}
	slices.Sort(b)
	return b
}

// testForwards: each output goes to the next queue with the incoming
// attributes, the handler's (an empty value removes one) and the trace id
// (the message id for a message that starts its trace here), and only
// then is the message deleted; Drop only deletes, Output.Body replaces
// the body; batches hold at most ten entries; metrics and debug logs
// count every message.
func testForwards(t *testing.T, h Harness) {
	q := h.Queues(t, 3)
	client := h.Client()
	var msgs []outgoing
	var want []string
	for i := range 50 {
		body := "order-" + strconv.Itoa(i)
		want = append(want, body)
		attrs := map[string]string{workers.TraceIDAttribute: "trace-" + body, "customer": "ada"}
		if i == 0 {
			attrs = nil // enters the pipeline here: starts its own trace
		}
		msgs = append(msgs, outgoing{body, attrs})
	}
	msgs = append(msgs, outgoing{"drop-me", nil}, outgoing{"rename-me", nil})
	ids := map[string]string{}
	for i, id := range send(t, client, q.URL, msgs...) {
		ids[msgs[i].body] = id
	}
	rec := NewRecorder(client)
	r := Start(t, StageConfig(q, 3), rec, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		switch string(m.Body) {
		case "drop-me":
			return workers.Output{Drop: true}, nil
		case "rename-me":
			return workers.Output{Body: []byte("renamed")}, nil
		}
		if m.Stage != "grill" || m.ReceiveCount != 1 || m.SentAt.IsZero() {
			return workers.Output{}, fmt.Errorf("message fields not filled: %+v", m)
		}
		return workers.Output{Attributes: map[string]string{"grilled": "yes", "grilled-by": m.Stage, "customer": ""}}, nil
	}))
	Eventually(t, "every message to leave the queue", func() bool { return empty(t, h, q.URL) })
	r.Stop(t)

	next := Collect(t, client, q.NextURL, 51)
	if got := bodiesOf(next); !slices.Equal(got, slices.Sorted(slices.Values(append(want, "renamed")))) {
		t.Fatalf("next queue got %v, want each of the 50 orders and the renamed message once", got)
	}
	calls := rec.Calls()
	for _, m := range next {
		if m.Body == "renamed" {
			continue
		}
		wantTrace := "trace-" + m.Body
		if m.Body == "order-0" {
			wantTrace = ids[m.Body]
		}
		if got := m.Attributes[workers.TraceIDAttribute]; got != wantTrace {
			t.Errorf("%s forwarded with trace id %q, want %q", m.Body, got, wantTrace)
		}
		if m.Attributes["grilled"] != "yes" || m.Attributes["grilled-by"] != "grill" {
			t.Errorf("%s forwarded without the handler's attributes: %v", m.Body, m.Attributes)
		}
		if _, ok := m.Attributes["customer"]; ok {
			t.Errorf("%s kept an attribute the handler removed: %v", m.Body, m.Attributes)
		}
		send, del := CallIndex(calls, "SendMessageBatch", m.Body), CallIndex(calls, "DeleteMessageBatch", ids[m.Body])
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
	for _, l := range r.Metrics.JSONLines(t) {
		if v, ok := l["Succeeded"].(float64); ok {
			succeeded += int(v)
			failed += int(l["Failed"].(float64))
		}
		samples += len(l["ProcessingTime"].([]any))
	}
	if succeeded != 52 || failed != 0 || samples != 52 {
		t.Errorf("metrics: succeeded %d, failed %d, samples %d; want 52, 0, 52", succeeded, failed, samples)
	}
	if got := len(r.LogsWith(t, "DEBUG", "message completed")); got != 52 {
		t.Errorf("%d completion logs, want 52", got)
	}
}

// testLastStage: with no next queue, outputs are dropped and messages
// deleted.
func testLastStage(t *testing.T, h Harness) {
	q := h.Queues(t, 3)
	cfg := StageConfig(q, 3)
	cfg.NextQueueURL = ""
	Send(t, h.Client(), q.URL, "0", "1", "2", "3", "4")
	rec := NewRecorder(h.Client())
	r := Start(t, cfg, rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{Body: []byte("ignored: no next stage")}, nil
	}))
	Eventually(t, "the queue to empty", func() bool { return empty(t, h, q.URL) })
	r.Stop(t)
	for _, c := range rec.Calls() {
		if c.Op == "SendMessageBatch" {
			t.Errorf("the last stage sent %v", c.Entries)
		}
	}
}

// testBackoffToDLQ: a failing message is retried with a delay doubling
// per receive (jitter only adding), which SQS really holds it for, until
// SQS moves it to the DLQ after maxReceiveCount receives; the last
// attempt logs an error, the others a warning.
func testBackoffToDLQ(t *testing.T, h Harness) {
	q := h.Queues(t, 3)
	id := Send(t, h.Client(), q.URL, "cold-grill")[0]
	type attempt struct {
		count int
		at    time.Time
	}
	var mu sync.Mutex
	var attempts []attempt
	rec := NewRecorder(h.Client())
	r := Start(t, StageConfig(q, 3), rec, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		mu.Lock()
		attempts = append(attempts, attempt{m.ReceiveCount, time.Now()})
		mu.Unlock()
		return workers.Output{}, errors.New("the grill is cold")
	}))
	dead := Collect(t, h.Client(), q.DLQURL, 1)
	r.Stop(t)

	if len(dead) != 1 || dead[0].Body != "cold-grill" || dead[0].Attributes[workers.TraceIDAttribute] != "trace-cold-grill" {
		t.Errorf("DLQ got %v, want the failing message with its trace id", dead)
	}
	mu.Lock()
	defer mu.Unlock()
	var counts []int
	for _, a := range attempts {
		counts = append(counts, a.count)
	}
	if !slices.Equal(counts, []int{1, 2, 3}) {
		t.Fatalf("handler saw receive counts %v, want [1 2 3] (maxReceiveCount)", counts)
	}
	delays := timeoutsFor(rec.Calls(), id)
	if len(delays) != 3 || delays[0] != 1 || delays[1] != 2 || delays[2] < 4 || delays[2] > 5 {
		t.Fatalf("retry delays %v s, want [1 2 4-5]: doubling per receive, jitter only adding, never 0", delays)
	}
	for i := 1; i < 3; i++ {
		// SQS held the message for the delay asked for (less a little for
		// clocks): the backoff is real, not just requested.
		if gap, min := attempts[i].at.Sub(attempts[i-1].at), time.Duration(delays[i-1])*time.Second-250*time.Millisecond; gap < min {
			t.Errorf("attempt %d came %v after the previous one, want at least %v", i+1, gap, min)
		}
	}
	if got := r.LogsWith(t, "ERROR", "last attempt"); len(got) != 1 {
		t.Errorf("%d last-attempt error logs, want 1", len(got))
	}
	got := r.LogsWith(t, "WARN", "retrying")
	if len(got) != 2 || got[0]["retry_in"] != "1s" {
		t.Fatalf("retry logs %v, want 2 at warn, the first retrying in 1s", got)
	}
	// The retry line joins the order's other lines by its trace id.
	if got[0]["message_id"] != id || got[0]["trace_id"] != "trace-cold-grill" || got[0]["receive_count"] != 1.0 || got[0]["error"] != "the grill is cold" {
		t.Errorf("retry log %v, want message_id %s, trace_id trace-cold-grill, receive_count 1 and the error", got[0], id)
	}
}

// testPermanent: a permanent failure or an undecodable message goes to the
// DLQ after one attempt, saying why, from where and which message, and is
// deleted; good messages flow meanwhile.
func testPermanent(t *testing.T, h Harness) {
	q := h.Queues(t, 5)
	client := h.Client()
	var good []string
	for i := range 20 {
		good = append(good, fmt.Sprintf(`{"item":"burger","n":%d}`, i))
	}
	Send(t, client, q.URL, append(good, `{"item":"pizza"}`)...)
	badID := send(t, client, q.URL, outgoing{"{not json", map[string]string{workers.TraceIDAttribute: "t-bad"}})[0]
	var mu sync.Mutex
	handled := map[string]int{}
	r := Start(t, StageConfig(q, 5), client, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		mu.Lock()
		handled[string(m.Body)]++
		mu.Unlock()
		var order struct{ Item string }
		if err := json.Unmarshal(m.Body, &order); err != nil {
			return workers.Output{}, workers.Permanent(fmt.Errorf("undecodable order: %w", err))
		}
		if order.Item != "burger" {
			return workers.Output{}, workers.Permanent(fmt.Errorf("no such item: %s", order.Item))
		}
		return workers.Output{}, nil
	}))
	dead := Collect(t, client, q.DLQURL, 2)
	forwarded := Collect(t, client, q.NextURL, 20)
	r.Stop(t)

	if got := bodiesOf(forwarded); !slices.Equal(got, slices.Sorted(slices.Values(good))) {
		t.Errorf("forwarded %v, want each good message once", got)
	}
	if len(dead) != 2 {
		t.Errorf("%d dead letters, want 2", len(dead))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range dead {
		a := d.Attributes
		if handled[d.Body] != 1 || a[consumer.StageAttribute] != "grill" || a[consumer.ReceiveCountAttribute] != "1" || a[consumer.MessageIDAttribute] == "" {
			t.Errorf("dead letter %q (handled %d times) has %v; want handled once, stage grill, receive count 1, its message id", d.Body, handled[d.Body], a)
		}
		switch d.Body {
		case "{not json":
			if a[consumer.MessageIDAttribute] != badID || a[workers.TraceIDAttribute] != "t-bad" || !strings.Contains(a[consumer.ErrorAttribute], "undecodable order") {
				t.Errorf("dead letter for the undecodable body has %v", a)
			}
		case `{"item":"pizza"}`:
			if a[consumer.ErrorAttribute] != "no such item: pizza" {
				t.Errorf("dead letter for pizza says %q", a[consumer.ErrorAttribute])
			}
		default:
			t.Errorf("dead letter %q: a good message", d.Body)
		}
	}
	if !empty(t, h, q.URL) {
		t.Errorf("the source queue holds %+v: dead-lettered or completed messages were not deleted", h.Depth(t, q.URL))
	}
}

// testPermanentWithoutADLQ: with no DLQ configured a permanent failure is
// retried like any other, left for SQS's redrive.
func testPermanentWithoutDLQ(t *testing.T, h Harness) {
	q := h.Queues(t, 5)
	cfg := StageConfig(q, 5)
	cfg.DLQURL = ""
	id := Send(t, h.Client(), q.URL, "bad")[0]
	rec := NewRecorder(h.Client())
	r := Start(t, cfg, rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, workers.Permanent(errors.New("bad"))
	}))
	Eventually(t, "the message's backoff", func() bool {
		return CallIndex(rec.Calls(), "ChangeMessageVisibilityBatch", id) >= 0
	})
	r.Stop(t)
	if d := h.Depth(t, q.URL); d.Visible+d.InFlight != 1 {
		t.Errorf("source queue holds %+v, want the message kept for SQS's redrive", d)
	}
	if d := h.Depth(t, q.DLQURL); d.Visible+d.InFlight != 0 {
		t.Errorf("DLQ holds %+v, want nothing", d)
	}
}

// thisFile is this file's name, which a panic's stack in the suite's
// handler must show.
var thisFile = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Base(file)
}()

// testPanic: a panicking handler is a failed attempt, logged with its
// stack, and the worker goes on.
func testPanic(t *testing.T, h Harness) {
	q := h.Queues(t, 2)
	client := h.Client()
	Send(t, client, q.URL, "boom", "ok-0", "ok-1", "ok-2", "ok-3", "ok-4")
	var boom atomic.Int32
	r := Start(t, StageConfig(q, 2), client, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		if string(m.Body) == "boom" {
			boom.Add(1)
			panic("the fryer caught fire")
		}
		return workers.Output{}, nil
	}))
	dead := Collect(t, client, q.DLQURL, 1)
	Send(t, client, q.URL, "after")
	forwarded := Collect(t, client, q.NextURL, 6)
	if !r.Running() {
		t.Fatal("Run returned after a panic")
	}
	r.Stop(t)
	if len(dead) != 1 || dead[0].Body != "boom" || len(forwarded) != 6 {
		t.Errorf("DLQ got %v, next got %v; want boom, and the 5 others and the one sent after the panics", bodiesOf(dead), bodiesOf(forwarded))
	}
	if boom.Load() != 2 {
		t.Errorf("panicking message handled %d times, want 2 (maxReceiveCount)", boom.Load())
	}
	logs := r.LogsWith(t, "WARN", "retrying")
	if len(logs) == 0 || !strings.Contains(fmt.Sprint(logs[0]["stack"]), thisFile) {
		t.Errorf("the panic's failure log has no stack through %s: %v", thisFile, logs)
	}
}

// testHeartbeat: a handler running past the visibility timeout keeps its
// message invisible, so no other receiver gets it: the heartbeat extends
// it by the timeout, and stops once the message is deleted.
func testHeartbeat(t *testing.T, h Harness) {
	q := h.Queues(t, 3)
	client := h.Client()
	cfg := StageConfig(q, 3)
	cfg.VisibilityTimeout = 2 * time.Second
	id := Send(t, client, q.URL, "slow")[0]
	var handled atomic.Int32
	started := make(chan struct{})
	rec := NewRecorder(client)
	r := Start(t, cfg, rec, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		if handled.Add(1) == 1 {
			close(started)
		}
		select {
		case <-time.After(5 * time.Second): // two and a half visibility timeouts
		case <-ctx.Done():
		}
		return workers.Output{}, nil
	}))
	<-started
	// Another consumer polls meanwhile: without the heartbeat it would get
	// the message once the 2s timeout ran out.
	var stolen []types.Message
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &q.URL, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		stolen = append(stolen, out.Messages...)
	}
	forwarded := Collect(t, client, q.NextURL, 1)
	Eventually(t, "the slow message to be deleted", func() bool { return empty(t, h, q.URL) })
	r.Stop(t)

	if len(stolen) > 0 || handled.Load() != 1 {
		t.Errorf("another receiver got %d copies, the handler ran %d times; want 0 and 1", len(stolen), handled.Load())
	}
	if len(forwarded) != 1 || forwarded[0].Body != "slow" {
		t.Errorf("forwarded %v, want the slow message once", bodiesOf(forwarded))
	}
	calls := rec.Calls()
	del := CallIndex(calls, "DeleteMessageBatch", id)
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
		t.Errorf("%d extensions while handling, want at least 2 over 5s with a 2s timeout", before)
	}
	if after > 1 {
		t.Errorf("%d extensions after the delete, want the heartbeat stopped", after)
	}
}

// testOutage: while SQS is unreachable the consumer neither stops nor
// spins: receives back off, the failure is logged once and the recovery
// once, and messages flow again afterwards.
func testOutage(t *testing.T, h Harness) {
	q := h.Queues(t, 5)
	client := h.Client()
	cfg := StageConfig(q, 5)
	cfg.VisibilityTimeout = 5 * time.Second
	rec := NewRecorder(client)
	r := Start(t, cfg, rec, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}), consumer.WithSQSBackoff(50*time.Millisecond, time.Second))
	Send(t, client, q.URL, "before-1", "before-2")
	Collect(t, client, q.NextURL, 2)
	// Their deletes done, only receives are under way when SQS goes.
	Eventually(t, "the messages before the outage to be deleted", func() bool { return empty(t, h, q.URL) })

	first, down := len(rec.Calls()), time.Now()
	end := h.Outage(t)
	failedReceives := func(calls []Call) int {
		n := 0
		for _, c := range calls {
			if c.Op == "ReceiveMessage" && c.Err != nil {
				n++
			}
		}
		return n
	}
	// A real SDK client retries a refused connection itself, for seconds,
	// before the consumer sees an error: wait for the consumer to have
	// failed twice, keeping SQS down at least 3 s.
	Eventually(t, "two failed receives", func() bool { return failedReceives(rec.Calls()[first:]) >= 2 })
	time.Sleep(3*time.Second - time.Since(down))
	end()
	outage, failed := time.Since(down), failedReceives(rec.Calls()[first:])
	t.Logf("%d failed receives in a %v outage", failed, outage)
	if !r.Running() {
		t.Fatal("Run returned during the outage")
	}
	Send(t, client, q.URL, "after-1", "after-2", "after-3")
	forwarded := Collect(t, client, q.NextURL, 3)
	r.Stop(t)

	if got := bodiesOf(forwarded); !slices.Equal(got, []string{"after-1", "after-2", "after-3"}) {
		t.Errorf("after the outage forwarded %v", got)
	}
	// Two pollers backing off 50ms..1s make a few dozen attempts in a few
	// seconds; a spinning loop would make thousands.
	if limit := 2 * int(outage/(250*time.Millisecond)+10); failed > limit || failed < 2 {
		t.Errorf("%d failed receives during a %v outage, want 2 to %d: not backing off", failed, outage, limit)
	}
	if logs := r.LogsWith(t, "WARN", "failing; backing off"); len(logs) != 1 || !strings.Contains(fmt.Sprint(logs[0]["msg"]), "receiving from") {
		t.Errorf("outage warnings %v, want 1, about receiving (once per state change)", logs)
	}
	if n := len(r.LogsWith(t, "INFO", "recovered")); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
}
