package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeAPI accepts orders, fails every failEvery-th with 503, answers after
// delay, and reports each order completed doneAfter after creation.
type fakeAPI struct {
	delay     time.Duration
	doneAfter time.Duration
	failEvery int64

	n       atomic.Int64
	mu      sync.Mutex
	created map[string]time.Time
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/orders" || r.URL.Path == "/orders/sync"):
		var body struct{ Items []struct{ Item string } }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Items) == 0 {
			http.Error(w, `{"error":"bad order"}`, http.StatusBadRequest)
			return
		}
		i := f.n.Add(1)
		time.Sleep(f.delay)
		if f.failEvery > 0 && i%f.failEvery == 0 {
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
			return
		}
		id := fmt.Sprintf("o%d", i)
		f.mu.Lock()
		f.created[id] = time.Now()
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":%q}`, id)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/orders/"):
		f.mu.Lock()
		at, ok := f.created[strings.TrimPrefix(r.URL.Path, "/orders/")]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		st := map[string]any{"status": "in-progress", "createdAt": at}
		if time.Since(at) >= f.doneAfter {
			st["status"] = "completed"
			st["completedAt"] = at.Add(f.doneAfter)
		}
		_ = json.NewEncoder(w).Encode(st)
	default:
		http.NotFound(w, r)
	}
}

func newFake(delay, doneAfter time.Duration, failEvery int64) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{delay: delay, doneAfter: doneAfter, failEvery: failEvery, created: map[string]time.Time{}}
	return f, httptest.NewServer(f)
}

func TestRunCountsAcceptsErrorsAndCompletions(t *testing.T) {
	_, srv := newFake(0, 300*time.Millisecond, 5)
	defer srv.Close()
	res, err := Run(context.Background(), Options{
		URL: srv.URL, Rate: 200, Count: 50,
		CompletionTimeout: 20 * time.Second, PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 50 || res.Accepted != 40 || res.Errors["HTTP 503"] != 10 {
		t.Errorf("sent %d accepted %d errors %v, want 50, 40, HTTP 503: 10", res.Sent, res.Accepted, res.Errors)
	}
	if res.Completed != 40 || len(res.EndToEnd) != 40 || res.Statuses["completed"] != 40 {
		t.Errorf("completed %d (%v), want all 40 accepted", res.Completed, res.Statuses)
	}
	// End-to-end comes from the server's timestamps, not from polling.
	if got := res.EndToEnd.Percentile(50); got != 300*time.Millisecond {
		t.Errorf("end-to-end p50 = %s, want the server's 300ms", got)
	}
}

// TestOpenLoopDoesNotWaitForSlowResponses: with a server that takes 500ms
// per request, a closed loop of one would send 2/s; open loop keeps the
// schedule and charges the wait to latency.
func TestOpenLoopDoesNotWaitForSlowResponses(t *testing.T) {
	fake, srv := newFake(500*time.Millisecond, 0, 0)
	defer srv.Close()
	res, err := Run(context.Background(), Options{URL: srv.URL, Rate: 100, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 100 || fake.n.Load() != 100 {
		t.Fatalf("accepted %d of %d requests served, want 100", res.Accepted, fake.n.Load())
	}
	if p50 := res.Accept.Percentile(50); p50 < 500*time.Millisecond {
		t.Errorf("accept p50 = %s, cannot be below the server's 500ms", p50)
	}
	// A closed loop would need 50 s for 100 requests at 500 ms each.
	if res.SendDuration > 20*time.Second {
		t.Errorf("sending took %s: the generator waited for responses", res.SendDuration)
	}
}

func TestValidateNamesTheBadOption(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Rate: 1, Count: 1}, "URL"},
		{Options{URL: "http://x", Rate: 0, Count: 1}, "rate"},
		{Options{URL: "http://x", Rate: 1}, "duration"},
		{Options{URL: "ftp://x", Rate: 1, Count: 1}, "http(s) URL"},
	} {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error about %s", tc.o, err, tc.want)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var l Latencies
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := l.Percentile(tc.p); got != tc.want {
			t.Errorf("p%g = %s, want %s", tc.p, got, tc.want)
		}
	}
	if (Latencies{}).Percentile(50) != 0 {
		t.Error("empty percentile must be 0")
	}
}
