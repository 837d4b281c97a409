package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/linecook/linecook/burger/events"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers/logkey"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/orders/dynamo"
)

func init() {
	register(command{
		name:    "api",
		usage:   "api",
		summary: "serve the order API on LINECOOK_PORT, and sweep orders left accepted (needs LINECOOK_NEXT_QUEUE_URL, LINECOOK_ORDER_TABLE)",
		run:     runAPI,
	})
}

func runAPI(ctx context.Context, log *slog.Logger, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("api takes no arguments (got %q); it is configured by LINECOOK_* environment variables", args)
	}
	cfg, err := api.LoadConfig()
	if err != nil {
		return err
	}
	awsCfg, err := loadAWS(ctx)
	if err != nil {
		return err
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), dynamo.Config{Table: cfg.OrderTable, Timeout: cfg.AWSTimeout, SweepAfter: cfg.SweepAfter})
	queue := sqs.NewFromConfig(awsCfg)
	srv, err := api.New(cfg, store, queue, log)
	if err != nil {
		return err
	}
	pub, closeEvents := orderEvents(awsCfg, log)
	defer closeEvents()
	srv.PublishEvents(pub)
	// The sweeper runs in this process, beside the server, rather than
	// as a service of its own: every API task has the table, the queue
	// and the permissions it needs, some task is always running while
	// orders are being taken (ECS replaces a dead one), and a service
	// for it would cost a task of its own. Several tasks sweeping is
	// safe (see api.Sweeper).
	sw, err := api.NewSweeper(cfg, store, queue, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sw.Run(ctx) })
	err = srv.Run(ctx)
	cancel() // the server failed on its own: stop sweeping too
	wg.Wait()
	return err
}

// orderEvents publishes order events to LINECOOK_EVENTS_TOPIC_ARN, or
// nowhere when it is unset. The returned func sends what is buffered
// (for up to 5 s) and stops.
func orderEvents(cfg aws.Config, log *slog.Logger) (events.Publisher, func()) {
	topic := os.Getenv(pipeline.EnvEventsTopicARN)
	if topic == "" {
		return events.Nop{}, func() {}
	}
	a := events.NewAsync(sns.NewFromConfig(cfg), topic, log)
	return a, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			log.Warn("order events not all sent at shutdown", logkey.Error, err.Error())
		}
	}
}

// loadAWS is the SDK's default configuration: region, credentials (the
// task role in ECS) and endpoints (AWS_ENDPOINT_URL_* locally) all come
// from the environment the ordinary way.
func loadAWS(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("aws config: no region: set AWS_REGION")
	}
	return cfg, nil
}

// withPool is cfg with an HTTP client that keeps up to idle connections
// per host open between calls. The SDK's default keeps 10 and closes the
// rest after each call, so when the table slows down and hundreds of
// calls are waiting on it, each finished call's connection is closed and
// the next call dials again: the table, already behind, has to accept
// hundreds of new connections a second, answers slower still, and resets
// connections. In the stage benchmark (one payment worker, concurrency
// 1000, 275 orders/s, a busy loop on each of the two cores) the worker
// collapsed to 180 and 79 completions/s with 2 157 and 4 002 failed attempts
// and a peak RSS of 158 and 174 MB; with the pool it kept completing
// 283 and 276/s, its backlog shrinking, at 85 and 87 MB. Unloaded, at
// 300/s, both keep up at the same CPU and within 2 MB of RSS.
func withPool(cfg aws.Config, idle int) aws.Config {
	cfg = cfg.Copy()
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, idle)
		t.MaxIdleConns = max(t.MaxIdleConns, t.MaxIdleConnsPerHost)
	})
	return cfg
}

// orderStore is the order table through the SDK, each call bounded by
// timeout (0: dynamo.DefaultTimeout).
func orderStore(cfg aws.Config, table string, timeout time.Duration) *dynamo.Store {
	return dynamo.New(dynamodb.NewFromConfig(cfg), dynamo.Config{Table: table, Timeout: timeout})
}
