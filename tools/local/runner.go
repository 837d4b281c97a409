package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/workers/protect"
)

// Options configures a local run.
type Options struct {
	// Config is the pipeline to run, as pipeline.StackConfig read it.
	Config pipeline.Config
	// Stack names the run (queue and table names are prefixed with it).
	Stack string
	// TaskCommand starts one task: the program and leading arguments to
	// which "api" or "worker <name>" are appended.
	TaskCommand []string
	// TimeScale compresses time: metric periods, cooldowns, task start
	// delays and the workers' simulated work run TimeScale times faster.
	// 1 is real time. Visibility, drain and stop timeouts keep their cloud
	// values: they are safety margins against a slow or overloaded
	// dependency, which a time scale does not make faster.
	TimeScale float64
	// TaskStartDelay is how long a new task takes to start, in cloud time
	// (Fargate pulls its image: about a minute for a large one). It applies
	// to tasks the autoscaler adds, not to the first ones.
	TaskStartDelay time.Duration
	// Autoscale runs each stage's scaling policy; false keeps every stage
	// at its initial count (fixed-count benchmarks).
	Autoscale bool
	// DashboardAddr is where the dashboard listens ("127.0.0.1:0" picks a
	// port); empty runs without one.
	DashboardAddr string
	// WorkDir holds the run's logs and emulator data; empty makes a
	// temporary directory.
	WorkDir string
	// Log receives progress messages.
	Log *slog.Logger
	// EmulatorLog receives the emulators' own output; nil discards it.
	EmulatorLog io.Writer
}

// Runner is a running local pipeline.
type Runner struct {
	opts     Options
	emu      *emulators.Emulators
	sqs      *sqs.Client
	queues   []StageQueues
	table    string
	sup      *Supervisor
	metrics  *workerMetrics
	history  *history
	scalers  []scaler
	apiURL   string
	dashURL  string
	started  time.Time
	cancel   context.CancelFunc
	loops    sync.WaitGroup
	orders   *tableTracker
	agent    *agent
	events   *eventWatch
	mu       sync.Mutex
	desired  []int
	pending  [][]*time.Timer // starts waiting out the task start delay
	seq      []int
	waiting  []int // tasks each stage's scale-in waits on: protected
	stopping bool
}

// scaler is what the autoscaler asks of a policy: the desired count after
// a sample taken at now (cloud time since the run started).
type scaler interface {
	Observe(now time.Duration, s policies.Sample) int
}

