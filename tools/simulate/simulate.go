// Package simulate runs a linecook pipeline's scaling policies against
// traffic in simulated time, so a policy's waits and cost are known before
// paying for them.
//
// It steps one stage or a whole pipeline (stage i's completions are stage
// i+1's arrivals) in 1 s steps, each split into ticks (100 ms unless a
// stage's processing time needs finer), and decides task counts with
// policies.Scaler: the same Plan the stack deploys, evaluated as AWS
// would.
//
// What is modelled, per stage:
//
//   - Arrivals: Poisson (or evenly spaced) at the scenario's rate.
//
//   - The queue: visible messages in arrival order; in-flight messages
//     held by tasks. A free slot takes a visible message in the tick it
//     frees up (long polling's tens of milliseconds are below a tick).
//
//   - Processing: lognormal times with the stage's mean and a coefficient
//     of variation (Options.Spread), drawn per message; seeded and
//     deterministic.
//
//   - Tasks: each runs Concurrency messages at once. A task the scaler
//     adds starts after Options.StartDelay (Fargate's image pull and
//     start) and is billed from launch. Scale-in stops pending tasks
//     first, then the newest running ones (ECS's choice is by AZ balance,
//     otherwise undocumented); a stopping task takes no new messages and
//     finishes its in-flight ones, and what it has not finished by the
//     stage's drain timeout is abandoned and becomes visible again after
//     the visibility timeout.
//
//   - Drift: Options.Drift multiplies the processing time from given
//     moments on (the work gets slower or faster mid-run), which the
//     configured processing time, and so a static target, does not see.
//
//   - Metrics: every second (or Options.SampleEvery) the scaler gets
//     visible, in flight, running tasks and desired tasks, and the
//     workers' measured processing time: each message's time, counted when
//     a worker takes it (the workers report it when they finish, a
//     processing time later).
//
//   - Cost: Fargate per-second billing with a one-minute minimum per task.
//
//   - Metric delays, when set (Options.MetricDelay, IdleBefore,
//     Reactivation): SQS's datapoints reach the scaler MetricDelay late,
//     and a queue nobody has called for six hours is inactive: SQS
//     publishes nothing for it until Reactivation after the next call.
//
// Not modelled: SQS's approximate counts and receive batching, failures
// and retries, task placement and AZs, ECS deployment and start
// throttling, and network or CPU contention.
package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/tools/capacity"
)

// Stage is one simulated stage: its workload, its scaling settings and
// what its tasks cost.
type Stage struct {
	Name     string
	Workload policies.Workload
	Scaling  policies.Settings
	// CPU (units) and Memory (MiB) of one task; Spot prices it as Spot.
	CPU, Memory int
	Spot        bool
	// DrainTimeout is how long a stopping task finishes in-flight work;
	// VisibilityTimeout how long an abandoned message stays invisible.
	DrainTimeout, VisibilityTimeout time.Duration
}

// FromConfig returns a parsed pipeline's stages.
func FromConfig(cfg pipeline.Config) []Stage {
	out := make([]Stage, len(cfg.Stages))
	for i, s := range cfg.Stages {
		out[i] = Stage{Name: s.Name, Workload: s.Workload(), Scaling: s.Scaling, CPU: s.CPU, Memory: s.Memory,
			Spot: s.Spot, DrainTimeout: s.DrainTimeout, VisibilityTimeout: s.VisibilityTimeout}
	}
	return out
}

// WithPolicy returns stages with every stage's policy replaced by kind.
// Step and target tracking keep each stage's bounds and cooldowns and
// start at Min. Fixed runs fixedTasks per stage when it is above 0, or else
// the tasks Little's law gives each stage at peak messages a second (every
// message passes every stage), at least one.
func WithPolicy(stages []Stage, kind policies.Kind, fixedTasks int, peak float64) []Stage {
	out := make([]Stage, len(stages))
	for i, s := range stages {
		was := s.Scaling.Policy
		s.Scaling.Policy = kind
		if kind != policies.Step {
			s.Scaling.ScaleOutOn = "" // step's own signal
		}
		switch {
		case kind == policies.Fixed && fixedTasks > 0:
			s.Scaling.Desired = fixedTasks
		case kind == policies.Fixed:
			s.Scaling.Desired = max(1, policies.TasksFor(peak, s.Workload))
		case was == policies.Fixed:
			s.Scaling.Desired = s.Scaling.Min
		}
		out[i] = s
	}
	return out
}

