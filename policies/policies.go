// Package policies defines how a linecook stage scales: fixed, step or
// target tracking, each turned into a Plan that describes the AWS Application
// Auto Scaling policies and CloudWatch alarms to create, as plain data.
//
// The package has no Pulumi or AWS SDK imports on purpose. The stack renders
// a Plan into resources (components/stage), while `linecook local` and
// `linecook simulate` evaluate the very same Plan against queue depths they
// read or model, so what is simulated is what is deployed.
package policies

import (
	"fmt"
	"math"
	"time"
)

// Kind names a scaling policy, as written in `linecook:scaling.policy`.
type Kind string

// The policies linecook knows.
const (
	// Fixed runs a constant number of tasks; no queue-driven scaling.
	Fixed Kind = "fixed"
	// Step adds tasks in steps as ApproximateNumberOfMessagesVisible crosses
	// multiples of what one task drains within the latency objective, and
	// removes them once the queue is empty (visible and in flight).
	Step Kind = "step"
	// TargetTracking keeps backlog per task (visible ÷ running tasks,
	// computed by CloudWatch metric math) at a target derived from the
	// stage's concurrency, processing time and latency objective.
	TargetTracking Kind = "target-tracking"
	// Latency is target tracking on the expected wait of a new message
	// (ExpectedWait: visible × the workers' measured processing time ÷
	// task slots), kept at the stage's latency objective. Unlike
	// TargetTracking, whose backlog target is computed once from the
	// configured processing time, it follows the work as it gets slower
	// or faster, with no Lambda recomputing a target.
	Latency Kind = "latency"
)

// Kinds lists every policy, in the order error messages print them.
var Kinds = []Kind{Fixed, Step, TargetTracking, Latency}

// ParseKind returns the Kind named s, or an error listing the valid names.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%q is not a scaling policy (valid: %s)", s, kindList())
}

func kindList() string {
	s := ""
	for i, k := range Kinds {
		if i > 0 {
			s += ", "
		}
		s += string(k)
	}
	return s
}

// Settings chooses and tunes a policy for one stage: `linecook:scaling`
// merged with the stage's own `scaling` override, defaults applied.
type Settings struct {
	Policy Kind
	// Min and Max bound the task count for step and target tracking.
	// Min may be 0: a wake-up policy then starts the first task.
	Min, Max int
	// Desired is the task count of a fixed policy, and the count a scaled
	// service starts with (clamped to [Min, Max]).
	Desired int
	// ScaleOutCooldown and ScaleInCooldown gate repeated scaling activity,
	// with Application Auto Scaling's semantics.
	ScaleOutCooldown, ScaleInCooldown time.Duration
	// TargetValue overrides the derived backlog-per-task target when > 0.
	TargetValue float64
	// ScaleInAfter is how long tasks must stay at most half busy before
	// some are removed (step and target tracking); it becomes the scale-in
	// alarm's datapoints.
	ScaleInAfter time.Duration
	// ScaleOutOn is what step scaling's scale-out alarm reads: the
	// backlog (ScaleOutOnMessages, the default when empty) or the age of
	// the oldest message (ScaleOutOnAge), for work whose size varies so
	// much that a count says little but a wait says it all.
	ScaleOutOn string
}

// What step scaling can scale out on (Settings.ScaleOutOn).
const (
	ScaleOutOnMessages = "messages"
	ScaleOutOnAge      = "age"
)

// Workload is what a stage tells its policy about the work it does.
type Workload struct {
	// Concurrency is how many messages one task works on at once.
	Concurrency int
	// ProcessingTime is the mean time one message takes.
	ProcessingTime time.Duration
	// Latency is the acceptable time a message may wait in the queue.
	Latency time.Duration
}

