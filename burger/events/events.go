// Package events publishes what happens to an order to an SNS topic that
// other systems subscribe to: placed, each stage's started and finished,
// completed, and failed (dead-lettered).
//
// An event is JSON (Event) with SNS message attributes type, stage and
// order_id, which subscription filter policies can select on. Publishing
// never blocks the caller: events go to a bounded buffer that a background
// loop sends in batches of up to 10 (PublishBatch), retrying failures with
// backoff, so neither accepting an order nor a stage's work waits on SNS or
// fails because of it.
//
// Guarantee: at least once for every event of a process that lives to
// send it (a redelivered message publishes its events again, so there are
// duplicates; dedupe on type, order and stage). Events buffered by a
// process that is killed, or still failing after Retries attempts (SNS
// down for longer than the backoff), are lost and counted (Dropped). SNS
// standard topics do not order deliveries: order an order's events by
// Time, which follows the pipeline (a stage starts after the previous one
// finished).
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/linecook/linecook/workers/logkey"
)

// Types of event.
const (
	Placed    = "placed"
	Started   = "started"
	Finished  = "finished"
	Completed = "completed"
	Failed    = "failed"
)

// Types lists every event type, in an order's life order.
var Types = []string{Placed, Started, Finished, Completed, Failed}

// Event is one thing that happened to an order.
type Event struct {
	Type    string    `json:"type"`
	OrderID string    `json:"orderId"`
	Stage   string    `json:"stage,omitempty"` // started, finished, failed
	Time    time.Time `json:"time"`
	TraceID string    `json:"traceId,omitempty"`
	// Reason says why an order failed.
	Reason string `json:"reason,omitempty"`
}

// Publisher takes events without blocking.
type Publisher interface {
	Publish(Event)
}

// Nop discards events: no topic configured.
type Nop struct{}

func (Nop) Publish(Event) {}

// API is what Async needs of the SNS client.
type API interface {
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, opts ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// Tuning of Async.
const (
	// Buffer is how many events wait to be sent before new ones are
	// dropped (and counted): minutes of a busy stage's events.
	Buffer = 16384
	// Linger is how long a batch waits to fill.
	Linger = 20 * time.Millisecond
	// Retries is how many times a failed event is sent before it is
	// dropped, backing off from RetryBase, doubling: about 30 s in all.
	Retries   = 6
	RetryBase = 500 * time.Millisecond
	// callTimeout bounds one PublishBatch call.
	callTimeout = 5 * time.Second
)

// Async publishes to an SNS topic in the background.
type Async struct {
	client API
	topic  string
	log    *slog.Logger
	in     chan Event
	done   chan struct{}
	closed sync.Once
	// Published, Dropped count events sent and given up on.
	published, dropped atomic.Int64
}

// NewAsync starts publishing to topicARN; Close flushes and stops.
func NewAsync(client API, topicARN string, log *slog.Logger) *Async {
	if log == nil {
		log = slog.Default()
	}
	a := &Async{client: client, topic: topicARN, log: log, in: make(chan Event, Buffer), done: make(chan struct{})}
	go a.loop()
	return a
}

// Publish queues e; it never blocks. With the buffer full, e is dropped
// and counted.
func (a *Async) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case a.in <- e:
	default:
		a.dropped.Add(1)
		a.log.Warn("order event dropped: the publish buffer is full", logkey.EventType, e.Type, logkey.OrderID, e.OrderID)
	}
}

// Published and Dropped are the counts so far.
func (a *Async) Published() int64 { return a.published.Load() }
func (a *Async) Dropped() int64   { return a.dropped.Load() }

// Close sends what is buffered, until ctx ends, and stops.
func (a *Async) Close(ctx context.Context) error {
	a.closed.Do(func() { close(a.in) })
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type pending struct {
	e        Event
	attempts int
	due      time.Time
}

func (a *Async) loop() {
	defer close(a.done)
	var retry []pending
	batch := make([]pending, 0, 10)
	for {
		// Fill a batch: retries that are due first, then new events.
		now := time.Now()
		keep := retry[:0]
		for _, p := range retry {
			if len(batch) < 10 && !p.due.After(now) {
				batch = append(batch, p)
			} else {
				keep = append(keep, p)
			}
		}
		retry = keep
		wait := Linger
		if len(batch) == 0 && len(retry) > 0 {
			wait = time.Until(retry[0].due)
		}
		timer := time.NewTimer(max(wait, time.Millisecond))
	fill:
		for len(batch) < 10 {
			select {
			case e, ok := <-a.in:
				if !ok {
					timer.Stop()
					a.drain(batch, retry)
					return
				}
				batch = append(batch, pending{e: e})
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		if len(batch) == 0 {
			continue
		}
		retry = append(retry, a.send(batch)...)
		batch = batch[:0]
	}
}

// drain sends what is left at Close, retries included, without waiting
// for their backoff.
func (a *Async) drain(batch, retry []pending) {
	for e := range a.in {
		batch = append(batch, pending{e: e})
	}
	all := append(batch, retry...)
	for tries := 0; len(all) > 0 && tries < 3; tries++ {
		var again []pending
		for i := 0; i < len(all); i += 10 {
			again = append(again, a.send(all[i:min(i+10, len(all))])...)
		}
		all = again
	}
	for _, p := range all {
		a.drop(p, "still failing at shutdown")
	}
}

// send publishes one batch and returns the entries to retry.
func (a *Async) send(batch []pending) []pending {
	entries := make([]types.PublishBatchRequestEntry, len(batch))
	for i, p := range batch {
		body, _ := json.Marshal(p.e)
		attrs := map[string]types.MessageAttributeValue{
			"type":     {DataType: aws.String("String"), StringValue: aws.String(p.e.Type)},
			"order_id": {DataType: aws.String("String"), StringValue: aws.String(p.e.OrderID)},
		}
		if p.e.Stage != "" {
			attrs["stage"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(p.e.Stage)}
		}
		entries[i] = types.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(string(body)), MessageAttributes: attrs}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	out, err := a.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(a.topic), PublishBatchRequestEntries: entries})
	cancel()
	var failed []pending
	if err != nil {
		a.log.Warn("publishing order events failed; retrying", logkey.Error, err.Error(), logkey.Count, len(batch))
		failed = batch
	} else {
		a.published.Add(int64(len(out.Successful)))
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			if i >= 0 && i < len(batch) {
				failed = append(failed, batch[i])
			}
		}
	}
	var retry []pending
	for _, p := range failed {
		p.attempts++
		if p.attempts >= Retries {
			a.drop(p, "failed "+strconv.Itoa(p.attempts)+" times")
			continue
		}
		p.due = time.Now().Add(RetryBase << (p.attempts - 1))
		retry = append(retry, p)
	}
	return retry
}

func (a *Async) drop(p pending, why string) {
	a.dropped.Add(1)
	a.log.Error("order event lost: "+why, logkey.EventType, p.e.Type, logkey.OrderID, p.e.OrderID, logkey.Stage, p.e.Stage)
}
