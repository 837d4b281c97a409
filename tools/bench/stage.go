package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/local"
	"github.com/linecook/linecook/workers"
)

// StageOptions sizes the I/O-bound stage benchmark.
type StageOptions struct {
	// Concurrency is the worker's LINECOOK_CONCURRENCY.
	Concurrency int
	// Work is the payment's simulated call (LINECOOK_PAYMENT_DELAY).
	Work time.Duration
	// Window is how long each rate is fed.
	Window time.Duration
	// StartRate, StepRate and MaxRate (orders/s) set the search: rates
	// rise by StepRate from StartRate until one is not sustained or
	// MaxRate is passed.
	StartRate, StepRate, MaxRate float64
	// Refine is how many times the interval between the last sustained
	// rate and the first failed one is halved afterwards.
	Refine int
}

func (o StageOptions) validate() error {
	switch {
	case o.Concurrency < 1 || o.Concurrency > workers.MaxConcurrency:
		return fmt.Errorf("--stage-concurrency %d: must be 1 to %d", o.Concurrency, workers.MaxConcurrency)
	case o.Work <= 0 || o.Work > time.Minute:
		return fmt.Errorf("--stage-work %s: must be more than 0 and at most 1m", o.Work)
	case o.Window < 2*time.Second || o.Window < 2*o.Work:
		return fmt.Errorf("--stage-window %s: must be at least 2s and twice --stage-work (%s), so the judged second half is in steady state", o.Window, o.Work)
	case o.StartRate <= 0 || o.StepRate <= 0:
		return fmt.Errorf("--stage-start-rate %g and --stage-step-rate %g: must be more than 0", o.StartRate, o.StepRate)
	case o.MaxRate < o.StartRate:
		return fmt.Errorf("--stage-max-rate %g: must be at least --stage-start-rate (%g)", o.MaxRate, o.StartRate)
	case o.Refine < 0 || o.Refine > 5:
		return fmt.Errorf("--stage-refine %d: must be 0 to 5", o.Refine)
	}
	return nil
}

// StageResult is the I/O-bound stage benchmark: one linecookd process
// running the payment worker, fed at fixed rates.
type StageResult struct {
	Concurrency int     `json:"concurrency"`
	WorkMs      float64 `json:"workMs"`
	WindowSec   float64 `json:"windowSec"`
	// CeilingPerSec is Concurrency / Work: what the slots allow, before
	// any CPU or emulator limit.
	CeilingPerSec float64     `json:"ceilingPerSec"`
	Steps         []StageStep `json:"steps"`
	// MaxSustained is the highest rate sustained (0: none), and PeakRSSMB
	// the peak RSS of the process that sustained it.
	MaxSustained float64 `json:"maxSustainedPerSec"`
	PeakRSSMB    float64 `json:"peakRssMB"`
	// LimitReached is false when even MaxRate was sustained: the search
	// stopped before finding the process's limit.
	LimitReached bool     `json:"limitReached"`
	Rule         string   `json:"rule"`
	Targets      []Target `json:"targets"`
}

// StageStep is one rate fed for one window to a fresh process.
type StageStep struct {
	Rate float64 `json:"ratePerSec"`
	Sent int     `json:"sent"`
	// ProcessedPerSec is the worker's completions per second over the
	// window's second half (its own Succeeded metric).
	ProcessedPerSec float64 `json:"processedPerSec"`
	Failed          int     `json:"failed"`
	// BacklogSlope is the visible backlog's growth over the second half,
	// messages per second; BacklogMean its mean there and BacklogEnd the
	// last sample.
	BacklogSlope float64 `json:"backlogSlopePerSec"`
	BacklogMean  float64 `json:"backlogMean"`
	BacklogEnd   int     `json:"backlogEnd"`
	// InFlightMean is the mean of messages received and not yet deleted
	// over the second half.
	InFlightMean float64 `json:"inFlightMean"`
	// HandlerP50ms is the handler's median time (payment plus the two
	// order-table writes) over the second half.
	HandlerP50ms float64 `json:"handlerP50Ms"`
	// PeakRSSMB is the process's VmHWM at the end of the window.
	PeakRSSMB float64 `json:"peakRssMB"`
	// CPU is where the machine's time went during the window.
	CPU       CPU  `json:"cpu"`
	Sustained bool `json:"sustained"`
	// Why says which part of the rule failed.
	Why string `json:"why,omitempty"`
}

