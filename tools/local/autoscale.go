package local

import (
	"context"
	"math"
	"time"

	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/tools/emulators"
)

// recentOrders is how many orders the dashboard lists.
const recentOrders = 12

// cloudNow is the run's clock in cloud time: wall-clock time since the
// start, times the time scale. The scalers' one-minute periods, cooldowns
// and datapoint counts all run on it, so a ×10 run evaluates an alarm
// every six real seconds.
func (r *Runner) cloudNow() time.Duration {
	return time.Duration(float64(time.Since(r.started)) * r.opts.TimeScale)
}

// tick is the sampling interval: at least four samples per (scaled)
// metric period, and never slower than once a second for the dashboard.
func (r *Runner) tick() time.Duration {
	return min(time.Second, time.Duration(float64(policies.Period)/r.opts.TimeScale/4))
}

// sampleLoop reads queue depths, feeds the scalers, starts and stops
// workers toward what they want, and publishes a snapshot every second.
func (r *Runner) sampleLoop(ctx context.Context) {
	defer r.loops.Done()
	t := time.NewTicker(r.tick())
	defer t.Stop()
	var (
		lastSnap time.Time
		counts   OrderCounts
		recent   []OrderView
		scanned  = make(chan scanResult, 1)
		scanning bool
		nextScan time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case res := <-scanned:
			scanning = false
			if res.err == nil {
				counts, recent = res.counts, res.recent
			}
			// A scan reads the whole table, and the local DynamoDB serves
			// one request at a time: spend at most ~5% of its time on it.
			nextScan = time.Now().Add(max(2*time.Second, 20*res.took))
		case <-t.C:
		}
		stages := r.sampleStages(ctx)
		if time.Since(lastSnap) < time.Second {
			continue
		}
		lastSnap = time.Now()
		// The table scan can take longer than a tick with thousands of
		// orders; it runs beside the loop and the snapshot uses the last
		// result.
		// Only for an open page: order counts and recent orders are
		// what the page shows, and nothing else needs them.
		if !scanning && time.Now().After(nextScan) && r.history.watched() {
			scanning = true
			go func() {
				began := time.Now()
				all, err := r.orders.scan(ctx)
				c, v := overview(all, recentOrders)
				scanned <- scanResult{c, v, err, time.Since(began)}
			}()
		}
		c := counts
		for _, st := range stages {
			c.DeadLettered += st.DLQ
		}
		r.history.add(Snapshot{
			Time: lastSnap, Elapsed: time.Since(r.started).Seconds(), Stack: r.opts.Stack,
			TimeScale: r.opts.TimeScale, Stages: stages, Orders: c, Recent: recent,
		})
	}
}

type scanResult struct {
	counts OrderCounts
	recent []OrderView
	err    error
	took   time.Duration
}

// sampleStages reads every stage's queues, runs its scaler, and moves its
// workers toward the desired count.
func (r *Runner) sampleStages(ctx context.Context) []StageSnapshot {
	now := time.Now()
	cloud := r.cloudNow()
	out := make([]StageSnapshot, len(r.opts.Config.Stages))
	for i, st := range r.opts.Config.Stages {
		plan := st.Plan()
		q, qErr := emulators.Depth(ctx, r.sqs, r.queues[i].URL)
		dlq, _ := emulators.Depth(ctx, r.sqs, r.queues[i].DLQURL)
		running := len(r.sup.Tasks(st.Name))
		r.mu.Lock()
		desired := r.desired[i]
		r.mu.Unlock()
		if r.opts.Autoscale {
			sample := policies.Sample{Visible: float64(q.Visible), InFlight: float64(q.InFlight), Running: float64(running)}
			sample.Processed, sample.ProcessingSeconds = r.metrics.measured(st.Name)
			if qErr != nil {
				// An unreadable queue is missing data, never zero.
				sample.Visible, sample.InFlight = math.NaN(), math.NaN()
			}
			desired = r.scalers[i].Observe(cloud, sample)
			r.reconcile(i, desired)
		}
		rates := r.metrics.rates(st.Name, now)
		out[i] = StageSnapshot{
			Name: st.Name, Worker: st.Worker, Policy: plan.String(),
			Visible: q.Visible, InFlight: q.InFlight, DLQ: dlq.Visible + dlq.InFlight,
			Tasks: running, Desired: desired, Min: plan.Min, Max: plan.Max,
			Protected: r.agent.protectedCount(r.sup.Tasks(st.Name), now),
			Succeeded: rates.Succeeded, Failed: rates.Failed,
			Throughput: rates.Throughput, ProcessingMs: rates.ProcessingMs,
		}
	}
	return out
}

// reconcile starts or stops stage i's workers toward want. A start waits
// TaskStartDelay (scaled), as a Fargate task pulls its image; a stop is a
// SIGTERM with the stage's stop timeout, as ECS scale-in does, newest task
// first, after cancelling starts still pending.
func (r *Runner) reconcile(i, want int) {
	st := r.opts.Config.Stages[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	r.desired[i] = want
	running := r.sup.Tasks(st.Name)
	have := len(running) + len(r.pending[i])
	for ; have < want; have++ {
		delay := scaledDuration(r.opts.TaskStartDelay, r.opts.TimeScale)
		var timer *time.Timer
		timer = time.AfterFunc(delay, func() {
			r.mu.Lock()
			r.pending[i] = removeTimer(r.pending[i], timer)
			quit := r.stopping
			r.mu.Unlock()
			if quit {
				return
			}
			if err := r.startWorker(i); err != nil {
				r.opts.Log.Error("start worker", "stage", st.Name, "err", err)
			}
		})
		r.pending[i] = append(r.pending[i], timer)
	}
	for have > want && len(r.pending[i]) > 0 {
		last := len(r.pending[i]) - 1
		if r.pending[i][last].Stop() {
			have--
		}
		r.pending[i] = r.pending[i][:last]
	}
	// ECS never stops a task protected from scale-in: it stops
	// unprotected ones (here the newest first), and waits for the rest
	// until their workers release their protection or it expires.
	grace := st.StopTimeout
	now := time.Now()
	for j := len(running) - 1; have > want && j >= 0; j-- {
		t := running[j]
		if r.agent.protected(t.Name, now) {
			continue
		}
		have--
		r.opts.Log.Info("scale-in: stopping worker", "task", t.Name)
		r.sup.Terminate(t, grace)
	}
	if waiting := max(0, have-want); waiting != r.waiting[i] {
		r.waiting[i] = waiting
		if waiting > 0 {
			r.opts.Log.Info("scale-in: waiting for protected workers", "stage", st.Name, "waiting", waiting)
		}
	}
}

func removeTimer(ts []*time.Timer, t *time.Timer) []*time.Timer {
	for i, x := range ts {
		if x == t {
			return append(ts[:i], ts[i+1:]...)
		}
	}
	return ts
}

// newScaler is the scaling model for a stage: the AWS behaviour model the
// simulator uses, on the plan the stack deploys. Each scaling activity is
// logged, as Application Auto Scaling records it.
func (r *Runner) newScaler(stage string, p policies.Plan, initial int) scaler {
	s := policies.NewScaler(p, initial)
	s.OnActivity(func(a policies.Activity) {
		r.opts.Log.Info("scaling activity", "stage", stage, "policy", a.Policy, "from", a.From, "to", a.To,
			"metric", string(a.Metric), "value", a.Value, "cloudTime", a.At)
	})
	return s
}
