package local_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/tools/local"
	"github.com/linecook/linecook/tools/simulate"
)

// window is the comparison's resolution: one CloudWatch period.
const window = 60 // cloud seconds

// curve is a run reduced to one-minute windows of cloud time: mean
// backlog (visible + in flight) and the most worker tasks seen.
type curve struct {
	backlog []float64
	tasks   []int
}

func (c *curve) add(cloudSecond float64, backlog float64, tasks int) {
	i := int(cloudSecond) / window
	for len(c.tasks) <= i {
		c.backlog = append(c.backlog, -1)
		c.tasks = append(c.tasks, 0)
	}
	if c.backlog[i] < 0 {
		c.backlog[i] = 0
	}
	c.backlog[i] += backlog // summed here, averaged by the caller's count
	c.tasks[i] = max(c.tasks[i], tasks)
}

// shape summarises a curve in the numbers the comparison checks.
type shape struct {
	peakTasks     int
	firstOut      int // first window with more than one task
	backAtOne     int // first window after the peak with one task again
	peakBacklog   float64
	backlogCurve  []float64
	backlogWindow int
}

func shapeOf(c curve, counts []int) shape {
	s := shape{firstOut: -1, backAtOne: -1}
	for i := range c.tasks {
		b := 0.0
		if counts[i] > 0 {
			b = c.backlog[i] / float64(counts[i])
		}
		s.backlogCurve = append(s.backlogCurve, b)
		if b > s.peakBacklog {
			s.peakBacklog, s.backlogWindow = b, i
		}
		if c.tasks[i] > s.peakTasks {
			s.peakTasks = c.tasks[i]
		}
		if s.firstOut < 0 && c.tasks[i] > 1 {
			s.firstOut = i
		}
	}
	for i := s.firstOut + 1; s.firstOut >= 0 && i < len(c.tasks); i++ {
		if c.tasks[i] == 1 {
			s.backAtOne = i
			break
		}
	}
	return s
}

