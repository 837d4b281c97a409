// Package workertest is the conformance suite every linecook handler
// passes: the properties the SQS runtime relies on, checked the same way
// for every implementation. Run it from your handler's tests:
//
//	workertest.Run(t, workertest.Suite{
//		Handler: myHandler,
//		Slow:    mySlowHandler,
//		Message: func(t *testing.T) workers.Message { ... a fresh message ... },
//	})
//
// The suite checks that a handler succeeds on a valid message; that it is
// idempotent under redelivery, sequential and concurrent (at-least-once
// delivery makes both happen); that it rejects garbage with a permanent
// error (so the runtime sends it to the DLQ at once instead of retrying it);
// and that it honours ctx cancellation promptly with an ordinary, retryable
// error, after which a redelivery still succeeds.
package workertest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/workers"
)

// Delivery says how a message was delivered before Check is called, so
// Check knows how many times the work may have run.
type Delivery int

const (
	// Once: delivered once. The work ran once.
	Once Delivery = iota
	// Sequential: delivered several times, each after the previous one
	// succeeded. The work ran once; later deliveries found it done.
	Sequential
	// Concurrent: delivered twice at the same time. Both may have done
	// the work, but its effect must be recorded once.
	Concurrent
	// AfterCancel: a delivery was cancelled mid-work, then redelivered
	// and succeeded. The work ran twice (the first time partly); its
	// effect must be recorded once.
	AfterCancel
)

func (d Delivery) String() string {
	return [...]string{"once", "sequential", "concurrent", "after-cancel"}[d]
}

// DefaultGarbage are bodies no JSON-reading handler can take: empty,
// binary, truncated.
var DefaultGarbage = [][]byte{
	nil,
	[]byte(""),
	[]byte("\x00\xff\xfe garbage"),
	[]byte(`{"`),
	[]byte(`not json at all`),
}

// Suite configures Run.
type Suite struct {
	// Handler is the handler under test, configured so its work is quick.
	Handler workers.Handler
	// Slow is the same handler configured so a message's work takes far
	// longer than Timeout: the suite cancels it mid-work and expects it
	// to return at once. Nil skips the cancellation checks.
	Slow workers.Handler
	// Message returns a fresh, valid message each call (for an order
	// pipeline: a new order, already stored).
	Message func(t *testing.T) workers.Message
	// Check, optional, checks a handler's effects on msg once its
	// deliveries have succeeded.
	Check func(t *testing.T, msg workers.Message, d Delivery)
	// Garbage are bodies that must fail permanently; nil means
	// DefaultGarbage. Add bodies that are well-formed but invalid for
	// your handler (an unknown id, a wrong version).
	Garbage [][]byte
	// Timeout bounds each handler call; 0 means one minute. It is a
	// safety net for a hung handler, not a performance requirement.
	Timeout time.Duration
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if s.Handler == nil || s.Message == nil {
		t.Fatal("workertest: Suite needs a Handler and a Message function")
	}
	if s.Timeout <= 0 {
		s.Timeout = time.Minute
	}
	if s.Garbage == nil {
		s.Garbage = DefaultGarbage
	}
	check := func(t *testing.T, msg workers.Message, d Delivery) {
		if s.Check != nil {
			s.Check(t, msg, d)
		}
	}

	t.Run("succeeds", func(t *testing.T) {
		msg := s.Message(t)
		if _, err := s.deliver(t, s.Handler, msg); err != nil {
			t.Fatalf("Handle(%s) = %v, want success", msg.ID, err)
		}
		check(t, msg, Once)
	})

	t.Run("idempotent on redelivery", func(t *testing.T) {
		msg := s.Message(t)
		var first workers.Output
		for i := 1; i <= 3; i++ {
			msg.ReceiveCount = i
			out, err := s.deliver(t, s.Handler, msg)
			if err != nil {
				t.Fatalf("delivery %d of %s = %v, want success", i, msg.ID, err)
			}
			if i == 1 {
				first = out
			} else if !reflect.DeepEqual(out, first) {
				t.Errorf("delivery %d output = %+v, want the first delivery's %+v", i, out, first)
			}
		}
		check(t, msg, Sequential)
	})

	t.Run("idempotent under concurrent duplicates", func(t *testing.T) {
		msg := s.Message(t)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			m := msg
			m.ReceiveCount = i + 1
			wg.Go(func() { _, errs[i] = s.deliver(t, s.Handler, m) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent delivery %d of %s = %v, want success", i+1, msg.ID, err)
			}
		}
		check(t, msg, Concurrent)
	})

	t.Run("permanent on garbage", func(t *testing.T) {
		template := s.Message(t)
		for _, body := range s.Garbage {
			msg := template
			msg.Body = body
			_, err := s.deliver(t, s.Handler, msg)
			if !workers.IsPermanent(err) {
				t.Errorf("Handle(body %q) = %v, want a permanent error (errors.Is(err, workers.ErrPermanent))", body, err)
			}
		}
	})

	t.Run("honours cancellation", func(t *testing.T) {
		if s.Slow == nil {
			t.Skip("no Slow handler given")
		}
		msg := s.Message(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Slow.Handle(ctx, msg)
			done <- err
		}()
		// Let the handler get into its work before cancelling. If it
		// is still setting up, cancelling then must be honoured too.
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Handle returned success after its context was cancelled mid-work; make Slow's work longer than the suite's Timeout")
			}
			if workers.IsPermanent(err) {
				t.Errorf("cancelled Handle = %v: permanent, want a retryable error (a stopped worker is not the message's fault)", err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled Handle = %v, want it to wrap context.Canceled", err)
			}
		case <-time.After(s.Timeout):
			t.Fatalf("Handle still running %s after its context was cancelled", s.Timeout)
		}
		msg.ReceiveCount = 2
		if _, err := s.deliver(t, s.Handler, msg); err != nil {
			t.Fatalf("redelivery after a cancelled attempt = %v, want success", err)
		}
		check(t, msg, AfterCancel)
	})
}

// deliver calls h under the suite's timeout, failing the test if h
// outlives it (the context is cancelled at the timeout; a handler that
// honours it returns then).
func (s Suite) deliver(t *testing.T, h workers.Handler, msg workers.Message) (workers.Output, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	out, err := h.Handle(ctx, msg)
	if ctx.Err() != nil {
		t.Errorf("Handle(%s) ran into the suite's %s timeout: %v", msg.ID, s.Timeout, err)
	}
	return out, err
}
