package policies

import (
	"fmt"
	"math"
	"time"
)

// Plan is a policy made concrete for one stage: the capacity bounds and the
// Application Auto Scaling policies, with their alarms, to create.
type Plan struct {
	Kind Kind
	// Min, Max bound the service's desired count; Desired is the count the
	// service is created with. For Fixed all three are equal.
	Min, Max, Desired int
	// TargetTracking is set for the target-tracking policy.
	TargetTracking *TargetTrackingPolicy
	// StepPolicies are the alarm-driven policies: scale-out and scale-in
	// for Step, and the wake-up policy whenever Min is 0.
	StepPolicies []StepPolicy
	// Workload is the stage's, which metrics such as ExpectedWait use.
	Workload Workload
}

// Scaled reports whether the plan needs an Application Auto Scaling target.
func (p Plan) Scaled() bool { return p.Kind != Fixed }

// TargetTrackingPolicy keeps Metric at TargetValue.
type TargetTrackingPolicy struct {
	Name                              string
	Metric                            Metric
	TargetValue                       float64
	ScaleOutCooldown, ScaleInCooldown time.Duration
	// DisableScaleIn leaves scale-in to the plan's step policies: target
	// tracking then never removes tasks and never vetoes another policy's
	// scale-in.
	DisableScaleIn bool
}

// AdjustmentType is how a step policy changes capacity.
type AdjustmentType string

// Adjustment types, as Application Auto Scaling names them.
const (
	ChangeInCapacity        AdjustmentType = "ChangeInCapacity"
	ExactCapacity           AdjustmentType = "ExactCapacity"
	PercentChangeInCapacity AdjustmentType = "PercentChangeInCapacity"
)

// Comparison is a CloudWatch alarm comparison operator.
type Comparison string

// Comparisons linecook's alarms use.
const (
	GreaterThanOrEqual Comparison = "GreaterThanOrEqualToThreshold"
	LessThanOrEqual    Comparison = "LessThanOrEqualToThreshold"
)

// Breaches reports whether value is on the alarming side of threshold.
func (c Comparison) Breaches(value, threshold float64) bool {
	if c == LessThanOrEqual {
		return value <= threshold
	}
	return value >= threshold
}

// Alarm is a CloudWatch metric alarm: it goes to ALARM when
// DatapointsToAlarm of the last EvaluationPeriods periods breach.
type Alarm struct {
	Metric            Metric
	Statistic         Statistic
	Period            time.Duration
	EvaluationPeriods int
	DatapointsToAlarm int
	Comparison        Comparison
	Threshold         float64
	// MissingData is CloudWatch's TreatMissingData.
	MissingData MissingData
}

// MissingData is how an alarm treats a period without data.
type MissingData string

// NotBreaching is the only treatment linecook's alarms use: a missing
// datapoint never scales anything. Missing data means CloudWatch has not
// heard from SQS or Container Insights (a delay, or a queue idle for six
// hours, long after scale-in), and acting on silence is how a stage gets
// scaled in while busy.
const NotBreaching MissingData = "notBreaching"

// StepAdjustment adds Adjustment when the metric lies within the bounds,
// which are relative to the alarm threshold; nil is unbounded. Above the
// threshold the lower bound is inclusive and the upper exclusive; below it
// the other way round, as in Application Auto Scaling.
type StepAdjustment struct {
	LowerBound, UpperBound *float64
	Adjustment             int
}

// StepPolicy is an alarm and the step adjustments it triggers. While the
// alarm stays in ALARM, AWS invokes the policy again every minute; Cooldown
// decides what those invocations may do.
type StepPolicy struct {
	Name                   string
	Alarm                  Alarm
	AdjustmentType         AdjustmentType
	Steps                  []StepAdjustment
	Cooldown               time.Duration
	MinAdjustmentMagnitude int
}

// stepMultiples are the scale-out steps: at k tasks' worth of backlog
// (k × the scale-out threshold) the step policy adds k tasks, for k = 1, 2,
// 4, … doubling until one step alone reaches max. Each step adds about the
// tasks needed to drain that backlog within the latency objective, so the
// response is proportional at any scale; CDK's fixed +1/+5 took the
// simulator 24 minutes to reach the reference system's 180 tasks.
func stepMultiples(max int) []int {
	ks := []int{1}
	for ks[len(ks)-1] < max {
		ks = append(ks, 2*ks[len(ks)-1])
	}
	return ks
}

