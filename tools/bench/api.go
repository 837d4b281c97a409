package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/linecook/linecook/burger/events"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/loadgen"
	"github.com/linecook/linecook/tools/local"
	"github.com/linecook/linecook/workers"
)

// The reference system's numbers (/work/shared/seeds/001: Locust, 20
// users, through an ALB on AWS): median accept latency of its async and
// sync endpoints.
const (
	ReferenceAsyncMs = 39
	ReferenceSyncMs  = 3024
)

// apiCallTimeout is the API's default LINECOOK_AWS_TIMEOUT, which bounds
// the bare calls too.
const apiCallTimeout = 3 * time.Second

// APIOptions sizes the order API benchmark.
type APIOptions struct {
	// Rate is requests per second, for the bare calls and both paths.
	Rate float64
	// Duration is how long the bare calls and POST /orders are sent;
	// SyncDuration how long POST /orders/sync is.
	Duration, SyncDuration time.Duration
	// PaymentDelay is the sync path's inline payment.
	PaymentDelay time.Duration
}

func (o APIOptions) validate() error {
	switch {
	case o.Rate <= 0 || o.Rate > 5000:
		return fmt.Errorf("--api-rate %g: must be more than 0 and at most 5000", o.Rate)
	case o.Duration <= 0 || o.SyncDuration <= 0:
		return fmt.Errorf("--api-duration %s and --api-sync-duration %s: must be more than 0", o.Duration, o.SyncDuration)
	case o.PaymentDelay < 0 || o.PaymentDelay > time.Minute:
		return fmt.Errorf("--payment-delay %s: must be 0 to 1m", o.PaymentDelay)
	}
	return nil
}

// APIResult is the order API benchmark: open-loop load at one rate, accept
// latency measured from each request's scheduled time.
type APIResult struct {
	Rate        float64 `json:"ratePerSec"`
	DurationSec float64 `json:"durationSec"`
	// Bare is the API's two calls without the API: a conditional PutItem
	// of the order and a SendMessage to the first queue, one after the
	// other, from this process, at the same rate.
	Bare APILoad `json:"bare"`
	// Async is POST /orders: validate, PutItem, SendMessage, answer 202.
	Async APILoad `json:"async"`
	// Sync is POST /orders/sync: validate, wait the payment, answer 200.
	Sync APILoad `json:"sync"`
	// OverheadP50ms and OverheadP99ms are Async's accept latency minus
	// Bare's: what HTTP, validation and the handler add.
	OverheadP50ms float64 `json:"overheadP50Ms"`
	OverheadP99ms float64 `json:"overheadP99Ms"`
	// SyncOverAsync is the ratio of their median accept latencies (the
	// reference measured 3024 ms / 39 ms = 77×).
	SyncOverAsync  float64 `json:"syncOverAsyncP50"`
	PaymentDelayMs float64 `json:"paymentDelayMs"`
	// InProcess is set when the API ran in this process (for profiling)
	// instead of as a linecookd process.
	InProcess bool `json:"inProcess,omitempty"`
}

// APILoad is one open-loop run.
type APILoad struct {
	Sent     int            `json:"sent"`
	Accepted int            `json:"accepted"`
	Errors   map[string]int `json:"errors,omitempty"`
	// PerSec is accepted requests per second of sending.
	PerSec float64 `json:"perSec"`
	Accept Latency `json:"accept"`
	CPU    CPU     `json:"cpu"`
}

func fromLoadgen(r *loadgen.Result) APILoad {
	return APILoad{Sent: r.Sent, Accepted: r.Accepted, Errors: r.Errors, PerSec: r.AchievedRate(), Accept: summarize(r.Accept)}
}

