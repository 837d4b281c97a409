package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/local"
	"github.com/linecook/linecook/workers/consumer"
)

// The benchmarks, by the names --only takes.
const (
	Drain    = "drain"
	Stage    = "stage"
	API      = "api"
	Pipeline = "e2e"
)

// All lists every benchmark in the order Run runs them.
var All = []string{Drain, Stage, API, Pipeline}

// Options configures a run. Zero sizes take the defaults of Defaults.
type Options struct {
	// Only names the benchmarks to run (see All); empty runs all four.
	Only []string

	Drain    DrainOptions
	Stage    StageOptions
	API      APIOptions
	Pipeline PipelineOptions

	// Linecookd is the linecookd binary the stage benchmark, the API and
	// the pipeline run; empty builds it (local.Linecookd).
	Linecookd string
	// WorkDir keeps the processes' logs; empty makes a temporary one.
	WorkDir string
	// CPUProfileDir, when set, writes CPU profiles of the parts that run
	// in this process (the runtime's drain) and runs the order API in
	// this process too, so that it can be profiled. Its numbers are then
	// not those of the normal run.
	CPUProfileDir string
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// Defaults are the sizes of the full run, as the README and
// BENCHMARKS.md quote them.
func Defaults() Options {
	return Options{
		Drain: DrainOptions{Messages: 20000, RawGoroutines: 8, Concurrency: 200},
		Stage: StageOptions{
			Concurrency: 1000, Work: 3 * time.Second, Window: 30 * time.Second,
			StartRate: 100, StepRate: 50, MaxRate: 600, Refine: 1,
		},
		API:      APIOptions{Rate: 200, Duration: 30 * time.Second, SyncDuration: 10 * time.Second, PaymentDelay: 3 * time.Second},
		Pipeline: PipelineOptions{Orders: 3000, Rate: 50, Workers: 1, Concurrency: 500, TimeScale: 1, Timeout: 5 * time.Minute},
	}
}

// Results are everything one run measured. A benchmark not run is nil.
type Results struct {
	Machine  Machine         `json:"machine"`
	Drain    *DrainResult    `json:"drain,omitempty"`
	Stage    *StageResult    `json:"stage,omitempty"`
	API      *APIResult      `json:"api,omitempty"`
	Pipeline *PipelineResult `json:"e2e,omitempty"`
	// Profiled is set when the run wrote CPU profiles (and so ran the
	// API in this process): not comparable with a normal run.
	Profiled bool `json:"profiled,omitempty"`
}

// Targets lists every target of the benchmarks run, met or not.
func (r *Results) Targets() []Target {
	var ts []Target
	if r.Drain != nil {
		ts = append(ts, r.Drain.Targets...)
	}
	if r.Stage != nil {
		ts = append(ts, r.Stage.Targets...)
	}
	return ts
}

// Target is a goal a benchmark is held to.
type Target struct {
	Name string `json:"name"`
	// Want is the goal, Got what was measured, in words.
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Machine is where a run happened: ratios are comparable across
// machines, absolute numbers are not.
type Machine struct {
	Date     string `json:"date"`
	CPUs     int    `json:"nproc"`
	CPUModel string `json:"cpuModel"`
	MemoryGB string `json:"memory"`
	Go       string `json:"go"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1, 5 and 15 minute
	// averages at the start and end of the run: other work on the
	// machine shares its cores.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
}

func machine() Machine {
	m := Machine{
		Date: time.Now().Format("2006-01-02 15:04 MST"), CPUs: runtime.NumCPU(), Go: runtime.Version(),
		LoadBefore: loadavg(),
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil && kb > 0 {
		m.MemoryGB = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	return m
}

// procField is the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Validate checks the options, naming the setting at fault.
func (o Options) Validate() error {
	var errs []error
	for _, name := range o.Only {
		if !slices.Contains(All, name) {
			errs = append(errs, fmt.Errorf("benchmark %q: unknown (valid: %s)", name, strings.Join(All, ", ")))
		}
	}
	if o.runs(Drain) {
		errs = append(errs, o.Drain.validate())
	}
	if o.runs(Stage) {
		errs = append(errs, o.Stage.validate())
	}
	if o.runs(API) {
		errs = append(errs, o.API.validate())
	}
	if o.runs(Pipeline) {
		errs = append(errs, o.Pipeline.validate())
	}
	return errors.Join(errs...)
}

func (o Options) runs(name string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, name)
}

// Run runs the chosen benchmarks one after the other, in one process and
// on one pair of emulators (the pipeline benchmark starts its own, as
// `linecook local` does), so the ratios between them hold on a noisy
// machine. It returns what it measured so far with any error.
func Run(ctx context.Context, o Options) (*Results, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "linecook-bench-")
		if err != nil {
			return nil, err
		}
		o.WorkDir = dir
	}
	if o.CPUProfileDir != "" {
		if err := os.MkdirAll(o.CPUProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	res := &Results{Machine: machine(), Profiled: o.CPUProfileDir != ""}
	defer func() { res.Machine.LoadAfter = loadavg() }()

	if o.Linecookd == "" && (o.runs(Stage) || o.runs(API) || o.runs(Pipeline)) {
		o.Log.Info("building linecookd")
		bin, err := local.Linecookd(ctx, o.WorkDir)
		if err != nil {
			return res, err
		}
		o.Linecookd = bin
	}

	if o.runs(Drain) || o.runs(Stage) || o.runs(API) {
		if err := o.onEmulators(ctx, res); err != nil {
			return res, err
		}
	}
	if o.runs(Pipeline) {
		o.Log.Info("e2e: the whole pipeline on local emulators", "orders", o.Pipeline.Orders, "rate", o.Pipeline.Rate)
		r, err := runPipeline(ctx, o)
		res.Pipeline = r
		if err != nil {
			return res, fmt.Errorf("e2e: %w", err)
		}
	}
	return res, nil
}

// onEmulators runs the benchmarks that share one emulator pair, without
// persistence (which would put an SQLite write under every SQS call).
func (o Options) onEmulators(ctx context.Context, res *Results) error {
	o.Log.Info("starting emulators (fauxqs, dynalite)")
	emu, err := emulators.Start(ctx, emulators.Options{})
	if err != nil {
		return err
	}
	defer emu.Stop()
	env, err := newEnv(ctx, emu, o)
	if err != nil {
		return err
	}
	if o.runs(Drain) {
		o.Log.Info("drain: naive, raw batched and runtime drains", "messages", o.Drain.Messages)
		r, err := runDrain(ctx, env, o.Drain, o.CPUProfileDir)
		res.Drain = r
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
	}
	if o.runs(Stage) {
		o.Log.Info("stage: one worker process, 3 s handler, rising arrival rate", "concurrency", o.Stage.Concurrency)
		r, err := runStage(ctx, env, o.Stage, o.Log)
		res.Stage = r
		if err != nil {
			return fmt.Errorf("stage: %w", err)
		}
	}
	if o.runs(API) {
		o.Log.Info("api: bare calls, POST /orders and /orders/sync", "rate", o.API.Rate)
		r, err := runAPI(ctx, env, o.API, o.CPUProfileDir, o.Log)
		res.API = r
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
	}
	return nil
}

// env is what the benchmarks on the shared emulators use.
type env struct {
	emu       *emulators.Emulators
	sqs       *sqs.Client
	db        *dynamodb.Client
	linecookd string
	workDir   string
	seq       int
}

// newEnv builds the SDK clients the benchmark drives the emulators with.
// Their connection pool is as large as the runtime's at the drain's
// concurrency, as a linecook worker builds it, so no drain pays for
// reconnecting.
func newEnv(ctx context.Context, emu *emulators.Emulators, o Options) (*env, error) {
	pool := consumer.HTTPClient(consumer.Config{Concurrency: max(o.Drain.Concurrency, 64)})
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(emulators.Region), config.WithHTTPClient(pool),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("linecook", "linecook", "")))
	if err != nil {
		return nil, err
	}
	return &env{emu: emu, sqs: emu.SQSClient(cfg), db: emu.DynamoDBClient(cfg), linecookd: o.Linecookd, workDir: o.WorkDir}, nil
}

// name is a unique resource name for this run.
func (e *env) name(prefix string) string {
	e.seq++
	return fmt.Sprintf("bench-%s-%d-%d", prefix, os.Getpid(), e.seq)
}

// table creates an order table.
func (e *env) table(ctx context.Context, prefix string) (*dynamo.Store, error) {
	store := dynamo.New(e.db, dynamo.Config{Table: e.name(prefix) + "-orders", Timeout: 10 * time.Second})
	if err := store.EnsureTable(ctx); err != nil {
		return nil, err
	}
	return store, nil
}

func (e *env) deleteQueues(ctx context.Context, urls ...string) {
	for _, u := range urls {
		// Best effort: a leftover queue on an emulator that is about to
		// stop costs nothing.
		_, _ = e.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
	}
}

func (e *env) logDir(name string) (string, error) {
	dir := filepath.Join(e.workDir, name)
	return dir, os.MkdirAll(dir, 0o755)
}