// Start brings the whole pipeline up: emulators, queues and table, the
// API, every stage's initial workers, the autoscaler and the dashboard.
// Stop tears it all down.
func Start(ctx context.Context, o Options) (*Runner, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	r := &Runner{opts: o, metrics: newWorkerMetrics(), history: newHistory(900), started: time.Now()}
	ok := false
	defer func() {
		if !ok {
			r.Stop()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel

	o.Log.Info("starting emulators (fauxqs, dynalite)")
	emu, err := emulators.Start(runCtx, emulators.Options{Log: o.EmulatorLog, DataDir: o.WorkDir + "/sqs-data"})
	if err != nil {
		return nil, err
	}
	r.emu = emu
	env := emu.Env()
	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	r.sqs = emu.SQSClient(cfg)
	if r.queues, err = createQueues(ctx, r.sqs, o.Stack, o.Config.Stages); err != nil {
		return nil, err
	}
	if err := r.watchEvents(ctx, runCtx, cfg); err != nil {
		return nil, err
	}
	r.table = o.Stack + "-orders"
	if r.orders, err = newTableTracker(ctx, emu, r.table); err != nil {
		return nil, err
	}

	// The ECS agent's task protection endpoint, for the workers.
	r.agent = newAgent(o.Stack)
	agentAddr, _, err := serve(runCtx, "127.0.0.1:0", r.agent.handler())
	if err != nil {
		return nil, err
	}
	r.agent.url = "http://" + agentAddr.String() + "/api"

	r.sup = &Supervisor{Command: o.TaskCommand, Env: env, LogDir: o.WorkDir, Metrics: r.metrics.record, OnExit: r.onExit}
	if err := r.startAPI(ctx); err != nil {
		return nil, err
	}
	n := len(o.Config.Stages)
	r.desired, r.pending, r.seq, r.waiting = make([]int, n), make([][]*time.Timer, n), make([]int, n), make([]int, n)
	for i, st := range o.Config.Stages {
		plan := st.Plan()
		r.desired[i] = plan.Desired
		r.scalers = append(r.scalers, r.newScaler(st.Name, plan, plan.Desired))
		for range plan.Desired {
			if err := r.startWorker(i); err != nil {
				return nil, err
			}
		}
	}
	r.loops.Add(1)
	go r.sampleLoop(runCtx)

	if o.DashboardAddr != "" {
		d := &dashboard{history: r.history, apiURL: r.apiURL, client: &http.Client{Timeout: 10 * time.Second}}
		addr, _, err := serve(runCtx, o.DashboardAddr, d.handler())
		if err != nil {
			return nil, err
		}
		r.dashURL = "http://" + addr.String()
	}
	ok = true
	return r, nil
}

func (o *Options) defaults() error {
	if len(o.Config.Stages) == 0 {
		return errors.New("local: the pipeline has no stages")
	}
	if len(o.TaskCommand) == 0 {
		return errors.New("local: no task command to start the API and workers with")
	}
	for _, st := range o.Config.Stages {
		if o.Autoscale && st.Scaling.ScaleOutOn == policies.ScaleOutOnAge {
			// SQS's API has no such attribute: only CloudWatch reports it.
			return fmt.Errorf("local: stage %s scales out on the oldest message's age (scaling.scaleOutOn age), which only CloudWatch reports, not SQS's API: run it in linecook simulate, or use scaleOutOn messages locally", st.Name)
		}
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.TimeScale < 1 || o.TimeScale > 600 {
		return fmt.Errorf("local: time scale %g must be between 1 (real time) and 600", o.TimeScale)
	}
	if o.Stack == "" {
		o.Stack = "local"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "linecook-"+o.Stack+"-")
		if err != nil {
			return err
		}
		o.WorkDir = dir
	}
	return os.MkdirAll(o.WorkDir, 0o755)
}

// APIURL is the order API's base URL.
func (r *Runner) APIURL() string { return r.apiURL }

// DashboardURL is the dashboard's URL, or "" without one.
func (r *Runner) DashboardURL() string { return r.dashURL }

// WorkDir holds the run's task logs.
func (r *Runner) WorkDir() string { return r.opts.WorkDir }

// Emulators are the run's emulators (their Env points an SDK at them).
func (r *Runner) Emulators() *emulators.Emulators { return r.emu }

// Queues are the stages' queues, in pipeline order.
func (r *Runner) Queues() []StageQueues { return r.queues }

// Table is the order table's name.
func (r *Runner) Table() string { return r.table }

// ProtectionUpdates is how many times the workers set or released their
// task's scale-in protection on the local agent.
func (r *Runner) ProtectionUpdates() int { return r.agent.updates() }

// Supervisor runs the tasks (fault tests kill them through it).
func (r *Runner) Supervisor() *Supervisor { return r.sup }

// Snapshot is the latest state.
func (r *Runner) Snapshot() (Snapshot, bool) { return r.history.latest() }

// History is every snapshot kept, oldest first.
func (r *Runner) History() []Snapshot { return r.history.all() }

// Stop stops the workers (SIGTERM, as ECS does, then SIGKILL after the
// stop timeout), the API, the dashboard and the emulators, and waits for
// all of them. It leaves no process behind.
func (r *Runner) Stop() {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		return
	}
	r.stopping = true
	r.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
	}
	r.loops.Wait()
	if r.sup != nil {
		r.sup.StopAll(r.grace())
	}
	if r.emu != nil {
		_ = r.emu.Stop()
	}
}

func (r *Runner) grace() time.Duration {
	g := time.Duration(0)
	for _, st := range r.opts.Config.Stages {
		g = max(g, st.StopTimeout)
	}
	return g
}

