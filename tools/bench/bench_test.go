package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"flat", []float64{1, 2, 3, 4}, []float64{5, 5, 5, 5}, 0},
		{"growing 10/s", []float64{15, 16, 17, 18}, []float64{0, 10, 20, 30}, 10},
		{"noisy but flat", []float64{1, 2, 3, 4}, []float64{0, 3, 0, 3}, 0.6},
		{"draining", []float64{0, 2}, []float64{100, 0}, -50},
		{"one point", []float64{1}, []float64{9}, 0},
		{"no spread", []float64{2, 2}, []float64{1, 9}, 0},
	} {
		if got := slope(tc.xs, tc.ys); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: slope = %g, want %g", tc.name, got, tc.want)
		}
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		step    StageStep
		want    bool
		because string
	}{
		{"keeps up", StageStep{Rate: 200, ProcessedPerSec: 199, BacklogSlope: 0.5, BacklogMean: 3}, true, ""},
		{"backlog grows", StageStep{Rate: 200, ProcessedPerSec: 199, BacklogSlope: 2.5, BacklogMean: 30}, false, "backlog grows 2.5/s (limit 2.0/s)"},
		{"a second behind", StageStep{Rate: 200, ProcessedPerSec: 199, BacklogMean: 200}, false, "mean backlog 200"},
		{"failures", StageStep{Rate: 100, ProcessedPerSec: 100, Failed: 3}, false, "3 messages failed"},
		{"completes too few", StageStep{Rate: 100, ProcessedPerSec: 90}, false, "completed 90.0/s"},
	} {
		tc.step.judge()
		if tc.step.Sustained != tc.want || !strings.Contains(tc.step.Why, tc.because) {
			t.Errorf("%s: sustained %v (%q), want %v with %q", tc.name, tc.step.Sustained, tc.step.Why, tc.want, tc.because)
		}
	}
}

