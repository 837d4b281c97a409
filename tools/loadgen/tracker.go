package loadgen

import (
	"container/heap"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// pollers is how many status requests may be in flight at once: enough to
// keep up with thousands of pending orders without turning the poll into
// load of its own.
const pollers = 16

// tracker polls GET /orders/{id} for accepted orders until each completes.
type tracker struct {
	client   *http.Client
	base     string
	key      string
	interval time.Duration

	mu       sync.Mutex
	queue    pollQueue
	wake     chan struct{}
	pending  int
	status   map[string]string
	endToEnd Latencies
}

type pollItem struct {
	id      string
	due     time.Time
	attempt int
}

type pollQueue []pollItem

func (q pollQueue) Len() int           { return len(q) }
func (q pollQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q pollQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pollQueue) Push(x any)        { *q = append(*q, x.(pollItem)) }
func (q *pollQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

func newTracker(c *http.Client, base, key string, interval time.Duration) *tracker {
	return &tracker{client: c, base: base, key: key, interval: interval,
		wake: make(chan struct{}, 1), status: map[string]string{}}
}

func (t *tracker) add(id string) {
	t.mu.Lock()
	t.pending++
	t.status[id] = ""
	heap.Push(&t.queue, pollItem{id: id, due: time.Now().Add(t.interval)})
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run dispatches due polls to a fixed pool until ctx ends.
func (t *tracker) run(ctx context.Context) {
	work := make(chan pollItem)
	for range pollers {
		go func() {
			for {
				select {
				case it := <-work:
					t.poll(ctx, it)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for {
		t.mu.Lock()
		var next time.Duration = time.Hour
		if t.queue.Len() > 0 {
			next = time.Until(t.queue[0].due)
		}
		if next <= 0 {
			it := heap.Pop(&t.queue).(pollItem)
			t.mu.Unlock()
			select {
			case work <- it:
			case <-ctx.Done():
				return
			}
			continue
		}
		t.mu.Unlock()
		select {
		case <-time.After(next):
		case <-t.wake:
		case <-ctx.Done():
			return
		}
	}
}

// orderStatus is the part of GET /orders/{id} the generator reads.
type orderStatus struct {
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"createdAt"`
	CompletedAt *time.Time `json:"completedAt"`
}

func (t *tracker) poll(ctx context.Context, it pollItem) {
	st, ok := t.get(ctx, it.id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.status[it.id] = st.Status
		if st.Status == "completed" && st.CompletedAt != nil {
			t.endToEnd = append(t.endToEnd, st.CompletedAt.Sub(st.CreatedAt))
			t.pending--
			return
		}
	}
	it.attempt++
	backoff := t.interval << min(it.attempt, 3)
	it.due = time.Now().Add(backoff)
	heap.Push(&t.queue, it)
}

func (t *tracker) get(ctx context.Context, id string) (orderStatus, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/orders/"+id, nil)
	if err != nil {
		return orderStatus{}, false
	}
	if t.key != "" {
		req.Header.Set("X-Api-Key", t.key)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return orderStatus{}, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return orderStatus{}, false
	}
	var st orderStatus
	if json.Unmarshal(b, &st) != nil {
		return orderStatus{}, false
	}
	return st, true
}

// waitAll blocks until every tracked order completed, the deadline
// passes, or ctx ends, reporting progress as completions arrive.
func (t *tracker) waitAll(ctx context.Context, deadline time.Time, progress func(done int)) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		pending, done := t.pending, len(t.endToEnd)
		t.mu.Unlock()
		progress(done)
		if pending == 0 || time.Now().After(deadline) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func (t *tracker) fill(r *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Completed = len(t.endToEnd)
	r.EndToEnd = append(Latencies(nil), t.endToEnd...)
	for _, s := range t.status {
		if s == "" {
			s = "unknown"
		}
		r.Statuses[s]++
	}
}