// Arrivals is how messages arrive within the scenario's rate.
type Arrivals int

const (
	// Poisson arrivals: independent, as many users acting on their own.
	Poisson Arrivals = iota
	// Even arrivals: exactly the rate, evenly spaced (a paced producer).
	Even
)

func (a Arrivals) String() string {
	if a == Even {
		return "even"
	}
	return "poisson"
}

// Options tune a run. Zero values take the defaults.
type Options struct {
	Scenario Scenario
	Arrivals Arrivals
	// Spread is the processing time's coefficient of variation (standard
	// deviation ÷ mean); 0 is a fixed time. Default 0, so set it.
	Spread float64
	// StartDelay is the time from desired going up to the task taking
	// messages. Default 60 s (Fargate, a ~400 MB image); negative is 0.
	StartDelay time.Duration
	// SampleEvery is how often the scaler is fed a sample: every second
	// by default; 60 s mimics SQS's one datapoint a minute.
	SampleEvery time.Duration
	// DrainLimit is how long after arrivals stop the run may go on to
	// empty the pipeline. Default 6 h.
	DrainLimit time.Duration
	// Seed makes a run repeatable: the same seed and inputs give the same
	// result. Arrivals use their own stream, so every policy sees the same
	// traffic.
	Seed uint64
	// Prices default to capacity.USEast1.
	Prices capacity.Prices
	// TicksPerSecond overrides the tick (default: 10, or more so that
	// every stage's mean processing time spans at least 10 ticks).
	TicksPerSecond int
	// Label names the run in tables and charts (default: the policies).
	Label string
	// MetricDelay is how late SQS's datapoints reach the scaler (SQS
	// publishes each minute's metrics after the minute; 0, the default,
	// hands them over at once).
	MetricDelay time.Duration
	// IdleBefore is how long every queue had had no API call when the run
	// starts. At InactiveAfter or more (six hours, CloudWatch's rule for
	// an active queue) the queue is inactive: after the next call, SQS
	// publishes nothing for Reactivation (the up-to-15-minute delay
	// SQS documents for inactive queues, the default when IdleBefore
	// makes a queue inactive). Tasks polling count as calls.
	IdleBefore, Reactivation time.Duration
	// Drift changes every stage's processing time mid-run: from each
	// point's At on, times are Factor × the configured ones (until the
	// next point). Empty: the configured time throughout.
	Drift []Drift
}

// Drift is a change of processing time: Factor × the configured time from
// At on.
type Drift struct {
	At     time.Duration
	Factor float64
}

// factorAt is the drift factor in force at t.
func factorAt(drift []Drift, t time.Duration) float64 {
	f := 1.0
	for _, d := range drift {
		if t >= d.At {
			f = d.Factor
		}
	}
	return f
}

// Defaults.
const (
	DefaultStartDelay = 60 * time.Second
	DefaultDrainLimit = 6 * time.Hour
	// InactiveAfter is how long CloudWatch keeps a queue active after
	// its last API call.
	InactiveAfter = 6 * time.Hour
	// DefaultReactivation is the longest SQS documents an inactive
	// queue's metrics take to come back.
	DefaultReactivation = 15 * time.Minute
)

type taskState int8

const (
	pending taskState = iota
	running
	stopping
)

type task struct {
	state    taskState
	launched int64 // tick
	ready    int64 // tick it starts taking messages
	stopAt   int64 // tick it was told to stop
	busy     int64
	wheel    []int32 // completions per tick, ring indexed by tick & mask
}

type delayedSample struct {
	at int64 // tick it reaches the scaler
	s  policies.Sample
}

type run struct {
	tick int64 // arrival (or reappearance) tick
	n    int64
}

// runQueue is a FIFO of runs of messages that arrived in the same tick.
type runQueue struct {
	buf  []run
	head int
}

func (q *runQueue) push(r run) {
	if q.head > 0 && q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
	if n := len(q.buf); n > q.head && q.buf[n-1].tick == r.tick {
		q.buf[n-1].n += r.n
		return
	}
	if q.head > 1024 && q.head*2 > len(q.buf) {
		q.buf = q.buf[:copy(q.buf, q.buf[q.head:])]
		q.head = 0
	}
	q.buf = append(q.buf, r)
}

