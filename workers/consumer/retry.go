package consumer

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linecook/linecook/workers/logkey"
)

// RetryDelay is how long a message that failed on its receiveCount-th
// delivery stays invisible before SQS delivers it again: base doubled per
// earlier delivery, plus up to half again of random jitter so that a burst
// of failures does not come back as a burst, capped at maxDelay, in whole
// seconds (what ChangeMessageVisibility takes) and never under one.
// Delivery counts below 1 count as 1.
//
// jitter is in [0, 1). The jitter only ever adds, so the schedule strictly
// grows until the cap (1s, 2s, 4–5s, 8–11s ... for a 1s base): a failing
// message backs off, never hot-loops, and reaches the DLQ after the
// queue's maxReceiveCount deliveries.
func RetryDelay(receiveCount int, base, maxDelay time.Duration, jitter float64) time.Duration {
	d := maxDelay
	if n := receiveCount - 1; n < 1 {
		d = min(base, maxDelay)
	} else if n < 40 && base<<n > 0 && base<<n < maxDelay {
		d = base << n
	}
	d += time.Duration(float64(d) * jitter / 2)
	d = min(d, maxDelay, maxVisibilityTimeout).Truncate(time.Second)
	return max(d, time.Second)
}

// backoff paces a loop that keeps failing (SQS unreachable, throttled):
// doubling from base to max, each wait drawn from its upper half so the
// loop never spins and many pollers do not retry in step.
type backoff struct {
	base, max time.Duration
	n         int
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 40 && b.base<<b.n > 0 && b.base<<b.n < b.max {
		d = b.base << b.n
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends, and reports whether it waited it all.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// health logs an SQS operation's failures once per change of state (the
// first failure, then the recovery with how many failed meanwhile) rather
// than on every retry, which would flood the logs during an outage.
type health struct {
	log     *slog.Logger
	what    string
	failing atomic.Bool

	mu       sync.Mutex
	since    time.Time
	failures int
}

func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if h.failing.Load() {
		return
	}
	h.failing.Store(true)
	h.since = time.Now()
	h.log.Warn(h.what+" failing; backing off and retrying", logkey.Error, err.Error())
}

func (h *health) ok() {
	if !h.failing.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing.Load() {
		return
	}
	h.failing.Store(false)
	h.log.Info(h.what+" recovered", logkey.Failures, h.failures, logkey.Outage, time.Since(h.since).Round(time.Millisecond).String())
	h.failures = 0
}
