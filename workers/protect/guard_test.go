package protect

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSetter records the Guard's calls on synctest's clock and fails
// those fail says to.
type fakeSetter struct {
	mu    sync.Mutex
	start time.Time
	calls []setCall
	fail  func(n int, enabled bool) error
}

type setCall struct {
	at      time.Duration // since the test began
	enabled bool
	expiry  time.Duration
}

func (f *fakeSetter) Set(_ context.Context, enabled bool, expiry time.Duration) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, setCall{time.Since(f.start), enabled, expiry})
	if f.fail != nil {
		if err := f.fail(n, enabled); err != nil {
			return State{}, err
		}
	}
	return State{Enabled: enabled}, nil
}

func (f *fakeSetter) recorded() []setCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]setCall(nil), f.calls...)
}

// guarded runs a Guard on a fakeSetter inside a synctest bubble: a 10
// minute expiry, a 30 s release delay.
func guarded(t *testing.T, fail func(n int, enabled bool) error, test func(g *Guard, f *fakeSetter, logs *bytes.Buffer)) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSetter{start: time.Now(), fail: fail}
		logs := &bytes.Buffer{}
		g := &Guard{
			client: f, expiry: 10 * time.Minute, releaseDelay: 30 * time.Second, retryAfter: retryAfter,
			log:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			wake: make(chan struct{}, 1),
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Run(ctx)
		}()
		test(g, f, logs)
		cancel()
		<-done
	})
}

// step lets d of the bubble's time pass, and everything settle.
func step(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func wantCalls(t *testing.T, got []setCall, want ...setCall) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestGuardCallsOnTransitionsOnly(t *testing.T) {
	guarded(t, nil, func(g *Guard, f *fakeSetter, _ *bytes.Buffer) {
		step(time.Second)
		wantCalls(t, f.recorded()) // idle from the start: nothing to do

		g.Busy()
		step(time.Second)
		// A stream: idle for less than the release delay between messages,
		// a thousand times.
		for range 1000 {
			g.Idle()
			step(100 * time.Millisecond)
			g.Busy()
			step(20 * time.Second)
		}
		// 1000 × 20.1 s = 5.6 h of busy: renewed every half expiry (5 min).
		calls := f.recorded()
		if len(calls) != 1+int(1000*20100*time.Millisecond/(5*time.Minute)) {
			t.Errorf("%d calls during 5.6 h busy; want one to protect and one renewal every 5 minutes", len(calls))
		}
		for i, c := range calls {
			if !c.enabled || c.expiry != 10*time.Minute {
				t.Errorf("call %d = %+v, want a protection for 10 minutes", i, c)
			}
			if i > 0 && c.at-calls[i-1].at > 5*time.Minute+20*time.Second {
				t.Errorf("renewal %d came %s after the one before, more than half the expiry", i, c.at-calls[i-1].at)
			}
		}
		n := len(calls)

		g.Idle()
		step(29 * time.Second)
		if got := len(f.recorded()); got != n {
			t.Fatalf("released %s after going idle, before the release delay", 29*time.Second)
		}
		step(2 * time.Second)
		calls = f.recorded()
		if len(calls) != n+1 || calls[n].enabled {
			t.Fatalf("calls after 31 s idle: %+v, want one release", calls[n:])
		}
		step(time.Hour)
		if got := len(f.recorded()); got != n+1 {
			t.Errorf("%d calls in an idle hour, want none", got-n-1)
		}
	})
}

func TestGuardRetriesLaterAndNeverBlocks(t *testing.T) {
	transient := &Error{Status: 503, Message: "unavailable"}
	// The first two calls fail after all their attempts.
	guarded(t, func(n int, _ bool) error {
		if n < 2 {
			return transient
		}
		return nil
	}, func(g *Guard, f *fakeSetter, logs *bytes.Buffer) {
		g.Busy()
		step(time.Second)
		g.Idle() // signals keep coming while it waits: they never block
		g.Busy()
		step(retryAfter)
		step(retryAfter)
		calls := f.recorded()
		wantCalls(t, calls,
			setCall{0, true, 10 * time.Minute},
			setCall{retryAfter, true, 10 * time.Minute},
			setCall{2 * retryAfter, true, 10 * time.Minute})
		if !strings.Contains(logs.String(), "retry_in=30s") || !strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("logs:\n%s\nwant a warning with the retry delay", logs)
		}
	})
	// A release whose outcome is unknown is retried too.
	guarded(t, func(n int, enabled bool) error {
		if !enabled && n == 1 {
			return transient
		}
		return nil
	}, func(g *Guard, f *fakeSetter, _ *bytes.Buffer) {
		g.Busy()
		step(time.Second)
		g.Idle()
		step(31 * time.Second)
		step(retryAfter)
		calls := f.recorded()
		if len(calls) != 3 || calls[1].enabled || calls[2].enabled {
			t.Errorf("calls %+v, want protect, a failed release, and the release again", calls)
		}
	})
}

