package local

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/linecook/linecook/burger/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/loadgen"
)

// Summary is what became of a batch of orders, from the order table and
// the DLQs: the ground truth, not what the API answered.
type Summary struct {
	// Sent requests; Accepted of them answered 2xx; Rejected the rest.
	Sent, Accepted, Rejected int
	// Completed accepted orders the table marks completed.
	Completed int
	// DeadLettered accepted orders whose message sits in a stage's DLQ.
	DeadLettered int
	// Lost accepted orders neither completed nor dead-lettered.
	Lost int
	// EndToEnd are completed orders' created → completed times.
	EndToEnd loadgen.Latencies
	// Load is the load generator's own result (accept latencies, errors).
	Load *loadgen.Result
	// Events are the order events received over the run, by type.
	Events map[string]int64
}

// OK reports whether every order sent completed.
func (s Summary) OK() bool {
	return s.Rejected == 0 && s.Lost == 0 && s.DeadLettered == 0 && s.Completed == s.Sent
}

// Line is the summary's last line:
// "orders: N sent, N completed, 0 lost, 0 dead-lettered; end-to-end p50 Xs p95 Xs p99 Xs".
func (s Summary) Line() string {
	return fmt.Sprintf("orders: %d sent, %d completed, %d lost, %d dead-lettered; end-to-end p50 %.2fs p95 %.2fs p99 %.2fs",
		s.Sent, s.Completed, s.Lost, s.DeadLettered,
		s.EndToEnd.Percentile(50).Seconds(), s.EndToEnd.Percentile(95).Seconds(), s.EndToEnd.Percentile(99).Seconds())
}

// Print writes the summary, ending with Line.
func (s Summary) Print(w io.Writer) {
	if s.Load != nil && len(s.Load.Accept) > 0 {
		fmt.Fprintf(w, "accept latency: p50 %.1fms p99 %.1fms\n",
			ms(s.Load.Accept.Percentile(50)), ms(s.Load.Accept.Percentile(99)))
	}
	if s.Rejected > 0 {
		fmt.Fprintf(w, "rejected by the API: %d (%v)\n", s.Rejected, s.Load.Errors)
	}
	if len(s.Events) > 0 {
		fmt.Fprint(w, "order events received:")
		for i, typ := range events.Types {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %d %s", sep, s.Events[typ], typ)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, s.Line())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// PlaceOrders sends n orders at rate per second through the API, waits
// until every accepted order has completed or is in a DLQ, or timeout
// passes, and reports what the table and the DLQs say became of them.
func (r *Runner) PlaceOrders(ctx context.Context, n int, rate float64, timeout time.Duration, progress io.Writer) (Summary, error) {
	res, err := loadgen.Run(ctx, loadgen.Options{URL: r.apiURL, Rate: rate, Count: n, Progress: progress, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Sent: res.Sent, Accepted: res.Accepted, Rejected: res.Sent - res.Accepted, Load: res}
	want := make(map[string]bool, len(res.IDs))
	for _, id := range res.IDs {
		want[id] = true
	}

	deadline := time.Now().Add(timeout)
	done := map[string]orders.Order{}
	// Orders found in a DLQ, kept across reads: a read hides what it saw
	// for a minute, so a later read does not see it again. Only this
	// batch's orders count towards the wait: an order the API answered
	// 503 can reach a DLQ too (its send timed out yet was delivered after
	// the API had deleted the order), and counting it let the wait end
	// while orders of the batch were still in flight.
	dead := map[string]bool{}
	lastDLQ := -1
	for {
		if err := r.collectCompleted(ctx, want, done); err != nil {
			return s, err
		}
		dlq := 0
		for _, q := range r.queues {
			d, err := emulators.Depth(ctx, r.sqs, q.DLQURL)
			if err == nil {
				dlq += d.Visible + d.InFlight
			}
		}
		if dlq != lastDLQ {
			if err := r.deadLettered(ctx, dead); err != nil {
				return s, err
			}
			lastDLQ = dlq
		}
		if len(done)+deadOf(want, done, dead) >= len(want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	for _, o := range done {
		s.EndToEnd = append(s.EndToEnd, o.CompletedAt.Sub(o.CreatedAt))
	}
	s.Completed = len(done)
	if err := r.deadLettered(ctx, dead); err != nil {
		return s, err
	}
	s.DeadLettered = deadOf(want, done, dead)
	s.Lost = s.Accepted - s.Completed - s.DeadLettered
	// The completed events trail the table by a batch linger and a
	// delivery: give them a moment.
	for end := time.Now().Add(3 * time.Second); r.EventCounts()[events.Completed] < int64(s.Completed) && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	s.Events = r.EventCounts()
	return s, nil
}

// collectCompleted adds to done the orders of want that the table now
// marks completed, reading only those not yet done.
func (r *Runner) collectCompleted(ctx context.Context, want map[string]bool, done map[string]orders.Order) error {
	var pending []string
	for id := range want {
		if _, ok := done[id]; !ok {
			pending = append(pending, id)
		}
	}
	got, err := r.orders.store.GetMany(ctx, pending)
	if err != nil {
		return err
	}
	for id, o := range got {
		if o.Status == orders.Completed {
			done[id] = o
		}
	}
	return nil
}

// deadOf counts the orders of want that are in a DLQ and not completed.
func deadOf(want map[string]bool, done map[string]orders.Order, dead map[string]bool) int {
	n := 0
	for id := range dead {
		if _, ok := done[id]; want[id] && !ok {
			n++
		}
	}
	return n
}

// deadLettered reads every DLQ without deleting anything and adds the
// order ids it finds to ids. Messages it cannot decode are recorded under
// "".
func (r *Runner) deadLettered(ctx context.Context, ids map[string]bool) error {
	for _, q := range r.queues {
		seen := map[string]bool{}
		for {
			// A long visibility timeout so one pass reads each message
			// once; the messages stay in the DLQ.
			out, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
			})
			if err != nil {
				return fmt.Errorf("local: read %s: %w", q.DLQName, err)
			}
			if len(out.Messages) == 0 {
				break
			}
			for _, m := range out.Messages {
				if seen[aws.ToString(m.MessageId)] {
					continue
				}
				seen[aws.ToString(m.MessageId)] = true
				msg, err := orders.DecodeMessage([]byte(aws.ToString(m.Body)))
				if err != nil {
					ids[""] = true
					continue
				}
				ids[msg.OrderID] = true
			}
		}
	}
	return nil
}
