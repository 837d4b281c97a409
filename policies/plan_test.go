package policies

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

var payment = Workload{Concurrency: 200, ProcessingTime: 3 * time.Second, Latency: 30 * time.Second}

func settings(kind Kind, min, max int) Settings {
	return Settings{Policy: kind, Min: min, Max: max, Desired: min,
		ScaleOutCooldown: time.Minute, ScaleInCooldown: 2 * time.Minute, ScaleInAfter: 5 * time.Minute}
}

func TestTargetIsConcurrencyTimesLatencyOverProcessingTime(t *testing.T) {
	if got := TargetBacklogPerTask(payment); got != 2000 {
		t.Errorf("target = %g, want 200 × 30s / 3s = 2000", got)
	}
	one := Workload{Concurrency: 1, ProcessingTime: 3 * time.Second, Latency: 30 * time.Second}
	if got := TargetBacklogPerTask(one); got != 10 {
		t.Errorf("single-message target = %g, want AWS's latency / processing time = 10", got)
	}
}

func TestLittlesLawTaskCount(t *testing.T) {
	// Seed 001: 60 orders/s at 3 s each needs 180 in flight; one message
	// per task means 180 tasks, 200 per task means 1.
	one := Workload{Concurrency: 1, ProcessingTime: 3 * time.Second, Latency: 30 * time.Second}
	if got := TasksFor(60, one); got != 180 {
		t.Errorf("TasksFor(60/s, c=1) = %d, want 180", got)
	}
	if got := TasksFor(60, payment); got != 1 {
		t.Errorf("TasksFor(60/s, c=200) = %d, want 1", got)
	}
}

func TestTargetTrackingMatchesAWSExample(t *testing.T) {
	// AWS's SQS example: 10 tasks, backlog 150 per task, target 100 → 15.
	tt := TargetTrackingPolicy{TargetValue: 100}
	if got := tt.DesiredFor(10, 150, 1, 50); got != 15 {
		t.Errorf("DesiredFor(10, 150) = %d, want 15", got)
	}
	if got := tt.DesiredFor(10, 55, 1, 50); got != 5 {
		t.Errorf("scale-in DesiredFor(10, 55) = %d, want floor(5.5) = 5", got)
	}
	if got := tt.DesiredFor(10, 1000, 1, 50); got != 50 {
		t.Errorf("DesiredFor clamps to max: got %d", got)
	}
}

func TestBuildPerPolicy(t *testing.T) {
	fixed, err := Build(Settings{Policy: Fixed, Desired: 3, Min: 1, Max: 10}, payment)
	if err != nil || fixed.Scaled() || fixed.Min != 3 || fixed.Max != 3 || len(fixed.StepPolicies) != 0 {
		t.Errorf("fixed plan = %+v, %v", fixed, err)
	}

	tt, err := Build(settings(TargetTracking, 1, 10), payment)
	if err != nil || tt.TargetTracking == nil || tt.TargetTracking.TargetValue != 2000 || tt.TargetTracking.Metric != BacklogPerTask {
		t.Fatalf("target-tracking plan = %+v, %v", tt, err)
	}
	if !tt.TargetTracking.DisableScaleIn || len(tt.StepPolicies) != 1 || tt.StepPolicies[0].Name != "scale-in" {
		t.Errorf("target tracking scales in through the load-based step policy only, got %+v", tt.StepPolicies)
	}

	tt0, err := Build(settings(TargetTracking, 0, 10), payment)
	if err != nil || len(tt0.StepPolicies) != 2 || tt0.StepPolicies[1].Name != "wake-up" {
		t.Fatalf("min 0 target tracking must add a wake-up policy: %+v, %v", tt0, err)
	}

	step, err := Build(settings(Step, 0, 20), payment)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range step.StepPolicies {
		names = append(names, sp.Name)
	}
	if len(names) != 3 || names[0] != "scale-out" || names[1] != "scale-in" || names[2] != "wake-up" {
		t.Errorf("step policies = %v, want scale-out, scale-in, wake-up", names)
	}
	if th := step.StepPolicies[0].Alarm.Threshold; th != 2000 {
		t.Errorf("scale-out threshold = %g, want one task's target backlog, 2000", th)
	}
}

