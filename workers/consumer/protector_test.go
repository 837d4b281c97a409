package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