// Validate reports the first impossible setting. Field names in messages are
// the config keys under `linecook:scaling`.
func (s Settings) Validate() error {
	if _, err := ParseKind(string(s.Policy)); err != nil {
		return &FieldError{Field: "policy", Value: string(s.Policy), Err: err}
	}
	switch {
	case s.Min < 0:
		return &FieldError{Field: "min", Value: fmt.Sprint(s.Min), Err: fmt.Errorf("must be 0 or more")}
	case s.Max < 1:
		return &FieldError{Field: "max", Value: fmt.Sprint(s.Max), Err: fmt.Errorf("must be 1 or more")}
	case s.Min > s.Max:
		return &FieldError{Field: "min", Value: fmt.Sprint(s.Min), Err: fmt.Errorf("must not exceed max (%d)", s.Max)}
	case s.Desired < 0:
		return &FieldError{Field: "desired", Value: fmt.Sprint(s.Desired), Err: fmt.Errorf("must be 0 or more")}
	case s.Policy != Fixed && s.Desired > s.Max:
		return &FieldError{Field: "desired", Value: fmt.Sprint(s.Desired), Err: fmt.Errorf("must not exceed max (%d)", s.Max)}
	case s.ScaleOutCooldown < 0:
		return &FieldError{Field: "scaleOutCooldown", Value: s.ScaleOutCooldown.String(), Err: fmt.Errorf("must not be negative")}
	case s.ScaleInCooldown < 0:
		return &FieldError{Field: "scaleInCooldown", Value: s.ScaleInCooldown.String(), Err: fmt.Errorf("must not be negative")}
	case s.ScaleOutOn != "" && s.ScaleOutOn != ScaleOutOnMessages && s.ScaleOutOn != ScaleOutOnAge:
		return &FieldError{Field: "scaleOutOn", Value: s.ScaleOutOn, Err: fmt.Errorf("not a scale-out signal (valid: %s, %s)", ScaleOutOnMessages, ScaleOutOnAge)}
	case s.ScaleOutOn == ScaleOutOnAge && s.Policy != Step:
		return &FieldError{Field: "scaleOutOn", Value: s.ScaleOutOn, Err: fmt.Errorf("applies to step scaling only (policy is %s)", s.Policy)}
	case s.TargetValue < 0:
		return &FieldError{Field: "targetValue", Value: fmt.Sprint(s.TargetValue), Err: fmt.Errorf("must be more than 0 (or unset to derive it)")}
	case s.Policy != Fixed && (s.ScaleInAfter < Period || s.ScaleInAfter > MaxScaleInAfter || s.ScaleInAfter%Period != 0):
		// It becomes the scale-in alarm's evaluation periods: whole
		// periods, and CloudWatch refuses period × periods over a day.
		return &FieldError{Field: "scaleInAfter", Value: s.ScaleInAfter.String(), Err: fmt.Errorf("must be whole minutes from 1m to 24h (the scale-in alarm's %s metric periods; CloudWatch evaluates at most a day)", Period)}
	}
	return nil
}

// Validate reports the first impossible workload value. Field names are the
// stage's config keys.
func (w Workload) Validate() error {
	switch {
	case w.Concurrency < 1:
		return &FieldError{Field: "concurrency", Value: fmt.Sprint(w.Concurrency), Err: fmt.Errorf("must be 1 or more")}
	case w.ProcessingTime <= 0:
		return &FieldError{Field: "processingTime", Value: w.ProcessingTime.String(), Err: fmt.Errorf("must be more than 0")}
	case w.Latency <= 0:
		return &FieldError{Field: "latency", Value: w.Latency.String(), Err: fmt.Errorf("must be more than 0")}
	}
	return nil
}

// FieldError names the setting that was wrong, its value, and why.
type FieldError struct {
	Field string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %q: %v", e.Field, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// TargetBacklogPerTask is the backlog one task can hold while still meeting
// the latency objective: AWS's acceptable latency ÷ processing time, times the
// number of messages a task works on at once. AWS's rule assumes a task works
// one message at a time; a task with concurrency c drains c times as fast.
func TargetBacklogPerTask(w Workload) float64 {
	return float64(w.Concurrency) * w.Latency.Seconds() / w.ProcessingTime.Seconds()
}

// DrainRate is the messages per second one busy task completes.
func DrainRate(w Workload) float64 {
	return float64(w.Concurrency) / w.ProcessingTime.Seconds()
}

// TasksFor is Little's law's lower bound on tasks for an arrival rate
// (messages per second): rate × processing time ÷ concurrency, rounded up.
func TasksFor(rate float64, w Workload) int {
	return int(math.Ceil(rate * w.ProcessingTime.Seconds() / float64(w.Concurrency)))
}
