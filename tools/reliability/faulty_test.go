package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/logkey"
)

// faultyTaskArg, as this test binary's first argument, makes it a task of
// the poison test's pipeline: "<binary> linecook-faulty-task <linecookd>
// api|worker <name>". The API is linecookd itself (exec'd); a worker is
// linecookd's worker (the same runtime, handlers and settings from the
// same environment) with faultInjector in front of the handler.
const faultyTaskArg = "linecook-faulty-task"

// faultAttribute on a message asks the injector for a fault: "panic"
// (the handler panics) or "fail" (it fails, every time, as a handler
// whose dependency never answers does).
const faultAttribute = "reliability-fault"

// faultyTask runs one task and returns its exit code.
func faultyTask(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: <test binary> "+faultyTaskArg+" <linecookd> api|worker <name>")
		return 2
	}
	bin, args := args[0], args[1:]
	if args[0] != "worker" {
		err := syscall.Exec(bin, append([]string{bin}, args...), os.Environ())
		fmt.Fprintln(os.Stderr, "exec linecookd:", err)
		return 1
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "worker takes one argument, the worker's name")
		return 2
	}
	cfg, err := consumer.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := faultyWorker(ctx, log, cfg, args[1]); err != nil {
		log.Error("faulty worker failed", logkey.Error, err.Error())
		return 1
	}
	return 0
}

// faultyWorker is cmd/linecookd's runWorker with the fault injector.
func faultyWorker(ctx context.Context, log *slog.Logger, cfg consumer.Config, name string) error {
	stageCfg, err := handlers.LoadConfig()
	if err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(consumer.HTTPClient(cfg)))
	if err != nil {
		return err
	}
	reg := workers.NewRegistry()
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), dynamo.Config{Table: os.Getenv(pipeline.EnvOrderTable)})
	if err := handlers.Register(reg, handlers.Deps{Store: store, Config: stageCfg, Last: cfg.NextQueueURL == "", Log: log}); err != nil {
		return err
	}
	h, err := reg.Lookup(name)
	if err != nil {
		return err
	}
	c, err := consumer.New(cfg, sqs.NewFromConfig(awsCfg), h,
		consumer.WithLogger(log), consumer.WithMetrics(os.Stdout), consumer.WithMiddleware(faultInjector))
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// faultInjector panics or fails for messages that ask it to, and passes
// every other message to the handler untouched.
func faultInjector(next workers.Handler) workers.Handler {
	return workers.HandlerFunc(func(ctx context.Context, msg workers.Message) (workers.Output, error) {
		switch msg.Attributes[faultAttribute] {
		case "panic":
			panic("injected: the handler panicked on message " + msg.ID)
		case "fail":
			return workers.Output{}, errors.New("injected: a dependency that never answers")
		}
		return next.Handle(ctx, msg)
	})
}
