package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/linecook/linecook/workers/logkey"
)

// PanicError is the error Recover turns a handler's panic into. The
// runtime treats it like any other failure: the message is retried with
// backoff and, if it keeps panicking, SQS moves it to the DLQ.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// Unwrap exposes a panic value that is itself an error (a panic(err)), so
// errors.Is still sees a wrapped ErrPermanent.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// Recover turns a panic in the handler into a *PanicError, so that one bad
// message cannot take down a process that has hundreds of others in flight.
func Recover() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg Message) (out Output, err error) {
			defer func() {
				if v := recover(); v != nil {
					out, err = Output{}, &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			return next.Handle(ctx, msg)
		})
	}
}

// Timeout gives every message at most d: the handler's ctx gets that
// deadline. A handler that honours ctx then fails with
// context.DeadlineExceeded and the message is retried. d <= 0 adds nothing.
//
// The runtime's visibility heartbeat keeps a slow message invisible however
// long it takes; Timeout is what bounds a handler stuck on a dependency.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return HandlerFunc(func(ctx context.Context, msg Message) (Output, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next.Handle(ctx, msg)
		})
	}
}

// Observe calls fn after every message with how long the handler took and
// what it returned: the hook for metrics of one's own. fn runs on the
// handler's goroutine, so it should be quick.
func Observe(fn func(ctx context.Context, msg Message, took time.Duration, err error)) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, msg Message) (Output, error) {
			start := time.Now()
			out, err := next.Handle(ctx, msg)
			fn(ctx, msg, time.Since(start), err)
			return out, err
		})
	}
}

// Logging logs every message's outcome with its stage, id, trace id,
// receive count and duration_ms (the keys of package logkey): successes at debug level, failures at warn
// (with the stack for a *PanicError). Put it outside Recover to log panics.
func Logging(log *slog.Logger) Middleware {
	return Observe(func(ctx context.Context, msg Message, took time.Duration, err error) {
		level := slog.LevelDebug
		if err != nil {
			level = slog.LevelWarn
		}
		if !log.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String(logkey.Stage, msg.Stage),
			slog.String(logkey.MessageID, msg.ID),
			slog.String(logkey.TraceID, msg.TraceID),
			slog.Int(logkey.ReceiveCount, msg.ReceiveCount),
			// In milliseconds, as the runtime logs it, so one query
			// compares both.
			slog.Float64(logkey.DurationMS, float64(took.Microseconds())/1000),
		}
		if err == nil {
			log.LogAttrs(ctx, level, "message handled", attrs...)
			return
		}
		attrs = append(attrs, slog.String(logkey.Error, err.Error()), slog.Bool(logkey.Permanent, IsPermanent(err)))
		if p := (*PanicError)(nil); errors.As(err, &p) {
			attrs = append(attrs, slog.String(logkey.Stack, string(p.Stack)))
		}
		log.LogAttrs(ctx, level, "message failed", attrs...)
	})
}
