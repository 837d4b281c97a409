package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/consumer/consumertest"
)

// protector records the signals a consumer sends, and checks each against
// the number of messages the handler is working on at that instant.
type protector struct {
	mu      sync.Mutex
	signals []bool // true: Busy
	working *atomic.Int64
	wrong   []string
}

func (p *protector) Busy() { p.record(true) }
func (p *protector) Idle() { p.record(false) }

func (p *protector) record(busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.signals) > 0 && p.signals[len(p.signals)-1] == busy {
		p.wrong = append(p.wrong, fmt.Sprintf("signal %d repeats busy=%v", len(p.signals), busy))
	}
	if !busy && p.working.Load() > 0 {
		p.wrong = append(p.wrong, fmt.Sprintf("Idle while %d handlers run", p.working.Load()))
	}
	p.signals = append(p.signals, busy)
}

func (p *protector) last() (n int, busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.signals) == 0 {
		return 0, false
	}
	return len(p.signals), p.signals[len(p.signals)-1]
}

// TestProtectorIsToldBusyAndIdleOnTransitionsOnly: the consumer signals
// the first message in flight and the last one settled, alternately,
// never Idle while a handler runs, and stays Busy through a stream whose
// messages overlap; bursts of quick messages on eight slots, whose counts
// cross zero on many goroutines at once, keep the alternation.
func TestProtectorIsToldBusyAndIdleOnTransitionsOnly(t *testing.T) {
	s := newFakeStage(t, 3)
	var working atomic.Int64
	p := &protector{working: &working}
	h := workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
		working.Add(1)
		defer working.Add(-1)
		if d, err := time.ParseDuration(string(m.Body)); err == nil {
			time.Sleep(d)
		} else {
			time.Sleep(time.Duration(rand.N(2000)) * time.Microsecond)
		}
		return workers.Output{}, nil
	})
	consumertest.Start(t, s.cfg, s.fake, h, consumer.WithProtector(p))
	if n, _ := p.last(); n != 0 {
		t.Fatalf("%d signals before any message", n)
	}

	// One long message, then overlapping ones while it runs: one Busy.
	consumertest.Send(t, s.fake, s.url, "300ms")
	consumertest.Eventually(t, "Busy", func() bool { n, busy := p.last(); return n == 1 && busy })
	for range 5 {
		consumertest.Send(t, s.fake, s.url, "100ms")
		time.Sleep(30 * time.Millisecond)
	}
	if n, busy := p.last(); n != 1 || !busy {
		t.Errorf("after a stream of overlapping messages: %d signals, busy %v; want the one Busy", n, busy)
	}
	consumertest.Eventually(t, "Idle once all settled", func() bool { n, busy := p.last(); return n == 2 && !busy })

	// Bursts: every message short, counts crossing zero often.
	for burst := range 20 {
		var bodies []string
		for i := range 1 + burst%7 {
			bodies = append(bodies, "q"+strconv.Itoa(burst)+"-"+strconv.Itoa(i))
		}
		consumertest.Send(t, s.fake, s.url, bodies...)
		time.Sleep(time.Duration(rand.N(5)) * time.Millisecond)
	}
	consumertest.Eventually(t, "every message settled", func() bool { return len(s.fake.Messages(s.url)) == 0 })
	consumertest.Eventually(t, "Idle at the end", func() bool { _, busy := p.last(); return !busy })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.wrong {
		t.Error(w)
	}
	if len(p.signals)%2 != 0 || !p.signals[0] {
		t.Errorf("signals %v: want Busy, Idle, … ending Idle", p.signals)
	}
	t.Logf("%d signals for %d bursts after the stream", len(p.signals), 20)
}

// receiveWatcher is the consumer's SQS, recording receives that ended
// because their caller gave up on them. Real SQS goes on with such a
// long poll until its wait ends and hands it messages all the same, which
// then stay invisible for the visibility timeout (aws-sdk-go-v2#2068).
type receiveWatcher struct {
	consumer.SQS
	abandoned atomic.Int64
}

func (w *receiveWatcher) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := w.SQS.ReceiveMessage(ctx, in, opts...)
	if err != nil && ctx.Err() != nil {
		w.abandoned.Add(1)
	}
	return out, err
}

// TestShutdownLetsLongPollsEndAndGivesBackWhatTheyBring: a worker stopped
// while idle, the moment a message arrives (what a scale-in of an idle,
// unprotected task meets), abandons no receive: its long polls, never
// longer than the drain, end on their own, and the message one of them
// brings goes back to the queue at once, not after its visibility
// timeout.
func TestShutdownLetsLongPollsEndAndGivesBackWhatTheyBring(t *testing.T) {
	s := newFakeStage(t, 3)
	s.cfg.DrainTimeout = 3 * time.Second // long polls of 2 s
	w := &receiveWatcher{SQS: s.fake}
	r := consumertest.Start(t, s.cfg, w, workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{}, nil
	}))
	time.Sleep(100 * time.Millisecond) // pollers waiting in their long polls
	began := time.Now()
	r.Cancel()
	consumertest.Eventually(t, "the drain", func() bool { return strings.Contains(r.Logs.String(), "draining") })
	s.fake.Send(s.url, "late", nil)
	r.Stop(t)
	took := time.Since(began)
	if n := w.abandoned.Load(); n != 0 {
		t.Errorf("%d receives abandoned at shutdown, want none", n)
	}
	msgs := s.fake.Messages(s.url)
	if len(msgs) != 1 || !msgs[0].Visible || msgs[0].ReceiveCount != 1 {
		t.Errorf("queue after shutdown: %+v; want the late message received once and visible again", msgs)
	}
	if took > s.cfg.DrainTimeout+consumer.AfterDrain {
		t.Errorf("shutdown took %s, more than the drain timeout and the runtime's tail", took)
	}
}