// stageRule is how a step is judged, in words; judge implements it.
const stageRule = "sustained: over the window's second half the visible backlog grows by at most 1 % of the rate per second " +
	"(least-squares slope of 1 s samples), its mean stays under one second of arrivals, no message fails, " +
	"and the worker completes at least 95 % of the rate"

// judge applies stageRule to a step.
func (s *StageStep) judge() {
	var why []string
	if limit := 0.01 * s.Rate; s.BacklogSlope > limit {
		why = append(why, fmt.Sprintf("backlog grows %.1f/s (limit %.1f/s)", s.BacklogSlope, limit))
	}
	if s.BacklogMean >= s.Rate {
		why = append(why, fmt.Sprintf("mean backlog %.0f ≥ one second of arrivals (%.0f)", s.BacklogMean, s.Rate))
	}
	if s.Failed > 0 {
		why = append(why, fmt.Sprintf("%d messages failed", s.Failed))
	}
	if s.ProcessedPerSec < 0.95*s.Rate {
		why = append(why, fmt.Sprintf("completed %.1f/s < 95 %% of the rate", s.ProcessedPerSec))
	}
	s.Sustained = len(why) == 0
	s.Why = strings.Join(why, "; ")
}

func runStage(ctx context.Context, e *env, o StageOptions, log *slog.Logger) (*StageResult, error) {
	res := &StageResult{
		Concurrency: o.Concurrency, WorkMs: millis(o.Work), WindowSec: o.Window.Seconds(),
		CeilingPerSec: float64(o.Concurrency) / o.Work.Seconds(), Rule: stageRule,
	}
	step := func(rate float64) (StageStep, error) {
		st, err := runStageStep(ctx, e, o, rate)
		if err == nil {
			res.Steps = append(res.Steps, st)
			log.Info("stage step", "rate", rate, "sustained", st.Sustained, "processed", math.Round(st.ProcessedPerSec),
				"backlogSlope", math.Round(st.BacklogSlope*10)/10, "rssMB", math.Round(st.PeakRSSMB), "why", st.Why)
		}
		return st, err
	}
	var best, bestRSS, failed float64
	for rate := o.StartRate; rate <= o.MaxRate; rate += o.StepRate {
		st, err := step(rate)
		if err != nil {
			return res, err
		}
		if !st.Sustained {
			failed = rate
			break
		}
		best, bestRSS = rate, st.PeakRSSMB
	}
	for range o.Refine {
		if failed == 0 {
			break
		}
		mid := math.Round((best + failed) / 2)
		if mid <= best || mid >= failed {
			break
		}
		st, err := step(mid)
		if err != nil {
			return res, err
		}
		if st.Sustained {
			best, bestRSS = mid, st.PeakRSSMB
		} else {
			failed = mid
		}
	}
	res.MaxSustained, res.PeakRSSMB, res.LimitReached = best, bestRSS, failed > 0
	got := fmt.Sprintf("%.0f orders/s", best)
	if !res.LimitReached {
		got = fmt.Sprintf("≥ %.0f orders/s (every rate sustained; raise --stage-max-rate)", best)
	}
	res.Targets = []Target{
		{Name: "one worker process, 3 s handler", Want: "≥ 200 orders/s", Got: got, Met: best >= 200},
		{Name: "its peak RSS (VmHWM)", Want: "< 150 MB", Got: fmt.Sprintf("%.1f MB", bestRSS), Met: best > 0 && bestRSS < 150},
	}
	return res, nil
}

// stageSample is one second's look at the queue, the process and its
// metrics.
type stageSample struct {
	at                time.Duration
	visible, inFlight int
}

