package capacity

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/workers"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestErlangKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"B(1, 1)", ErlangB(1, 1), 0.5},
		{"B(2, 1) = (1/2)/(1+1+1/2)", ErlangB(2, 1), 0.2},
		{"C(1, 0.5) is M/M/1's ρ", ErlangC(1, 0.5), 0.5},
		{"C(2, 1)", ErlangC(2, 1), 1.0 / 3},
		// Textbook call-centre example: 10 agents, 8 Erlangs.
		{"C(10, 8)", ErlangC(10, 8), 0.40918},
		{"overloaded", ErlangC(10, 10), 1},
		{"no load", ErlangC(10, 0), 0},
	} {
		if !near(tc.got, tc.want, 5e-5) {
			t.Errorf("%s = %.6f, want %.6f", tc.name, tc.got, tc.want)
		}
	}
}

func TestErlangStableForThousandsOfServers(t *testing.T) {
	// aⁿ/n! overflows float64 long before n = 5000; the recurrence must not.
	prev := 1.0
	for _, n := range []int{4950, 5000, 5100, 6000} {
		c := ErlangC(n, 4900)
		if math.IsNaN(c) || c < 0 || c > 1 {
			t.Fatalf("ErlangC(%d, 4900) = %g, want a probability", n, c)
		}
		if c > prev {
			t.Errorf("ErlangC(%d, 4900) = %g rose with more servers (previous %g)", n, c, prev)
		}
		prev = c
	}
}

func TestMMMeanWait(t *testing.T) {
	// M/M/1 at ρ = 0.5 with 1 s service: Wq = ρ/(μ−λ) = 1 s.
	q := MM(1, 0.5, time.Second)
	if !near(q.MeanWait.Seconds(), 1, 1e-9) || q.Utilization != 0.5 {
		t.Errorf("M/M/1 = %+v, want mean wait 1s at utilization 0.5", q)
	}
	if got := q.PWaitLonger(time.Second); !near(got, 0.5*math.Exp(-0.5), 1e-12) {
		t.Errorf("P(wait > 1s) = %g, want 0.5·e^−0.5", got)
	}
	if q := MM(3, 1, 3*time.Second); q.MeanWait != time.Duration(math.MaxInt64) || q.PWaitLonger(time.Hour) != 1 {
		t.Errorf("a = n must never settle: %+v", q)
	}
}

func TestRecommendSeed001(t *testing.T) {
	// One order per 3 s per worker, 60 orders/s: 180 in flight.
	r, err := Recommend(Input{Stage: "payment", Rate: 60, ProcessingTime: 3 * time.Second, Latency: 30 * time.Second, Concurrency: 1, Min: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r.InFlight != 180 || r.TasksAtRate != 180 || r.Max != 225 || r.Min != 1 {
		t.Errorf("in flight %g, tasks at rate %d, min %d, max %d; want 180, 180, 1, 225 (180 × 1.25)", r.InFlight, r.TasksAtRate, r.Min, r.Max)
	}
	if r.TargetValue != 10 {
		t.Errorf("target = %g, want AWS's latency ÷ processing time = 10", r.TargetValue)
	}
	// 225 servers at 180 Erlangs (80 %): waiting is rare, and waiting
	// longer than the 30 s objective rarer still.
	if r.AtMax.PWait > 0.01 || r.AtMax.PWaitLonger(30*time.Second) > 1e-6 {
		t.Errorf("Erlang C at max = %+v", r.AtMax)
	}
	if want := 225 * (0.25*0.04048 + 0.5*0.004445) * 730; !near(r.MonthlyAtMax, want, 1e-6) {
		t.Errorf("monthly at max = %.2f, want %.2f", r.MonthlyAtMax, want)
	}
}

func TestRecommendChoosesConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name             string
		in               Input
		wantC, wantMax   int
		wantTarget       float64
		wantWhySubstring string
	}{
		{"I/O-bound, capped", Input{Rate: 60, ProcessingTime: 3 * time.Second}, 200, 2, 2000, "capped at 200"},
		{"I/O-bound, fits one task", Input{Rate: 2, ProcessingTime: 3 * time.Second}, 8, 1, 80, "in one task"},
		{"CPU-bound, 2 vCPU", Input{Rate: 4, ProcessingTime: 2 * time.Second, CPUBound: true, CPU: 2048, Memory: 4096}, 2, 5, 30, "CPU-bound"},
		{"given", Input{Rate: 10, ProcessingTime: time.Second, Concurrency: 4}, 4, 4, 120, "given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Stage, tc.in.Latency, tc.in.Min = "work", 30*time.Second, -1
			r, err := Recommend(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Concurrency != tc.wantC || r.Max != tc.wantMax || r.TargetValue != tc.wantTarget || !strings.Contains(r.ConcurrencyWhy, tc.wantWhySubstring) {
				t.Errorf("concurrency %d (%s), max %d, target %g; want %d (%q), %d, %g",
					r.Concurrency, r.ConcurrencyWhy, r.Max, r.TargetValue, tc.wantC, tc.wantWhySubstring, tc.wantMax, tc.wantTarget)
			}
		})
	}
}

