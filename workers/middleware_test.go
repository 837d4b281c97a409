package workers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/workers"
)

func TestRecoverTurnsPanicsIntoErrors(t *testing.T) {
	sentinel := workers.Permanent(errors.New("bad order"))
	tests := []struct {
		name      string
		value     any
		permanent bool
	}{
		{"string", "boom", false},
		{"error", errors.New("boom"), false},
		{"permanent error", sentinel, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := workers.Chain(workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
				panic(tt.value)
			}), workers.Recover())
			_, err := h.Handle(context.Background(), workers.Message{})
			var p *workers.PanicError
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want a *PanicError", err)
			}
			if !strings.Contains(string(p.Stack), "middleware_test.go") {
				t.Errorf("stack does not show the panicking handler:\n%s", p.Stack)
			}
			if got := workers.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
		})
	}
}

func TestRecoverPassesResultsThrough(t *testing.T) {
	h := workers.Chain(workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
		return workers.Output{Body: []byte("ok")}, nil
	}), workers.Recover())
	out, err := h.Handle(context.Background(), workers.Message{})
	if err != nil || string(out.Body) != "ok" {
		t.Errorf("Handle = %q, %v; want ok, nil", out.Body, err)
	}
}

func TestTimeoutSetsADeadline(t *testing.T) {
	tests := []struct {
		d            time.Duration
		wantDeadline bool
	}{
		{time.Minute, true},
		{0, false},
		{-time.Second, false},
	}
	for _, tt := range tests {
		var got bool
		h := workers.Chain(workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
			_, got = ctx.Deadline()
			return workers.Output{}, nil
		}), workers.Timeout(tt.d))
		if _, err := h.Handle(context.Background(), workers.Message{}); err != nil {
			t.Fatal(err)
		}
		if got != tt.wantDeadline {
			t.Errorf("Timeout(%v): deadline set = %v, want %v", tt.d, got, tt.wantDeadline)
		}
	}
}

func TestTimeoutCancelsAHandlerThatWaits(t *testing.T) {
	h := workers.Chain(workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		select {
		case <-ctx.Done():
			return workers.Output{}, ctx.Err()
		case <-time.After(time.Minute):
			return workers.Output{}, nil
		}
	}), workers.Timeout(10*time.Millisecond))
	if _, err := h.Handle(context.Background(), workers.Message{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestObserveSeesEveryOutcome(t *testing.T) {
	fail := errors.New("no buns")
	var seen []error
	h := workers.Chain(workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		if m.ID == "bad" {
			return workers.Output{}, fail
		}
		return workers.Output{}, nil
	}), workers.Observe(func(_ context.Context, _ workers.Message, took time.Duration, err error) {
		if took < 0 {
			t.Errorf("took = %v", took)
		}
		seen = append(seen, err)
	}))
	for _, id := range []string{"good", "bad"} {
		_, _ = h.Handle(context.Background(), workers.Message{ID: id})
	}
	if len(seen) != 2 || seen[0] != nil || !errors.Is(seen[1], fail) {
		t.Errorf("observed %v, want [nil %v]", seen, fail)
	}
}

func TestLoggingLogsOutcomesWithMessageFields(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := workers.Chain(workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		if m.ID == "bad" {
			panic("burnt")
		}
		return workers.Output{}, nil
	}), workers.Logging(log), workers.Recover())
	for _, id := range []string{"good", "bad"} {
		_, _ = h.Handle(context.Background(), workers.Message{ID: id, Stage: "grill", TraceID: "t-" + id, ReceiveCount: 2})
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	want := []struct{ level, id, trace string }{{"DEBUG", "good", "t-good"}, {"WARN", "bad", "t-bad"}}
	for i, w := range want {
		l := lines[i]
		if l["level"] != w.level || l["message_id"] != w.id || l["trace_id"] != w.trace || l["stage"] != "grill" || l["receive_count"] != 2.0 {
			t.Errorf("line %d = %v, want level %s, id %s, trace %s, stage grill, receive_count 2", i, l, w.level, w.id, w.trace)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("line %d has no duration_ms in milliseconds: %v", i, l)
		}
	}
	if s, _ := lines[1]["stack"].(string); !strings.Contains(s, "middleware_test.go") {
		t.Errorf("panic log has no stack: %v", lines[1])
	}
}
