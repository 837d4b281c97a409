package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linecook/linecook/tools/bench"
)

// TestBenchSmoke runs `linecook bench` with tiny sizes on the real
// emulators and checks that every benchmark ran and reported well-formed
// results. It asserts nothing about speed: CI machines are too noisy, and
// the full run is made by hand (BENCHMARKS.md).
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the emulators and linecookd processes")
	}
	out, err := execute(t, benchCmd(), "--json", "--quiet", "--work-dir", t.TempDir(),
		"--drain-messages", "200", "--drain-concurrency", "20",
		"--stage-concurrency", "20", "--stage-work", "100ms", "--stage-window", "2s",
		"--stage-start-rate", "20", "--stage-max-rate", "20", "--stage-refine", "0",
		"--api-rate", "20", "--api-duration", "1s", "--api-sync-duration", "500ms", "--payment-delay", "100ms",
		"--e2e-orders", "10", "--e2e-rate", "20", "--e2e-time-scale", "50", "--e2e-concurrency", "20")
	if err != nil {
		t.Fatalf("linecook bench: %v\n%s", err, out)
	}
	var r bench.Results
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("output is not the results as JSON: %v\n%s", err, out)
	}

	if r.Machine.CPUs < 1 || r.Machine.Date == "" {
		t.Errorf("machine = %+v, want the CPU count and the date", r.Machine)
	}
	if d := r.Drain; d == nil {
		t.Error("no drain results")
	} else {
		for name, rate := range map[string]bench.DrainRate{"naive": d.Naive, "raw": d.Raw, "runtime": d.Runtime} {
			if rate.MsgsPerSec <= 0 || rate.Seconds <= 0 {
				t.Errorf("drain %s = %+v, want a time and a rate", name, rate)
			}
		}
		if d.Messages != 200 || d.VsNaive <= 0 || len(d.Targets) != 2 {
			t.Errorf("drain = %+v, want 200 messages, ratios and two targets", d)
		}
	}
	if s := r.Stage; s == nil {
		t.Error("no stage results")
	} else if len(s.Steps) != 1 || s.Steps[0].Rate != 20 || s.Steps[0].Sent == 0 || s.Steps[0].PeakRSSMB <= 0 || len(s.Targets) != 2 {
		t.Errorf("stage = %+v, want one step at 20/s with messages sent, a peak RSS and two targets", s)
	}
	if a := r.API; a == nil {
		t.Error("no API results")
	} else {
		for name, l := range map[string]bench.APILoad{"bare": a.Bare, "async": a.Async, "sync": a.Sync} {
			if l.Sent == 0 || l.Accepted == 0 || l.Accept.N != l.Accepted || l.Accept.P50ms <= 0 || l.Accept.P99ms < l.Accept.P50ms {
				t.Errorf("api %s = %+v, want accepted requests with ordered percentiles", name, l)
			}
		}
	}
	if p := r.Pipeline; p == nil {
		t.Error("no e2e results")
	} else if p.Sent != 10 || p.Completed+p.Lost+p.DeadLettered != p.Accepted || p.EndToEnd.N != p.Completed {
		t.Errorf("e2e = %+v, want 10 sent and every accepted order accounted for", p)
	}
}