func TestParseEMF(t *testing.T) {
	line := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"linecook","Dimensions":[["Stage"]],"Metrics":[{"Name":"ProcessingTime","Unit":"Milliseconds"},{"Name":"Succeeded","Unit":"Count"},{"Name":"Failed","Unit":"Count"}]}]},"Stage":"payment","ProcessingTime":[3001.5,2999],"Succeeded":2,"Failed":1}`
	c, ok := parseEMF([]byte(line))
	if !ok || c.Succeeded != 2 || c.Failed != 1 || len(c.ProcessingMs) != 2 || c.ProcessingMs[0] != 3001.5 {
		t.Errorf("parseEMF = %+v, %v; want 2 succeeded, 1 failed, 2 times", c, ok)
	}
	// A continuation line carries times only.
	c, ok = parseEMF([]byte(`{"_aws":{"Timestamp":1},"Stage":"payment","ProcessingTime":[1]}`))
	if !ok || c.Succeeded != 0 || len(c.ProcessingMs) != 1 {
		t.Errorf("continuation: parseEMF = %+v, %v", c, ok)
	}
	for _, l := range []string{`{"level":"INFO","msg":"worker starting"}`, `not json`, ``} {
		if _, ok := parseEMF([]byte(l)); ok {
			t.Errorf("parseEMF(%q) ok, want not a metric line", l)
		}
	}
}

func TestVMField(t *testing.T) {
	status := "Name:\tlinecookd\nVmPeak:\t 1300000 kB\nVmHWM:\t   39062 kB\nVmRSS:\t   30000 kB\n"
	got, err := vmField(status, "VmHWM")
	if err != nil || math.Abs(got-40.0) > 0.01 {
		t.Errorf("VmHWM = %g MB, %v; want 40.0 MB (39062 KiB)", got, err)
	}
	if _, err := vmField(status, "VmSwap"); err == nil {
		t.Error("missing field: no error")
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Only = []string{"drain", "stages"} }, `benchmark "stages": unknown (valid: drain, stage, api, e2e)`},
		{func(o *Options) { o.Drain.Messages = 0 }, "--drain-messages 0"},
		{func(o *Options) { o.Stage.Window = 3 * time.Second }, "--stage-window 3s"},
		{func(o *Options) { o.Stage.MaxRate = 10 }, "--stage-max-rate 10"},
		{func(o *Options) { o.API.Rate = -1 }, "--api-rate -1"},
		{func(o *Options) { o.Pipeline.TimeScale = 0.5 }, "--e2e-time-scale 0.5"},
	} {
		o := Defaults()
		tc.change(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error with %q", err, tc.want)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults().Validate() = %v", err)
	}
	// A setting of a benchmark not run is not checked.
	o := Defaults()
	o.Only, o.Drain.Messages = []string{API}, 0
	if err := o.Validate(); err != nil {
		t.Errorf("--only api with a bad drain setting: %v", err)
	}
}

func TestPrintSaysWhichTargetsAreMissed(t *testing.T) {
	r := &Results{
		Drain: &DrainResult{Messages: 100, Targets: []Target{
			{Name: "runtime vs naive loop", Want: "≥ 10×", Got: "12.0×", Met: true},
			{Name: "runtime vs raw batched client", Want: "≥ 70 %", Got: "50 %", Met: false},
		}},
		Stage: &StageResult{Steps: []StageStep{{Rate: 200, Why: "backlog grows 9.0/s (limit 2.0/s)"}}, LimitReached: true},
	}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{
		"runtime vs raw batched client ≥ 70 %: 50 %, NOT MET",
		"runtime vs naive loop ≥ 10×: 12.0×, met",
		"NO: backlog grows 9.0/s",
		"targets: 1 of 2 met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCompletionRateIgnoresTheTails(t *testing.T) {
	t0 := time.Unix(0, 0)
	var done []time.Time
	// 100 completions 20 ms apart (50/s), plus slow stragglers at the end.
	for i := range 100 {
		done = append(done, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	for i := range 3 {
		done = append(done, t0.Add(10*time.Second+time.Duration(i)*time.Second))
	}
	if got := completionRate(done); math.Abs(got-50) > 0.5 {
		t.Errorf("completionRate = %.2f/s, want 50/s", got)
	}
	if got := completionRate(done[:2]); math.Abs(got-50) > 0.01 {
		t.Errorf("two completions: %.2f/s, want 50/s", got)
	}
	if got := completionRate(done[:1]); got != 0 {
		t.Errorf("one completion: %.2f/s, want 0", got)
	}
}

func TestMedians(t *testing.T) {
	if got := median([]float64{3, 1, 2}, func(x float64) float64 { return x }); got != 2 {
		t.Errorf("median of 3 = %g, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}, func(x float64) float64 { return x }); got != 2.5 {
		t.Errorf("median of 4 = %g, want 2.5", got)
	}
	run := func(naive, runtime float64, best float64) *Results {
		return &Results{
			Drain: &DrainResult{Messages: 100, RawGoroutines: 8, Concurrency: 200,
				Naive: DrainRate{MsgsPerSec: naive}, Raw: DrainRate{MsgsPerSec: runtime}, Runtime: DrainRate{MsgsPerSec: runtime},
				VsNaive: runtime / naive, VsRaw: 1},
			Stage: &StageResult{WorkMs: 3000, Concurrency: 1000, CeilingPerSec: 333, WindowSec: 30, MaxSustained: best, PeakRSSMB: 50,
				Steps: []StageStep{{Rate: 100, Sustained: true, ProcessedPerSec: 100}, {Rate: best + 50, Sustained: false}}},
		}
	}
	var b bytes.Buffer
	PrintMedians(&b, []*Results{run(1000, 12000, 300), run(800, 12000, 325), run(900, 9000, 325)})
	out := b.String()
	for _, want := range []string{
		"3 runs",
		"| naive loop: receive 1, handle, delete 1 | 900 (800–1000) | 12.0× (10.0×–15.0×) |",
		"median **325 orders/s** (runs: 300, 325, 325)",
		"| 100 | 3 of 3 | 100.0 |",
		"| 375 | 0 of 2 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("medians lack %q:\n%s", want, out)
		}
	}
}
