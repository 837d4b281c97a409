package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/local"
)

func init() { root.AddCommand(localCmd()) }

func localCmd() *cobra.Command {
	var (
		stack, dir               string
		orders                   int
		rate                     float64
		timeout                  time.Duration
		timeScale                float64
		startDelay               time.Duration
		port                     int
		noDashboard, fixed, hold bool
		fromImage                bool
		verbose                  bool
	)
	cmd := &cobra.Command{
		Use:   "local [--stack dev] [--orders N --rate R]",
		Short: "Run the whole pipeline on this machine, on local emulators",
		Long: `Runs the pipeline of Pulumi.<stack>.yaml on this machine: the same stages,
concurrency, queue settings and scaling policies 'pulumi up' deploys. It starts
the SQS and DynamoDB emulators (installing them on first use), creates each
stage's queue and DLQ as the cloud stack does, starts the order API and each
stage's workers as separate processes with their ECS environment, scales the
workers with the stack's policy, and serves a live dashboard.

With --orders it then sends N orders at --rate per second through the API, waits
until each completes (or --timeout passes), prints a summary and exits non-zero
if any order was lost or dead-lettered. Without it, it runs until Ctrl-C.

--time-scale compresses time (metric periods, cooldowns, task start delays,
timeouts and the workers' simulated work) so a scale-out and scale-in demo takes
a minute, not an hour.`,
		Example: `  linecook local --orders 100
  linecook local --stack dev --time-scale 20 --port 8090
  linecook local --orders 2000 --rate 100 --time-scale 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			switch {
			case orders < 0:
				return fmt.Errorf("--orders %d: must be 0 (run until Ctrl-C) or more", orders)
			case rate <= 0:
				return fmt.Errorf("--rate %g: must be more than 0 orders per second", rate)
			case timeScale < 1 || timeScale > 600:
				return fmt.Errorf("--time-scale %g: must be from 1 (real time) to 600", timeScale)
			case port < 0 || port > 65535:
				return fmt.Errorf("--port %d: must be a TCP port (0 picks a free one)", port)
			}
			if dir == "" {
				dir = projectDir()
			}
			cfg, err := pipeline.StackConfig(dir, stack, handlers.Pipeline())
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "linecook-"+stack+"-")
			if err != nil {
				return err
			}
			logLevel := slog.LevelInfo
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: logLevel}))
			build := local.Linecookd
			if fromImage {
				fmt.Fprintf(out, "building the linecook image…\n")
				build = local.LinecookdFromImage
			} else {
				fmt.Fprintf(out, "building linecookd…\n")
			}
			bin, err := build(ctx, work)
			if err != nil {
				return err
			}
			opts := local.Options{
				Config: cfg, Stack: stack, TaskCommand: []string{bin},
				TimeScale: timeScale, TaskStartDelay: startDelay, Autoscale: !fixed,
				WorkDir: work, Log: log,
			}
			if !noDashboard {
				opts.DashboardAddr = fmt.Sprintf("127.0.0.1:%d", port)
			}
			if verbose {
				opts.EmulatorLog = cmd.ErrOrStderr()
			}
			fmt.Fprintf(out, "starting stack %s: %d stages, logs in %s\n", stack, len(cfg.Stages), work)
			r, err := local.Start(ctx, opts)
			if err != nil {
				return err
			}
			defer func() {
				fmt.Fprintln(out, "stopping workers, API and emulators…")
				r.Stop()
			}()
			for _, st := range cfg.Stages {
				fmt.Fprintf(out, "  %-10s %s\n", st.Name, st.Plan())
			}
			fmt.Fprintf(out, "order API:  %s\n", r.APIURL())
			if url := r.DashboardURL(); url != "" {
				fmt.Fprintf(out, "dashboard:  %s\n", url)
			}
			if orders == 0 {
				fmt.Fprintln(out, "running; Ctrl-C stops everything")
				<-ctx.Done()
				return nil
			}
			sum, err := r.PlaceOrders(ctx, orders, rate, timeout, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			sum.Print(out)
			if hold {
				fmt.Fprintln(out, "holding; Ctrl-C stops everything")
				<-ctx.Done()
			}
			if !sum.OK() {
				return errors.New("not every order completed")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stack, "stack", "dev", "stack whose Pulumi.<stack>.yaml to run")
	f.StringVar(&dir, "dir", "", "directory of the Pulumi.<stack>.yaml files (default: the linecook checkout, or .)")
	f.IntVar(&orders, "orders", 0, "send this many orders, print a summary and exit (0: run until Ctrl-C)")
	f.Float64Var(&rate, "rate", 10, "orders per second for --orders")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for --orders to complete after sending")
	f.Float64Var(&timeScale, "time-scale", 1, "run time this many times faster (metric periods, cooldowns, start delays, work)")
	f.DurationVar(&startDelay, "task-start-delay", time.Minute, "how long a new task takes to start, in cloud time (Fargate pulls its image)")
	f.IntVar(&port, "port", 8090, "dashboard port on 127.0.0.1 (0 picks a free one)")
	f.BoolVar(&noDashboard, "no-dashboard", false, "run without the dashboard")
	f.BoolVar(&fixed, "fixed", false, "no autoscaling: every stage keeps its initial worker count")
	f.BoolVar(&hold, "hold", false, "with --orders, keep running after the summary until Ctrl-C")
	f.BoolVar(&verbose, "verbose", false, "show the emulators' own output")
	f.BoolVar(&fromImage, "from-image", false, "run the linecookd taken out of the linecook image (as `linecook image build` makes it): byte for byte what ECS runs")
	return cmd
}

// projectDir is the linecook checkout holding the Pulumi stack files, found
// from the working directory up, or the working directory itself.
func projectDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "Pulumi.yaml")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}
