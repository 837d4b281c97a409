package policies

import (
	"math"
	"testing"
	"time"
)

// feed observes sample s once a second over [from, to) and returns the
// desired count after the last sample.
func feed(sc *Scaler, from, to time.Duration, s Sample) int {
	d := sc.Desired()
	for t := from; t < to; t += time.Second {
		d = sc.Observe(t, s)
	}
	return d
}

// activities records every scaling activity of sc.
func activities(sc *Scaler) *[]Activity {
	var acts []Activity
	sc.OnActivity(func(a Activity) { acts = append(acts, a) })
	return &acts
}

func ptr(v float64) *float64 { return &v }

func TestScalerTargetTrackingAWSExample(t *testing.T) {
	// AWS's SQS example: 10 tasks, backlog 150 per task, target 100 → 15,
	// after three one-minute datapoints above target.
	plan := Plan{Kind: TargetTracking, Min: 1, Max: 50, Desired: 10,
		TargetTracking: &TargetTrackingPolicy{Name: "tt", Metric: BacklogPerTask, TargetValue: 100}}
	sc := NewScaler(plan, 10)
	acts := activities(sc)
	s := Sample{Visible: 1500, Running: 10}
	if got := feed(sc, 0, 3*time.Minute, s); got != 10 {
		t.Fatalf("desired after 2 closed periods = %d, want 10 (3 of 3 needed)", got)
	}
	if got := sc.Observe(3*time.Minute, s); got != 15 {
		t.Fatalf("desired at 3 min = %d, want 15", got)
	}
	if len(*acts) != 1 || (*acts)[0].At != 3*time.Minute || (*acts)[0].Value != 150 || (*acts)[0].From != 10 {
		t.Errorf("activities = %+v, want one 10→15 at 3m on value 150", *acts)
	}
}

