// The live order page's data: GET /orders/stream sends the newest orders,
// and the ones a page follows by id, as server-sent events. page.go serves
// the page itself.
//
// Behind the load balancer there are several API tasks and no sticky
// sessions: the task that accepted an order is rarely the one streaming it
// to the page that placed it. So a stream is never fed from what its task
// did, only from the order table, which every task and every stage share.
// Each task reads it once a second for all of its streams together (one
// Query of the recent index, one BatchGetItem of the orders not yet
// completed), so the table's cost grows with the number of API tasks, not
// with the number of pages open; with no page open a task reads nothing.

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers/logkey"
)

// Board is what the live stream needs of the order store besides Store:
// the newest orders' ids, through an index rather than a scan, and many
// orders in one eventually consistent read. orders/dynamo.Store has both;
// with a store that lacks them the API serves no stream.
type Board interface {
	RecentIDs(ctx context.Context, now time.Time, n int) ([]string, error)
	GetManyEventually(ctx context.Context, ids []string) (map[string]orders.Order, error)
}

// The stream's bounds and rhythm.
const (
	// liveRecent is how many of the newest orders a stream shows.
	liveRecent = 20
	// liveWatch is how many orders a stream may follow by id besides
	// them (?watch=id,…): a page's own, which a busy kitchen soon pushes
	// out of the newest.
	liveWatch = 5
	// liveRead is the most orders one poll reads, the newest first and
	// then the followed ones: one BatchGetItem's worth.
	liveRead = 100
	// livePoll is how often a task reads the table while it has streams.
	livePoll = time.Second
	// liveHeartbeat is how often a stream sends a comment. The load
	// balancer closes a connection idle for 60 s (its default idle
	// timeout), and a page takes 45 s of silence for a dead connection.
	liveHeartbeat = 15 * time.Second
	// liveWriteTimeout bounds each write to a stream: a client that
	// stops reading loses its stream instead of holding it forever.
	liveWriteTimeout = 10 * time.Second
	// liveRetry is the reconnection delay a stream asks of its client,
	// in milliseconds.
	liveRetry = 2000
	// liveMaxStreams bounds one task's open streams (a goroutine and a
	// connection each); past it a page is told to come back, which the
	// load balancer may send to a less busy task.
	liveMaxStreams = 2000
)

// liveMessage is the data of an "orders" event. The first of a stream
// holds every order it shows; later ones hold the orders that changed
// since the stream last sent them, and come only when something changed.
type liveMessage struct {
	// Time is when the table was read, by this task's clock: a page
	// shows a stage's running time against it.
	Time time.Time `json:"time"`
	// Recent is the newest orders' ids, newest first.
	Recent []string `json:"recent"`
	// Orders are timelines (orders.Timeline), as GET /orders/{id} shows.
	Orders []json.RawMessage `json:"orders"`
	// Error is set while the table cannot be read: the orders are then
	// as last read.
	Error string `json:"error,omitempty"`
}

// streams is a Server's live state. Its zero value is ready: the feed is
// made by the first stream, so an API nobody watches pays nothing.
type streams struct {
	mu   sync.Mutex
	feed *feed
	// ended is closed when the server shuts down: every stream ends,
	// and its page reconnects, through the load balancer, to a task that
	// is not stopping.
	ended chan struct{}
	// poll, heartbeat and max, when set (by tests), replace livePoll,
	// liveHeartbeat and liveMaxStreams.
	poll, heartbeat time.Duration
	max             int
}

// get returns the feed, made on first use, and the channel closed at
// shutdown; ok is false when the store cannot feed a stream.
func (st *streams) get(s *Server) (f *feed, ended <-chan struct{}, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.feed == nil {
		board, ok := s.store.(Board)
		if !ok {
			return nil, st.endedLocked(), false
		}
		st.feed = &feed{board: board, log: s.log, now: s.now, timeout: s.cfg.AWSTimeout, poll: positiveOr(st.poll, livePoll), max: positiveOr(st.max, liveMaxStreams)}
	}
	return st.feed, st.endedLocked(), true
}

// end ends every stream, and refuses new ones, for the shutdown.
func (st *streams) end() {
	st.mu.Lock()
	defer st.mu.Unlock()
	ended := st.endedLocked()
	select {
	case <-ended:
	default:
		close(ended)
	}
}

func (st *streams) endedLocked() chan struct{} {
	if st.ended == nil {
		st.ended = make(chan struct{})
	}
	return st.ended
}

