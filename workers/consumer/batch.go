package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// SQS's limits on one batch request.
const (
	maxBatch      = 10
	maxBatchBytes = 1 << 20
)

// How a batcher retries what failed, before giving the failure to the
// op's owner: five attempts over about a second and a half, enough to ride
// out throttling and a dropped connection; a longer outage is the message's
// retry schedule's business, not the batcher's.
const (
	batchAttempts  = 5
	batchRetryBase = 50 * time.Millisecond
	batchRetryMax  = time.Second
	// callTimeout bounds one batch call, so a hung connection cannot hold
	// a batch (and the messages waiting on it) forever.
	callTimeout = 10 * time.Second
)

var (
	// errRejected marks an op SQS refused for what it is (a sender fault:
	// a body it will not take, a receipt handle that is no longer valid),
	// which retrying cannot fix.
	errRejected = errors.New("rejected by SQS")
	// errSuperseded is given to a visibility change replaced, before it
	// was sent, by a later one for the same message.
	errSuperseded = errors.New("superseded by a later visibility change")
	// errClosed is returned by add after Run has stopped the batchers.
	errClosed = errors.New("consumer stopped")
)

// op is one entry of a batch request: a message to send, a receipt handle
// to delete, or a visibility change.
type op struct {
	handle  string // delete and visibility
	seconds int32  // visibility
	body    string // send
	attrs   map[string]types.MessageAttributeValue
	size    int // send: bytes counted against the request limit
	// The op's outcome (nil, an error wrapping errRejected, errSuperseded,
	// or the last transient error) goes to done or, without one, to res
	// (which has room for it). done runs on the batcher's goroutine and
	// must not block.
	done func(error)
	res  chan<- error
}

func (o *op) finish(err error) {
	if o.done != nil {
		o.done(err)
		return
	}
	o.res <- err
}

// entryError is SQS's verdict on one entry of a batch.
type entryError struct {
	code, message string
	senderFault   bool
}

func (e *entryError) Error() string { return e.code + ": " + e.message }

func (e *entryError) Is(target error) bool { return target == errRejected && e.senderFault }

// call performs one batch request. It returns a whole-request error, or
// one error (nil for success) per op.
type call func(ctx context.Context, ops []*op) ([]error, error)

// batcher gathers ops into batch requests: a request goes when it holds
// ten entries (or would pass 1 MiB) or when the first entry has waited
// linger, so a busy stage makes full batches and a quiet one waits a few
// milliseconds at most. Up to flushers requests run at once; with one,
// requests go in order, which the visibility batchers rely on.
type batcher struct {
	call     call
	linger   time.Duration
	flushers int
	// dedupe replaces a pending op for the same receipt handle, so a
	// message's last visibility change is the one applied.
	dedupe bool
	health *health
	retry  backoff

	in     chan *op
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
}

func newBatcher(c call, linger time.Duration, flushers int, dedupe bool, h *health, retry backoff) *batcher {
	return &batcher{
		call: c, linger: linger, flushers: flushers, dedupe: dedupe, health: h, retry: retry,
		in: make(chan *op, 256), done: make(chan struct{}),
	}
}

// add queues o, or returns errClosed once close has been called.
func (b *batcher) add(o *op) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errClosed
	}
	b.in <- o
	return nil
}

// close stops intake, sends what is pending and waits for every request
// in flight, so every op added has had its done called.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.in)
	}
	b.mu.Unlock()
	<-b.done
}

// run gathers batches until close; ctx bounds the requests.
func (b *batcher) run(ctx context.Context) {
	defer close(b.done)
	work := make(chan []*op)
	var wg sync.WaitGroup
	for range b.flushers {
		wg.Go(func() {
			for ops := range work {
				b.flush(ctx, ops)
			}
		})
	}
	defer wg.Wait()
	defer close(work)

	var pending []*op
	size := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	dispatch := func() {
		timer.Stop()
		work <- pending
		pending, size = make([]*op, 0, maxBatch), 0
	}
	for {
		select {
		case o, ok := <-b.in:
			if !ok {
				if len(pending) > 0 {
					dispatch()
				}
				return
			}
			if b.dedupe && b.replace(pending, o) {
				continue
			}
			if len(pending) > 0 && size+o.size > maxBatchBytes {
				dispatch()
			}
			pending = append(pending, o)
			size += o.size
			if len(pending) == maxBatch {
				dispatch()
			} else if len(pending) == 1 {
				timer.Reset(b.linger)
			}
		case <-timer.C:
			if len(pending) > 0 {
				dispatch()
			}
		}
	}
}

func (b *batcher) replace(pending []*op, o *op) bool {
	for i, p := range pending {
		if p.handle == o.handle {
			pending[i] = o
			p.finish(errSuperseded)
			return true
		}
	}
	return false
}

