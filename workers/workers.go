// Package workers is linecook's pluggable worker contract. A Handler takes
// one message from its stage's queue and returns the output for the next
// stage, or an error; a Registry maps worker names to handlers; Middleware
// wraps handlers with cross-cutting behaviour.
//
// The SQS runtime that drives handlers lives in workers/consumer; the
// burger application's handlers in burger/handlers. Another Go project adds its own worker
// by registering a Handler in a Registry and building its own image around
// consumer.Run, without forking linecook.
package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// TraceIDAttribute is the SQS message attribute that carries an order's
// trace id from the API through every stage. The runtime reads it into
// Message.TraceID, logs it, and copies it onto every message it forwards.
const TraceIDAttribute = "linecook-trace-id"

// MaxConcurrency is the most messages one task may work on at once. The
// runtime refuses to start above it and the stack config refuses to
// deploy above it: add tasks instead.
const MaxConcurrency = 10000

// Defaults is a worker's own estimate of its workload. A stack that runs
// the worker without saying otherwise sizes and scales its stage on it.
type Defaults struct {
	// ProcessingTime is the mean time the handler takes for one message.
	ProcessingTime time.Duration
	// Concurrency is how many messages one task should work on at once:
	// high for work that waits on others (a remote call), low for work
	// that uses the task's CPU.
	Concurrency int
}

// Defaulter is the optional interface of a Handler that declares its
// workload defaults, found by type assertion (as river's WorkerDefaults).
// Handlers that do not implement it get the stack's generic defaults.
type Defaulter interface {
	Defaults() Defaults
}

// DefaultsOf returns the workload defaults h declares, or the zero
// Defaults when it declares none.
func DefaultsOf(h Handler) Defaults {
	if d, ok := h.(Defaulter); ok {
		return d.Defaults()
	}
	return Defaults{}
}

// Message is one message delivered to a handler.
type Message struct {
	// ID is the SQS message id: stable across redeliveries.
	ID string
	// Body is the message body as sent.
	Body []byte
	// Attributes are the message's string attributes.
	Attributes map[string]string
	// TraceID follows an order from the API through every stage.
	TraceID string
	// ReceiveCount is SQS's ApproximateReceiveCount: 1 on first delivery.
	ReceiveCount int
	// Stage is the name of the stage consuming the message.
	Stage string
	// SentAt is when the message was sent to this stage's queue.
	SentAt time.Time
}

// Output is what a handler passes to the next stage.
type Output struct {
	// Body is the next stage's message body. Nil forwards the incoming
	// body unchanged, the usual case for a stage that only does work.
	Body []byte
	// Attributes are added to the forwarded message's attributes; the
	// trace id is carried automatically.
	Attributes map[string]string
	// Drop, when set, forwards nothing: the message ends here even if the
	// stage has a next queue.
	Drop bool
}

// Handler does one stage's work on one message. Returning nil acknowledges
// the message (it is deleted, and Output is sent on); an error leaves it to
// be retried with backoff, unless it is permanent (see Permanent). Handlers
// must be safe for concurrent use and must honour ctx: it is cancelled at
// the handler timeout and when a drain runs out of time.
type Handler interface {
	Handle(ctx context.Context, msg Message) (Output, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, msg Message) (Output, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, msg Message) (Output, error) { return f(ctx, msg) }

// ErrPermanent marks a failure that retrying cannot fix: a malformed
// message, an order for an item that does not exist. The runtime sends such
// messages to the DLQ at once instead of waiting for maxReceiveCount.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Middleware wraps a Handler with behaviour of its own.
type Middleware func(Handler) Handler

// Chain wraps h in middleware; the first one given is the outermost.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Registry maps worker names to handlers. It is an ordinary value, not a
// global: a program builds the registry it needs and hands it to the
// runtime.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]Handler)}
}

// Register adds a handler under name. Names are lowercase letters, digits
// and hyphens; registering a name twice is an error.
func (r *Registry) Register(name string, h Handler) error {
	if !validName(name) {
		return fmt.Errorf("invalid worker name %q (use lowercase letters, digits and hyphens, starting with a letter)", name)
	}
	if h == nil {
		return fmt.Errorf("worker %q: nil handler", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[name]; dup {
		return fmt.Errorf("worker %q is already registered", name)
	}
	r.handlers[name] = h
	return nil
}

// Lookup returns the handler registered under name, or an error that lists
// every registered name.
func (r *Registry) Lookup(name string) (Handler, error) {
	r.mu.RLock()
	h, ok := r.handlers[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown worker %q (registered: %s)", name, strings.Join(r.Names(), ", "))
	}
	return h, nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.handlers))
	for n := range r.handlers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