type stage struct {
	cfg    Stage
	plan   policies.Plan
	scaler *policies.Scaler
	conc   int64
	tps    int64
	svc    *serviceTable
	rng    *rng
	mask   int64

	tasks                      []*task
	spare                      [][]int32 // zeroed wheels for reuse
	nPending, nRunning, nStop  int
	free                       int64 // free slots over running tasks
	rr                         int
	queue                      runQueue
	visible, inflight          int64
	delayed                    runQueue // abandoned, invisible until tick
	delayedN                   int64
	startTicks, drainTicks, vt int64
	drift                      []Drift
	// metric delays: samples on their way to the scaler, when the queue
	// was last called (tick; negative: before the run), and until when an
	// inactive queue publishes nothing.
	pendingSamples         []delayedSample
	lastCall, silentUntil  int64
	delayTicks, reactTicks int64
	coldFrom, coldReady    int64
	// measured since the last sample: messages taken and their times.
	measuredN, measuredTicks int64

	hist                        waitHist
	arrived, processed, started int64
	abandoned                   int64
	workTicks                   int64
	maxVisible                  int64
	maxTasks                    int
	aliveTicks, billedTicks     int64
	inSystemTicks               float64 // Σ over ticks of visible + in flight
	lastBusy                    int64   // last second the stage was not empty
	series                      Series
}

// Run simulates stages under opts.Scenario.
func Run(stages []Stage, opts Options) (*Result, error) {
	if len(stages) == 0 {
		return nil, errors.New("no stages to simulate")
	}
	if opts.Scenario == nil {
		return nil, errors.New("no scenario")
	}
	if err := opts.defaults(stages); err != nil {
		return nil, err
	}
	tps := int64(opts.TicksPerSecond)
	tick := time.Second / time.Duration(tps)
	sims := make([]*stage, len(stages))
	for i, st := range stages {
		s, err := newStage(st, opts, tps, i)
		if err != nil {
			return nil, err
		}
		sims[i] = s
	}
	arrivals := poissonGen{r: newRNG(opts.Seed, 0)}
	endTick := int64(opts.Scenario.Length() / tick)
	limit := endTick + int64(opts.DrainLimit/tick)
	sampleEvery := int64(opts.SampleEvery / time.Second)
	var carry float64 // Even arrivals' fractional message
	drainedAt := int64(-1)
	var sec int64
	for ; ; sec++ {
		base := sec * tps
		if base >= endTick && (drainedAt >= 0 || base >= limit) {
			break
		}
		for k := int64(0); k < tps; k++ {
			now := base + k
			var n int64
			if now < endTick {
				mean := opts.Scenario.Rate(time.Duration(now)*tick) / float64(tps)
				if opts.Arrivals == Even {
					carry += mean
					n = int64(carry)
					carry -= float64(n)
				} else {
					n = arrivals.draw(mean)
				}
			}
			for _, s := range sims {
				s.enqueue(now, n)
				n = s.step(now)
			}
		}
		now := (sec + 1) * tps
		at := time.Duration(sec+1) * time.Second
		empty := true
		for _, s := range sims {
			var desired int
			// Sample in the last second of each interval, so every
			// period's datapoint is its freshest state.
			if (sec+2)%sampleEvery == 0 {
				s.pendingSamples = append(s.pendingSamples, delayedSample{at: now + s.delayTicks, s: s.sample(now)})
			}
			desired = s.scaler.Advance(at)
			for len(s.pendingSamples) > 0 && s.pendingSamples[0].at <= now {
				desired = s.scaler.Observe(at, s.pendingSamples[0].s)
				s.pendingSamples = s.pendingSamples[1:]
			}
			s.reconcile(desired, now)
			s.record(desired)
			if s.visible+s.inflight+s.delayedN > 0 {
				s.lastBusy = sec + 1
				empty = false
			}
		}
		if empty && now >= endTick && drainedAt < 0 {
			drainedAt = now
		}
	}
	end := sec * tps
	r := &Result{Label: opts.Label, Scenario: opts.Scenario.String(), Tick: tick, Seconds: sec,
		ArrivalsEnd: opts.Scenario.Length(), End: time.Duration(end) * tick, Drained: drainedAt >= 0, Options: opts}
	if r.Drained {
		r.DrainTime = max(0, time.Duration(drainedAt)*tick-r.ArrivalsEnd)
	}
	for _, s := range sims {
		r.Stages = append(r.Stages, s.result(end, tick, opts.Prices, r.ArrivalsEnd))
	}
	return r, nil
}

