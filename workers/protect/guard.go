package protect

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/linecook/linecook/workers/logkey"
)

// retryAfter is how long the Guard waits after a call whose every attempt
// failed before it tries again, whatever the worker signals meanwhile:
// a throttled API gets room, and a busy worker is protected again within
// the half expiry it has left before a held protection lapses.
const retryAfter = 30 * time.Second

// setter is the call a Guard makes: Client.Set.
type setter interface {
	Set(ctx context.Context, enabled bool, expiry time.Duration) (State, error)
}

// Guard holds the task's scale-in protection while its worker is busy. A
// nil *Guard does nothing: New returns nil outside ECS or when protection
// is off.
type Guard struct {
	client       setter
	expiry       time.Duration
	releaseDelay time.Duration
	retryAfter   time.Duration
	log          *slog.Logger

	mu   sync.Mutex
	busy bool
	wake chan struct{}
}

// Option configures a Guard.
type Option func(*Guard)

// WithLogger sets the Guard's logger (default: none).
func WithLogger(l *slog.Logger) Option { return func(g *Guard) { g.log = l } }

// WithHTTPClient sets the HTTP client the Guard calls the agent with.
func WithHTTPClient(hc *http.Client) Option {
	return func(g *Guard) {
		if c, ok := g.client.(*Client); ok {
			c.http = hc
		}
	}
}

// New returns a Guard for cfg, or nil when there is nothing to guard:
// outside ECS (no AgentURI) or with protection turned off.
func New(cfg Config, opts ...Option) *Guard {
	if cfg.AgentURI == "" || !cfg.Enabled {
		return nil
	}
	g := &Guard{
		client:       NewClient(cfg.AgentURI, nil),
		expiry:       cfg.Expiry,
		releaseDelay: cfg.ReleaseDelay,
		retryAfter:   retryAfter,
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		wake:         make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Busy says the worker has work in flight: the Guard protects the task.
// It never blocks.
func (g *Guard) Busy() { g.signal(true) }

// Idle says the worker has nothing in flight: the Guard releases the
// protection once the worker has stayed idle for the release delay. It
// never blocks.
func (g *Guard) Idle() { g.signal(false) }

func (g *Guard) signal(busy bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.busy = busy
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *Guard) isBusy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy
}

// held is what the Guard knows of the task's protection.
type held int

const (
	off     held = iota // released, or never set
	on                  // protected until renewal is due
	unknown             // a call failed: it may or may not have applied
)

// Run makes the calls the signals ask for until ctx ends, and returns
// then without a call: a task whose worker has stopped is being stopped
// itself, and its protection no longer matters. It also returns after a
// permanent failure, which it logs.
func (g *Guard) Run(ctx context.Context) {
	if g == nil {
		return
	}
	g.log.Info("task scale-in protection: on while messages are in flight",
		logkey.ProtectionExpiry, g.expiry.String(), logkey.ReleaseDelay, g.releaseDelay.String())
	var (
		state     = off
		renewAt   time.Time // when a held protection is renewed
		idleSince time.Time // when the worker went idle while protected; zero when busy
		retryAt   time.Time // after a failed call, no other before this
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		busy := g.isBusy()
		now := time.Now()
		var call, want bool
		var wait time.Time // zero: until a signal
		switch {
		case now.Before(retryAt):
			wait = retryAt
		case busy:
			idleSince = time.Time{}
			if state != on || !now.Before(renewAt) {
				call, want = true, true
			} else {
				wait = renewAt
			}
		case state == off:
		case idleSince.IsZero():
			idleSince = now
			wait = now.Add(g.releaseDelay)
		case now.Before(idleSince.Add(g.releaseDelay)):
			wait = idleSince.Add(g.releaseDelay)
		default:
			call, want = true, false
		}
		if call {
			began := time.Now()
			st, err := g.client.Set(ctx, want, g.expiry)
			switch {
			case ctx.Err() != nil:
				return
			case IsPermanent(err):
				g.log.Error("task scale-in protection refused; the worker goes on without it (scale-in may stop this task mid-message)",
					logkey.Protected, want, logkey.Error, err.Error())
				return
			case err != nil:
				state, retryAt = unknown, time.Now().Add(g.retryAfter)
				g.log.Warn("setting task scale-in protection failed; trying again later (messages are processed meanwhile)",
					logkey.Protected, want, logkey.RetryIn, g.retryAfter.String(), logkey.Error, err.Error())
			case want:
				state, renewAt = on, began.Add(g.expiry/2)
				g.log.Debug("task protected from scale-in", logkey.Protected, st.Enabled, logkey.ProtectionExpiry, g.expiry.String())
			default:
				state, idleSince = off, time.Time{}
				g.log.Debug("task scale-in protection released", logkey.Protected, st.Enabled)
			}
			continue
		}
		var tc <-chan time.Time
		if !wait.IsZero() {
			timer.Reset(time.Until(wait))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		case <-tc:
		}
		// Since Go 1.23 a stopped or reset timer delivers no stale tick.
		timer.Stop()
	}
}
