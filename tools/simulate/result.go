package simulate

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linecook/linecook/tools/capacity"
)

// Series is a stage's state at the end of every simulated second; index i
// is the second ending at i+1 s.
type Series struct {
	Visible  []int32 // messages waiting (the backlog)
	InFlight []int32 // messages being worked on, or abandoned and invisible
	Running  []int32 // tasks taking messages
	Desired  []int32 // the scaler's desired count
	Starting []int32 // tasks launched but not running yet
	Stopping []int32 // tasks finishing in-flight work before they stop
}

// Len is the number of seconds recorded.
func (s Series) Len() int { return len(s.Visible) }

func (s *stage) record(desired int) {
	sr := &s.series
	sr.Visible = append(sr.Visible, int32(min(s.visible, 1<<31-1)))
	sr.InFlight = append(sr.InFlight, int32(min(s.inflight+s.delayedN, 1<<31-1)))
	sr.Running = append(sr.Running, int32(s.nRunning))
	sr.Desired = append(sr.Desired, int32(desired))
	sr.Starting = append(sr.Starting, int32(s.nPending))
	sr.Stopping = append(sr.Stopping, int32(s.nStop))
}

// Result is one simulation run.
type Result struct {
	Label    string // the policy, or what the run was called
	Scenario string
	Options  Options // with defaults applied
	// Tick is the simulation's time step within a second.
	Tick time.Duration
	// Seconds is the number of 1 s steps simulated.
	Seconds int64
	// ArrivalsEnd is when arrivals stopped; End when the run stopped.
	ArrivalsEnd, End time.Duration
	// Drained reports whether every stage emptied (nothing visible, in
	// flight or invisible) after arrivals stopped, within DrainLimit, and
	// DrainTime how long after ArrivalsEnd that took.
	Drained   bool
	DrainTime time.Duration
	Stages    []StageResult
}

// StageResult is one stage's outcome.
type StageResult struct {
	Name        string
	Plan        string // the plan in one line
	Concurrency int
	// Messages that arrived, were processed, and were abandoned by a task
	// stopped mid-message (then processed again).
	Arrived, Processed, Abandoned int64
	// Wait in the queue, from arrival (or reappearance) to a task taking
	// the message, at the tick's resolution.
	WaitP50, WaitP95, WaitP99, WaitMax, WaitMean time.Duration
	// MeanService is the mean processing time drawn.
	MeanService time.Duration
	// MeanInSystem is the time-averaged number of messages visible or in
	// flight over the run: Little's law's L.
	MeanInSystem float64
	// MaxBacklog is the most messages visible at once.
	MaxBacklog int64
	// MaxTasks is the most tasks alive at once (starting, running or
	// stopping).
	MaxTasks int
	// TaskSeconds is the tasks' lifetime, launch to stop; Billed adds
	// Fargate's one-minute minimum per task; Cost is what that bills.
	TaskSeconds, BilledSeconds, Cost float64
	// WorkSeconds is the processing time of every message started, and
	// LowerBoundSeconds the task-seconds a perfect scaler would need for
	// it (Little's law: work ÷ concurrency), costing LowerBoundCost.
	WorkSeconds, LowerBoundSeconds, LowerBoundCost float64
	// DrainTime is when this stage was last non-empty, after arrivals
	// stopped (0 if it was already empty).
	DrainTime time.Duration
	// ColdStart is, for a stage that had no task when its first message
	// arrived, the time from that message to the first task taking
	// messages: metric publication, the wake-up alarm and the task's
	// start. ColdStarted says whether that happened in the run.
	ColdStart   time.Duration
	ColdStarted bool
	Series      Series
}

// Ratio is task-seconds over the lower bound: 1 is a perfect scaler.
func (s StageResult) Ratio() float64 {
	if s.LowerBoundSeconds == 0 {
		return 0
	}
	return s.TaskSeconds / s.LowerBoundSeconds
}

func (s *stage) result(end int64, tick time.Duration, p capacity.Prices, arrivalsEnd time.Duration) StageResult {
	for _, t := range s.tasks {
		s.bill(t, end)
	}
	secs := func(ticks int64) float64 { return float64(ticks) / float64(s.tps) }
	dur := func(ticks int64) time.Duration { return time.Duration(ticks) * tick }
	hour := p.TaskHour(s.cfg.CPU, s.cfg.Memory, s.cfg.Spot)
	r := StageResult{
		Name: s.cfg.Name, Plan: s.plan.String(), Concurrency: int(s.conc),
		Arrived: s.arrived, Processed: s.processed, Abandoned: s.abandoned,
		WaitP50: dur(s.hist.quantile(0.50)), WaitP95: dur(s.hist.quantile(0.95)), WaitP99: dur(s.hist.quantile(0.99)),
		WaitMax: dur(s.hist.max), WaitMean: time.Duration(s.hist.mean() * float64(tick)),
		MaxBacklog: s.maxVisible, MaxTasks: s.maxTasks,
		TaskSeconds: secs(s.aliveTicks), BilledSeconds: secs(s.billedTicks),
		WorkSeconds: secs(s.workTicks),
		Series:      s.series,
	}
	if s.coldFrom >= 0 && s.coldReady >= 0 {
		r.ColdStart, r.ColdStarted = dur(s.coldReady-s.coldFrom), true
	}
	if s.started > 0 {
		r.MeanService = time.Duration(float64(s.workTicks) / float64(s.started) * float64(tick))
	}
	if end > 0 {
		r.MeanInSystem = s.inSystemTicks / float64(end)
	}
	r.Cost = r.BilledSeconds / 3600 * hour
	r.LowerBoundSeconds = r.WorkSeconds / float64(s.conc)
	r.LowerBoundCost = r.LowerBoundSeconds / 3600 * hour
	r.DrainTime = max(0, time.Duration(s.lastBusy)*time.Second-arrivalsEnd)
	return r
}

