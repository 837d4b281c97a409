package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
)

// Planner defaults.
const (
	// DefaultHeadroom is the spare capacity max tasks keep over Little's
	// law at the design rate: 25 % spare is 80 % utilization, where Erlang C
	// puts the chance of waiting at 0.07 % for 225 in-flight slots (9 %
	// for 50, 41 % for 10: small stages wait more, and `linecook plan`
	// prints the figure for the stage at hand).
	DefaultHeadroom = 1.25
	// DefaultMaxConcurrency caps the concurrency the planner picks for
	// I/O-bound work: the built-in payment worker's 200. It is a design
	// choice, not a measured limit; past a few hundred messages per task
	// one task's memory, receive loop and connection pool become the
	// limit, and a lost task takes that much work with it.
	DefaultMaxConcurrency = 200
)

// Input is what `linecook plan` is told about a stage.
type Input struct {
	// Stage names the stage in the snippet; Worker is the built-in worker
	// it runs (defaults to Stage).
	Stage, Worker string
	// Rate is the design (peak) arrival rate, messages per second.
	Rate float64
	// BaseRate is the off-peak rate, which sets the minimum task count.
	BaseRate float64
	// ProcessingTime is the mean time one message takes; Latency the
	// acceptable wait in the queue.
	ProcessingTime, Latency time.Duration
	// Concurrency per task; 0 lets the planner choose (see Recommend).
	Concurrency int
	// CPUBound work runs no more messages at once than the task has vCPUs.
	CPUBound bool
	// MaxConcurrency caps the chosen I/O-bound concurrency; 0 is
	// DefaultMaxConcurrency.
	MaxConcurrency int
	// CPU (units) and Memory (MiB) of a task: a valid Fargate pair.
	CPU, Memory int
	Spot        bool
	// Min tasks; negative lets the planner choose.
	Min int
	// Headroom multiplies Little's law for max tasks; 0 is DefaultHeadroom.
	Headroom float64
	Prices   Prices
}

// Recommendation is a sized stage.
type Recommendation struct {
	Input Input
	// Concurrency per task, and why it was chosen.
	Concurrency    int
	ConcurrencyWhy string
	// InFlight is Little's law at the design rate: rate × processing time
	// messages being worked on at once.
	InFlight float64
	// TasksAtRate is the fewest tasks that hold InFlight.
	TasksAtRate int
	Min, Max    int
	// TargetValue is the backlog-per-task target (policies.TargetBacklogPerTask).
	TargetValue float64
	// AtMax is Erlang C for Max × Concurrency in-flight slots at the
	// design rate.
	AtMax Queueing
	// TaskHour is the price of one task-hour; Monthly* are 730-hour months
	// at Min tasks (idle), TasksAtRate (the design rate around the clock)
	// and Max.
	TaskHour                                float64
	MonthlyMin, MonthlyAtRate, MonthlyAtMax float64
	// Snippet is the stack config, indented to paste under `config:` in
	// Pulumi.<stack>.yaml.
	Snippet string
}

// Recommend sizes a stage.
//
// Concurrency, unless given: CPU-bound work gets one message per vCPU (at
// least one), since more only queues inside the task. I/O-bound work
// (the default: linecook stages mostly wait on other services) gets the
// whole design rate's in-flight messages plus headroom in one task, capped
// at MaxConcurrency: Fargate bills per task, not per message, so fewer,
// fuller tasks are cheaper, and the cap keeps one task's loss small.
//
// Max tasks hold the in-flight messages with Headroom to spare; min tasks
// hold the base rate the same way (at least one, so a first message does
// not wait a minute-long wake-up and task start), unless Min is given.
func Recommend(in Input) (Recommendation, error) {
	if err := in.defaults(); err != nil {
		return Recommendation{}, err
	}
	r := Recommendation{Input: in}
	r.InFlight = in.Rate * in.ProcessingTime.Seconds()
	switch {
	case in.Concurrency > 0:
		r.Concurrency, r.ConcurrencyWhy = in.Concurrency, "given"
	case in.CPUBound:
		r.Concurrency = max(1, in.CPU/1024)
		r.ConcurrencyWhy = fmt.Sprintf("CPU-bound: one message per vCPU of %d CPU units", in.CPU)
	default:
		want := int(math.Ceil(r.InFlight * in.Headroom))
		r.Concurrency = max(1, min(want, in.MaxConcurrency))
		r.ConcurrencyWhy = fmt.Sprintf("I/O-bound: %.4g in flight × %.2f headroom = %d", r.InFlight, in.Headroom, want)
		if want > in.MaxConcurrency {
			r.ConcurrencyWhy += fmt.Sprintf(", capped at %d per task", in.MaxConcurrency)
		} else {
			r.ConcurrencyWhy += " in one task"
		}
	}
	w := policies.Workload{Concurrency: r.Concurrency, ProcessingTime: in.ProcessingTime, Latency: in.Latency}
	r.TasksAtRate = max(1, policies.TasksFor(in.Rate, w))
	r.Max = max(1, int(math.Ceil(r.InFlight*in.Headroom/float64(r.Concurrency)-1e-9)))
	r.Min = in.Min
	if r.Min < 0 {
		r.Min = max(1, int(math.Ceil(in.BaseRate*in.ProcessingTime.Seconds()*in.Headroom/float64(r.Concurrency)-1e-9)))
	}
	r.Max = max(r.Max, r.Min)
	r.TargetValue = math.Round(policies.TargetBacklogPerTask(w)*100) / 100
	r.AtMax = MM(r.Max*r.Concurrency, in.Rate, in.ProcessingTime)

	r.TaskHour = in.Prices.TaskHour(in.CPU, in.Memory, in.Spot)
	r.MonthlyMin = float64(r.Min) * r.TaskHour * HoursPerMonth
	r.MonthlyAtRate = float64(max(r.Min, r.TasksAtRate)) * r.TaskHour * HoursPerMonth
	r.MonthlyAtMax = float64(r.Max) * r.TaskHour * HoursPerMonth

	r.Snippet = r.snippet()
	// The snippet must be what the stack accepts: run it through the one
	// parser, and report what it rejects (a bad cpu/memory pair, a stage
	// name) under the planner's own field names.
	if _, err := pipeline.Parse(r.configValues(), pipeline.Options{}); err != nil {
		return Recommendation{}, inputError(err)
	}
	return r, nil
}

