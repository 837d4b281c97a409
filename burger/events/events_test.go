package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/events"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

func TestMain(m *testing.M) { emutest.Main(m) }

// received is one event as a subscriber's queue gets it.
type received struct {
	events.Event
	attrs map[string]string
}

// subscriber is a queue subscribed to a fresh topic, with filter.
func subscriber(t *testing.T, filter string) (topic string, receive func(n int) []received) {
	t.Helper()
	ctx := context.Background()
	cfg := emutest.Config(t)
	topics, queues := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	topic, err := emulators.CreateTopic(ctx, topics, emutest.Name(t))
	if err != nil {
		t.Fatal(err)
	}
	url := emutest.Queue(t, queues)
	if err := emulators.Subscribe(ctx, topics, queues, topic, url, filter); err != nil {
		t.Fatal(err)
	}
	return topic, func(n int) []received {
		t.Helper()
		var got []received
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < n && time.Now().Before(deadline) {
			out, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
				WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Messages {
				var r received
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r.Event); err != nil {
					t.Fatalf("event body %q: %v (raw delivery must hand over the event itself)", aws.ToString(m.Body), err)
				}
				r.attrs = map[string]string{}
				for k, v := range m.MessageAttributes {
					r.attrs[k] = aws.ToString(v.StringValue)
				}
				got = append(got, r)
				queues.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			}
		}
		return got
	}
}

// TestEveryEventReachesASubscriber: an order's life, published through
// the real SNS protocol (fauxqs) to a subscribed queue with raw delivery.
func TestEveryEventReachesASubscriber(t *testing.T) {
	topic, receive := subscriber(t, "")
	pub := events.NewAsync(sns.NewFromConfig(emutest.Config(t)), topic, nil)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	var want []events.Event
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	want = append(want, events.Event{Type: events.Placed, OrderID: "o1", Time: at(0), TraceID: "t1"})
	for i, stage := range []string{"payment", "grill", "fry", "assemble"} {
		want = append(want,
			events.Event{Type: events.Started, OrderID: "o1", Stage: stage, Time: at(2*i + 1), TraceID: "t1"},
			events.Event{Type: events.Finished, OrderID: "o1", Stage: stage, Time: at(2*i + 2), TraceID: "t1"})
	}
	want = append(want, events.Event{Type: events.Completed, OrderID: "o1", Time: at(9), TraceID: "t1"})
	for _, e := range want {
		pub.Publish(e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if pub.Published() != int64(len(want)) || pub.Dropped() != 0 {
		t.Errorf("published %d, dropped %d; want %d, 0", pub.Published(), pub.Dropped(), len(want))
	}
	got := receive(len(want))
	// Standard topics do not order deliveries: the events' times do.
	slices.SortFunc(got, func(a, b received) int { return a.Time.Compare(b.Time) })
	if len(got) != len(want) {
		t.Fatalf("received %d events, want %d", len(got), len(want))
	}
	for i, r := range got {
		if !r.Time.Equal(want[i].Time) || r.Type != want[i].Type || r.Stage != want[i].Stage || r.OrderID != "o1" || r.TraceID != "t1" {
			t.Errorf("event %d = %+v, want %+v", i, r.Event, want[i])
		}
		if r.attrs["type"] != r.Type || r.attrs["order_id"] != "o1" || r.attrs["stage"] != r.Stage {
			t.Errorf("event %d attributes = %v, want type, order_id and stage for filter policies", i, r.attrs)
		}
	}
}

// TestFilterPolicySelectsOnAttributes: a subscriber that wants only
// completed and failed orders gets only those.
func TestFilterPolicySelectsOnAttributes(t *testing.T) {
	topic, receive := subscriber(t, `{"type":["completed","failed"]}`)
	pub := events.NewAsync(sns.NewFromConfig(emutest.Config(t)), topic, nil)
	for i := range 5 {
		id := fmt.Sprint("o", i)
		pub.Publish(events.Event{Type: events.Placed, OrderID: id})
		pub.Publish(events.Event{Type: events.Started, OrderID: id, Stage: "payment"})
		if i == 4 {
			pub.Publish(events.Event{Type: events.Failed, OrderID: id, Stage: "payment", Reason: "card declined"})
		} else {
			pub.Publish(events.Event{Type: events.Completed, OrderID: id})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := receive(5)
	time.Sleep(time.Second)
	got = append(got, receive(1)...) // nothing more may come
	counts := map[string]int{}
	for _, r := range got {
		counts[r.Type]++
	}
	if counts[events.Completed] != 4 || counts[events.Failed] != 1 || len(got) != 5 {
		t.Errorf("received %v, want 4 completed and 1 failed, nothing else", counts)
	}
}

// TestPublishNeverBlocks: with SNS unreachable, Publish returns at once;
// Close gives up when its context ends, and the events are counted lost.
func TestPublishNeverBlocks(t *testing.T) {
	cfg := emutest.Config(t)
	cfg.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens
	pub := events.NewAsync(sns.NewFromConfig(cfg), "arn:aws:sns:us-east-1:000000000000:none", nil)
	start := time.Now()
	for i := range 1000 {
		pub.Publish(events.Event{Type: events.Placed, OrderID: fmt.Sprint(i)})
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("1000 publishes with SNS down took %s, want no wait", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pub.Close(ctx)
	if pub.Published() != 0 {
		t.Errorf("published %d with SNS down", pub.Published())
	}
}