func runAPI(ctx context.Context, e *env, o APIOptions, profileDir string, log *slog.Logger) (*APIResult, error) {
	res := &APIResult{Rate: o.Rate, DurationSec: o.Duration.Seconds(), PaymentDelayMs: millis(o.PaymentDelay), InProcess: profileDir != ""}
	store, err := e.table(ctx, "api")
	if err != nil {
		return res, err
	}
	bareQ, err := e.queue(ctx, "api-bare")
	if err != nil {
		return res, err
	}
	apiQ, err := e.queue(ctx, "api")
	if err != nil {
		return res, err
	}
	defer e.deleteQueues(context.WithoutCancel(ctx), bareQ, apiQ)
	// The bare calls are bounded as the API bounds them (AWSTimeout).
	bareStore := dynamo.New(e.db, dynamo.Config{Table: store.Table(), Timeout: apiCallTimeout})
	// Both warm up their connections and the emulators' code paths before
	// being measured, so neither pays the other's cold start.
	warm := min(2*time.Second, o.Duration/4)

	if warm > 0 {
		if _, err := bare(ctx, e, bareStore, bareQ, o.Rate, warm); err != nil {
			return res, fmt.Errorf("bare calls: %w", err)
		}
	}
	cpu := meter()
	b, err := bare(ctx, e, bareStore, bareQ, o.Rate, o.Duration)
	if err != nil {
		return res, fmt.Errorf("bare calls: %w", err)
	}
	res.Bare = b
	res.Bare.CPU = cpu.stop()

	url, pid, stop, err := startAPI(ctx, e, o, store.Table(), apiQ, profileDir)
	if err != nil {
		return res, err
	}
	defer stop()
	if warm > 0 {
		if _, err := loadgen.Run(ctx, loadgen.Options{URL: url, Rate: o.Rate, Duration: warm, Seed: 7}); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	endProfile, err := profile(profileDir, "api")
	if err != nil {
		return res, err
	}
	cpu = meter(pid)
	async, err := loadgen.Run(ctx, loadgen.Options{URL: url, Rate: o.Rate, Duration: o.Duration, Seed: 1})
	used := cpu.stop()
	if err := errors.Join(err, endProfile()); err != nil {
		return res, fmt.Errorf("POST /orders: %w", err)
	}
	res.Async = fromLoadgen(async)
	res.Async.CPU = used
	log.Info("api: async done", "p50ms", res.Async.Accept.P50ms, "p99ms", res.Async.Accept.P99ms)

	cpu = meter(pid)
	syn, err := loadgen.Run(ctx, loadgen.Options{URL: url, Rate: o.Rate, Duration: o.SyncDuration, Sync: true, Seed: 2,
		RequestTimeout: 2*o.PaymentDelay + 10*time.Second})
	used = cpu.stop()
	if err != nil {
		return res, fmt.Errorf("POST /orders/sync: %w", err)
	}
	res.Sync = fromLoadgen(syn)
	res.Sync.CPU = used

	res.OverheadP50ms = res.Async.Accept.P50ms - res.Bare.Accept.P50ms
	res.OverheadP99ms = res.Async.Accept.P99ms - res.Bare.Accept.P99ms
	if res.Async.Accept.P50ms > 0 {
		res.SyncOverAsync = res.Sync.Accept.P50ms / res.Async.Accept.P50ms
	}
	return res, nil
}

// queue creates a plain queue, as the first stage's.
func (e *env) queue(ctx context.Context, prefix string) (string, error) {
	return emulators.CreateQueue(ctx, e.sqs, e.name(prefix))
}

// bare makes the API's two calls per order, open loop at rate for d, and
// measures each pair from its scheduled time, as loadgen measures the API.
func bare(ctx context.Context, e *env, store *dynamo.Store, queueURL string, rate float64, d time.Duration) (APILoad, error) {
	total := int(rate * d.Seconds())
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]orders.Request, total)
	for i := range reqs {
		r, err := orders.DecodeRequest(bytes.NewReader(loadgen.RandomOrder(i, rng)))
		if err != nil {
			return APILoad{}, err
		}
		reqs[i] = r
	}
	var mu sync.Mutex
	res := APILoad{Errors: map[string]int{}}
	var lat loadgen.Latencies
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		t := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			t.Stop()
			wg.Wait()
			return res, ctx.Err()
		case <-t.C:
		}
		res.Sent++
		wg.Go(func() {
			o := orders.New(reqs[i], time.Now())
			err := store.Create(ctx, o)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
				defer cancel()
				_, err = e.sqs.SendMessage(sctx, &sqs.SendMessageInput{
					QueueUrl:    aws.String(queueURL),
					MessageBody: aws.String(string(orders.EncodeMessage(o))),
					MessageAttributes: map[string]sqstypes.MessageAttributeValue{
						workers.TraceIDAttribute: {DataType: aws.String("String"), StringValue: aws.String(o.TraceID)},
					},
				})
			}
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors[callError(err)]++
				return
			}
			res.Accepted++
			lat = append(lat, took)
		})
	}
	wg.Wait()
	res.PerSec = float64(res.Accepted) / time.Since(start).Seconds()
	res.Accept = summarize(lat)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	return res, nil
}

