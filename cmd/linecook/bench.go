package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/tools/bench"
)

func init() { root.AddCommand(benchCmd()) }

func benchCmd() *cobra.Command {
	o := bench.Defaults()
	var only []string
	var asJSON, quiet, strict bool
	var save string
	var medians []string
	cmd := &cobra.Command{
		Use:   "bench [--only drain,stage,api,e2e] [--json]",
		Short: "Benchmark the worker runtime, one stage, the order API and the whole pipeline on local emulators",
		Long: `Runs four benchmarks in one process, one after the other, against the local
SQS and DynamoDB emulators (installed on first use), so the ratios between them
hold on a noisy machine:

  drain  worker throughput with a no-op handler: linecook's runtime against a
         naive receive-1/delete-1 loop (the reference order-processor) and a raw
         batched client with no handler (the emulator's ceiling), one backlog each.
  stage  one linecookd payment worker process with a 3 s handler, fed at rising
         fixed rates with SendMessageBatch: the highest rate it sustains with the
         queue not growing, and its peak RSS (VmHWM).
  api    POST /orders open loop: accept latency p50/p99, against the bare
         PutItem + SendMessage it makes (same rate, same run), and against
         POST /orders/sync, which pays the 3 s payment inline.
  e2e    orders through the API and all four burger stages at fixed worker
         counts (no autoscaling): throughput and end-to-end p50/p99.

Targets (10x the naive loop, 70 % of the raw client, 200 orders/s from one
process under 150 MB) are reported met or NOT MET. The defaults are the full run
(about 7 minutes); the size flags shrink it to a seconds-long smoke run.
Save several runs with --save and print their medians with --medians.`,
		Example: `  linecook bench
  linecook bench --save run1.json   # and run2.json, run3.json …
  linecook bench --medians run1.json,run2.json,run3.json
  linecook bench --only drain,api --json > bench.json
  linecook bench --drain-messages 500 --stage-window 4s --stage-work 200ms \
    --stage-start-rate 20 --stage-max-rate 40 --api-duration 2s --e2e-orders 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(medians) > 0 {
				var runs []*bench.Results
				for _, path := range medians {
					r, err := bench.Load(path)
					if err != nil {
						return fmt.Errorf("--medians: %w", err)
					}
					runs = append(runs, r)
				}
				bench.PrintMedians(cmd.OutOrStdout(), runs)
				return nil
			}
			for _, name := range only {
				for _, part := range strings.Split(name, ",") {
					if part = strings.TrimSpace(part); part != "" {
						o.Only = append(o.Only, part)
					}
				}
			}
			if err := o.Validate(); err != nil {
				return err
			}
			level := slog.LevelInfo
			if quiet {
				level = slog.LevelWarn
			}
			o.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			res, err := bench.Run(cmd.Context(), o)
			if res != nil && save != "" {
				b, jerr := json.MarshalIndent(res, "", "  ")
				if jerr == nil {
					jerr = os.WriteFile(save, append(b, '\n'), 0o644)
				}
				if jerr != nil && err == nil {
					err = fmt.Errorf("--save: %w", jerr)
				}
			}
			if res != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(res); jerr != nil && err == nil {
						err = jerr
					}
				} else {
					res.Print(cmd.OutOrStdout())
				}
			}
			if err != nil {
				return err
			}
			if strict {
				for _, t := range res.Targets() {
					if !t.Met {
						return fmt.Errorf("--strict: target not met: %s %s (got %s)", t.Name, t.Want, t.Got)
					}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&only, "only", nil, "run only these benchmarks: "+strings.Join(bench.All, ", "))
	f.BoolVar(&asJSON, "json", false, "print the results as JSON instead of tables")
	f.StringVar(&save, "save", "", "also write the results as JSON to this file")
	f.StringSliceVar(&medians, "medians", nil, "run nothing: print the medians of these saved runs (--save files) as Markdown tables")
	f.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	f.BoolVar(&strict, "strict", false, "exit non-zero when a target is not met")
	f.StringVar(&o.Linecookd, "linecookd", "", "linecookd binary to run (default: build it from this checkout, or the one beside linecook)")
	f.StringVar(&o.WorkDir, "work-dir", "", "keep the processes' logs here (default: a temporary directory)")
	f.StringVar(&o.CPUProfileDir, "cpuprofile-dir", "", "write CPU profiles of the runtime's drain and the API (run in-process for it) here")

	f.IntVar(&o.Drain.Messages, "drain-messages", o.Drain.Messages, "backlog each drain empties")
	f.IntVar(&o.Drain.RawGoroutines, "drain-raw-goroutines", o.Drain.RawGoroutines, "goroutines of the raw batched drain")
	f.IntVar(&o.Drain.Concurrency, "drain-concurrency", o.Drain.Concurrency, "the runtime's LINECOOK_CONCURRENCY in the drain")

	f.IntVar(&o.Stage.Concurrency, "stage-concurrency", o.Stage.Concurrency, "the payment worker's LINECOOK_CONCURRENCY")
	f.DurationVar(&o.Stage.Work, "stage-work", o.Stage.Work, "the payment's simulated call (LINECOOK_PAYMENT_DELAY)")
	f.DurationVar(&o.Stage.Window, "stage-window", o.Stage.Window, "how long each rate is fed (judged over its second half)")
	f.Float64Var(&o.Stage.StartRate, "stage-start-rate", o.Stage.StartRate, "first rate tried, orders/s")
	f.Float64Var(&o.Stage.StepRate, "stage-step-rate", o.Stage.StepRate, "rate increase per step, orders/s")
	f.Float64Var(&o.Stage.MaxRate, "stage-max-rate", o.Stage.MaxRate, "highest rate tried, orders/s")
	f.IntVar(&o.Stage.Refine, "stage-refine", o.Stage.Refine, "halvings of the last passed–first failed interval")

	f.Float64Var(&o.API.Rate, "api-rate", o.API.Rate, "requests per second for the bare calls and both paths")
	f.DurationVar(&o.API.Duration, "api-duration", o.API.Duration, "how long the bare calls and POST /orders run")
	f.DurationVar(&o.API.SyncDuration, "api-sync-duration", o.API.SyncDuration, "how long POST /orders/sync runs")
	f.DurationVar(&o.API.PaymentDelay, "payment-delay", o.API.PaymentDelay, "the sync path's inline payment (LINECOOK_PAYMENT_DELAY)")

	f.IntVar(&o.Pipeline.Orders, "e2e-orders", o.Pipeline.Orders, "orders sent through the whole pipeline")
	f.Float64Var(&o.Pipeline.Rate, "e2e-rate", o.Pipeline.Rate, "orders per second through the whole pipeline")
	f.IntVar(&o.Pipeline.Workers, "e2e-workers", o.Pipeline.Workers, "fixed worker processes per stage")
	f.IntVar(&o.Pipeline.Concurrency, "e2e-concurrency", o.Pipeline.Concurrency, "LINECOOK_CONCURRENCY of every worker")
	f.Float64Var(&o.Pipeline.TimeScale, "e2e-time-scale", o.Pipeline.TimeScale, "run the simulated work this many times faster (1: a real 3 s payment)")
	f.DurationVar(&o.Pipeline.Timeout, "e2e-timeout", o.Pipeline.Timeout, "how long to wait for completions after the last order")
	return cmd
}
