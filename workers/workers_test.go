package workers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/linecook/linecook/workers"
)

var noop = workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) {
	return workers.Output{}, nil
})

func TestRegistryRejectsDuplicatesAndListsNamesOnUnknown(t *testing.T) {
	r := workers.NewRegistry()
	for _, name := range []string{"grill", "fry"} {
		if err := r.Register(name, noop); err != nil {
			t.Fatalf("Register(%q) = %v", name, err)
		}
	}
	if err := r.Register("fry", noop); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate Register = %v, want an already-registered error", err)
	}
	for _, bad := range []string{"", "Fry", "1fry", "fry_2"} {
		if err := r.Register(bad, noop); err == nil {
			t.Errorf("Register(%q) succeeded, want an invalid-name error", bad)
		}
	}
	_, err := r.Lookup("grll")
	if err == nil || !strings.Contains(err.Error(), `unknown worker "grll" (registered: fry, grill)`) {
		t.Errorf("Lookup(grll) = %v, want it to list fry, grill", err)
	}
	if h, err := r.Lookup("grill"); err != nil || h == nil {
		t.Errorf("Lookup(grill) = %v, %v", h, err)
	}
}

func TestPermanentIsDetectableThroughWrapping(t *testing.T) {
	base := errors.New("unknown item")
	err := fmt.Errorf("grill: %w", workers.Permanent(base))
	if !workers.IsPermanent(err) || !errors.Is(err, base) {
		t.Errorf("wrapped permanent error lost its identity: permanent=%v base=%v", workers.IsPermanent(err), errors.Is(err, base))
	}
	if workers.IsPermanent(base) || workers.Permanent(nil) != nil {
		t.Error("plain errors must not be permanent, and Permanent(nil) must be nil")
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	mw := func(name string) workers.Middleware {
		return func(next workers.Handler) workers.Handler {
			return workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
				trace = append(trace, name)
				return next.Handle(ctx, m)
			})
		}
	}
	h := workers.Chain(noop, mw("outer"), mw("inner"))
	if _, err := h.Handle(context.Background(), workers.Message{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trace, ","); got != "outer,inner" {
		t.Errorf("middleware ran %s, want outer,inner", got)
	}
}