func runStageStep(ctx context.Context, e *env, o StageOptions, rate float64) (StageStep, error) {
	st := StageStep{Rate: rate}
	name := e.name(fmt.Sprintf("stage-%g", rate))
	q, err := createStageQueues(ctx, e.sqs, name, 3)
	if err != nil {
		return st, err
	}
	defer e.deleteQueues(context.WithoutCancel(ctx), q.URL, q.NextURL, q.DLQURL)
	store := dynamo.New(e.db, dynamo.Config{Table: name + "-orders", Timeout: 10 * time.Second})
	if err := store.EnsureTable(ctx); err != nil {
		return st, err
	}
	defer func() {
		_, _ = e.db.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: aws.String(store.Table())})
	}()

	// The orders exist before the window starts, as the API would have
	// written them, so that writing them does not share the window with
	// the worker.
	n := int(math.Ceil(rate * o.Window.Seconds()))
	msgs, err := createOrders(ctx, store, n)
	if err != nil {
		return st, err
	}

	env, err := stageEnv(o, q, store.Table())
	if err != nil {
		return st, err
	}
	dir, err := e.logDir(name)
	if err != nil {
		return st, err
	}
	var mu sync.Mutex
	start := time.Now() // the window; the process starts within it
	var lines []struct {
		at time.Duration
		c  emfCounts
	}
	sup := &local.Supervisor{
		Command: []string{e.linecookd}, Env: e.emu.Env(), LogDir: dir,
		Metrics: func(_ string, line []byte) {
			if c, ok := parseEMF(line); ok {
				mu.Lock()
				lines = append(lines, struct {
					at time.Duration
					c  emfCounts
				}{time.Since(start), c})
				mu.Unlock()
			}
		},
	}
	task, err := sup.Start("payment", "payment", []string{"worker", handlers.PaymentWorker}, env)
	if err != nil {
		return st, err
	}
	defer sup.StopAll(30 * time.Second)

	cpu := meter(task.Pid())
	fctx, stopFeeding := context.WithCancel(ctx)
	feedErr := make(chan error, 1)
	var sent atomic.Int64
	go func() { feedErr <- feed(fctx, e.sqs, q.URL, msgs, rate, start, &sent) }()

	var samples []stageSample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := start.Add(o.Window)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			stopFeeding()
			return st, ctx.Err()
		case <-task.Done():
			stopFeeding()
			return st, fmt.Errorf("the worker exited during the window (%v); see %s/payment.log", task.Err(), dir)
		case <-tick.C:
		}
		d, err := emulators.Depth(ctx, e.sqs, q.URL)
		if err != nil {
			stopFeeding()
			return st, fmt.Errorf("queue depth: %w", err)
		}
		samples = append(samples, stageSample{at: time.Since(start), visible: d.Visible, inFlight: d.InFlight})
	}
	st.CPU = cpu.stop()
	stopFeeding()
	if err := <-feedErr; err != nil && !errors.Is(err, context.Canceled) {
		return st, fmt.Errorf("feeding: %w", err)
	}
	hwm, err := peakRSS(task.Pid())
	if err != nil {
		return st, err
	}
	st.PeakRSSMB = hwm
	st.Sent = int(sent.Load())

	half := o.Window / 2
	var xs, backlog, inFlight []float64
	for _, s := range samples {
		if s.at >= half {
			xs = append(xs, s.at.Seconds())
			backlog = append(backlog, float64(s.visible))
			inFlight = append(inFlight, float64(s.inFlight))
		}
	}
	st.BacklogSlope, st.BacklogMean, st.InFlightMean = slope(xs, backlog), mean(backlog), mean(inFlight)
	if len(samples) > 0 {
		st.BacklogEnd = samples[len(samples)-1].visible
	}
	mu.Lock()
	var succeeded int
	var times []float64
	firstHalf, lastAt := time.Duration(-1), time.Duration(0)
	for _, l := range lines {
		st.Failed += l.c.Failed
		if l.at < half || l.at > o.Window {
			continue
		}
		if firstHalf < 0 {
			firstHalf = l.at
		}
		lastAt = l.at
		succeeded += l.c.Succeeded
		times = append(times, l.c.ProcessingMs...)
	}
	mu.Unlock()
	// The runtime writes its counts once a second: rate over the span of
	// the lines counted, one interval per line.
	if firstHalf >= 0 {
		span := (lastAt - firstHalf).Seconds() + 1
		st.ProcessedPerSec = float64(succeeded) / span
	}
	if len(times) > 0 {
		slices.Sort(times)
		st.HandlerP50ms = times[len(times)/2]
	}
	st.judge()
	return st, nil
}