// Total sums the stages: task-seconds, cost and their lower bounds.
func (r *Result) Total() StageResult {
	t := StageResult{Name: "total", DrainTime: r.DrainTime}
	for _, s := range r.Stages {
		t.TaskSeconds += s.TaskSeconds
		t.BilledSeconds += s.BilledSeconds
		t.Cost += s.Cost
		t.WorkSeconds += s.WorkSeconds
		t.LowerBoundSeconds += s.LowerBoundSeconds
		t.LowerBoundCost += s.LowerBoundCost
		t.MaxTasks += s.MaxTasks
		t.Abandoned += s.Abandoned
	}
	return t
}

// WriteTable prints results side by side as one table: a row per policy
// and stage, and a total row per policy when there are several stages.
func WriteTable(w io.Writer, results []*Result) error {
	if len(results) == 0 {
		return nil
	}
	o := results[0].Options
	fmt.Fprintf(w, "scenario: %s; %s arrivals, seed %d\n", results[0].Scenario, o.Arrivals, o.Seed)
	fmt.Fprintf(w, "model: processing spread (CV) %g, task start %s, metrics every %s, tick %s; prices $%g/vCPU-h, $%g/GB-h, Spot −%g%%\n",
		o.Spread, fmtDur(o.StartDelay), fmtDur(o.SampleEvery), results[0].Tick, o.Prices.VCPUHour, o.Prices.GBHour, o.Prices.SpotDiscount*100)
	if len(o.Drift) > 0 {
		var parts []string
		for _, d := range o.Drift {
			parts = append(parts, fmt.Sprintf("×%g from %s", d.Factor, fmtDur(d.At)))
		}
		fmt.Fprintf(w, "drift: processing time %s (the configured time is not changed)\n", strings.Join(parts, ", "))
	}
	if o.MetricDelay > 0 || o.IdleBefore > 0 {
		fmt.Fprintf(w, "metrics: SQS datapoints %s late; queues idle %s before the run", fmtDur(o.MetricDelay), fmtDur(o.IdleBefore))
		if o.IdleBefore >= InactiveAfter {
			fmt.Fprintf(w, " (inactive: no metrics until %s after the first call)", fmtDur(o.Reactivation))
		}
		fmt.Fprintln(w)
	}
	defer func() {
		for _, r := range results {
			for _, s := range r.Stages {
				if s.ColdStarted {
					fmt.Fprintf(w, "cold start: %s %s: first message at zero tasks → a task taking messages in %s\n", r.Label, s.Name, fmtWait(s.ColdStart))
				}
			}
		}
	}()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tstage\tp50 wait\tp95 wait\tp99 wait\tmax backlog\tmax tasks\ttask-min\tcost $\tlower bound task-min\tratio\tdrain\t")
	for _, r := range results {
		drain := func(d time.Duration) string {
			if !r.Drained {
				return "not in " + fmtDur(r.Options.DrainLimit)
			}
			return fmtWait(d)
		}
		for _, s := range r.Stages {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%.4f\t%.1f\t%.2f\t%s\t\n", r.Label, s.Name,
				fmtWait(s.WaitP50), fmtWait(s.WaitP95), fmtWait(s.WaitP99), s.MaxBacklog, s.MaxTasks,
				s.TaskSeconds/60, s.Cost, s.LowerBoundSeconds/60, s.Ratio(), drain(s.DrainTime))
		}
		if len(r.Stages) > 1 {
			t := r.Total()
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t%.1f\t%.4f\t%.1f\t%.2f\t%s\t\n", r.Label, "total",
				t.TaskSeconds/60, t.Cost, t.LowerBoundSeconds/60, t.Ratio(), drain(r.DrainTime))
		}
	}
	return tw.Flush()
}

// WriteCSV writes every run's per-second series in long form, one row per
// run, stage and second, for comparison with `linecook local`:
//
//	run,stage,second,visible,in_flight,running,desired,starting,stopping
//
// second is the end of the step (1 for the first second).
func WriteCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"run", "stage", "second", "visible", "in_flight", "running", "desired", "starting", "stopping"}); err != nil {
		return err
	}
	itoa := func(v int32) string { return strconv.FormatInt(int64(v), 10) }
	for _, r := range results {
		for _, s := range r.Stages {
			sr := s.Series
			for i := range sr.Len() {
				if err := cw.Write([]string{r.Label, s.Name, strconv.Itoa(i + 1), itoa(sr.Visible[i]), itoa(sr.InFlight[i]),
					itoa(sr.Running[i]), itoa(sr.Desired[i]), itoa(sr.Starting[i]), itoa(sr.Stopping[i])}); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// fmtWait prints a wait to a tenth of a second under a minute, to the
// second above.
func fmtWait(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return fmtDur(d.Round(time.Second))
}
