package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// recordingCall is a batch call that records each request's entries and
// answers with what fail says about each op (nil: success).
type recordingCall struct {
	mu       sync.Mutex
	requests [][]string
	fail     func(attempt int, o *op) error
	whole    func(ops []*op) error
}

func (r *recordingCall) call(_ context.Context, ops []*op) ([]error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var bodies []string
	for _, o := range ops {
		bodies = append(bodies, o.body)
	}
	r.requests = append(r.requests, bodies)
	if r.whole != nil {
		if err := r.whole(ops); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(ops))
	for i, o := range ops {
		if r.fail != nil {
			errs[i] = r.fail(r.attempts(o.body), o)
		}
	}
	return errs, nil
}

func (r *recordingCall) attempts(body string) int {
	n := 0
	for _, req := range r.requests {
		for _, b := range req {
			if b == body {
				n++
			}
		}
	}
	return n
}

func quietHealth() *health {
	return &health{log: slog.New(slog.NewTextHandler(io.Discard, nil)), what: "test"}
}

func testBatcher(rc *recordingCall, linger time.Duration, dedupe bool) (*batcher, func()) {
	b := newBatcher(rc.call, linger, 2, dedupe, quietHealth(), backoff{base: time.Millisecond, max: 2 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go b.run(ctx)
	return b, func() { b.close(); cancel() }
}

func addAll(t *testing.T, b *batcher, bodies ...string) []chan error {
	t.Helper()
	var res []chan error
	for _, body := range bodies {
		ch := make(chan error, 1)
		if err := b.add(&op{body: body, handle: body, done: func(err error) { ch <- err }}); err != nil {
			t.Fatal(err)
		}
		res = append(res, ch)
	}
	return res
}

func wait(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("op never completed")
		return nil
	}
}

func TestBatcherSendsFullBatchesAndFlushesAPartialOneOnItsOwn(t *testing.T) {
	rc := &recordingCall{}
	// A long linger: only a full batch, or close, sends anything.
	b, stop := testBatcher(rc, time.Hour, false)
	var bodies []string
	for i := range 25 {
		bodies = append(bodies, string(rune('a'+i)))
	}
	res := addAll(t, b, bodies...)
	for _, ch := range res[:20] {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	stop() // flushes the last five
	for _, ch := range res[20:] {
		if err := wait(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(rc.requests) != 3 {
		t.Fatalf("requests = %v, want 3 (10, 10, 5)", rc.requests)
	}
	for _, r := range rc.requests {
		if len(r) > maxBatch {
			t.Errorf("request of %d entries, SQS takes at most %d", len(r), maxBatch)
		}
	}

	rc = &recordingCall{}
	b, stop = testBatcher(rc, 5*time.Millisecond, false)
	defer stop()
	if err := wait(t, addAll(t, b, "alone")[0]); err != nil {
		t.Fatal(err)
	}
	if len(rc.requests) != 1 || len(rc.requests[0]) != 1 {
		t.Errorf("requests = %v, want the lone entry sent after the linger", rc.requests)
	}
}

func TestBatcherRetriesFailedEntriesOnly(t *testing.T) {
	rc := &recordingCall{fail: func(attempt int, o *op) error {
		switch {
		case o.body == "flaky" && attempt == 1:
			return &entryError{code: "InternalError", message: "try again"}
		case o.body == "refused":
			return &entryError{code: "InvalidMessageContents", message: "no", senderFault: true}
		case o.body == "down":
			return &entryError{code: "InternalError", message: "still down"}
		}
		return nil
	}}
	b, stop := testBatcher(rc, time.Millisecond, false)
	defer stop()
	res := addAll(t, b, "ok", "flaky", "refused", "down")
	if err := wait(t, res[0]); err != nil {
		t.Errorf("ok: %v", err)
	}
	if err := wait(t, res[1]); err != nil {
		t.Errorf("flaky: %v, want success on the retry", err)
	}
	if err := wait(t, res[2]); !errors.Is(err, errRejected) {
		t.Errorf("refused: %v, want errRejected", err)
	}
	if err := wait(t, res[3]); err == nil || errors.Is(err, errRejected) {
		t.Errorf("down: %v, want a transient error after the last attempt", err)
	}
	for body, want := range map[string]int{"ok": 1, "flaky": 2, "refused": 1, "down": batchAttempts} {
		if got := rc.attempts(body); got != want {
			t.Errorf("%s sent %d times, want %d", body, got, want)
		}
	}
}

func TestBatcherIsolatesTheEntryThatSpoilsARequest(t *testing.T) {
	rc := &recordingCall{whole: func(ops []*op) error {
		for _, o := range ops {
			if o.body == "huge" {
				return &smithy.GenericAPIError{Code: "BatchRequestTooLong", Fault: smithy.FaultClient}
			}
		}
		return nil
	}}
	b, stop := testBatcher(rc, time.Hour, false)
	res := addAll(t, b, "a", "huge", "b")
	stop()
	if err := wait(t, res[1]); !errors.Is(err, errRejected) {
		t.Errorf("huge: %v, want errRejected", err)
	}
	for _, i := range []int{0, 2} {
		if err := wait(t, res[i]); err != nil {
			t.Errorf("entry %d: %v, want it sent on its own", i, err)
		}
	}
}

func TestBatcherRetriesAWholeRequestThatFailsThenGivesUp(t *testing.T) {
	rc := &recordingCall{whole: func([]*op) error { return errors.New("connection refused") }}
	b, stop := testBatcher(rc, time.Millisecond, false)
	defer stop()
	err := wait(t, addAll(t, b, "x")[0])
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want the last error", err)
	}
	if got := rc.attempts("x"); got != batchAttempts {
		t.Errorf("sent %d times, want %d", got, batchAttempts)
	}
}

func TestBatcherDedupeKeepsTheLastChangeForAMessage(t *testing.T) {
	rc := &recordingCall{}
	b, stop := testBatcher(rc, time.Hour, true)
	res := addAll(t, b, "m1", "m2")
	ch := make(chan error, 1)
	if err := b.add(&op{body: "m1-final", handle: "m1", done: func(err error) { ch <- err }}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := wait(t, res[0]); !errors.Is(err, errSuperseded) {
		t.Errorf("first change: %v, want errSuperseded", err)
	}
	if err := wait(t, ch); err != nil {
		t.Errorf("last change: %v", err)
	}
	if len(rc.requests) != 1 || strings.Join(rc.requests[0], ",") != "m1-final,m2" {
		t.Errorf("requests = %v, want [[m1-final m2]]", rc.requests)
	}
}

func TestBatcherRefusesOpsAfterClose(t *testing.T) {
	b, stop := testBatcher(&recordingCall{}, time.Millisecond, false)
	stop()
	if err := b.add(&op{done: func(error) {}}); !errors.Is(err, errClosed) {
		t.Errorf("add after close = %v, want errClosed", err)
	}
}

func TestSlotsNeverHandOutMoreThanTheLimit(t *testing.T) {
	s := newSlots(15)
	ctx := context.Background()
	if got := s.acquire(ctx, 10, 0); got != 10 {
		t.Fatalf("first acquire = %d, want 10", got)
	}
	if got := s.acquire(ctx, 10, time.Millisecond); got != 5 {
		t.Fatalf("second acquire = %d, want the 5 left", got)
	}
	done := make(chan int)
	go func() { done <- s.acquire(ctx, 10, 0) }()
	select {
	case n := <-done:
		t.Fatalf("acquire with no free slot returned %d", n)
	case <-time.After(20 * time.Millisecond):
	}
	s.release(3)
	if got := <-done; got < 1 || got > 3 {
		t.Errorf("acquire after releasing 3 = %d, want 1 to 3", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got := s.acquire(cctx, 10, 0); got != 0 {
		t.Errorf("acquire with ctx done and no slot = %d, want 0", got)
	}
}

func TestEMFLinesAreValidAndKeepEverySample(t *testing.T) {
	var buf bytes.Buffer
	m := newEMF(&buf, `grill "2"`)
	for i := range 250 {
		m.record(time.Duration(i)*time.Millisecond, i%10 != 0)
	}
	if err := m.flush(time.UnixMilli(1700000000000)); err != nil {
		t.Fatal(err)
	}
	if err := m.flush(time.Now()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (250 samples in arrays of at most 100; nothing for the idle flush):\n%s", len(lines), buf.String())
	}
	var samples, succeeded, failed int
	for i, l := range lines {
		var doc struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Stage          string
			ProcessingTime []float64
			Succeeded      *int
			Failed         *int
		}
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, l)
		}
		d := doc.AWS.CloudWatchMetrics
		if doc.AWS.Timestamp != 1700000000000 || len(d) != 1 || d[0].Namespace != "linecook" ||
			len(d[0].Dimensions) != 1 || strings.Join(d[0].Dimensions[0], ",") != "Stage" || doc.Stage != `grill "2"` {
			t.Errorf("line %d: bad metadata: %s", i, l)
		}
		units := map[string]string{}
		for _, m := range d[0].Metrics {
			units[m.Name] = m.Unit
		}
		if units["ProcessingTime"] != "Milliseconds" {
			t.Errorf("line %d: ProcessingTime unit %q", i, units["ProcessingTime"])
		}
		if len(doc.ProcessingTime) > maxEMFValues || len(doc.ProcessingTime) == 0 {
			t.Errorf("line %d: %d values", i, len(doc.ProcessingTime))
		}
		samples += len(doc.ProcessingTime)
		if (doc.Succeeded != nil) != (units["Succeeded"] == "Count") || (doc.Failed != nil) != (units["Failed"] == "Count") {
			t.Errorf("line %d: declared metrics %v do not match its values", i, units)
		}
		if doc.Succeeded != nil {
			succeeded += *doc.Succeeded
			failed += *doc.Failed
		}
	}
	if samples != 250 || succeeded != 225 || failed != 25 {
		t.Errorf("samples %d, succeeded %d, failed %d; want 250, 225, 25", samples, succeeded, failed)
	}
}