func TestStepAdjustments(t *testing.T) {
	plan, err := Build(settings(Step, 1, 20), Workload{Concurrency: 10, ProcessingTime: time.Second, Latency: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out, in := plan.StepPolicies[0], plan.StepPolicies[1]
	// Threshold 100 (10 × 10s / 1s): +1 from 100, +2 from 200, +4 from
	// 400, +8 from 800, +16 from 1600, +32 from 3200 visible: doubling
	// until one step alone reaches max (20).
	if n := len(out.Steps); n != 6 {
		t.Errorf("scale-out has %d steps, want 6 (1 to 32)", n)
	}
	for _, tc := range []struct {
		visible float64
		want    int
	}{{100, 3}, {199, 3}, {200, 4}, {399, 4}, {400, 6}, {799, 6}, {800, 10}, {1600, 18}, {1e6, 20}} {
		if got, ok := out.Adjust(2, tc.visible, 1, 20); !ok || got != tc.want {
			t.Errorf("scale-out at %g visible from 2 tasks = %d (%v), want %d", tc.visible, got, ok, tc.want)
		}
	}
	if got, ok := out.Adjust(19, 1e6, 1, 20); !ok || got != 20 {
		t.Errorf("scale-out clamps to max: %d", got)
	}
	// Idle (load ≤ c/8 = 1.25 per task) halves, rounding toward zero and
	// removing at least one task; half busy or less takes a quarter off.
	for _, tc := range []struct {
		from int
		load float64
		want int
	}{{16, 0, 8}, {3, 1, 2}, {2, 0, 1}, {1, 0, 1}, {16, 5, 12}, {16, 2, 12}, {3, 4, 2}} {
		if got, ok := in.Adjust(tc.from, tc.load, 1, 20); !ok || got != tc.want {
			t.Errorf("scale-in from %d at load %g = %d (%v), want %d", tc.from, tc.load, got, ok, tc.want)
		}
	}
	if _, ok := in.Adjust(16, 5.5, 1, 20); ok {
		t.Error("a load over half the concurrency must match no scale-in step")
	}
	if in.Alarm.EvaluationPeriods != 5 || in.Alarm.Metric != LoadPerTask || in.Alarm.Threshold != 5 {
		t.Errorf("scale-in alarm = %+v, want 5 periods of load per task ≤ 5 (half of 10)", in.Alarm)
	}
}

func TestMetricValuesMatchTheirExpressions(t *testing.T) {
	s := Sample{Visible: 300, InFlight: 50, Running: 3, Desired: 3}
	work := Workload{Concurrency: 10, ProcessingTime: 2 * time.Second, Latency: 30 * time.Second}
	for _, tc := range []struct {
		m    Metric
		s    Sample
		want float64
	}{
		{MessagesVisible, s, 300},
		{QueueBacklog, s, 350},
		{BacklogPerTask, s, 100},
		{BacklogPerTask, Sample{Visible: 300, Running: 2, Desired: 6}, 50}, // starting tasks count
		{BacklogPerTask, Sample{Visible: 7}, 7},                            // zero tasks count as one
		{LoadPerTask, s, 350.0 / 3},
		{WakeUp, Sample{Visible: 1}, 1},
		{WakeUp, Sample{Visible: 1, Desired: 1}, 0},
		{WakeUp, Sample{}, 0},
		// 300 visible × the configured 2 s (nothing measured) ÷ (3 tasks × 10).
		{ExpectedWait, s, 20},
		// Measured: 40 messages took 160 s, 4 s each: the wait doubles.
		{ExpectedWait, Sample{Visible: 300, Running: 3, Processed: 40, ProcessingSeconds: 160}, 40},
		// Zero tasks count as one.
		{ExpectedWait, Sample{Visible: 5, Processed: 1, ProcessingSeconds: 0.5}, 0.25},
	} {
		if got := tc.m.Value(tc.s, work); got != tc.want {
			t.Errorf("%s(%+v) = %g, want %g", tc.m, tc.s, got, tc.want)
		}
		qs := tc.m.Queries(Target{QueueName: "q", ClusterName: "c", ServiceName: "s"})
		returned := 0
		for _, q := range qs {
			if q.ReturnData {
				returned++
			}
		}
		if returned != 1 {
			t.Errorf("%s renders %d returned queries, want exactly 1", tc.m, returned)
		}
	}
}

func TestSettingsValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     Settings
		field string
	}{
		{"unknown policy", Settings{Policy: "stpe", Max: 1}, "policy"},
		{"negative min", Settings{Policy: Step, Min: -1, Max: 1, ScaleInAfter: time.Minute}, "min"},
		{"min over max", Settings{Policy: Step, Min: 3, Max: 2, ScaleInAfter: time.Minute}, "min"},
		{"zero max", Settings{Policy: TargetTracking, Max: 0}, "max"},
		{"short scale-in", Settings{Policy: Step, Max: 2, ScaleInAfter: time.Second}, "scaleInAfter"},
	} {
		err := tc.s.Validate()
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != tc.field {
			t.Errorf("%s: Validate() = %v, want an error on %s", tc.name, err, tc.field)
		}
	}
	if _, err := Build(settings(Step, 1, 2), Workload{Concurrency: 0, ProcessingTime: time.Second, Latency: time.Second}); err == nil {
		t.Error("Build accepted zero concurrency")
	}
}