func (o *Options) defaults(stages []Stage) error {
	if o.StartDelay == 0 {
		o.StartDelay = DefaultStartDelay
	}
	o.StartDelay = max(0, o.StartDelay)
	if o.SampleEvery == 0 {
		o.SampleEvery = time.Second
	}
	if o.DrainLimit == 0 {
		o.DrainLimit = DefaultDrainLimit
	}
	if o.IdleBefore >= InactiveAfter && o.Reactivation == 0 {
		o.Reactivation = DefaultReactivation
	}
	if o.Prices == (capacity.Prices{}) {
		o.Prices = capacity.USEast1
	}
	if o.Label == "" {
		o.Label = policyLabel(stages)
	}
	switch {
	case o.Spread < 0 || o.Spread > 10 || math.IsNaN(o.Spread):
		return fieldErr("spread", fmt.Sprint(o.Spread), "must be a coefficient of variation from 0 (fixed) to 10")
	case o.SampleEvery < time.Second || o.SampleEvery%time.Second != 0 || o.SampleEvery > policies.Period:
		return fieldErr("sample-every", o.SampleEvery.String(), "must be whole seconds from 1s to 1m")
	case o.MetricDelay < 0 || o.MetricDelay > 15*time.Minute:
		return fieldErr("metric-delay", o.MetricDelay.String(), "must be from 0 to 15m")
	case o.IdleBefore < 0 || o.Reactivation < 0:
		return fieldErr("idle-before", o.IdleBefore.String(), "idle time and reactivation delay must not be negative")
	case o.DrainLimit < 0:
		return fieldErr("drain-limit", o.DrainLimit.String(), "must not be negative")
	case o.TicksPerSecond < 0 || o.TicksPerSecond > 1000:
		return fieldErr("ticks", fmt.Sprint(o.TicksPerSecond), "must be from 1 to 1000 ticks a second (0 chooses)")
	}
	for i, d := range o.Drift {
		switch {
		case d.Factor < 0.1 || d.Factor > 10 || math.IsNaN(d.Factor):
			return fieldErr("drift", fmt.Sprintf("%g@%s", d.Factor, d.At), "a factor must be from 0.1 to 10 (× the configured processing time)")
		case d.At < 0 || (i > 0 && d.At <= o.Drift[i-1].At):
			return fieldErr("drift", fmt.Sprintf("%g@%s", d.Factor, d.At), "times must be 0 or later, in increasing order")
		}
	}
	if err := o.Prices.Validate(); err != nil {
		return err
	}
	if o.TicksPerSecond == 0 {
		// At least 10 ticks per mean processing time, from a set that
		// divides a second evenly.
		shortest := time.Duration(math.MaxInt64)
		for _, s := range stages {
			shortest = min(shortest, time.Duration(float64(s.Workload.ProcessingTime)*o.minFactor()))
		}
		o.TicksPerSecond = 1000
		for _, tps := range []int{10, 20, 50, 100, 200, 500} {
			if shortest >= 10*time.Second/time.Duration(tps) {
				o.TicksPerSecond = tps
				break
			}
		}
	}
	return nil
}

// minFactor and maxFactor bound the drift factors, 1 included.
func (o *Options) minFactor() float64 {
	f := 1.0
	for _, d := range o.Drift {
		f = min(f, d.Factor)
	}
	return f
}

func (o *Options) maxFactor() float64 {
	f := 1.0
	for _, d := range o.Drift {
		f = max(f, d.Factor)
	}
	return f
}

func policyLabel(stages []Stage) string {
	label := string(stages[0].Scaling.Policy)
	for _, s := range stages[1:] {
		if string(s.Scaling.Policy) != label {
			return "mixed"
		}
	}
	return label
}

