package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
)

// DrainOptions sizes the worker throughput benchmark.
type DrainOptions struct {
	// Messages is the backlog each drain empties.
	Messages int
	// RawGoroutines run the raw batched drain.
	RawGoroutines int
	// Concurrency is the runtime's LINECOOK_CONCURRENCY.
	Concurrency int
}

func (o DrainOptions) validate() error {
	switch {
	case o.Messages < 10:
		return fmt.Errorf("--drain-messages %d: must be at least 10", o.Messages)
	case o.RawGoroutines < 1 || o.RawGoroutines > 256:
		return fmt.Errorf("--drain-raw-goroutines %d: must be 1 to 256", o.RawGoroutines)
	case o.Concurrency < 1 || o.Concurrency > workers.MaxConcurrency:
		return fmt.Errorf("--drain-concurrency %d: must be 1 to %d", o.Concurrency, workers.MaxConcurrency)
	}
	return nil
}

// DrainResult is the worker throughput benchmark: one backlog drained
// three ways with a handler that does nothing, so what is measured is the
// SQS calls each way makes.
type DrainResult struct {
	Messages int `json:"messages"`
	// Naive receives one message, handles it and deletes it, in one loop:
	// the reference order-processor's pattern.
	Naive DrainRate `json:"naive"`
	// Raw receives ten and deletes them with one DeleteMessageBatch from
	// RawGoroutines goroutines, with no handler and no bookkeeping: the
	// emulator's ceiling for a client that batches.
	Raw DrainRate `json:"raw"`
	// Runtime is workers/consumer with a no-op handler, as a last stage.
	Runtime DrainRate `json:"runtime"`
	// RawGoroutines and Concurrency are the settings used.
	RawGoroutines int `json:"rawGoroutines"`
	Concurrency   int `json:"concurrency"`
	// VsNaive and VsRaw are the runtime's throughput over the others'.
	VsNaive float64  `json:"runtimeVsNaive"`
	VsRaw   float64  `json:"runtimeVsRaw"`
	Targets []Target `json:"targets"`
}

// DrainRate is one drain's time and throughput.
type DrainRate struct {
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgsPerSec"`
	CPU        CPU     `json:"cpu"`
}

func runDrain(ctx context.Context, e *env, o DrainOptions, profileDir string) (*DrainResult, error) {
	res := &DrainResult{Messages: o.Messages, RawGoroutines: o.RawGoroutines, Concurrency: o.Concurrency}
	quiet := []consumer.Option{consumer.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), consumer.WithMetrics(io.Discard)}
	drains := []struct {
		name  string
		rate  *DrainRate
		drain func(ctx context.Context, url string) error
	}{
		{"naive", &res.Naive, func(ctx context.Context, url string) error {
			return drainNaive(ctx, e.sqs, url, o.Messages)
		}},
		{"raw", &res.Raw, func(ctx context.Context, url string) error {
			return drainBatched(ctx, e.sqs, url, o.Messages, o.RawGoroutines)
		}},
		{"runtime", &res.Runtime, func(ctx context.Context, url string) error {
			cfg := consumer.Config{
				Stage: "bench", QueueURL: url, Concurrency: o.Concurrency,
				VisibilityTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second, MaxReceiveCount: 3,
				RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
			}
			stop, err := profile(profileDir, "runtime-drain")
			if err != nil {
				return err
			}
			return errors.Join(drainConsumer(ctx, e.sqs, cfg, o.Messages, 0, quiet...), stop())
		}},
	}
	for _, d := range drains {
		q, err := createStageQueues(ctx, e.sqs, e.name("drain-"+d.name), 3)
		if err != nil {
			return res, err
		}
		if err := fill(ctx, e.sqs, q.URL, o.Messages, `{"order":"burger","qty":1}`); err != nil {
			return res, fmt.Errorf("fill: %w", err)
		}
		// Generous: the naive loop drains 20 000 in about 25 s here.
		dctx, cancel := context.WithTimeout(ctx, 5*time.Minute+time.Duration(o.Messages)*10*time.Millisecond)
		cpu := meter()
		start := time.Now()
		err = d.drain(dctx, q.URL)
		took := time.Since(start)
		used := cpu.stop()
		cancel()
		e.deleteQueues(ctx, q.URL, q.NextURL, q.DLQURL)
		if err != nil {
			return res, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.rate = DrainRate{Seconds: took.Seconds(), MsgsPerSec: float64(o.Messages) / took.Seconds(), CPU: used}
	}
	res.VsNaive = res.Runtime.MsgsPerSec / res.Naive.MsgsPerSec
	res.VsRaw = res.Runtime.MsgsPerSec / res.Raw.MsgsPerSec
	res.Targets = []Target{
		{Name: "runtime vs naive loop", Want: "≥ 10×", Got: fmt.Sprintf("%.1f×", res.VsNaive), Met: res.VsNaive >= 10},
		{Name: "runtime vs raw batched client", Want: "≥ 70 %", Got: fmt.Sprintf("%.0f %%", 100*res.VsRaw), Met: res.VsRaw >= 0.7},
	}
	return res, nil
}

// profile starts a CPU profile into dir/name.pprof and returns the
// function that ends it; with no dir it does nothing.
func profile(dir, name string) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
