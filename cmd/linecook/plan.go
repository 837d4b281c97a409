package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/tools/capacity"
)

func init() { root.AddCommand(newPlanCmd()) }

func newPlanCmd() *cobra.Command {
	var (
		in                        capacity.Input
		vcpuHour, gbHour, spotCut float64
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Size a stage: concurrency, min/max tasks, scaling target, wait estimate, cost, stack config",
		Long: `Plan sizes one stage from its design (peak) rate, its mean processing time
and the wait its messages may spend in the queue:

  in flight      Little's law: rate × processing time messages at once
  concurrency    unless --concurrency is given: CPU-bound work (--cpu-bound) gets
                 one message per vCPU; I/O-bound work gets the whole in-flight
                 load plus headroom in one task, capped at --max-concurrency
                 (Fargate bills per task, so fewer, fuller tasks cost less)
  max tasks      in flight × --headroom ÷ concurrency, rounded up
  min tasks      the same for --base-rate, at least 1 (or --min)
  target         backlog per task for target tracking: concurrency × latency ÷
                 processing time (AWS's latency ÷ processing time, per message slot)
  Erlang C       the M/M/c estimate, at max tasks, of how often a message waits
                 and for how long on average (Poisson arrivals, exponential times)
  cost           Fargate per task-hour and per 730-hour month at min tasks, at
                 the design rate around the clock, and at max tasks

It ends with the linecook:scaling and linecook:stages config to paste under
config: in Pulumi.<stack>.yaml. Check the plan against traffic with
'linecook simulate'.`,
		Example: `  # The reference flash sale: 60 orders/s, 3 s payment calls, 30 s acceptable wait
  linecook plan --rate 60 --processing-time 3s --latency 30s

  # One order at a time per task, as the reference system's workers
  linecook plan --rate 60 --processing-time 3s --concurrency 1

  # CPU-heavy work on 1 vCPU tasks, with 5 orders/s off-peak
  linecook plan --stage render --rate 4 --base-rate 1 --processing-time 2s --cpu-bound --cpu 1024 --memory 2048`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			for _, req := range []string{"rate", "processing-time"} {
				if !fl.Changed(req) {
					return fmt.Errorf("--%s is required (see linecook plan --help)", req)
				}
			}
			in.Prices = capacity.Prices{VCPUHour: vcpuHour, GBHour: gbHour, SpotDiscount: spotCut}
			r, err := capacity.Recommend(in)
			if err != nil {
				return fieldFlagError(err)
			}
			return printPlan(cmd.OutOrStdout(), r)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Stage, "stage", "work", "stage name for the config snippet")
	fl.StringVar(&in.Worker, "worker", "", "built-in worker the stage runs (default: the stage name)")
	fl.Float64Var(&in.Rate, "rate", 0, "design (peak) arrival rate, messages per second (required)")
	fl.Float64Var(&in.BaseRate, "base-rate", 0, "off-peak arrival rate, sets the minimum tasks")
	fl.DurationVar(&in.ProcessingTime, "processing-time", 0, "mean time one message takes (required)")
	fl.DurationVar(&in.Latency, "latency", 30*time.Second, "acceptable wait in the queue")
	fl.IntVar(&in.Concurrency, "concurrency", 0, "messages one task works on at once (default: chosen, see above)")
	fl.BoolVar(&in.CPUBound, "cpu-bound", false, "the work is CPU-bound: one message per vCPU")
	fl.IntVar(&in.MaxConcurrency, "max-concurrency", capacity.DefaultMaxConcurrency, "cap on the chosen I/O-bound concurrency")
	fl.IntVar(&in.CPU, "cpu", 256, "task CPU units (1024 = 1 vCPU)")
	fl.IntVar(&in.Memory, "memory", 512, "task memory, MiB (a valid Fargate pair with --cpu)")
	fl.BoolVar(&in.Spot, "spot", false, "run on Fargate Spot")
	fl.IntVar(&in.Min, "min", -1, "minimum tasks (default: from --base-rate, at least 1)")
	fl.Float64Var(&in.Headroom, "headroom", capacity.DefaultHeadroom, "capacity over Little's law for max tasks (1.25 = 25 % spare)")
	fl.Float64Var(&vcpuHour, "vcpu-hour", capacity.USEast1.VCPUHour, "Fargate price per vCPU-hour, $ (default us-east-1 Linux/x86)")
	fl.Float64Var(&gbHour, "gb-hour", capacity.USEast1.GBHour, "Fargate price per GB-hour, $")
	fl.Float64Var(&spotCut, "spot-discount", capacity.USEast1.SpotDiscount, "Fargate Spot discount (AWS: up to 0.7)")
	return cmd
}

func printPlan(w io.Writer, r capacity.Recommendation) error {
	in := r.Input
	pct := func(p float64) string {
		if p < 0.0001 {
			return "< 0.01%"
		}
		return fmt.Sprintf("%.2f%%", p*100)
	}
	meanWait := "unbounded (load ≥ slots)"
	if r.AtMax.MeanWait != time.Duration(math.MaxInt64) {
		meanWait = r.AtMax.MeanWait.Round(time.Microsecond).String()
	}
	spot := ""
	if in.Spot {
		spot = fmt.Sprintf(", Spot at −%g%%", in.Prices.SpotDiscount*100)
	}
	fmt.Fprintf(w, "Stage %s: %g msg/s × %s, acceptable wait %s\n\n", in.Stage, in.Rate, in.ProcessingTime, in.Latency)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  in flight\t%.4g messages at %g/s (Little's law: rate × processing time)\n", r.InFlight, in.Rate)
	fmt.Fprintf(tw, "  concurrency per task\t%d (%s)\n", r.Concurrency, r.ConcurrencyWhy)
	fmt.Fprintf(tw, "  tasks\tmin %d, max %d (%.4g × %.2f headroom ÷ %d); %d at %g/s with none spare\n",
		r.Min, r.Max, r.InFlight, in.Headroom, r.Concurrency, r.TasksAtRate, in.Rate)
	fmt.Fprintf(tw, "  target backlog per task\t%g (%d × %s ÷ %s)\n", r.TargetValue, r.Concurrency, in.Latency, in.ProcessingTime)
	fmt.Fprintf(tw, "  Erlang C at max tasks\t%d slots, %.0f%% busy: P(wait) %s, mean wait %s, P(wait > %s) %s\n",
		r.AtMax.Servers, r.AtMax.Utilization*100, pct(r.AtMax.PWait), meanWait, in.Latency, pct(r.AtMax.PWaitLonger(in.Latency)))
	fmt.Fprintf(tw, "  cost\t$%.5f per task-hour (%d CPU, %d MiB%s)\n", r.TaskHour, in.CPU, in.Memory, spot)
	fmt.Fprintf(tw, "  \t$%.2f/month at min, $%.2f at %g/s around the clock, $%.2f at max\n", r.MonthlyMin, r.MonthlyAtRate, in.Rate, r.MonthlyAtMax)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nPaste under config: in Pulumi.<stack>.yaml:\n\n%s", r.Snippet)
	_, err := fmt.Fprintln(w)
	return err
}