func newStage(st Stage, opts Options, tps int64, i int) (*stage, error) {
	plan, err := policies.Build(st.Scaling, st.Workload)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	meanTicks := st.Workload.ProcessingTime.Seconds() * float64(tps)
	svc := newServiceTable(meanTicks, opts.Spread)
	// The completion ring must hold the longest drifted time.
	size := int64(1) << bits.Len64(uint64(math.Ceil(float64(svc.max)*opts.maxFactor()))+2)
	s := &stage{
		cfg: st, plan: plan, scaler: policies.NewScaler(plan, plan.Desired),
		conc: int64(st.Workload.Concurrency), tps: tps, svc: svc, mask: size - 1,
		rng:         newRNG(opts.Seed, uint64(i)+1),
		drift:       opts.Drift,
		delayTicks:  int64(opts.MetricDelay) * tps / int64(time.Second),
		reactTicks:  int64(opts.Reactivation) * tps / int64(time.Second),
		lastCall:    -int64(opts.IdleBefore) * tps / int64(time.Second),
		silentUntil: -1,
		coldFrom:    -1,
		coldReady:   -1,
		startTicks:  int64(opts.StartDelay) * tps / int64(time.Second),
		drainTicks:  max(1, int64(st.DrainTimeout)*tps/int64(time.Second)),
		vt:          max(1, int64(st.VisibilityTimeout)*tps/int64(time.Second)),
	}
	if st.DrainTimeout <= 0 {
		s.drainTicks = int64(pipeline.DefaultStopTimeout) * tps / int64(time.Second)
	}
	// The service starts warm: its initial tasks are running at t = 0.
	s.reconcile(s.scaler.Desired(), 0)
	for _, t := range s.tasks {
		s.promote(t)
	}
	return s, nil
}

// enqueue adds n messages that arrived at tick now.
func (s *stage) enqueue(now, n int64) {
	if n <= 0 {
		return
	}
	if s.arrived == 0 && s.nRunning == 0 {
		s.coldFrom = now
	}
	s.call(now)
	s.queue.push(run{tick: now, n: n})
	s.visible += n
	s.arrived += n
}

// call records an API call on the queue at tick now: a queue left
// uncalled for InactiveAfter goes quiet for the reactivation delay.
func (s *stage) call(now int64) {
	if now-s.lastCall >= int64(InactiveAfter)*s.tps/int64(time.Second) {
		s.silentUntil = now + s.reactTicks
	}
	s.lastCall = now
}

// step runs tick now: completions, tasks becoming ready, abandoned
// messages reappearing, then free slots taking visible messages. It
// returns the messages completed, the next stage's arrivals.
func (s *stage) step(now int64) int64 {
	done := int64(0)
	slot := now & s.mask
	stopped := false
	for _, t := range s.tasks {
		if t.busy > 0 {
			if c := int64(t.wheel[slot]); c > 0 {
				t.wheel[slot] = 0
				t.busy -= c
				done += c
				if t.state == running {
					s.free += c
				}
			}
		}
		switch {
		case t.state == pending && now >= t.ready:
			s.promote(t)
		case t.state == stopping && (t.busy == 0 || now >= t.stopAt+s.drainTicks):
			stopped = true
		}
	}
	s.inflight -= done
	s.processed += done
	if stopped {
		s.finishStopping(now)
	}
	for s.delayedN > 0 && s.delayed.buf[s.delayed.head].tick <= now {
		r := s.delayed.buf[s.delayed.head]
		s.delayed.head++
		s.delayedN -= r.n
		s.queue.push(run{tick: now, n: r.n})
		s.visible += r.n
	}
	if s.visible > 0 && s.free > 0 {
		s.start(now)
	}
	s.maxVisible = max(s.maxVisible, s.visible)
	s.inSystemTicks += float64(s.visible + s.inflight + s.delayedN)
	return done
}

// start hands visible messages to free slots, oldest message first, and
// spreads them over the tasks round-robin, as pollers share a queue.
func (s *stage) start(now int64) {
	k := min(s.visible, s.free)
	s.visible -= k
	s.free -= k
	s.inflight += k
	s.started += k
	for left := k; left > 0; {
		r := &s.queue.buf[s.queue.head]
		take := min(r.n, left)
		s.hist.add(now-r.tick, take)
		r.n -= take
		left -= take
		if r.n == 0 {
			s.queue.head++
		}
	}
	n := len(s.tasks)
	for i := 0; k > 0 && i < n; i++ {
		t := s.tasks[(s.rr+i)%n]
		if t.state != running || t.busy >= s.conc {
			continue
		}
		take := min(s.conc-t.busy, k)
		t.busy += take
		k -= take
		factor := factorAt(s.drift, time.Duration(now)*time.Second/time.Duration(s.tps))
		for range take {
			d := s.svc.draw(s.rng)
			if factor != 1 {
				d = max(1, int64(math.Round(float64(d)*factor)))
			}
			s.measuredN++
			s.measuredTicks += d
			s.workTicks += d
			t.wheel[(now+d)&s.mask]++
		}
	}
	s.rr++
}