// Build turns settings and a stage's workload into a Plan. It fails, naming
// the setting, when either is invalid.
func Build(s Settings, w Workload) (Plan, error) {
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	if err := w.Validate(); err != nil {
		return Plan{}, err
	}
	if s.Policy == Fixed {
		return Plan{Kind: Fixed, Min: s.Desired, Max: s.Desired, Desired: s.Desired, Workload: w}, nil
	}
	p := Plan{Kind: s.Policy, Min: s.Min, Max: s.Max, Desired: clamp(s.Desired, s.Min, s.Max), Workload: w}
	target := s.TargetValue
	if target == 0 {
		target = TargetBacklogPerTask(w)
	}
	switch s.Policy {
	case TargetTracking:
		p.TargetTracking = &TargetTrackingPolicy{
			Name:             "backlog-per-task",
			Metric:           BacklogPerTask,
			TargetValue:      round2(target),
			ScaleOutCooldown: s.ScaleOutCooldown,
			ScaleInCooldown:  s.ScaleInCooldown,
			// Backlog per task is ~0 whenever capacity suffices, so its own
			// scale-in would drop to min under steady traffic and swing back
			// (the simulator showed min↔max cycles): scale in on load.
			DisableScaleIn: true,
		}
		p.StepPolicies = append(p.StepPolicies, scaleIn(s, w))
	case Latency:
		objective := w.Latency.Seconds()
		if s.TargetValue > 0 {
			objective = s.TargetValue
		}
		p.TargetTracking = &TargetTrackingPolicy{
			Name:             "expected-wait",
			Metric:           ExpectedWait,
			TargetValue:      round2(objective),
			ScaleOutCooldown: s.ScaleOutCooldown,
			ScaleInCooldown:  s.ScaleInCooldown,
			// As with backlog per task: the expected wait is ~0 whenever
			// capacity suffices, so scale-in is the load-based step policy.
			DisableScaleIn: true,
		}
		p.StepPolicies = append(p.StepPolicies, scaleIn(s, w))
	case Step:
		out := scaleOut(s, target)
		if s.ScaleOutOn == ScaleOutOnAge {
			out = scaleOutOnAge(s, w)
		}
		p.StepPolicies = append(p.StepPolicies, out, scaleIn(s, w))
	}
	if p.Min == 0 {
		p.StepPolicies = append(p.StepPolicies, wakeUp(s))
	}
	return p, nil
}

// scaleOut alarms when one task's worth of backlog (the target backlog per
// task) is visible, and adds tasks in doubling steps (stepMultiples).
func scaleOut(s Settings, target float64) StepPolicy {
	threshold := math.Max(1, math.Ceil(target))
	ks := stepMultiples(s.Max)
	steps := make([]StepAdjustment, len(ks))
	for i, m := range ks {
		lower := float64(m-1) * threshold
		steps[i] = StepAdjustment{LowerBound: &lower, Adjustment: m}
		if i+1 < len(ks) {
			upper := float64(ks[i+1]-1) * threshold
			steps[i].UpperBound = &upper
		}
	}
	return StepPolicy{
		Name: "scale-out",
		Alarm: Alarm{
			Metric: MessagesVisible, Statistic: Maximum, Period: Period,
			EvaluationPeriods: 1, DatapointsToAlarm: 1,
			Comparison: GreaterThanOrEqual, Threshold: threshold, MissingData: NotBreaching,
		},
		AdjustmentType: ChangeInCapacity,
		Steps:          steps,
		Cooldown:       s.ScaleOutCooldown,
	}
}

// scaleOutOnAge alarms when the oldest message has waited half the latency
// objective, so tasks are on their way before it is breached, and adds
// tasks in doubling steps as the age reaches 2, 4, … times that.
func scaleOutOnAge(s Settings, w Workload) StepPolicy {
	p := scaleOut(s, math.Max(1, math.Ceil(w.Latency.Seconds()/2)))
	p.Alarm.Metric = OldestMessageAge
	return p
}

// scaleIn removes tasks once they have been at most half busy for
// ScaleInAfter: load per task (visible + in flight ÷ tasks) at or under
// half the concurrency. Under an eighth (idle, or nearly) it halves the
// count; otherwise it takes a quarter off, which leaves the remaining tasks
// about two-thirds busy, under the point where the queue starts to grow.
// An empty queue (the minimum) is the idle case. Step and target
// tracking share this policy.
func scaleIn(s Settings, w Workload) StepPolicy {
	periods := int(s.ScaleInAfter / Period)
	c := float64(w.Concurrency)
	idle, zero := -3*c/8, 0.0
	return StepPolicy{
		Name: "scale-in",
		Alarm: Alarm{
			Metric: LoadPerTask, Statistic: Maximum, Period: Period,
			EvaluationPeriods: periods, DatapointsToAlarm: periods,
			Comparison: LessThanOrEqual, Threshold: c / 2, MissingData: NotBreaching,
		},
		AdjustmentType: PercentChangeInCapacity,
		Steps: []StepAdjustment{
			{UpperBound: &idle, Adjustment: -50},
			{LowerBound: &idle, UpperBound: &zero, Adjustment: -25},
		},
		Cooldown:               s.ScaleInCooldown,
		MinAdjustmentMagnitude: 1,
	}
}