func positiveOr[T time.Duration | int](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// streamOrders is GET /orders/stream: server-sent events of the newest
// orders and of up to liveWatch more named in ?watch=id,id. It answers
// 200 at once and then sends an "orders" event whenever an order it shows
// changes, a comment every liveHeartbeat, and nothing else, until the
// client leaves or the server shuts down.
func (s *Server) streamOrders(w http.ResponseWriter, r *http.Request) {
	watch, err := parseWatch(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, &apiError{Message: err.Error(), Field: "watch"})
		return
	}
	f, ended, ok := s.streams.get(s)
	if !ok {
		writeError(w, http.StatusNotImplemented, &apiError{Message: "this API's order store cannot list recent orders"})
		return
	}
	select {
	case <-ended:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, &apiError{Message: "this API task is shutting down; reconnect"})
		return
	default:
	}
	sub := f.subscribe(watch)
	if sub == nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, &apiError{Message: fmt.Sprintf("this API task streams to %d pages already; reconnect", f.max)})
		return
	}
	defer f.unsubscribe(sub)
	// The server's WriteTimeout bounds a whole ordinary response; a
	// stream lives as long as its page, so it moves the deadline before
	// each write instead (see send).
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Proxies that buffer responses (nginx, and others that honour it)
	// pass each event on at once. The ALB does not buffer.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	// The first bytes go out at once, so the client (and any proxy)
	// sees the stream open before the first read of the table.
	if !send(fmt.Appendf(nil, "retry: %d\n: linecook live orders\n\n", liveRetry)) {
		return
	}
	heartbeat := time.NewTicker(positiveOr(s.streams.heartbeat, liveHeartbeat))
	defer heartbeat.Stop()
	var v view
	for {
		snap, changed := f.current()
		if msg := v.next(snap, watch); msg != nil {
			if !send(msg) {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-ended:
			return
		case <-changed:
		case <-heartbeat.C:
			if !send([]byte(": ping\n\n")) {
				return
			}
		}
	}
}

// parseWatch reads ?watch=id,id (or repeated watch=): order ids, at most
// liveWatch of them.
func parseWatch(q url.Values) ([]string, error) {
	var ids []string
	for _, v := range q["watch"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id == "" || slices.Contains(ids, id) {
				continue
			}
			if !orders.ValidID(id) {
				return nil, fmt.Errorf("watch: %q is not an order id", clip(id))
			}
			ids = append(ids, id)
		}
	}
	if len(ids) > liveWatch {
		return nil, fmt.Errorf("watch: %d orders, at most %d may be followed", len(ids), liveWatch)
	}
	return ids, nil
}

// view is what one stream has sent, so that it sends only what changed.
type view struct {
	started bool
	sent    map[string]uint64 // order id → version sent
	recent  []string
	err     string
}

// next is the event to send for snap, or nil when the stream already
// shows everything in it.
func (v *view) next(snap *snapshot, watch []string) []byte {
	if snap == nil {
		return nil
	}
	msg := liveMessage{Time: snap.time, Recent: snap.recent, Orders: []json.RawMessage{}, Error: snap.err}
	sent := make(map[string]uint64, len(snap.recent)+len(watch))
	for _, id := range slices.Concat(snap.recent, watch) {
		e, ok := snap.orders[id]
		if !ok {
			continue
		}
		if _, dup := sent[id]; dup {
			continue
		}
		sent[id] = e.version
		if v.sent[id] != e.version {
			msg.Orders = append(msg.Orders, e.json)
		}
	}
	if v.started && len(msg.Orders) == 0 && slices.Equal(v.recent, snap.recent) && v.err == snap.err {
		return nil
	}
	v.started, v.sent, v.recent, v.err = true, sent, snap.recent, snap.err
	b, err := json.Marshal(msg)
	if err != nil {
		// Times, strings and timelines encoded once already.
		panic("api: live message: " + err.Error())
	}
	return fmt.Appendf(nil, "event: orders\ndata: %s\n\n", b)
}

// feed reads the order table for every stream of one task: one goroutine,
// running while there are streams, publishing an immutable snapshot per
// read that each stream compares with what it has sent.
type feed struct {
	board   Board
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration
	poll    time.Duration
	max     int // streams at most

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	running bool
	snap    *snapshot     // nil until the first read
	changed chan struct{} // closed when snap is replaced

	// Owned by the polling goroutine.
	cache   map[string]*entry
	version uint64
	failing bool
}

// subscriber is one stream as the feed sees it: the orders it follows.
type subscriber struct{ watch []string }