func (r *Runner) startAPI(ctx context.Context) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	a := r.opts.Config.API
	a.Port = port
	// The local pipeline places its own orders and has no token issuer
	// to sign them, as it has no API key (a secret in AWS): its API asks
	// for neither, whatever linecook:api.jwt says.
	a.JWT = pipeline.JWT{}
	env := a.APIEnv(r.queues[0].URL, r.table)
	env[pipeline.EnvEventsTopicARN] = r.EventsTopic()
	env["LINECOOK_WORK_SCALE"] = strconv.FormatFloat(1/r.opts.TimeScale, 'g', -1, 64)
	if _, err := r.sup.Start("api", "", pipeline.APICommand(), env); err != nil {
		return err
	}
	r.apiURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	return WaitHealthy(ctx, r.apiURL+"/healthz", 30*time.Second)
}

// taskEnv is a stage's ECS environment, with the workers' simulated work
// divided by the time scale.
func (r *Runner) taskEnv(i int) map[string]string {
	st := r.opts.Config.Stages[i]
	q := pipeline.Queues{URL: r.queues[i].URL, DLQURL: r.queues[i].DLQURL, OrderTable: r.table, EventsTopic: r.EventsTopic()}
	if i+1 < len(r.queues) {
		q.NextURL = r.queues[i+1].URL
	}
	env := st.TaskEnv(q)
	env["LINECOOK_WORK_SCALE"] = strconv.FormatFloat(1/r.opts.TimeScale, 'g', -1, 64)
	// A worker holds its protection for a release delay after its last
	// message; scale-in runs on the run's clock, so the delay does too.
	if _, set := st.Env[protect.EnvReleaseDelay]; !set {
		env[protect.EnvReleaseDelay] = scaledDuration(protect.DefaultReleaseDelay, r.opts.TimeScale).String()
	}
	return env
}

func (r *Runner) startWorker(i int) error {
	st := r.opts.Config.Stages[i]
	r.mu.Lock()
	r.seq[i]++
	name := fmt.Sprintf("%s-%d", st.Name, r.seq[i])
	r.mu.Unlock()
	args := st.Command()
	if args == nil {
		return fmt.Errorf("local: stage %s brings its own image %s, which linecook local cannot run; give it a built-in worker", st.Name, st.Image)
	}
	env := r.taskEnv(i)
	// As ECS injects it into every container: the task's own path on the
	// local agent.
	env[protect.EnvAgentURI] = r.agent.uri(name)
	r.agent.track(name)
	if _, err := r.sup.Start(name, st.Name, args, env); err != nil {
		r.agent.forget(name)
		return err
	}
	return nil
}

// onExit replaces a worker that exited on its own (a crash), as an ECS
// service replaces a failed task.
func (r *Runner) onExit(t *Task, stopped bool) {
	r.agent.forget(t.Name)
	r.mu.Lock()
	quitting := r.stopping
	r.mu.Unlock()
	if stopped || quitting || t.Stage == "" {
		if !stopped && !quitting {
			r.opts.Log.Error("the order API exited", "task", t.Name, "err", t.Err())
		}
		return
	}
	r.opts.Log.Warn("worker exited; starting a replacement", "task", t.Name, "err", t.Err())
	// A second's pause, as ECS throttles a service whose tasks keep
	// failing, so a worker that cannot start does not spin.
	time.Sleep(time.Second)
	for i, st := range r.opts.Config.Stages {
		r.mu.Lock()
		quitting = r.stopping
		r.mu.Unlock()
		if st.Name == t.Stage && !quitting {
			if err := r.startWorker(i); err != nil {
				r.opts.Log.Error("replacement failed", "stage", st.Name, "err", err)
			}
		}
	}
}

// FreePort returns a loopback TCP port free at the time of asking.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHealthy polls url until it answers 200 OK, limit passes or ctx ends.
func WaitHealthy(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("local: %s not healthy after %s: %v", url, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func scaledDuration(d time.Duration, timeScale float64) time.Duration {
	return time.Duration(float64(d) / timeScale)
}