func TestSnippetParsesAsStackConfig(t *testing.T) {
	r, err := Recommend(Input{Stage: "payment", Worker: "payment", Rate: 60, BaseRate: 5, ProcessingTime: 3 * time.Second,
		Latency: 30 * time.Second, Concurrency: 20, CPU: 512, Memory: 1024, Spot: true, Min: -1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := "config:\n  aws:region: us-east-1\n" + r.Snippet
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.plan.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.StackConfig(dir, "plan", pipeline.Options{Workers: map[string]workers.Defaults{"payment": {}}})
	if err != nil {
		t.Fatalf("snippet does not parse: %v\n%s", err, doc)
	}
	if len(cfg.Stages) != 1 {
		t.Fatalf("stages = %+v, want one", cfg.Stages)
	}
	st := cfg.Stages[0]
	if st.Name != "payment" || st.Concurrency != 20 || st.ProcessingTime != 3*time.Second || st.Latency != 30*time.Second ||
		st.CPU != 512 || st.Memory != 1024 || !st.Spot {
		t.Errorf("parsed stage = %+v", st)
	}
	plan := st.Plan()
	if plan.Kind != policies.TargetTracking || plan.Min != r.Min || plan.Max != r.Max || plan.TargetTracking.TargetValue != r.TargetValue {
		t.Errorf("parsed plan = %v (min %d max %d), want min %d max %d target %g", plan, plan.Min, plan.Max, r.Min, r.Max, r.TargetValue)
	}
	// 5/s base × 3 s × 1.25 over 20 per task.
	if r.Min != 1 || r.Max != 12 {
		t.Errorf("min %d max %d, want 1 and ceil(180 × 1.25 / 20) = 12", r.Min, r.Max)
	}
}

func TestRecommendErrorsNameTheField(t *testing.T) {
	ok := Input{Stage: "work", Rate: 10, ProcessingTime: time.Second, Latency: 30 * time.Second, Min: -1}
	for _, tc := range []struct {
		name  string
		edit  func(*Input)
		field string
		want  string
	}{
		{"zero rate", func(in *Input) { in.Rate = 0 }, "rate", "more than 0"},
		{"base over rate", func(in *Input) { in.BaseRate = 20 }, "base-rate", "to the rate (10)"},
		{"no processing time", func(in *Input) { in.ProcessingTime = 0 }, "processing-time", "more than 0"},
		{"headroom under 1", func(in *Input) { in.Headroom = 0.5 }, "headroom", "1 or more"},
		{"bad cpu", func(in *Input) { in.CPU = 300 }, "cpu", "256, 512"},
		{"bad memory for cpu", func(in *Input) { in.Memory = 4096 }, "memory", "512, 1024 or 2048"},
		{"bad stage name", func(in *Input) { in.Stage = "Pay Ment" }, "stage", "lowercase"},
	} {
		in := ok
		tc.edit(&in)
		_, err := Recommend(in)
		var fe *policies.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a %s error mentioning %q", tc.name, err, tc.field, tc.want)
		}
	}
}