// snapshot is one read of the table. It is never changed once published.
type snapshot struct {
	time   time.Time
	recent []string
	orders map[string]*entry
	err    string
}

// entry is one order as the streams send it.
type entry struct {
	// json is its timeline, encoded once for every stream.
	json json.RawMessage
	// version changes whenever json does.
	version uint64
	// final: the order is completed and will not change, so it is not
	// read again while it stays on the page.
	final bool
}

// subscribe adds a stream, starting the feed if it is the only one; nil
// means the task has its most streams already.
func (f *feed) subscribe(watch []string) *subscriber {
	sub := &subscriber{watch: watch}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*subscriber]struct{}{}
		f.changed = make(chan struct{})
	}
	if len(f.subs) >= f.max {
		return nil
	}
	f.subs[sub] = struct{}{}
	if !f.running {
		f.running = true
		go f.run()
	}
	return sub
}

func (f *feed) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, sub)
}

// current is the latest snapshot (nil before the first read) and a
// channel closed when a newer one is published.
func (f *feed) current() (*snapshot, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.changed
}

// run reads the table every poll while any stream is open. It returns at
// the first tick without streams (at most one poll after the last one
// leaves, or after the server shut down and ended them all).
func (f *feed) run() {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		watch, ok := f.watched()
		if !ok {
			return
		}
		f.read(watch)
		<-t.C
	}
}

// watched is every order the streams follow, newest first; ok is false,
// and the feed stops, when there are no streams. A feed started again
// starts afresh: a new stream never sees an old read as current.
func (f *feed) watched() (ids []string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) == 0 {
		f.running, f.snap, f.cache = false, nil, nil
		return nil, false
	}
	for sub := range f.subs {
		for _, id := range sub.watch {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	// ULIDs sort by time: the newest first, should they be too many to
	// read them all.
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, true
}

// read reads the newest orders and the followed ones and publishes them:
// one Query of the recent index, and one BatchGetItem of the orders it
// does not have as completed already.
func (f *feed) read(watch []string) {
	now := f.now()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	recent, err := f.board.RecentIDs(ctx, now, liveRecent)
	cancel()
	if err != nil {
		f.fail(err)
		return
	}
	want := slices.Clone(recent)
	for _, id := range watch {
		if !slices.Contains(want, id) {
			want = append(want, id)
		}
	}
	want = want[:min(len(want), liveRead)]
	var stale []string
	for _, id := range want {
		if e := f.cache[id]; e == nil || !e.final {
			stale = append(stale, id)
		}
	}
	var got map[string]orders.Order
	if len(stale) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		got, err = f.board.GetManyEventually(ctx, stale)
		cancel()
		if err != nil {
			f.fail(err)
			return
		}
	}
	cache := make(map[string]*entry, len(want))
	for _, id := range want {
		old := f.cache[id]
		o, ok := got[id]
		switch {
		case ok:
			b, err := json.Marshal(o.Timeline())
			if err != nil {
				panic("api: timeline: " + err.Error())
			}
			if old != nil && bytes.Equal(old.json, b) {
				cache[id] = old
				continue
			}
			f.version++
			cache[id] = &entry{json: b, version: f.version, final: o.Status == orders.Completed}
		case old != nil && old.final:
			cache[id] = old
		}
		// Otherwise the order is not there (yet: the index is ahead of
		// an eventually consistent read; or any more: withdrawn).
	}
	f.cache = cache
	shown := make([]string, 0, len(recent))
	for _, id := range recent {
		if cache[id] != nil {
			shown = append(shown, id)
		}
	}
	if f.failing {
		f.failing = false
		f.log.Info("live page: the order table answers again")
	}
	f.publish(&snapshot{time: now.UTC(), recent: shown, orders: cache})
}

// fail keeps the last read's orders and tells the streams the table is
// unavailable, logging the first failure of a run of them.
func (f *feed) fail(err error) {
	if !f.failing {
		f.failing = true
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", f.timeout, err)
		}
		f.log.Warn("live page: cannot read the order table; streams show the last orders read", logkey.Error, err)
	}
	f.mu.Lock()
	prev := f.snap
	f.mu.Unlock()
	next := &snapshot{time: f.now().UTC(), err: "the order table is unavailable; retrying", recent: []string{}, orders: map[string]*entry{}}
	if prev != nil {
		next.recent, next.orders = prev.recent, prev.orders
	}
	f.publish(next)
}

func (f *feed) publish(snap *snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = snap
	close(f.changed)
	f.changed = make(chan struct{})
}