// wakeUp adds one task when messages are visible and the service wants
// none: neither target tracking (capacity × metric ÷ target is 0 at zero
// tasks) nor a step threshold above one message would ever start it. It
// adds rather than sets capacity, so stale Container Insights data can only
// ever add a task, never cut a running service down to one.
func wakeUp(s Settings) StepPolicy {
	zero := 0.0
	return StepPolicy{
		Name: "wake-up",
		Alarm: Alarm{
			Metric: WakeUp, Statistic: Maximum, Period: Period,
			EvaluationPeriods: 1, DatapointsToAlarm: 1,
			Comparison: GreaterThanOrEqual, Threshold: 1, MissingData: NotBreaching,
		},
		AdjustmentType: ChangeInCapacity,
		Steps:          []StepAdjustment{{LowerBound: &zero, Adjustment: 1}},
		Cooldown:       s.ScaleOutCooldown,
	}
}

// Adjust applies a step policy's matching adjustment to current capacity
// for a metric value, clamped to [min, max], as Application Auto Scaling
// computes it. ok is false when no step covers the value.
func (sp StepPolicy) Adjust(current int, value float64, min, max int) (next int, ok bool) {
	rel := value - sp.Alarm.Threshold
	below := rel < 0 || (rel == 0 && sp.Alarm.Comparison == LessThanOrEqual)
	for _, st := range sp.Steps {
		if !st.covers(rel, below) {
			continue
		}
		switch sp.AdjustmentType {
		case ExactCapacity:
			next = st.Adjustment
		case PercentChangeInCapacity:
			delta := float64(current) * float64(st.Adjustment) / 100
			// Application Auto Scaling rounds percent changes toward zero
			// and then applies MinAdjustmentMagnitude.
			d := int(delta)
			if d == 0 && delta != 0 {
				d = sign(st.Adjustment)
			}
			if abs(d) < sp.MinAdjustmentMagnitude {
				d = sp.MinAdjustmentMagnitude * sign(st.Adjustment)
			}
			next = current + d
		default:
			next = current + st.Adjustment
		}
		return clamp(next, min, max), true
	}
	return current, false
}

// covers reports whether the step's bounds hold rel, the metric's distance
// from the threshold. For an alarm that breaches below its threshold, the
// upper bound is the inclusive one.
func (st StepAdjustment) covers(rel float64, below bool) bool {
	if below {
		return (st.LowerBound == nil || rel > *st.LowerBound) && (st.UpperBound == nil || rel <= *st.UpperBound)
	}
	return (st.LowerBound == nil || rel >= *st.LowerBound) && (st.UpperBound == nil || rel < *st.UpperBound)
}

// DesiredFor is target tracking's capacity for a metric value: proportional
// (current × value ÷ target), rounded up when adding and down when removing,
// clamped to [min, max]. AWS's SQS example: 10 tasks at 150 per task with
// target 100 gives 15.
func (tt TargetTrackingPolicy) DesiredFor(current int, value float64, min, max int) int {
	want := float64(current) * value / tt.TargetValue
	var next int
	if want >= float64(current) {
		next = int(math.Ceil(want - 1e-9))
	} else {
		next = int(math.Floor(want + 1e-9))
	}
	return clamp(next, min, max)
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	if v < 0 {
		return -1
	}
	return 1
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// String describes the plan in one line, for logs and `linecook plan`.
func (p Plan) String() string {
	switch p.Kind {
	case Fixed:
		if p.Desired == 1 {
			return "fixed at 1 task"
		}
		return fmt.Sprintf("fixed at %d tasks", p.Desired)
	case TargetTracking:
		return fmt.Sprintf("target tracking, %d–%d tasks, backlog per task target %g", p.Min, p.Max, p.TargetTracking.TargetValue)
	case Latency:
		return fmt.Sprintf("latency, %d–%d tasks, expected wait target %gs on measured processing time", p.Min, p.Max, p.TargetTracking.TargetValue)
	default:
		if a := p.StepPolicies[0].Alarm; a.Metric == OldestMessageAge {
			return fmt.Sprintf("step scaling, %d–%d tasks, scale out when the oldest message is %gs old", p.Min, p.Max, a.Threshold)
		}
		return fmt.Sprintf("step scaling, %d–%d tasks, scale out at %g visible", p.Min, p.Max, p.StepPolicies[0].Alarm.Threshold)
	}
}