// flush sends ops, retrying the entries that failed for a reason that may
// pass, and tells each op its outcome.
func (b *batcher) flush(ctx context.Context, ops []*op) {
	bo := b.retry
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		errs, err := b.call(cctx, ops)
		cancel()
		var again []*op
		var last error
		switch {
		case err != nil && requestRejected(err):
			if len(ops) == 1 {
				ops[0].finish(fmt.Errorf("%w: %w", errRejected, err))
				return
			}
			// One bad entry spoils the whole request: send each alone so
			// the others go through and the bad one is named.
			for _, o := range ops {
				b.flush(ctx, []*op{o})
			}
			return
		case err != nil:
			b.health.fail(err)
			again, last = ops, err
		default:
			b.health.ok()
			for i, o := range ops {
				switch e := errs[i]; {
				case e == nil || errors.Is(e, errRejected):
					o.finish(e)
				default:
					again, last = append(again, o), e
				}
			}
		}
		if len(again) == 0 {
			return
		}
		if attempt == batchAttempts || !sleep(ctx, bo.next()) {
			for _, o := range again {
				o.finish(last)
			}
			return
		}
		ops = again
	}
}

// requestRejected reports whether a whole request failed because of what
// it carried (a body or attribute SQS will not take, a request too large),
// as opposed to throttling, an outage, or a misconfigured queue, which are
// no entry's fault.
func requestRejected(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidMessageContents", "InvalidParameterValue", "MessageTooLong", "BatchRequestTooLong",
		"AWS.SimpleQueueService.BatchRequestTooLong", "InvalidAttributeName", "InvalidAttributeValue",
		"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId":
		return true
	}
	return false
}

// batchIDs are the entry ids of a request: its indexes, unique per
// request as SQS requires.
var batchIDs = func() [maxBatch]string {
	var ids [maxBatch]string
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}()

// entryErrors maps a batch response's failures to their ops; an entry in
// neither list (which SQS never does) counts as failed so it is retried.
func entryErrors(n int, succeeded []string, failed []types.BatchResultErrorEntry) []error {
	errs := make([]error, n)
	seen := make([]bool, n)
	for _, id := range succeeded {
		if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < n {
			seen[i] = true
		}
	}
	for _, f := range failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < n {
			errs[i] = &entryError{code: aws.ToString(f.Code), message: aws.ToString(f.Message), senderFault: f.SenderFault}
			seen[i] = true
		}
	}
	for i, ok := range seen {
		if !ok {
			errs[i] = &entryError{code: "MissingResult", message: "the batch response did not mention this entry"}
		}
	}
	return errs
}

// ids lists the entry ids of a batch call's successful results.
func ids[E any](entries []E, id func(E) *string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = aws.ToString(id(e))
	}
	return out
}

func sendCall(client SQS, queueURL string) call {
	return func(ctx context.Context, ops []*op) ([]error, error) {
		in := &sqs.SendMessageBatchInput{QueueUrl: &queueURL, Entries: make([]types.SendMessageBatchRequestEntry, len(ops))}
		for i, o := range ops {
			in.Entries[i] = types.SendMessageBatchRequestEntry{Id: &batchIDs[i], MessageBody: &o.body, MessageAttributes: o.attrs}
		}
		out, err := client.SendMessageBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return entryErrors(len(ops), ids(out.Successful, func(e types.SendMessageBatchResultEntry) *string { return e.Id }), out.Failed), nil
	}
}

func deleteCall(client SQS, queueURL string) call {
	return func(ctx context.Context, ops []*op) ([]error, error) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: &queueURL, Entries: make([]types.DeleteMessageBatchRequestEntry, len(ops))}
		for i, o := range ops {
			in.Entries[i] = types.DeleteMessageBatchRequestEntry{Id: &batchIDs[i], ReceiptHandle: &o.handle}
		}
		out, err := client.DeleteMessageBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return entryErrors(len(ops), ids(out.Successful, func(e types.DeleteMessageBatchResultEntry) *string { return e.Id }), out.Failed), nil
	}
}

func visibilityCall(client SQS, queueURL string) call {
	return func(ctx context.Context, ops []*op) ([]error, error) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &queueURL, Entries: make([]types.ChangeMessageVisibilityBatchRequestEntry, len(ops))}
		for i, o := range ops {
			in.Entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: &batchIDs[i], ReceiptHandle: &o.handle, VisibilityTimeout: o.seconds}
		}
		out, err := client.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return entryErrors(len(ops), ids(out.Successful, func(e types.ChangeMessageVisibilityBatchResultEntry) *string { return e.Id }), out.Failed), nil
	}
}