func TestGuardStopsOnAPermanentFailure(t *testing.T) {
	denied := &Error{Status: 403, Code: "AccessDeniedException", Message: "not authorized", Permanent: true}
	guarded(t, func(int, bool) error { return denied }, func(g *Guard, f *fakeSetter, logs *bytes.Buffer) {
		g.Busy()
		step(time.Second)
		for range 100 {
			g.Idle()
			g.Busy()
		}
		step(time.Hour)
		if n := len(f.recorded()); n != 1 {
			t.Errorf("%d calls after a permanent failure, want the one", n)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "AccessDeniedException") {
			t.Errorf("logs:\n%s\nwant the refusal at error level", logs)
		}
	})
}

func TestGuardEndsWithItsContextWithoutACall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSetter{start: time.Now()}
		g := &Guard{client: f, expiry: 10 * time.Minute, releaseDelay: 30 * time.Second, retryAfter: retryAfter,
			log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); g.Run(ctx) }()
		g.Busy()
		step(time.Second)
		g.Idle()
		cancel() // SIGTERM: the task is being stopped
		<-done
		if calls := f.recorded(); len(calls) != 1 {
			t.Errorf("calls %+v, want the protection only", calls)
		}
	})
}

// Against the httptest agent, in real time: the calls a busy spell
// makes, and their bodies.
func TestGuardAgainstTheEndpoint(t *testing.T) {
	a := newAgent(t)
	t.Setenv(EnvAgentURI, a.uri())
	t.Setenv(EnvReleaseDelay, "200ms")
	cfg, err := LoadConfig(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Expiry != 10*time.Minute || cfg.ReleaseDelay != 200*time.Millisecond || !cfg.Enabled {
		t.Fatalf("config %+v", cfg)
	}
	g := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	g.Busy()
	for range 20 { // flapping faster than the release delay
		time.Sleep(10 * time.Millisecond)
		g.Idle()
		time.Sleep(10 * time.Millisecond)
		g.Busy()
	}
	g.Idle()
	deadline := time.Now().Add(5 * time.Second)
	for len(a.recorded()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	calls := a.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want one protection and one release: %+v", len(calls), calls)
	}
	if !equalJSON(calls[0].Body, map[string]any{"ProtectionEnabled": true, "ExpiresInMinutes": 10.0}) ||
		!equalJSON(calls[1].Body, map[string]any{"ProtectionEnabled": false}) {
		t.Errorf("bodies %v, %v", calls[0].Body, calls[1].Body)
	}
	if idle := calls[1].At.Sub(calls[0].At); idle < 600*time.Millisecond {
		t.Errorf("released %s after protecting, before 400 ms of flapping and the 200 ms release delay", idle)
	}
}

func TestNothingOutsideECSOrWhenOff(t *testing.T) {
	a := newAgent(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"no ECS_AGENT_URI", map[string]string{EnvAgentURI: ""}},
		{"turned off by the stack", map[string]string{EnvAgentURI: a.uri(), EnvEnabled: "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := LoadConfig(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			g := New(cfg)
			if g != nil {
				t.Fatalf("New(%+v) = a Guard, want nil", cfg)
			}
			// A nil Guard is safe to signal and to run.
			g.Busy()
			g.Idle()
			g.Run(context.Background())
		})
	}
	if n := len(a.recorded()); n != 0 {
		t.Errorf("%d calls to the endpoint, want none", n)
	}
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{EnvEnabled, "sometimes", "LINECOOK_SCALE_IN_PROTECTION=sometimes: must be true or false"},
		{EnvReleaseDelay, "soon", "LINECOOK_PROTECTION_RELEASE_DELAY=soon: must be a duration"},
		{EnvReleaseDelay, "-1s", "LINECOOK_PROTECTION_RELEASE_DELAY=-1s: must be 0s to 1h"},
		{EnvReleaseDelay, "2h", "LINECOOK_PROTECTION_RELEASE_DELAY=2h0m0s: must be 0s to 1h"},
	} {
		t.Setenv(tc.name, tc.value)
		_, err := LoadConfig(30 * time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: error %v, want %q", tc.name, tc.value, err, tc.want)
		}
		t.Setenv(tc.name, "")
	}
}
