package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/loadgen"
	"github.com/linecook/linecook/tools/local"
)

// PipelineOptions sizes the end-to-end benchmark.
type PipelineOptions struct {
	// Orders are sent at Rate per second through the API.
	Orders int
	Rate   float64
	// Workers is each stage's fixed task count; Concurrency each task's
	// LINECOOK_CONCURRENCY.
	Workers, Concurrency int
	// TimeScale divides the simulated work (1: real time, a 3 s payment).
	TimeScale float64
	// Timeout bounds the wait for completions after the last send.
	Timeout time.Duration
}

func (o PipelineOptions) validate() error {
	switch {
	case o.Orders < 2:
		return fmt.Errorf("--e2e-orders %d: must be at least 2", o.Orders)
	case o.Rate <= 0:
		return fmt.Errorf("--e2e-rate %g: must be more than 0", o.Rate)
	case o.Workers < 1 || o.Workers > 20:
		return fmt.Errorf("--e2e-workers %d: must be 1 to 20 per stage", o.Workers)
	case o.Concurrency < 1 || o.Concurrency > 10000:
		return fmt.Errorf("--e2e-concurrency %d: must be 1 to 10000", o.Concurrency)
	case o.TimeScale < 1 || o.TimeScale > 600:
		return fmt.Errorf("--e2e-time-scale %g: must be 1 (real time) to 600", o.TimeScale)
	case o.Timeout <= 0:
		return fmt.Errorf("--e2e-timeout %s: must be more than 0", o.Timeout)
	}
	return nil
}

// PipelineResult is the end-to-end benchmark: orders through the API and
// all four burger stages (payment, grill, fry, assemble), each a fixed
// number of linecookd processes, as `linecook local --fixed` runs them.
type PipelineResult struct {
	Orders      int     `json:"orders"`
	Rate        float64 `json:"ratePerSec"`
	Workers     int     `json:"workersPerStage"`
	Concurrency int     `json:"concurrency"`
	TimeScale   float64 `json:"timeScale"`

	Sent         int            `json:"sent"`
	Accepted     int            `json:"accepted"`
	Errors       map[string]int `json:"errors,omitempty"`
	Completed    int            `json:"completed"`
	DeadLettered int            `json:"deadLettered"`
	Lost         int            `json:"lost"`
	// ThroughputPerSec is completions per second (the order table's
	// timestamps) between the 5th and the 95th percentile completion:
	// what left the last stage in steady state, which equals the rate
	// when every stage keeps up. Counting from the first completion to
	// the last would add the spread of end-to-end times to the span.
	ThroughputPerSec float64 `json:"throughputPerSec"`
	Accept           Latency `json:"accept"`
	// EndToEnd is created → completed, from the order table.
	EndToEnd Latency `json:"endToEnd"`
	// CPU is where the machine's time went while the orders were sent
	// and completed; Process is the API and every worker together.
	CPU CPU `json:"cpu"`
}

func runPipeline(ctx context.Context, o Options) (*PipelineResult, error) {
	p := o.Pipeline
	res := &PipelineResult{Orders: p.Orders, Rate: p.Rate, Workers: p.Workers, Concurrency: p.Concurrency, TimeScale: p.TimeScale}
	cfg, err := pipelineConfig(p)
	if err != nil {
		return res, err
	}
	dir := filepath.Join(o.WorkDir, "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	// The emulators' own output, for when one of them fails under load.
	emuLog, err := os.Create(filepath.Join(dir, "emulators.log"))
	if err != nil {
		return res, err
	}
	defer emuLog.Close()
	r, err := local.Start(ctx, local.Options{
		Config: cfg, Stack: "bench", TaskCommand: []string{o.Linecookd},
		TimeScale: p.TimeScale, Autoscale: false,
		WorkDir: dir, Log: o.Log.With("part", "local"), EmulatorLog: emuLog,
	})
	if err != nil {
		return res, err
	}
	defer r.Stop()
	o.Log.Info("e2e: pipeline up; sending orders", "api", r.APIURL(), "logs", r.WorkDir())
	cpu := meter(childrenWith(o.Linecookd)...)
	sum, err := r.PlaceOrders(ctx, p.Orders, p.Rate, p.Timeout, nil)
	res.CPU = cpu.stop()
	if sum.Load != nil {
		res.Sent, res.Accepted, res.Accept = sum.Load.Sent, sum.Load.Accepted, summarize(sum.Load.Accept)
		if len(sum.Load.Errors) > 0 {
			res.Errors = sum.Load.Errors
		}
	}
	if err != nil {
		return res, err
	}
	res.Completed, res.DeadLettered, res.Lost = sum.Completed, sum.DeadLettered, sum.Lost
	res.EndToEnd = summarize(sum.EndToEnd)
	res.ThroughputPerSec, err = throughput(ctx, r, sum.Load)
	return res, err
}

// pipelineConfig is the burger pipeline with every stage at a fixed
// count and the given concurrency.
func pipelineConfig(p PipelineOptions) (pipeline.Config, error) {
	var stages []string
	for _, name := range handlers.Names {
		stages = append(stages, fmt.Sprintf(`{"name":%q,"worker":%q,"concurrency":%d}`, name, name, p.Concurrency))
	}
	return pipeline.Parse(map[string]string{
		"linecook:stages":  "[" + strings.Join(stages, ",") + "]",
		"linecook:scaling": fmt.Sprintf(`{"policy":"fixed","desired":%d}`, p.Workers),
	}, handlers.Pipeline())
}

// throughput reads the accepted orders back and returns completions per
// second between the 5th and 95th percentile completions.
func throughput(ctx context.Context, r *local.Runner, load *loadgen.Result) (float64, error) {
	if load == nil || len(load.IDs) < 2 {
		return 0, nil
	}
	cfg, err := r.Emulators().AWSConfig(ctx)
	if err != nil {
		return 0, err
	}
	store := dynamo.New(r.Emulators().DynamoDBClient(cfg), dynamo.Config{Table: r.Table(), Timeout: 30 * time.Second})
	got, err := store.GetMany(ctx, load.IDs)
	if err != nil {
		return 0, fmt.Errorf("reading the orders back: %w", err)
	}
	var done []time.Time
	for _, o := range got {
		if !o.CompletedAt.IsZero() {
			done = append(done, o.CompletedAt)
		}
	}
	return completionRate(done), nil
}

// completionRate is completions per second between the 5th and 95th
// percentile of completion times (all of them below 20 completions).
func completionRate(done []time.Time) float64 {
	if len(done) < 2 {
		return 0
	}
	slices.SortFunc(done, func(a, b time.Time) int { return a.Compare(b) })
	lo, hi := 0, len(done)-1
	if len(done) >= 20 {
		lo, hi = len(done)*5/100, len(done)*95/100
	}
	span := done[hi].Sub(done[lo]).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(hi-lo) / span
}