func (in *Input) defaults() error {
	bad := func(field, value, reason string) error {
		return &policies.FieldError{Field: field, Value: value, Err: errors.New(reason)}
	}
	if in.Worker == "" {
		in.Worker = in.Stage
	}
	if in.Headroom == 0 {
		in.Headroom = DefaultHeadroom
	}
	if in.MaxConcurrency == 0 {
		in.MaxConcurrency = DefaultMaxConcurrency
	}
	if in.CPU == 0 {
		in.CPU = pipeline.DefaultCPU
	}
	if in.Memory == 0 {
		in.Memory = pipeline.DefaultMemory
	}
	if in.Prices == (Prices{}) {
		in.Prices = USEast1
	}
	switch {
	case !(in.Rate > 0) || math.IsInf(in.Rate, 0):
		return bad("rate", fmtFloat(in.Rate), "must be a rate in messages per second, more than 0")
	case in.BaseRate < 0 || in.BaseRate > in.Rate:
		return bad("base-rate", fmtFloat(in.BaseRate), fmt.Sprintf("must be from 0 to the rate (%s)", fmtFloat(in.Rate)))
	case in.ProcessingTime <= 0:
		return bad("processing-time", in.ProcessingTime.String(), "must be more than 0")
	case in.Latency <= 0:
		return bad("latency", in.Latency.String(), "must be more than 0")
	case in.Concurrency < 0:
		return bad("concurrency", strconv.Itoa(in.Concurrency), "must be 1 or more (or 0 to let the planner choose)")
	case in.MaxConcurrency < 1:
		return bad("max-concurrency", strconv.Itoa(in.MaxConcurrency), "must be 1 or more")
	case in.Headroom < 1:
		return bad("headroom", fmtFloat(in.Headroom), "must be 1 or more (1.25 = 25 % spare)")
	}
	if err := in.Prices.Validate(); err != nil {
		return bad("prices", "", err.Error())
	}
	return nil
}

// configValues is the snippet as Pulumi hands it to a program.
func (r Recommendation) configValues() map[string]string {
	scaling, _ := json.Marshal(map[string]any{"policy": string(policies.TargetTracking), "min": r.Min, "max": r.Max})
	stage := map[string]any{
		"name": r.Input.Stage, "worker": r.Input.Worker, "concurrency": r.Concurrency,
		"processingTime": r.Input.ProcessingTime.String(), "latency": r.Input.Latency.String(),
		"cpu": r.Input.CPU, "memory": r.Input.Memory,
	}
	if r.Input.Spot {
		stage["spot"] = true
	}
	stages, _ := json.Marshal([]any{stage})
	return map[string]string{
		pipeline.Namespace + ":" + pipeline.KeyScaling: string(scaling),
		pipeline.Namespace + ":" + pipeline.KeyStages:  string(stages),
	}
}

func (r Recommendation) snippet() string {
	in := r.Input
	var b strings.Builder
	fmt.Fprintf(&b, "  # linecook plan: %s msg/s × %s, latency %s\n", fmtFloat(in.Rate), in.ProcessingTime, in.Latency)
	fmt.Fprintf(&b, "  linecook:scaling:\n")
	fmt.Fprintf(&b, "    policy: %s\n", policies.TargetTracking)
	fmt.Fprintf(&b, "    min: %d\n", r.Min)
	fmt.Fprintf(&b, "    max: %d\n", r.Max)
	fmt.Fprintf(&b, "  linecook:stages:\n")
	fmt.Fprintf(&b, "    - name: %s\n", in.Stage)
	fmt.Fprintf(&b, "      worker: %s\n", in.Worker)
	fmt.Fprintf(&b, "      concurrency: %d\n", r.Concurrency)
	fmt.Fprintf(&b, "      processingTime: %s\n", in.ProcessingTime)
	fmt.Fprintf(&b, "      latency: %s\n", in.Latency)
	fmt.Fprintf(&b, "      cpu: %d\n", in.CPU)
	fmt.Fprintf(&b, "      memory: %d\n", in.Memory)
	if in.Spot {
		fmt.Fprintf(&b, "      spot: true\n")
	}
	fmt.Fprintf(&b, "      # backlog-per-task target derived from these: %g\n", r.TargetValue)
	return b.String()
}

// configFields maps the parser's stage keys to the planner's field names.
var configFields = map[string]string{
	"name": "stage", "worker": "worker", "cpu": "cpu", "memory": "memory",
	"concurrency": "concurrency", "processingTime": "processing-time", "latency": "latency",
	"min": "min", "max": "max",
}

func inputError(err error) error {
	var pe *pipeline.Error
	if !errors.As(err, &pe) {
		return err
	}
	key := pe.Key[strings.LastIndex(pe.Key, ".")+1:]
	if f, ok := configFields[key]; ok {
		return &policies.FieldError{Field: f, Value: pe.Value, Err: errors.New(pe.Reason)}
	}
	return err
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
