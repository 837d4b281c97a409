package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

// serve runs the API on a fresh port with the given inline payment time
// and shutdown timeout, and starts one POST /orders/sync. It returns the
// request's outcome channel, Serve's, and the cancel that starts the
// shutdown, once the request is being handled. (Go's server drops a
// request it reads after shutdown began, so the test waits for the
// handler, not for the connection.)
func serve(t *testing.T, payment, shutdown time.Duration) (<-chan error, <-chan error, context.CancelFunc, string) {
	t.Helper()
	store := emutest.Table(t)
	cfg := api.Config{
		Port: 8080, NextQueueURL: "http://unused.invalid/queue", OrderTable: store.Table(),
		AWSTimeout: time.Second, ShutdownTimeout: shutdown,
		Work: handlers.Work{PaymentDelay: payment, WorkScale: 1},
	}
	s, err := api.New(cfg, store, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handling := make(chan struct{})
	var once sync.Once
	s.WrapForTest(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(handling) })
			h.ServeHTTP(w, r)
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Post(url+"/orders/sync", "application/json", strings.NewReader(burgerAndFries))
		if err == nil {
			var b bytes.Buffer
			_, err = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = &statusError{resp.StatusCode, b.String()}
			}
		}
		answered <- err
	}()
	select {
	case <-handling:
	case <-time.After(time.Minute):
		t.Fatal("the request never reached the handler")
	}
	return answered, served, cancel, url
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return http.StatusText(e.status) + ": " + e.body }

func TestShutdownFinishesInFlightRequests(t *testing.T) {
	answered, served, cancel, url := serve(t, 500*time.Millisecond, 30*time.Second)
	cancel() // SIGTERM, while the request waits for its payment
	if err := <-answered; err != nil {
		t.Errorf("in-flight request during shutdown: %v, want 200", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want a clean shutdown", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still accepts connections after shutdown")
	}
}

func TestShutdownGivesUpAtItsDeadline(t *testing.T) {
	answered, served, cancel, _ := serve(t, 10*time.Minute, 200*time.Millisecond)
	cancel()
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "cut off") {
			t.Errorf("Serve = %v, want an error saying in-flight requests were cut off", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve still running long after its shutdown deadline")
	}
	if err := <-answered; err == nil {
		t.Error("a request cut off at the deadline got an answer")
	}
}