func TestLatencyPlanTracksExpectedWait(t *testing.T) {
	w := Workload{Concurrency: 10, ProcessingTime: 2 * time.Second, Latency: 45 * time.Second}
	p, err := Build(Settings{Policy: Latency, Min: 0, Max: 10, ScaleOutCooldown: time.Minute, ScaleInCooldown: 2 * time.Minute, ScaleInAfter: 5 * time.Minute}, w)
	if err != nil {
		t.Fatal(err)
	}
	tt := p.TargetTracking
	if tt == nil || tt.Metric != ExpectedWait || tt.TargetValue != 45 || !tt.DisableScaleIn {
		t.Fatalf("target tracking = %+v, want expected wait kept at the 45 s objective, scale-in left to the load policy", tt)
	}
	var names []string
	for _, sp := range p.StepPolicies {
		names = append(names, sp.Name)
	}
	if !slices.Equal(names, []string{"scale-in", "wake-up"}) {
		t.Errorf("step policies = %v, want scale-in and wake-up (min 0)", names)
	}
	if p.Workload != w {
		t.Errorf("plan workload = %+v, want the stage's", p.Workload)
	}

	qs := ExpectedWait.Queries(Target{QueueName: "grill", ClusterName: "kitchen", ServiceName: "grill", Stage: "grill", Workload: w})
	var ptime *MetricStat
	var expr string
	for _, q := range qs {
		if q.ID == "ptime" {
			ptime = q.Stat
		}
		if q.ReturnData {
			expr = q.Expression
		}
	}
	if ptime == nil || ptime.Namespace != "linecook" || ptime.MetricName != "ProcessingTime" || ptime.Stat != Average ||
		!maps.Equal(ptime.Dimensions, map[string]string{"Stage": "grill"}) {
		t.Errorf("processing time query = %+v, want the workers' linecook/ProcessingTime average for Stage grill", ptime)
	}
	if want := "FILL(visible, 0) * FILL(ptime, 2000) / 1000 / (tasks * 10)"; expr != want {
		t.Errorf("expression = %q, want %q", expr, want)
	}
	if strings.Contains(expr, "SEARCH") || len(qs) > 10 {
		t.Errorf("target tracking's metric math takes named metrics only: %d queries, %q", len(qs), expr)
	}
}

func TestStepCanScaleOutOnTheOldestMessagesAge(t *testing.T) {
	w := Workload{Concurrency: 10, ProcessingTime: 2 * time.Second, Latency: 30 * time.Second}
	p, err := Build(Settings{Policy: Step, Min: 1, Max: 20, ScaleOutOn: ScaleOutOnAge, ScaleInAfter: 5 * time.Minute}, w)
	if err != nil {
		t.Fatal(err)
	}
	out := p.StepPolicies[0]
	if out.Name != "scale-out" || out.Alarm.Metric != OldestMessageAge || out.Alarm.Threshold != 15 || out.Alarm.Statistic != Maximum {
		t.Fatalf("scale-out = %+v, want an alarm on the oldest message at half the 30 s objective", out.Alarm)
	}
	// 15 s old: +1; 30 s: +2; 60 s: +4 …
	for _, tc := range []struct {
		age  float64
		want int
	}{{15, 2}, {29, 2}, {30, 3}, {60, 5}} {
		if got, ok := out.Adjust(1, tc.age, 1, 20); !ok || got != tc.want {
			t.Errorf("age %gs from 1 task = %d (%v), want %d", tc.age, got, ok, tc.want)
		}
	}
	qs := OldestMessageAge.Queries(Target{QueueName: "grill"})
	if len(qs) != 1 || qs[0].Stat.MetricName != "ApproximateAgeOfOldestMessage" || qs[0].Stat.Namespace != "AWS/SQS" || qs[0].Stat.Dimensions["QueueName"] != "grill" {
		t.Errorf("queries = %+v, want SQS's ApproximateAgeOfOldestMessage for the queue", qs)
	}
	if got := OldestMessageAge.Value(Sample{OldestAge: 42}, w); got != 42 {
		t.Errorf("value = %g, want 42", got)
	}
	for _, bad := range []Settings{
		{Policy: TargetTracking, Min: 1, Max: 2, ScaleInAfter: time.Minute, ScaleOutOn: ScaleOutOnAge},
		{Policy: Step, Min: 1, Max: 2, ScaleInAfter: time.Minute, ScaleOutOn: "depth"},
	} {
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "scaleOutOn") {
			t.Errorf("%+v: error %v, want one naming scaleOutOn", bad, err)
		}
	}
}