// TestLocalRunAgreesWithTheSimulator runs one scenario twice: through
// `linecook local` at ×20 (real worker processes, real queues, the
// autoscaler moving processes) and through `linecook simulate`. Both use the
// same stage config and the same policy plan; their backlog and task-count
// curves, in one-minute windows of cloud time, must agree within:
//
//   - peak tasks: equal, or one apart;
//   - first scale-out and return to one task: within two windows. The
//     local scaler's periods start with the runner, not with the traffic,
//     so its alarms see each minute up to one window earlier or later, and
//     a task start is a real process start (tens of milliseconds, about a
//     second of cloud time at ×20) on top of the modelled delay;
//   - the backlog curve: mean absolute difference at most 15% of the peak
//     backlog. Two runs on a two-core machine whose load average was 5–6
//     (benchmarks running beside them) measured 0.4 and 2.4 messages per
//     window against a peak of 112 (0–2%). The margin is for worse: each
//     message's real SQS round trips, which no time scale shortens, grow on
//     a starved machine, and at ×20 every 50 ms of them is a second of
//     cloud time. The simulator is given the processing time the workers
//     measured (their handler times include the DynamoDB writes), and the
//     stage may scale to 5 tasks against the 3 the traffic needs, so the
//     run is not on the knife-edge of capacity where any overhead compounds
//     into a queue that never drains (with max 4, one run under that load
//     differed by 31%).
func TestLocalRunAgreesWithTheSimulator(t *testing.T) {
	const (
		timeScale = 20.0
		rate      = 1.0              // orders per cloud second: 3 tasks' worth
		length    = 10 * time.Minute // of traffic, cloud time
		watch     = 20 * time.Minute // in all: the traffic, the drain and the scale-in
		startLag  = 60 * time.Second // Fargate task start, cloud time
		jitter    = 0.1 / 1.7320508  // burger work jitter ±10% uniform, as a CV
	)
	// A 30 s payment (1.5 s real at ×20) keeps the per-message SQS and
	// DynamoDB round trips, which a time scale does not shorten, to a few
	// percent of the work; ten at a time per task, so three tasks keep up
	// and five have headroom.
	cfg := config(t, map[string]string{"linecook:stages": `[
		{"name":"payment","worker":"payment","concurrency":10,"processingTime":"30s","latency":"60s",
		 "env":{"LINECOOK_PAYMENT_DELAY":"30s"},
		 "scaling":{"policy":"step","min":1,"max":5,"scaleOutCooldown":"60s","scaleInCooldown":"60s","scaleInAfter":"3m"}}]`})

	// Local.
	r := start(t, local.Options{Config: cfg, TimeScale: timeScale, TaskStartDelay: startLag, Autoscale: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	n := int(rate * length.Seconds())
	sum, err := r.PlaceOrders(ctx, n, rate*timeScale, 3*time.Minute, nil)
	if err != nil || !sum.OK() {
		t.Fatalf("local run: %v %q", err, sum.Line())
	}
	// Watch the scale-in too, as long as the simulation runs.
	if wait := time.Until(began.Add(time.Duration(float64(watch) / timeScale))); wait > 0 {
		time.Sleep(wait)
	}
	var lc curve
	var localCounts []int
	var procSum, procWeight float64
	h0 := r.History()[0]
	sinceStart := began.Sub(h0.Time).Seconds() + h0.Elapsed // runner start → traffic
	for _, s := range r.History() {
		cloud := (s.Elapsed - sinceStart) * timeScale
		if cloud < 0 || cloud >= watch.Seconds() {
			continue
		}
		if st := s.Stages[0]; st.Throughput > 0 && st.ProcessingMs > 0 {
			procSum += st.ProcessingMs * st.Throughput
			procWeight += st.Throughput
		}
		st := s.Stages[0]
		lc.add(cloud, float64(st.Visible+st.InFlight), st.Tasks)
		for len(localCounts) < len(lc.tasks) {
			localCounts = append(localCounts, 0)
		}
		localCounts[int(cloud)/window]++
	}
	if procWeight == 0 {
		t.Fatal("the workers reported no processing time")
	}
	measured := time.Duration(procSum / procWeight * timeScale * float64(time.Millisecond))

	// Simulated, on the same plan, with the processing time the local
	// workers measured: what is compared is the scaling, given the work.
	// (Each handler's time includes its two DynamoDB writes, which a busy
	// machine slows; the plan's thresholds stay those of the config.)
	stages := simulate.FromConfig(cfg)
	stages[0].Scaling.TargetValue = policies.TargetBacklogPerTask(stages[0].Workload)
	stages[0].Workload.ProcessingTime = measured
	sim, err := simulate.Run(stages, simulate.Options{
		Scenario:   simulate.FlashSale{PeakRate: rate, Burst: length, Duration: watch},
		Arrivals:   simulate.Even,
		Spread:     jitter,
		StartDelay: startLag,
		Seed:       1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var sc curve
	var simCounts []int
	series := sim.Stages[0].Series
	for sec := range series.Len() {
		sc.add(float64(sec), float64(series.Visible[sec]+series.InFlight[sec]), int(series.Running[sec]))
		for len(simCounts) < len(sc.tasks) {
			simCounts = append(simCounts, 0)
		}
		simCounts[sec/window]++
	}

	t.Logf("processing time: configured %s, measured %s (cloud time)", cfg.Stages[0].ProcessingTime, measured)
	ss, ls := shapeOf(sc, simCounts), shapeOf(lc, localCounts)
	t.Logf("simulated: peak %d tasks, out at window %d, back at 1 at %d, peak backlog %.0f; curve %v",
		ss.peakTasks, ss.firstOut, ss.backAtOne, ss.peakBacklog, rounded(ss.backlogCurve))
	t.Logf("local:     peak %d tasks, out at window %d, back at 1 at %d, peak backlog %.0f; curve %v",
		ls.peakTasks, ls.firstOut, ls.backAtOne, ls.peakBacklog, rounded(ls.backlogCurve))

	if d := ss.peakTasks - ls.peakTasks; d < -1 || d > 1 {
		t.Errorf("peak tasks: simulated %d, local %d; want within 1", ss.peakTasks, ls.peakTasks)
	}
	if ss.firstOut < 0 || ls.firstOut < 0 || absInt(ss.firstOut-ls.firstOut) > 2 {
		t.Errorf("first scale-out: simulated window %d, local %d; want within 2", ss.firstOut, ls.firstOut)
	}
	if ss.backAtOne < 0 || ls.backAtOne < 0 || absInt(ss.backAtOne-ls.backAtOne) > 2 {
		t.Errorf("back at one task: simulated window %d, local %d; want within 2", ss.backAtOne, ls.backAtOne)
	}
	diff, k := 0.0, min(len(ss.backlogCurve), len(ls.backlogCurve))
	for i := range k {
		diff += math.Abs(ss.backlogCurve[i] - ls.backlogCurve[i])
	}
	t.Logf("backlog curves: mean absolute difference %.1f messages per window (%.0f%% of the simulated peak)",
		diff/float64(max(k, 1)), 100*diff/float64(max(k, 1))/ss.peakBacklog)
	if k == 0 || diff/float64(k) > 0.15*ss.peakBacklog {
		t.Errorf("backlog curves differ by %.1f messages on average over %d windows; want at most 15%% of the simulated peak %.0f",
			diff/float64(max(k, 1)), k, ss.peakBacklog)
	}
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(math.Round(x))
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
