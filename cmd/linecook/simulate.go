package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/tools/capacity"
	"github.com/linecook/linecook/tools/simulate"
)

// simulateFlags are `linecook simulate`'s flags.
type simulateFlags struct {
	drift, scaleOutOn         string
	metricDelay, idleBefore   time.Duration
	reactivation              time.Duration
	stack, dir, stage, policy string
	tasks                     int
	compare                   bool

	concurrency, cpu, memory, min, max int
	processingTime, latency            time.Duration

	scenario, arrivalsFile, arrivals              string
	rate, baseRate                                float64
	duration, burst, burstAt, ramp, plateau, lead time.Duration
	spread                                        float64
	startDelay, sampleEvery, drainLimit           time.Duration
	seed                                          uint64
	vcpuHour, gbHour, spotDiscount                float64
	png, html, csv                                string
}

var scenarios = []string{"flash-sale", "steady", "lunch-rush", "csv"}

// scenarioFlags lists the flags that shape each scenario; any other
// scenario flag given is a mistake worth saying.
var scenarioFlags = map[string][]string{
	"rate":          {"flash-sale", "steady", "lunch-rush"},
	"base-rate":     {"flash-sale", "lunch-rush"},
	"duration":      {"flash-sale", "steady"},
	"burst":         {"flash-sale"},
	"burst-at":      {"flash-sale"},
	"ramp":          {"lunch-rush"},
	"plateau":       {"lunch-rush"},
	"lead":          {"lunch-rush"},
	"arrivals-file": {"csv"},
}

func init() { root.AddCommand(newSimulateCmd()) }

