package workertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/workertest"
)

// ledger is the smallest handler that is correct under the suite: it
// records each id's work once, whatever the deliveries.
type ledger struct {
	work time.Duration
	mu   *sync.Mutex
	done map[string]int // id → times recorded
}

var _ workers.Handler = ledger{}

func (l ledger) Handle(ctx context.Context, msg workers.Message) (workers.Output, error) {
	var body struct{ ID string }
	if err := json.Unmarshal(msg.Body, &body); err != nil || body.ID == "" {
		return workers.Output{}, workers.Permanent(fmt.Errorf("bad body %q: %v", msg.Body, err))
	}
	l.mu.Lock()
	_, seen := l.done[body.ID]
	l.mu.Unlock()
	if seen {
		return workers.Output{}, nil
	}
	select {
	case <-time.After(l.work):
	case <-ctx.Done():
		return workers.Output{}, fmt.Errorf("ledger: %w", ctx.Err())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, seen := l.done[body.ID]; !seen {
		l.done[body.ID]++
	}
	return workers.Output{}, nil
}

func TestSuiteOnAMinimalHandler(t *testing.T) {
	var mu sync.Mutex
	done := map[string]int{}
	var n atomic.Int64
	workertest.Run(t, workertest.Suite{
		Handler: ledger{work: time.Millisecond, mu: &mu, done: done},
		Slow:    ledger{work: time.Hour, mu: &mu, done: done},
		Message: func(t *testing.T) workers.Message {
			id := fmt.Sprintf("m%d", n.Add(1))
			return workers.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`), ReceiveCount: 1}
		},
		Check: func(t *testing.T, msg workers.Message, d workertest.Delivery) {
			mu.Lock()
			defer mu.Unlock()
			if got := done[msg.ID]; got != 1 {
				t.Errorf("%s delivery: %s recorded %d times, want 1", d, msg.ID, got)
			}
		},
	})
}