// callError is the cause of a failed bare call, in a few words.
func callError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, orders.ErrExists):
		return "order exists"
	}
	return "error"
}

// startAPI starts the order API on the table and queue: a linecookd api
// process as ECS runs it, or, when profiling, the same server in this
// process. It returns the API's URL, its process id (0 in this process)
// and the function that stops it.
func startAPI(ctx context.Context, e *env, o APIOptions, table, queueURL, profileDir string) (string, int, func(), error) {
	port, err := local.FreePort()
	if err != nil {
		return "", 0, nil, err
	}
	apiEnv := pipeline.API{Port: port}.APIEnv(queueURL, table)
	// Order events on, as the stack deploys the API: each accepted order
	// is published to a topic on the emulator.
	awsCfg, err := e.emu.AWSConfig(ctx)
	if err != nil {
		return "", 0, nil, err
	}
	topics := e.emu.SNSClient(awsCfg)
	topic, err := emulators.CreateTopic(ctx, topics, e.name("order-events"))
	if err != nil {
		return "", 0, nil, err
	}
	apiEnv[pipeline.EnvEventsTopicARN] = topic
	apiEnv["LINECOOK_PAYMENT_DELAY"] = o.PaymentDelay.String()
	apiEnv["LINECOOK_WORK_SCALE"] = "1"
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	dir, err := e.logDir(e.name("api"))
	if err != nil {
		return "", 0, nil, err
	}
	if profileDir != "" {
		stop, err := serveAPI(ctx, e.emu, apiEnv, port, dir)
		if err != nil {
			return "", 0, nil, err
		}
		return url, 0, stop, local.WaitHealthy(ctx, url+"/healthz", 30*time.Second)
	}
	sup := &local.Supervisor{Command: []string{e.linecookd}, Env: e.emu.Env(), LogDir: dir}
	task, err := sup.Start("api", "", pipeline.APICommand(), apiEnv)
	if err != nil {
		return "", 0, nil, err
	}
	stop := func() { sup.StopAll(25 * time.Second) }
	if err := local.WaitHealthy(ctx, url+"/healthz", 30*time.Second); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("%w (log: %s/api.log)", err, dir)
	}
	return url, task.Pid(), stop, nil
}

// serveAPI runs the API in this process as `linecookd api` builds it: the
// SDK's default configuration (no client options) and JSON logs to a file.
func serveAPI(ctx context.Context, emu *emulators.Emulators, apiEnv map[string]string, port int, dir string) (func(), error) {
	cfg, err := apiConfig(apiEnv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(emulators.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("linecook", "linecook", "")))
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "api.log"))
	if err != nil {
		return nil, err
	}
	store := dynamo.New(emu.DynamoDBClient(awsCfg), dynamo.Config{Table: cfg.OrderTable, Timeout: cfg.AWSTimeout})
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	srv, err := api.New(cfg, store, emu.SQSClient(awsCfg), log)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	pub := events.NewAsync(emu.SNSClient(awsCfg), apiEnv[pipeline.EnvEventsTopicARN], log)
	srv.PublishEvents(pub)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		logFile.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	return func() {
		cancel()
		<-done
		closeCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		pub.Close(closeCtx)
		stop()
		logFile.Close()
	}, nil
}

// apiConfig is api.LoadConfig with env set, restoring this process's
// environment afterwards: the processes started later must not inherit
// the API's variables.
func apiConfig(env map[string]string) (api.Config, error) {
	for k, v := range env {
		old, had := os.LookupEnv(k)
		if err := os.Setenv(k, v); err != nil {
			return api.Config{}, err
		}
		if had {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
	}
	return api.LoadConfig()
}