// newSimulateCmd builds the command; tests build a fresh one per case, as
// cobra keeps flag state.
func newSimulateCmd() *cobra.Command {
	f := &simulateFlags{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Simulate a stage or pipeline's scaling policies under traffic: waits, backlog, tasks, cost",
		Long: `Simulate runs the scaling policies a stack would deploy against a traffic
scenario, in simulated time (a day takes well under a second), and reports per
stage the queue wait (p50/p95/p99), the largest backlog, how long the queue took
to drain after arrivals stopped, task-minutes, the Fargate bill, and the
Little's-law lower bound for the same work with the ratio to it.

The policies are evaluated as AWS would (CloudWatch one-minute periods, alarm
datapoints, step and target-tracking rules, cooldowns; see
docs/simulate.md). With --stack the stages and policies come from
Pulumi.<stack>.yaml, parsed exactly as 'pulumi up' would; without it, one stage
is described by --concurrency, --processing-time and --latency.

Scenarios (--scenario):
  flash-sale  --base-rate, then --rate for --burst from --burst-at, until --duration
  steady      --rate for --duration
  lunch-rush  --base-rate for --lead, a ramp over --ramp to --rate, --plateau,
              a ramp down, --lead at --base-rate
  csv         --arrivals-file: lines of offset,rate (offset in seconds or a
              duration such as 90s; rate in messages/s until the next row; the
              last row, rate 0, ends arrivals)`,
		Example: `  # The dev stack's pipeline under the reference flash sale, all three policies
  linecook simulate --stack dev --compare --png flash.png --html flash.html

  # One stage as in the reference system: 1 order at a time, 3 s each, 20 tasks
  linecook simulate --concurrency 1 --processing-time 3s --policy fixed --tasks 20 \
      --scenario steady --rate 6.67 --arrivals even --spread 0.02

  # A day of recorded traffic, per-second curves for comparison with 'linecook local'
  linecook simulate --stack prod --scenario csv --arrivals-file tuesday.csv --csv curves.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimulate(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stack, "stack", "", "read stages and policies from Pulumi.`NAME`.yaml")
	fl.StringVar(&f.dir, "dir", ".", "project directory holding the Pulumi.<stack>.yaml files")
	fl.StringVar(&f.stage, "stage", "", "simulate only this stage of the stack")
	fl.StringVar(&f.policy, "policy", "", "override every stage's policy: "+kindNames())
	fl.IntVar(&f.tasks, "tasks", 0, "tasks per stage for the fixed policy (default: Little's law at the scenario's peak)")
	fl.BoolVar(&f.compare, "compare", false, "run every policy ("+kindNames()+") on the same traffic, side by side")

	fl.IntVar(&f.concurrency, "concurrency", 1, "without --stack: messages one task works on at once")
	fl.DurationVar(&f.processingTime, "processing-time", 3*time.Second, "without --stack: mean processing time of a message")
	fl.DurationVar(&f.latency, "latency", pipeline.DefaultLatency, "without --stack: acceptable wait in the queue (sets the scaling target)")
	fl.IntVar(&f.cpu, "cpu", pipeline.DefaultCPU, "without --stack: task CPU units")
	fl.IntVar(&f.memory, "memory", pipeline.DefaultMemory, "without --stack: task memory, MiB")
	fl.IntVar(&f.min, "min", pipeline.DefaultMin, "minimum tasks (with --stack: overrides every stage's)")
	fl.IntVar(&f.max, "max", pipeline.DefaultMax, "maximum tasks (with --stack: overrides every stage's)")

	fl.StringVar(&f.scenario, "scenario", "flash-sale", "traffic: "+strings.Join(scenarios, ", "))
	fl.Float64Var(&f.rate, "rate", 60, "peak arrival rate, messages per second")
	fl.Float64Var(&f.baseRate, "base-rate", -1, "rate outside the peak (default 0 for flash-sale, 1 for lunch-rush)")
	fl.DurationVar(&f.duration, "duration", time.Hour, "how long arrivals last (flash-sale, steady)")
	fl.DurationVar(&f.burst, "burst", 10*time.Minute, "flash-sale: how long the peak lasts")
	fl.DurationVar(&f.burstAt, "burst-at", 5*time.Minute, "flash-sale: when the peak starts")
	fl.DurationVar(&f.ramp, "ramp", 30*time.Minute, "lunch-rush: ramp up (and down) time")
	fl.DurationVar(&f.plateau, "plateau", time.Hour, "lunch-rush: time at the peak")
	fl.DurationVar(&f.lead, "lead", 15*time.Minute, "lunch-rush: time at the base rate before and after")
	fl.StringVar(&f.arrivalsFile, "arrivals-file", "", "csv: the arrivals `FILE` (offset,rate lines)")
	fl.StringVar(&f.arrivals, "arrivals", "poisson", "arrival process: poisson (independent users) or even (a paced producer)")

	fl.StringVar(&f.scaleOutOn, "scale-out-on", "", "step scaling's scale-out signal for every stage: messages (the backlog) or age (the oldest message's)")
	fl.DurationVar(&f.metricDelay, "metric-delay", 0, "how late SQS's datapoints reach the scaler (e.g. 1m; default: at once)")
	fl.DurationVar(&f.idleBefore, "idle-before", 0, "how long the queues had had no API call before the run; 6h or more makes them inactive")
	fl.DurationVar(&f.reactivation, "reactivation", simulate.DefaultReactivation, "an inactive queue's metrics come back this long after its next call")
	fl.StringVar(&f.drift, "drift", "", "processing time changes mid-run: `FACTOR@TIME,...` (2@20m,1@40m: twice as slow from 20m, back at 40m)")
	fl.Float64Var(&f.spread, "spread", 0.3, "processing time's coefficient of variation (0 = fixed; lognormal)")
	fl.DurationVar(&f.startDelay, "start-delay", simulate.DefaultStartDelay, "Fargate task start time, desired going up to taking messages")
	fl.DurationVar(&f.sampleEvery, "sample-every", time.Second, "how often the scaler gets a metric sample (60s: one SQS datapoint a minute)")
	fl.DurationVar(&f.drainLimit, "drain-limit", simulate.DefaultDrainLimit, "give up draining this long after arrivals stop")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed; the same seed gives the same run")
	fl.Float64Var(&f.vcpuHour, "vcpu-hour", capacity.USEast1.VCPUHour, "Fargate price per vCPU-hour, $ (default us-east-1 Linux/x86)")
	fl.Float64Var(&f.gbHour, "gb-hour", capacity.USEast1.GBHour, "Fargate price per GB-hour, $")
	fl.Float64Var(&f.spotDiscount, "spot-discount", capacity.USEast1.SpotDiscount, "Fargate Spot discount for spot stages (AWS: up to 0.7)")

	fl.StringVar(&f.png, "png", "", "write backlog and task charts to this PNG `FILE`")
	fl.StringVar(&f.html, "html", "", "write the charts as a self-contained HTML `FILE`")
	fl.StringVar(&f.csv, "csv", "", "write per-second backlog and tasks of every stage to this CSV `FILE`")
	return cmd
}

// flagError names the flag, the value given and what it accepts.
func flagError(flag, value, accepts string) error {
	return fmt.Errorf("--%s %q: %s", flag, value, accepts)
}

// fieldFlagError rewords a policies.FieldError whose field is a flag.
func fieldFlagError(err error) error {
	var fe *policies.FieldError
	if errors.As(err, &fe) {
		return flagError(fe.Field, fe.Value, fe.Err.Error())
	}
	return err
}

func kindNames() string {
	names := make([]string, len(policies.Kinds))
	for i, k := range policies.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func runSimulate(cmd *cobra.Command, f *simulateFlags) error {
	fl := cmd.Flags()
	scenario, err := f.buildScenario(fl)
	if err != nil {
		return err
	}
	stages, err := f.buildStages(fl)
	if err != nil {
		return err
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	opts.Scenario = scenario

	var runs [][]simulate.Stage
	switch {
	case f.compare && f.policy != "":
		return flagError("policy", f.policy, "cannot be combined with --compare, which runs every policy")
	case f.compare:
		for _, k := range policies.Kinds {
			runs = append(runs, simulate.WithPolicy(stages, k, f.tasks, scenario.Peak()))
		}
	case f.policy != "":
		k, err := policies.ParseKind(f.policy)
		if err != nil {
			return flagError("policy", f.policy, "not a scaling policy (valid: "+kindNames()+")")
		}
		runs = append(runs, simulate.WithPolicy(stages, k, f.tasks, scenario.Peak()))
	default:
		if fl.Changed("tasks") && !slices.ContainsFunc(stages, func(s simulate.Stage) bool { return s.Scaling.Policy == policies.Fixed }) {
			return flagError("tasks", fmt.Sprint(f.tasks), "applies to the fixed policy: add --policy fixed or --compare")
		}
		runs = append(runs, stages)
	}

	results := make([]*simulate.Result, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, st := range runs {
		wg.Go(func() { results[i], errs[i] = simulate.Run(st, opts) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fieldFlagError(err)
	}
	out := cmd.OutOrStdout()
	if err := simulate.WriteTable(out, results); err != nil {
		return err
	}
	for _, o := range []struct {
		path  string
		write func(io.Writer, []*simulate.Result) error
	}{{f.png, simulate.WritePNG}, {f.html, simulate.WriteHTML}, {f.csv, simulate.WriteCSV}} {
		if o.path == "" {
			continue
		}
		if err := writeFile(o.path, func(w io.Writer) error { return o.write(w, results) }); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", o.path)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(file); err != nil {
		file.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return file.Close()
}

func (f *simulateFlags) buildScenario(fl *pflag.FlagSet) (simulate.Scenario, error) {
	if !slices.Contains(scenarios, f.scenario) {
		return nil, flagError("scenario", f.scenario, "unknown scenario (valid: "+strings.Join(scenarios, ", ")+")")
	}
	for flag, valid := range scenarioFlags {
		if fl.Changed(flag) && !slices.Contains(valid, f.scenario) {
			v := fl.Lookup(flag).Value.String()
			return nil, flagError(flag, v, fmt.Sprintf("does not apply to --scenario %s (it shapes: %s)", f.scenario, strings.Join(valid, ", ")))
		}
	}
	base := f.baseRate
	if !fl.Changed("base-rate") {
		base = 0
		if f.scenario == "lunch-rush" {
			base = 1
		}
	}
	var (
		sc  simulate.Scenario
		err error
	)
	switch f.scenario {
	case "steady":
		s := simulate.Steady{PerSecond: f.rate, Duration: f.duration}
		sc, err = s, s.Validate()
	case "flash-sale":
		s := simulate.FlashSale{BaseRate: base, PeakRate: f.rate, At: f.burstAt, Burst: f.burst, Duration: f.duration}
		sc, err = s, s.Validate()
	case "lunch-rush":
		s := simulate.LunchRush{BaseRate: base, PeakRate: f.rate, Lead: f.lead, Ramp: f.ramp, Plateau: f.plateau}
		sc, err = s, s.Validate()
	case "csv":
		if f.arrivalsFile == "" {
			return nil, flagError("arrivals-file", "", "--scenario csv needs an arrivals file of offset,rate lines")
		}
		file, err := os.Open(f.arrivalsFile)
		if err != nil {
			return nil, fmt.Errorf("--arrivals-file: %w", err)
		}
		defer file.Close()
		return simulate.ReadCSV(f.arrivalsFile, file)
	}
	if err != nil {
		return nil, fieldFlagError(err)
	}
	if base > f.rate {
		return nil, flagError("base-rate", fmt.Sprint(base), fmt.Sprintf("must not exceed --rate (%g)", f.rate))
	}
	return sc, nil
}

// singleOnly are the flags that describe a stage without --stack.
var singleOnly = []string{"concurrency", "processing-time", "latency", "cpu", "memory"}

func (f *simulateFlags) buildStages(fl *pflag.FlagSet) ([]simulate.Stage, error) {
	var cfg pipeline.Config
	var err error
	if f.stack != "" {
		for _, flag := range singleOnly {
			if fl.Changed(flag) {
				return nil, flagError(flag, fl.Lookup(flag).Value.String(), "describes a stage without --stack; with --stack "+f.stack+" the stage settings come from "+filepath.Base(pipeline.StackFile(f.dir, f.stack)))
			}
		}
		cfg, err = pipeline.StackConfig(f.dir, f.stack, handlers.Pipeline())
		if err != nil {
			return nil, err
		}
	} else {
		if fl.Changed("stage") {
			return nil, flagError("stage", f.stage, "selects a stage of a stack: add --stack")
		}
		cfg, err = singleStage(f)
		if err != nil {
			return nil, err
		}
	}
	stages := simulate.FromConfig(cfg)
	if f.stage != "" {
		var names []string
		var picked []simulate.Stage
		for _, s := range stages {
			names = append(names, s.Name)
			if s.Name == f.stage {
				picked = append(picked, s)
			}
		}
		if picked == nil {
			return nil, flagError("stage", f.stage, "no such stage in "+f.stack+" (stages: "+strings.Join(names, ", ")+")")
		}
		stages = picked
	}
	if f.stack != "" && (fl.Changed("min") || fl.Changed("max")) {
		for i := range stages {
			if fl.Changed("min") {
				stages[i].Scaling.Min = f.min
			}
			if fl.Changed("max") {
				stages[i].Scaling.Max = f.max
			}
			stages[i].Scaling.Desired = max(stages[i].Scaling.Desired, stages[i].Scaling.Min)
			if stages[i].Scaling.Policy != policies.Fixed {
				stages[i].Scaling.Desired = min(stages[i].Scaling.Desired, stages[i].Scaling.Max)
			}
			if err := stages[i].Scaling.Validate(); err != nil {
				return nil, fieldFlagError(err)
			}
		}
	}
	if fl.Changed("scale-out-on") {
		if f.scaleOutOn != policies.ScaleOutOnMessages && f.scaleOutOn != policies.ScaleOutOnAge {
			return nil, flagError("scale-out-on", f.scaleOutOn, "not a scale-out signal (valid: messages, age)")
		}
		for i := range stages {
			stages[i].Scaling.ScaleOutOn = f.scaleOutOn
		}
	}
	return stages, nil
}

// singleStage describes the flags' one stage as stack config and parses
// it, so it gets the stack's defaults (visibility and drain timeouts,
// cooldowns) and validation.
func singleStage(f *simulateFlags) (pipeline.Config, error) {
	stage := fmt.Sprintf(`[{"name":"work","image":"simulated","concurrency":%d,"processingTime":%q,"latency":%q,"cpu":%d,"memory":%d}]`,
		f.concurrency, f.processingTime, f.latency, f.cpu, f.memory)
	scaling := fmt.Sprintf(`{"policy":%q,"min":%d,"max":%d}`, pipeline.DefaultPolicy, f.min, f.max)
	cfg, err := pipeline.Parse(map[string]string{"linecook:stages": stage, "linecook:scaling": scaling}, pipeline.Options{})
	var pe *pipeline.Error
	if errors.As(err, &pe) {
		key := pe.Key[strings.LastIndex(pe.Key, ".")+1:]
		flag := map[string]string{"concurrency": "concurrency", "processingTime": "processing-time", "latency": "latency",
			"cpu": "cpu", "memory": "memory", "min": "min", "max": "max"}[key]
		if flag != "" {
			return cfg, flagError(flag, pe.Value, pe.Reason)
		}
	}
	return cfg, err
}

func (f *simulateFlags) options() (simulate.Options, error) {
	o := simulate.Options{Spread: f.spread, StartDelay: f.startDelay, SampleEvery: f.sampleEvery, DrainLimit: f.drainLimit,
		Seed: f.seed, Prices: capacity.Prices{VCPUHour: f.vcpuHour, GBHour: f.gbHour, SpotDiscount: f.spotDiscount}}
	switch f.arrivals {
	case "poisson":
		o.Arrivals = simulate.Poisson
	case "even":
		o.Arrivals = simulate.Even
	default:
		return o, flagError("arrivals", f.arrivals, "not an arrival process (valid: poisson, even)")
	}
	switch {
	case f.startDelay < 0:
		return o, flagError("start-delay", f.startDelay.String(), "must not be negative")
	case f.startDelay == 0:
		o.StartDelay = -1 // Options treats 0 as "default"; negative is none
	case f.vcpuHour < 0:
		return o, flagError("vcpu-hour", fmt.Sprint(f.vcpuHour), "must not be negative")
	case f.gbHour < 0:
		return o, flagError("gb-hour", fmt.Sprint(f.gbHour), "must not be negative")
	case f.spotDiscount < 0 || f.spotDiscount >= 1:
		return o, flagError("spot-discount", fmt.Sprint(f.spotDiscount), "must be from 0 to under 1 (0.7 = 70 % off)")
	case f.tasks < 0:
		return o, flagError("tasks", fmt.Sprint(f.tasks), "must be 1 or more")
	}
	drift, err := parseDrift(f.drift)
	if err != nil {
		return o, err
	}
	o.Drift = drift
	o.MetricDelay, o.IdleBefore, o.Reactivation = f.metricDelay, f.idleBefore, f.reactivation
	return o, nil
}

// parseDrift reads --drift: FACTOR@TIME points, comma-separated.
func parseDrift(v string) ([]simulate.Drift, error) {
	if v == "" {
		return nil, nil
	}
	var out []simulate.Drift
	for _, p := range strings.Split(v, ",") {
		factor, at, ok := strings.Cut(strings.TrimSpace(p), "@")
		f, ferr := strconv.ParseFloat(strings.TrimSuffix(factor, "x"), 64)
		d, derr := time.ParseDuration(at)
		if !ok || ferr != nil || derr != nil {
			return nil, flagError("drift", v, "want FACTOR@TIME points, comma-separated, like 2@20m,1@40m (twice as slow from 20m, back to the configured time at 40m)")
		}
		out = append(out, simulate.Drift{At: d, Factor: f})
	}
	return out, nil
}
