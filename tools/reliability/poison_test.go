package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers/consumer"
)

// poisonAttribute names a poison message, to find it in the DLQ: both the
// runtime (for a permanent failure) and SQS (after maxReceiveCount) keep a
// message's attributes when they dead-letter it.
const poisonAttribute = "reliability-poison"

// TestPoisonMessages puts messages no worker can handle into the first
// stage's queue while good orders flow through the pipeline: bodies that
// are not order messages, an unknown menu item, an order that does not
// exist (permanent failures), and messages whose handler panics or always
// fails (transient failures, as far as the runtime can tell).
//
// Permanent failures must reach the DLQ at once, on their first receive;
// transient ones after maxReceiveCount receives, each retry later than the
// backoff the runtime chose; the worker processes must survive it all
// (a panic is a failure, not a crash) and keep completing the good orders.
func TestPoisonMessages(t *testing.T) {
	p := startPipeline(t, spec{stages: burgerStages(nil), scale: 10, taskCommand: []string{os.Args[0], faultyTaskArg, linecookd}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	before := pids(p)
	first := p.Queues()[0]
	maxReceives := p.cfg.Stages[0].MaxReceiveCount

	const n = 200
	placed := make(chan sent, 1)
	go func() { placed <- p.sendOrders(ctx, "poison", n, 20) }()
	waitFor(t, ctx, 2*time.Minute, "good orders to flow", func() bool { return p.succeeded("payment") >= 20 })

	valid := func() string {
		return fmt.Sprintf(`{"v":1,"orderId":%q,"items":[{"item":"burger","quantity":1}]}`, orders.NewID(time.Now()))
	}
	poison := []struct {
		name, body, fault string
		permanent         bool
	}{
		{"not JSON", `{"v":1,"orderId":`, "", true},
		{"a newer message version", `{"v":2,"orderId":"` + orders.NewID(time.Now()) + `","items":[]}`, "", true},
		{"an item not on the menu", fmt.Sprintf(`{"v":1,"orderId":%q,"items":[{"item":"pizza","quantity":1}]}`, orders.NewID(time.Now())), "", true},
		{"an order that does not exist", valid(), "", true},
		{"a panicking handler", valid(), "panic", false},
		{"an always failing handler", valid(), "fail", false},
	}
	ids := map[string]string{} // poison name → message id
	sentAt := map[string]time.Time{}
	for _, m := range poison {
		attrs := map[string]sqstypes.MessageAttributeValue{poisonAttribute: stringAttr(m.name)}
		if m.fault != "" {
			attrs[faultAttribute] = stringAttr(m.fault)
		}
		out, err := p.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(first.URL), MessageBody: aws.String(m.body), MessageAttributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		ids[m.name], sentAt[m.name] = aws.ToString(out.MessageId), time.Now()
	}
	waitFor(t, ctx, 3*time.Minute, "every poison message in the DLQ", func() bool {
		d, err := p.queueDepth(ctx, first.DLQURL)
		return err == nil && d >= len(poison)
	})

	s := <-placed
	o := p.checkCompleted(t, ctx, s, func(d deadLetter) bool { return d.attrs[poisonAttribute] != "" })
	a := p.auditOrders(t, ctx, s.IDs)
	if after := pids(p); !slices.Equal(before, after) {
		t.Errorf("tasks before %v, after %v: want the same processes (none crashed)", before, after)
	}

	dead := map[string]deadLetter{}
	for _, d := range o.Expected {
		name := d.attrs[poisonAttribute]
		if _, dup := dead[name]; dup {
			t.Errorf("poison message %q is in the DLQs twice", name)
		}
		dead[name] = d
	}
	logs := taskLogs(t, p.WorkDir())
	for _, m := range poison {
		d, ok := dead[m.name]
		switch {
		case !ok:
			t.Errorf("poison message %q is not in the DLQ", m.name)
			continue
		case d.dlq != first.DLQName:
			t.Errorf("poison message %q is in %s, want %s", m.name, d.dlq, first.DLQName)
		}
		var failures []logLine
		for _, l := range logs {
			if l.MessageID == ids[m.name] && l.Stage == "payment" && strings.Contains(l.Msg, "fail") {
				failures = append(failures, l)
			}
		}
		if len(failures) == 0 {
			t.Errorf("no worker logged the failure of %q", m.name)
			continue
		}
		if m.permanent {
			// The runtime sent it to the DLQ itself, at once, saying why.
			if len(failures) != 1 || failures[0].Msg != "permanent failure: message sent to the DLQ" || failures[0].ReceiveCount != 1 {
				t.Errorf("%q: failures %v, want one permanent failure on the first receive", m.name, messages(failures))
			}
			if d.attrs[consumer.ErrorAttribute] == "" || d.attrs[consumer.ReceiveCountAttribute] != "1" || d.attrs[consumer.StageAttribute] != "payment" {
				t.Errorf("%q in the DLQ has attributes %v, want the error, the stage and receive count 1", m.name, d.attrs)
			}
			figures(t, "poison %q: permanent, dead-lettered on receive 1, %.2fs after it was sent: %s",
				m.name, failures[0].Time.Sub(sentAt[m.name]).Seconds(), d.attrs[consumer.ErrorAttribute])
			continue
		}
		// Retried with backoff, maxReceiveCount times, then moved by SQS.
		var counts []int
		var gaps []string
		for i, f := range failures {
			counts = append(counts, f.ReceiveCount)
			if i == 0 {
				continue
			}
			prev := failures[i-1]
			backoff, err := time.ParseDuration(prev.RetryIn)
			if err != nil {
				t.Errorf("%q: failure logged without retry_in: %v", m.name, prev.raw)
				continue
			}
			gap := f.Time.Sub(prev.Time)
			gaps = append(gaps, fmt.Sprintf("%.1fs (backoff %s)", gap.Seconds(), backoff))
			// The retry cannot come before the backoff ends: the message
			// was invisible that long before it could be received again.
			if gap < backoff-100*time.Millisecond {
				t.Errorf("%q: receive %d came %s after receive %d, before its %s backoff ended", m.name, f.ReceiveCount, gap, prev.ReceiveCount, backoff)
			}
		}
		want := make([]int, maxReceives)
		for i := range want {
			want[i] = i + 1
		}
		last := failures[len(failures)-1]
		if !slices.Equal(counts, want) || last.Msg != "message failed its last attempt; SQS moves it to the DLQ" {
			t.Errorf("%q: failed on receives %v (last: %q), want %v ending with the last attempt", m.name, counts, last.Msg, want)
		}
		if d.attrs[consumer.ErrorAttribute] != "" {
			t.Errorf("%q was dead-lettered by the runtime (%s), want SQS's redrive after %d receives", m.name, d.attrs[consumer.ErrorAttribute], maxReceives)
		}
		figures(t, "poison %q: transient, failed on receives %v, %s between them, in the DLQ after the last: %s",
			m.name, counts, strings.Join(gaps, ", "), last.str("error"))
	}
	figures(t, "poison: good orders beside them: client: %s; outcome: %s; table and logs: %s", s, o, a)
}

func stringAttr(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func messages(ls []logLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s (receive %d)", l.Msg, l.ReceiveCount))
	}
	return out
}
