package local

import (
	"sync"
	"time"
)

// Snapshot is the pipeline's state at one instant: what the dashboard
// shows and streams, and what tests assert on.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Elapsed is seconds since the run started, in wall-clock time.
	Elapsed   float64         `json:"elapsed"`
	Stack     string          `json:"stack"`
	TimeScale float64         `json:"timeScale"`
	Stages    []StageSnapshot `json:"stages"`
	Orders    OrderCounts     `json:"orders"`
	Recent    []OrderView     `json:"recent,omitempty"`
}

// StageSnapshot is one stage's numbers.
type StageSnapshot struct {
	Name   string `json:"name"`
	Worker string `json:"worker"`
	Policy string `json:"policy"`
	// Visible, InFlight and DLQ are the queue's and DLQ's depths.
	Visible  int `json:"visible"`
	InFlight int `json:"inFlight"`
	DLQ      int `json:"dlq"`
	// Tasks are running worker processes; Desired what the scaling
	// policy wants; Min and Max its bounds.
	Tasks   int `json:"tasks"`
	Desired int `json:"desired"`
	Min     int `json:"min"`
	Max     int `json:"max"`
	// Protected are tasks protected from scale-in: their workers have
	// messages in flight. A scale-in waits for them.
	Protected int `json:"protected"`
	// From the workers' EMF lines.
	Succeeded    int64   `json:"succeeded"`
	Failed       int64   `json:"failed"`
	Throughput   float64 `json:"throughput"`
	ProcessingMs float64 `json:"processingMs"`
}

// OrderCounts are whole-pipeline order numbers.
type OrderCounts struct {
	Placed       int `json:"placed"`
	Completed    int `json:"completed"`
	InProgress   int `json:"inProgress"`
	DeadLettered int `json:"deadLettered"`
}

// OrderView is one recent order as the dashboard lists it.
type OrderView struct {
	ID          string      `json:"id"`
	Status      string      `json:"status"`
	Items       string      `json:"items"`
	CreatedAt   time.Time   `json:"createdAt"`
	CompletedAt *time.Time  `json:"completedAt,omitempty"`
	EndToEndMs  float64     `json:"endToEndMs,omitempty"`
	Stages      []StageSpan `json:"stages"`
}

// StageSpan is when one stage started and ended an order.
type StageSpan struct {
	Name  string     `json:"name"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// history keeps the last snapshots for charts and late subscribers, and
// fans new ones out to subscribers.
type history struct {
	mu    sync.Mutex
	limit int
	items []Snapshot
	subs  map[chan Snapshot]struct{}
}

func newHistory(limit int) *history {
	return &history{limit: limit, subs: map[chan Snapshot]struct{}{}}
}

func (h *history) add(s Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.items = append(h.items, s)
	if len(h.items) > h.limit {
		h.items = h.items[len(h.items)-h.limit:]
	}
	for ch := range h.subs {
		select {
		case ch <- s:
		default: // a slow browser misses a frame rather than stalling the run
		}
	}
}

func (h *history) all() []Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Snapshot(nil), h.items...)
}

func (h *history) latest() (Snapshot, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.items) == 0 {
		return Snapshot{}, false
	}
	return h.items[len(h.items)-1], true
}

// watched reports whether a page is subscribed.
func (h *history) watched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func (h *history) subscribe() (<-chan Snapshot, func()) {
	ch := make(chan Snapshot, 4)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}
