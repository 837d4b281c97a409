package local

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/events"
	"github.com/linecook/linecook/tools/emulators"
)

// keptOrders bounds how many orders' events the runner keeps to show
// (Events); the counts cover every event.
const keptOrders = 10000

// eventWatch is linecook local's subscriber to the order-events topic: a
// queue of its own, subscribed with raw delivery, as another team's would
// be. It counts events by type and keeps each order's.
type eventWatch struct {
	topic    string
	mu       sync.Mutex
	counts   map[string]int64
	byOrder  map[string][]events.Event
	orderSeq []string
}

// watchEvents creates the stack's order-events topic on the emulator and
// subscribes a queue that the runner reads until ctx ends.
func (r *Runner) watchEvents(ctx, runCtx context.Context, cfg aws.Config) error {
	topics := r.emu.SNSClient(cfg)
	topic, err := emulators.CreateTopic(ctx, topics, r.opts.Stack+"-order-events")
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	url, err := emulators.CreateQueue(ctx, r.sqs, r.opts.Stack+"-order-events-watch")
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := emulators.Subscribe(ctx, topics, r.sqs, topic, url, ""); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	w := &eventWatch{topic: topic, counts: map[string]int64{}, byOrder: map[string][]events.Event{}}
	r.events = w
	r.loops.Add(1)
	go func() {
		defer r.loops.Done()
		w.read(runCtx, r.sqs, url)
	}()
	return nil
}

func (w *eventWatch) read(ctx context.Context, q *sqs.Client, url string) {
	for ctx.Err() == nil {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, m := range out.Messages {
			var e events.Event
			if json.Unmarshal([]byte(aws.ToString(m.Body)), &e) == nil {
				w.add(e)
			}
			q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

func (w *eventWatch) add(e events.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[e.Type]++
	if _, ok := w.byOrder[e.OrderID]; !ok {
		w.orderSeq = append(w.orderSeq, e.OrderID)
		if len(w.orderSeq) > keptOrders {
			delete(w.byOrder, w.orderSeq[0])
			w.orderSeq = w.orderSeq[1:]
		}
	}
	w.byOrder[e.OrderID] = append(w.byOrder[e.OrderID], e)
}

// EventCounts are the order events the runner's subscriber has received,
// by type.
func (r *Runner) EventCounts() map[string]int64 {
	if r.events == nil {
		return nil
	}
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	return maps.Clone(r.events.counts)
}

// OrderEvents are the events received for order id (of the last
// keptOrders orders), ordered by their time.
func (r *Runner) OrderEvents(id string) []events.Event {
	if r.events == nil {
		return nil
	}
	r.events.mu.Lock()
	evs := slices.Clone(r.events.byOrder[id])
	r.events.mu.Unlock()
	slices.SortStableFunc(evs, func(a, b events.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// EventsTopic is the order-events topic's ARN on the emulator.
func (r *Runner) EventsTopic() string {
	if r.events == nil {
		return ""
	}
	return r.events.topic
}
