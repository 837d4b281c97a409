package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/logkey"
	"github.com/linecook/linecook/workers/protect"
)

func init() {
	register(command{
		name:    "worker",
		usage:   "worker <name>",
		summary: "run a stage's worker on LINECOOK_QUEUE_URL (the name: argument or LINECOOK_WORKER)",
		run:     runWorker,
	})
}

// builtins registers the workers this image runs. A project that builds
// its own image around linecook's runtime does the same with its own
// handlers and calls consumer.New as runWorker does.
func builtins(deps handlers.Deps) (*workers.Registry, error) {
	reg := workers.NewRegistry()
	if err := handlers.Register(reg, deps); err != nil {
		return nil, err
	}
	return reg, nil
}

func runWorker(ctx context.Context, log *slog.Logger, args []string) error {
	name := os.Getenv(pipeline.EnvWorker)
	if len(args) > 1 {
		return fmt.Errorf("worker takes one argument, the worker's name (got %q)", args)
	}
	if len(args) == 1 {
		name = args[0]
	}
	// Check the name before touching AWS: a typo in a task definition
	// should say so, not fail on a missing queue.
	known, err := builtins(handlers.Deps{})
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("worker: name the worker as the argument or in %s (registered: %s)",
			pipeline.EnvWorker, strings.Join(known.Names(), ", "))
	}
	if _, err := known.Lookup(name); err != nil {
		return fmt.Errorf("worker: %w", err)
	}

	cfg, err := consumer.LoadConfig()
	if err != nil {
		return err
	}
	table := os.Getenv(pipeline.EnvOrderTable)
	if table == "" {
		// Without the store every order would fail and retry until it
		// reached the DLQ.
		return fmt.Errorf("worker: %s is not set: the burger stages record each order's progress in the order table", pipeline.EnvOrderTable)
	}
	stageCfg, err := handlers.LoadConfig()
	if err != nil {
		return err
	}
	awsCfg, err := loadAWS(ctx, config.WithHTTPClient(consumer.HTTPClient(cfg)))
	if err != nil {
		return err
	}
	pub, closeEvents := orderEvents(awsCfg, log)
	defer closeEvents()
	reg, err := builtins(handlers.Deps{
		// Each message in flight makes at most one order-table call at a
		// time: a pool of that size never has to dial under load.
		Store:           orderStore(withPool(awsCfg, cfg.Concurrency), table, stageCfg.TableTimeout),
		Config:          stageCfg,
		Last:            cfg.NextQueueURL == "",
		Log:             log,
		Events:          pub,
		MaxReceiveCount: cfg.MaxReceiveCount,
	})
	if err != nil {
		return err
	}
	h, err := reg.Lookup(name)
	if err != nil {
		return err
	}
	// In ECS the worker keeps its task from being scaled in while it has
	// messages in flight; outside ECS, or with the stage's protection
	// off, guard is nil and nothing is called.
	pcfg, err := protect.LoadConfig(cfg.VisibilityTimeout)
	if err != nil {
		return err
	}
	guard := protect.New(pcfg, protect.WithLogger(log.With(logkey.Stage, cfg.Stage)))
	opts := []consumer.Option{consumer.WithLogger(log), consumer.WithMetrics(os.Stdout)}
	if guard != nil {
		opts = append(opts, consumer.WithProtector(guard))
	}
	c, err := consumer.New(cfg, sqs.NewFromConfig(awsCfg), h, opts...)
	if err != nil {
		return err
	}
	log.Info("worker starting", logkey.Worker, name, logkey.Stage, cfg.Stage, logkey.Concurrency, cfg.Concurrency, logkey.Last, cfg.NextQueueURL == "")
	// The guard stops with ctx, at SIGTERM: the task is being stopped
	// then, and its protection no longer matters.
	var guarding sync.WaitGroup
	guarding.Go(func() { guard.Run(ctx) })
	defer guarding.Wait()
	return c.Run(ctx)
}