func (s *stage) promote(t *task) {
	if s.coldFrom >= 0 && s.coldReady < 0 && t.ready >= s.coldFrom {
		s.coldReady = t.ready
	}
	t.state = running
	s.nPending--
	s.nRunning++
	s.free += s.conc - t.busy
}

// reconcile launches or stops tasks so that pending plus running (not
// stopping) tasks equal desired.
func (s *stage) reconcile(desired int, now int64) {
	active := s.nPending + s.nRunning
	for ; active < desired; active++ {
		w := s.wheel()
		t := &task{state: pending, launched: now, ready: now + s.startTicks, wheel: w}
		s.tasks = append(s.tasks, t)
		s.nPending++
		if s.startTicks == 0 {
			s.promote(t)
		}
	}
	// Stop the newest pending tasks first, then the newest running ones.
	for _, want := range []taskState{pending, running} {
		for i := len(s.tasks) - 1; i >= 0 && active > desired; i-- {
			t := s.tasks[i]
			if t.state != want {
				continue
			}
			active--
			if want == pending {
				s.nPending--
			} else {
				s.nRunning--
				s.free -= s.conc - t.busy
			}
			t.state, t.stopAt = stopping, now
			s.nStop++
		}
	}
	s.finishStopping(now)
	s.maxTasks = max(s.maxTasks, len(s.tasks))
}

// finishStopping removes stopping tasks that are done: drained, or past
// the drain timeout (their messages are abandoned to the visibility
// timeout).
func (s *stage) finishStopping(now int64) {
	keep := s.tasks[:0]
	for _, t := range s.tasks {
		if t.state != stopping || (t.busy > 0 && now < t.stopAt+s.drainTicks) {
			keep = append(keep, t)
			continue
		}
		if t.busy > 0 {
			s.abandoned += t.busy
			s.inflight -= t.busy
			s.delayed.push(run{tick: now + s.vt, n: t.busy})
			s.delayedN += t.busy
			clear(t.wheel)
		}
		s.nStop--
		s.bill(t, now)
		s.spare = append(s.spare, t.wheel)
	}
	clear(s.tasks[len(keep):])
	s.tasks = keep
}

func (s *stage) wheel() []int32 {
	if n := len(s.spare); n > 0 {
		w := s.spare[n-1]
		s.spare = s.spare[:n-1]
		return w
	}
	return make([]int32, s.mask+1)
}

func (s *stage) bill(t *task, now int64) {
	alive := now - t.launched
	s.aliveTicks += alive
	s.billedTicks += max(alive, s.minBilledTicks())
}

func (s *stage) minBilledTicks() int64 {
	return int64(capacity.MinimumBilled/time.Second) * s.tps
}

func (s *stage) sample(now int64) policies.Sample {
	smp := policies.Sample{
		Visible:           float64(s.visible),
		InFlight:          float64(s.inflight + s.delayedN),
		Running:           float64(s.nRunning),
		Processed:         float64(s.measuredN),
		ProcessingSeconds: float64(s.measuredTicks) / float64(s.tps),
	}
	if s.nRunning > 0 {
		s.call(now) // running tasks long-poll the queue
	}
	if now < s.silentUntil {
		// An inactive queue publishes nothing yet: missing data.
		nan := math.NaN()
		smp.Visible, smp.InFlight, smp.OldestAge = nan, nan, nan
		s.measuredN, s.measuredTicks = 0, 0
		return smp
	}
	if s.visible > 0 {
		// The oldest visible message: the head of the arrival-ordered
		// queue (a redelivered message counts from its reappearance).
		smp.OldestAge = float64(now-s.queue.buf[s.queue.head].tick) / float64(s.tps)
	}
	s.measuredN, s.measuredTicks = 0, 0
	return smp
}