// stageEnv is the payment worker's environment, as the stack's task
// definition gives it (pipeline.Stage.TaskEnv), with the payment delay.
func stageEnv(o StageOptions, q stageQueues, table string) (map[string]string, error) {
	cfg, err := pipeline.Parse(map[string]string{
		"linecook:stages": fmt.Sprintf(`[{"name":"payment","worker":"payment","concurrency":%d,"processingTime":"%s"}]`,
			o.Concurrency, o.Work),
		"linecook:scaling": `{"policy":"fixed","desired":1}`,
	}, handlers.Pipeline())
	if err != nil {
		return nil, err
	}
	env := cfg.Stages[0].TaskEnv(pipeline.Queues{URL: q.URL, NextURL: q.NextURL, DLQURL: q.DLQURL, OrderTable: table})
	env["LINECOOK_PAYMENT_DELAY"] = o.Work.String()
	env["LINECOOK_WORK_SCALE"] = "1"
	return env, nil
}

// stageMessage is an order's message to the first stage, as the API
// sends it.
type stageMessage struct{ body, traceID string }

// createOrders writes n burger-and-fries orders to the table from 16
// goroutines and returns their stage messages.
func createOrders(ctx context.Context, store *dynamo.Store, n int) ([]stageMessage, error) {
	msgs := make([]stageMessage, n)
	ords := make([]orders.Order, n)
	now := time.Now()
	for i := range ords {
		ords[i] = orders.New(orders.Request{Items: []orders.Line{{Item: "burger", Quantity: 1}, {Item: "fries", Quantity: 1}}}, now)
		msgs[i] = stageMessage{body: string(orders.EncodeMessage(ords[i])), traceID: ords[i].TraceID}
	}
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := store.Create(ctx, ords[i]); err != nil {
					errs <- fmt.Errorf("create order: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return msgs, <-errs
}

// feed sends msgs to the queue at rate per second, open loop: batches of
// ten leave on schedule whether or not earlier sends have returned.
func feed(ctx context.Context, client *sqs.Client, url string, msgs []stageMessage, rate float64, start time.Time, sent *atomic.Int64) error {
	interval := time.Duration(float64(10*time.Second) / rate)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; i*10 < len(msgs); i++ {
		due := start.Add(time.Duration(i) * interval)
		t := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		batch := msgs[i*10 : min(len(msgs), i*10+10)]
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
		for j, m := range batch {
			in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(m.body),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					workers.TraceIDAttribute: {DataType: aws.String("String"), StringValue: aws.String(m.traceID)},
				},
			})
		}
		wg.Go(func() {
			out, err := client.SendMessageBatch(ctx, in)
			if err == nil && len(out.Failed) > 0 {
				err = fmt.Errorf("%d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
			}
			if err != nil {
				cancel(fmt.Errorf("send: %w", err))
				return
			}
			sent.Add(int64(len(in.Entries)))
		})
	}
	return nil
}

// peakRSS is a process's peak resident set (VmHWM), in MB (10^6 bytes).
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	return vmField(string(b), "VmHWM")
}

// vmField reads a "Name:   1234 kB" line of /proc/<pid>/status (kB
// there are KiB), in MB.
func vmField(status, name string) (float64, error) {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			break
		}
		return kb * 1024 / 1e6, nil
	}
	return 0, fmt.Errorf("no %s in /proc status", name)
}