func TestScalerTargetTrackingRules(t *testing.T) {
	tt := func(outCD, inCD time.Duration) Plan {
		return Plan{Kind: TargetTracking, Min: 1, Max: 50, Desired: 10,
			TargetTracking: &TargetTrackingPolicy{Name: "tt", Metric: BacklogPerTask, TargetValue: 100,
				ScaleOutCooldown: outCD, ScaleInCooldown: inCD}}
	}
	type phase struct {
		until time.Duration
		s     Sample
	}
	for _, tc := range []struct {
		name   string
		plan   Plan
		phases []phase
		want   int
	}{
		{"two high minutes then one at target: no scale-out", tt(0, 0), []phase{
			{2 * time.Minute, Sample{Visible: 1500, Running: 10}},
			{4 * time.Minute, Sample{Visible: 1000, Running: 10}},
		}, 10},
		{"within 10% below target: never scales in", tt(0, 0), []phase{
			{40 * time.Minute, Sample{Visible: 950, Running: 10}},
		}, 10},
		{"14 low minutes: not yet", tt(0, 0), []phase{
			{14*time.Minute + 59*time.Second, Sample{Visible: 500, Running: 10}},
		}, 10},
		// 15 of 15 below 90 %: 10 × 85 / 100 = 8.5, floor 8 would put
		// 106 per task over the target, so 9.
		{"15 low minutes: scale in without crossing target", tt(0, 0), []phase{
			{15*time.Minute + time.Second, Sample{Visible: 850, Running: 10}},
		}, 9},
		{"empty queue scales to min", tt(0, 0), []phase{
			{15*time.Minute + time.Second, Sample{Visible: 0, Running: 10}},
		}, 1},
		// Scale-out cooldown: after 10→15 at 3 min, the metric (per
		// running task, still 10) stays 150: computed from the base of 10
		// it asks 15 again, no more.
		{"scale-out cooldown counts added capacity", tt(5*time.Minute, 0), []phase{
			{6*time.Minute + time.Second, Sample{Visible: 1500, Running: 10}},
		}, 15},
		// Without a cooldown, tasks still starting (running stays 10) do
		// not compound: the metric divides by the desired 15, 1500 / 15 =
		// 100 is on target, so 15 it stays. Dividing by running tasks alone
		// would give 15 at 3m, 23 at 4m, 35 at 5m, 50 at 6m.
		{"no cooldown: tasks still starting do not compound", tt(0, 0), []phase{
			{6*time.Minute + time.Second, Sample{Visible: 1500, Running: 10}},
		}, 15},
		// A larger need during the cooldown adds the difference.
		{"scale-out during cooldown adds the difference", tt(5*time.Minute, 0), []phase{
			{3*time.Minute + time.Second, Sample{Visible: 1500, Running: 10}},
			{6*time.Minute + time.Second, Sample{Visible: 2500, Running: 10}},
		}, 25},
		{"missing data never scales in", tt(0, 0), []phase{
			{30 * time.Minute, Sample{Visible: math.NaN(), Running: 10}},
		}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := NewScaler(tc.plan, tc.plan.Desired)
			from := time.Duration(0)
			got := 0
			for _, p := range tc.phases {
				got = feed(sc, from, p.until, p.s)
				from = p.until
			}
			if got != tc.want {
				t.Errorf("desired = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScalerTargetTrackingScaleInCooldown(t *testing.T) {
	plan := Plan{Kind: TargetTracking, Min: 1, Max: 50, Desired: 10,
		TargetTracking: &TargetTrackingPolicy{Name: "tt", Metric: BacklogPerTask, TargetValue: 100, ScaleInCooldown: 5 * time.Minute}}
	sc := NewScaler(plan, 10)
	acts := activities(sc)
	// 50 per task for 30 minutes: the low alarm holds throughout, so scale-in
	// may repeat, but only once per cooldown: 15m, 20m, 25m, 30m.
	feed(sc, 0, 30*time.Minute+time.Second, Sample{Visible: 500, Running: 10})
	var at []time.Duration
	for _, a := range *acts {
		at = append(at, a.At)
	}
	want := []time.Duration{15 * time.Minute, 20 * time.Minute, 25 * time.Minute, 30 * time.Minute}
	if len(at) != len(want) {
		t.Fatalf("scale-ins at %v, want %v", at, want)
	}
	for i := range want {
		if at[i] != want[i] {
			t.Errorf("scale-in %d at %s, want %s", i, at[i], want[i])
		}
	}
}

// stepPlan is a hand-made step plan: out +2 at ≥10 visible, +4 at ≥20;
// in −1 when the backlog is empty; 1 of 1 datapoints each.
func stepPlan(outCD, inCD time.Duration) Plan {
	return Plan{Kind: Step, Min: 1, Max: 50, Desired: 10, StepPolicies: []StepPolicy{
		{Name: "out", AdjustmentType: ChangeInCapacity, Cooldown: outCD,
			Alarm: Alarm{Metric: MessagesVisible, Statistic: Maximum, Period: Period, EvaluationPeriods: 1, DatapointsToAlarm: 1,
				Comparison: GreaterThanOrEqual, Threshold: 10},
			Steps: []StepAdjustment{{LowerBound: ptr(0), UpperBound: ptr(10), Adjustment: 2}, {LowerBound: ptr(10), Adjustment: 4}}},
		{Name: "in", AdjustmentType: ChangeInCapacity, Cooldown: inCD,
			Alarm: Alarm{Metric: QueueBacklog, Statistic: Maximum, Period: Period, EvaluationPeriods: 1, DatapointsToAlarm: 1,
				Comparison: LessThanOrEqual, Threshold: 0},
			Steps: []StepAdjustment{{UpperBound: ptr(0), Adjustment: -1}}},
	}}
}

func TestScalerStepCooldowns(t *testing.T) {
	busy := func(v float64) Sample { return Sample{Visible: v, InFlight: 5, Running: 10} }
	idle := Sample{Running: 10}
	type minute struct {
		s    Sample
		want int // desired after the boundary that ends this minute
	}
	for _, tc := range []struct {
		name    string
		plan    Plan
		minutes []minute
	}{
		{"scale-out re-fires each minute without cooldown", stepPlan(0, 0), []minute{
			{busy(15), 12}, {busy(15), 14}, {busy(25), 18},
		}},
		// Within the 5-minute cooldown the step is computed from the
		// capacity before it: the same step adds nothing, a larger one
		// the difference (10+4 = 14, so +2).
		{"scale-out cooldown counts added capacity", stepPlan(5*time.Minute, 0), []minute{
			{busy(15), 12}, {busy(15), 12}, {busy(25), 14}, {busy(15), 14},
		}},
		{"scale-in blocked during its cooldown", stepPlan(0, 3*time.Minute), []minute{
			{idle, 9}, {idle, 9}, {idle, 9}, {idle, 8},
		}},
		// A scale-out during the scale-in cooldown happens at once and
		// ends the cooldown, so the next empty minute scales in again.
		{"scale-out overrides scale-in cooldown", stepPlan(0, 10*time.Minute), []minute{
			{idle, 9}, {busy(15), 11}, {idle, 10},
		}},
		{"below the out threshold and not empty: nothing", stepPlan(0, 0), []minute{
			{busy(9), 10}, {busy(9), 10},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := NewScaler(tc.plan, 10)
			for i, m := range tc.minutes {
				start := time.Duration(i) * time.Minute
				feed(sc, start, start+time.Minute, m.s)
				if got := sc.Advance(start + time.Minute); got != m.want {
					t.Fatalf("after minute %d: desired = %d, want %d", i+1, got, m.want)
				}
			}
		})
	}
}

func TestScalerStepBuiltPlanHalvesAfterScaleInAfter(t *testing.T) {
	plan, err := Build(settings(Step, 1, 20), Workload{Concurrency: 10, ProcessingTime: time.Second, Latency: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sc := NewScaler(plan, 8)
	acts := activities(sc)
	// Empty for 10 minutes: ScaleInAfter 5m means the first boundary with
	// 5 of 5 empty datapoints is 5m; the 2-minute scale-in cooldown then
	// spaces the halvings: 8→4 at 5m, 4→2 at 7m, 2→1 at 9m.
	feed(sc, 0, 10*time.Minute+time.Second, Sample{Running: 8})
	want := []Activity{{At: 5 * time.Minute, From: 8, To: 4}, {At: 7 * time.Minute, From: 4, To: 2}, {At: 9 * time.Minute, From: 2, To: 1}}
	if len(*acts) != len(want) {
		t.Fatalf("activities = %+v, want %+v", *acts, want)
	}
	for i, w := range want {
		if a := (*acts)[i]; a.At != w.At || a.From != w.From || a.To != w.To || a.Policy != "scale-in" {
			t.Errorf("activity %d = %+v, want %+v", i, a, w)
		}
	}
	// Threshold 100 visible: 450 is in the +4 step (400–800).
	sc = NewScaler(plan, 2)
	if got := feed(sc, 0, time.Minute+time.Second, Sample{Visible: 450, Running: 2}); got != 6 {
		t.Errorf("scale-out at 450 visible from 2 = %d, want 6", got)
	}
}

func TestScalerMissingDataNeverScalesIn(t *testing.T) {
	plan, err := Build(settings(Step, 1, 20), Workload{Concurrency: 10, ProcessingTime: time.Second, Latency: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func(sc *Scaler)
	}{
		{"a silent minute in every five", func(sc *Scaler) {
			for m := range 30 {
				start := time.Duration(m) * time.Minute
				if m%5 == 4 {
					sc.Advance(start)
					continue
				}
				feed(sc, start, start+time.Minute, Sample{Running: 8})
			}
			sc.Advance(30 * time.Minute)
		}},
		{"NaN visible", func(sc *Scaler) {
			feed(sc, 0, 30*time.Minute, Sample{Visible: math.NaN(), Running: 8})
		}},
		{"long gap", func(sc *Scaler) {
			sc.Observe(0, Sample{Running: 8})
			sc.Observe(24*time.Hour, Sample{Running: 8})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := NewScaler(plan, 8)
			tc.run(sc)
			if got := sc.Desired(); got != 8 {
				t.Errorf("desired = %d, want 8 (no scale-in on missing data)", got)
			}
		})
	}
}

func TestScalerSeveralPolicies(t *testing.T) {
	// Target tracking plus a step scale-in on "visible ≤ 1000": scale in
	// only when target tracking agrees.
	plan := Plan{Kind: TargetTracking, Min: 1, Max: 50, Desired: 10,
		TargetTracking: &TargetTrackingPolicy{Name: "tt", Metric: BacklogPerTask, TargetValue: 100},
		StepPolicies: []StepPolicy{{Name: "in", AdjustmentType: ChangeInCapacity,
			Alarm: Alarm{Metric: MessagesVisible, Statistic: Maximum, Period: Period, EvaluationPeriods: 1, DatapointsToAlarm: 1,
				Comparison: LessThanOrEqual, Threshold: 1000},
			Steps: []StepAdjustment{{UpperBound: ptr(0), Adjustment: -1}}}}}
	sc := NewScaler(plan, 10)
	if got := feed(sc, 0, 20*time.Minute, Sample{Visible: 950, Running: 10}); got != 10 {
		t.Errorf("step says in, target tracking holds at 95/task: desired = %d, want 10", got)
	}
	// Both agree at 50 per task from 20m on: target tracking's low alarm
	// needs 15 datapoints (35m); the step one fires at once but is
	// vetoed until then. At 35m both propose and the smaller cut wins:
	// step's 9 over target tracking's 5.
	got := feed(sc, 20*time.Minute, 35*time.Minute+time.Second, Sample{Visible: 500, Running: 10})
	if got != 9 {
		t.Errorf("both say in: desired = %d, want the smaller cut, 9", got)
	}
}

func TestScalerWakeUpFromZero(t *testing.T) {
	w := Workload{Concurrency: 10, ProcessingTime: time.Second, Latency: 10 * time.Second}
	plan, err := Build(settings(TargetTracking, 0, 10), w)
	if err != nil {
		t.Fatal(err)
	}
	sc := NewScaler(plan, 0)
	if got := feed(sc, 0, time.Minute+time.Second, Sample{Visible: 3}); got != 1 {
		t.Errorf("min-0 target tracking with 3 visible: desired = %d, want 1 (wake-up)", got)
	}
	// Without the wake-up policy target tracking alone cannot leave zero.
	alone := plan
	alone.StepPolicies = nil
	sc = NewScaler(alone, 0)
	if got := feed(sc, 0, 10*time.Minute, Sample{Visible: 5000}); got != 0 {
		t.Errorf("target tracking alone at zero: desired = %d, want 0", got)
	}
	// And back down to zero once idle: 15 low minutes, target tracking
	// scales to min.
	sc = NewScaler(plan, 1)
	if got := feed(sc, 0, 16*time.Minute, Sample{Running: 1}); got != 0 {
		t.Errorf("idle min-0 stage: desired = %d, want 0", got)
	}
}

func TestScalerStatistics(t *testing.T) {
	// One spike second in a quiet minute: a Maximum alarm sees it, an
	// Average one does not.
	mk := func(st Statistic) Plan {
		return Plan{Kind: Step, Min: 1, Max: 10, Desired: 1, StepPolicies: []StepPolicy{{Name: "exact", AdjustmentType: ExactCapacity,
			Alarm: Alarm{Metric: MessagesVisible, Statistic: st, Period: Period, EvaluationPeriods: 1, DatapointsToAlarm: 1,
				Comparison: GreaterThanOrEqual, Threshold: 50},
			Steps: []StepAdjustment{{LowerBound: ptr(0), Adjustment: 7}}}}}
	}
	for _, tc := range []struct {
		stat Statistic
		want int
	}{{Maximum, 7}, {Average, 1}, {Sum, 7}, {Minimum, 1}} {
		sc := NewScaler(mk(tc.stat), 1)
		feed(sc, 0, 59*time.Second, Sample{Visible: 1, Running: 1})
		sc.Observe(59*time.Second, Sample{Visible: 100, Running: 1})
		if got := sc.Advance(time.Minute); got != tc.want {
			t.Errorf("%s: desired = %d, want %d", tc.stat, got, tc.want)
		}
	}
}

func TestScalerFixedNeverMoves(t *testing.T) {
	sc := NewScaler(Plan{Kind: Fixed, Min: 4, Max: 4, Desired: 4}, 1)
	if got := feed(sc, 0, time.Hour, Sample{Visible: 1e6}); got != 4 {
		t.Errorf("fixed desired = %d, want 4", got)
	}
}

func BenchmarkScalerObserve(b *testing.B) {
	plan, err := Build(settings(Step, 0, 20), Workload{Concurrency: 10, ProcessingTime: time.Second, Latency: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	sc := NewScaler(plan, 1)
	s := Sample{Visible: 50, InFlight: 10, Running: 2}
	for i := 0; b.Loop(); i++ {
		s.Visible = float64(i % 500)
		sc.Observe(time.Duration(i)*time.Second, s)
	}
}
