package local_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/local"
)

// linecookd is the task binary every test's pipeline runs, built once.
var linecookd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linecook-local-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	linecookd, err = local.Linecookd(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// config parses stack config values as `pulumi up` would.
func config(t *testing.T, values map[string]string) pipeline.Config {
	t.Helper()
	cfg, err := pipeline.Parse(values, handlers.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a pipeline for the test and stops it at the end, checking
// that no task is left behind.
func start(t *testing.T, o local.Options) *local.Runner {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o.TaskCommand = []string{linecookd}
	o.Stack = "t" + fmt.Sprint(time.Now().UnixNano()%1e6)
	o.WorkDir = t.TempDir()
	if testing.Verbose() {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	r, err := local.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tasks := r.Supervisor().Tasks("")
		r.Stop()
		for _, task := range tasks {
			select {
			case <-task.Done():
			default:
				t.Errorf("task %s (pid %d) still running after Stop", task.Name, task.Pid())
			}
		}
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(o.WorkDir, "*.log"))
			t.Logf("task logs: %v", logs)
		}
	})
	return r
}

// TestOrdersCompleteAndTheSummaryMatchesTheTable runs `linecook local
// --orders` in-process on the burger pipeline and checks every number of
// its summary against the order table itself. The stack's token issuer
// is the cloud's: the local API, whose orders nobody signs, ignores it.
func TestOrdersCompleteAndTheSummaryMatchesTheTable(t *testing.T) {
	r := start(t, local.Options{
		Config: config(t, map[string]string{
			"linecook:scaling": `{"policy":"fixed","desired":1}`,
			"linecook:api":     `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/jwks"}}`,
		}),
		TimeScale: 10,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 30
	sum, err := r.PlaceOrders(ctx, n, 15, 2*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || sum.Sent != n || sum.Completed != n || sum.Lost != 0 || sum.DeadLettered != 0 {
		t.Fatalf("summary %q (rejected %d), want all %d completed", sum.Line(), sum.Rejected, n)
	}

	// The table, read on its own.
	cfg, err := r.Emulators().AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(r.Emulators().DynamoDBClient(cfg), dynamo.Config{Table: r.Table()})
	all, err := store.Recent(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var e2e []time.Duration
	for _, o := range all {
		if o.Status != orders.Completed {
			t.Errorf("order %s is %s, want completed", o.ID, o.Status)
			continue
		}
		for _, st := range handlers.Names {
			if !o.Stages[st].Ended() {
				t.Errorf("order %s: stage %s did not end: %+v", o.ID, st, o.Stages[st])
			}
		}
		e2e = append(e2e, o.CompletedAt.Sub(o.CreatedAt))
	}
	if len(all) != sum.Completed {
		t.Errorf("table holds %d orders, the summary says %d completed", len(all), sum.Completed)
	}
	slices.Sort(e2e)
	if p50 := e2e[(len(e2e)+1)/2-1]; p50 != sum.EndToEnd.Percentile(50) {
		t.Errorf("summary end-to-end p50 %s, the table's %s", sum.EndToEnd.Percentile(50), p50)
	}
	if want := fmt.Sprintf("orders: %d sent, %d completed, 0 lost, 0 dead-lettered; end-to-end p50 ", n, n); len(sum.Line()) < len(want) || sum.Line()[:len(want)] != want {
		t.Errorf("summary line %q, want it to start %q", sum.Line(), want)
	}

	// The order events, as a subscribed queue received them (fauxqs's SNS):
	// every order's whole life, in the pipeline's order by time. Events
	// are at least once: a repeat of the same event is allowed.
	want := []string{"placed"}
	for _, st := range handlers.Names {
		want = append(want, "started "+st, "finished "+st)
	}
	want = append(want, "completed")
	deadline := time.Now().Add(5 * time.Second)
	for _, o := range all {
		var got []string
		for {
			got = got[:0]
			for _, e := range r.OrderEvents(o.ID) {
				if e.TraceID != o.TraceID {
					t.Errorf("order %s: event %+v has trace %q, want %q", o.ID, e, e.TraceID, o.TraceID)
				}
				k := strings.TrimSpace(e.Type + " " + e.Stage)
				if len(got) == 0 || got[len(got)-1] != k {
					got = append(got, k)
				}
			}
			if slices.Equal(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !slices.Equal(got, want) {
			t.Errorf("order %s events %v, want %v", o.ID, got, want)
		}
	}
	if c := sum.Events; c["placed"] < n || c["completed"] < n || c["started"] < 4*n || c["finished"] < 4*n || c["failed"] != 0 {
		t.Errorf("event counts %v, want at least %d placed and completed, %d started and finished, none failed", c, n, 4*n)
	}
	t.Logf("order events received: %v", sum.Events)
}

// TestAutoscalingUpAndDown: a step-scaled stage under a burst starts
// worker processes and, once idle, stops them again (with SIGTERM), all
// within a time-scaled window.
func TestAutoscalingUpAndDown(t *testing.T) {
	for _, policy := range []string{"step", "target-tracking"} {
		t.Run(policy, func(t *testing.T) {
			cfg := config(t, map[string]string{
				"linecook:scaling": `{"policy":"fixed","desired":1}`,
				// One order at a time per payment task, 3 s each, 6 s of
				// acceptable wait: a task holds a backlog of 2 (target), so a
				// burst of orders needs several tasks.
				"linecook:stages": `[
					{"name":"payment","worker":"payment","concurrency":1,"processingTime":"3s","latency":"6s",
					 "scaling":{"policy":"` + policy + `","min":1,"max":4,"scaleOutCooldown":"60s","scaleInCooldown":"60s","scaleInAfter":"2m"}},
					{"name":"assemble","worker":"assemble","concurrency":50}]`,
			})
			r := start(t, local.Options{Config: cfg, TimeScale: 60, Autoscale: true})
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			// 150 orders at 30/s: payment's one task does 20/s at ×60.
			sum, err := r.PlaceOrders(ctx, 150, 30, 2*time.Minute, nil)
			if err != nil || !sum.OK() {
				t.Fatalf("burst: %v %q", err, sum.Line())
			}
			peak := 0
			for _, s := range r.History() {
				peak = max(peak, s.Stages[0].Tasks)
			}
			if peak < 2 {
				t.Fatalf("payment peaked at %d workers during the burst, want it to scale out", peak)
			}
			// Idle now: back to min within 2 simulated hours.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				s, _ := r.Snapshot()
				if s.Stages[0].Tasks == 1 && s.Stages[0].Desired == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("payment still at %d workers (desired %d) long after the burst", s.Stages[0].Tasks, s.Stages[0].Desired)
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("%s: payment scaled 1 → %d → 1 workers", policy, peak)
		})
	}
}

// TestColdStartFromZeroTasks: payment scales from zero. One order arrives;
// the wake-up policy starts the first worker, which takes a minute to
// start (TaskStartDelay), and the order completes. The time from the
// order to a running worker is the stage's cold start, in cloud time (the
// runner's clock runs 60× faster); linecook local reads the queue
// directly, so it has none of CloudWatch's publication delay, which
// linecook simulate --metric-delay models.
func TestColdStartFromZeroTasks(t *testing.T) {
	const scale = 60
	cfg := config(t, map[string]string{
		"linecook:stages": `[
			{"name":"payment","worker":"payment","scaling":{"policy":"target-tracking","min":0,"max":2}},
			{"name":"assemble","worker":"assemble","scaling":{"policy":"fixed","desired":1}}]`,
	})
	if d := cfg.Stages[0].Plan().Desired; d != 0 {
		t.Fatalf("payment plans %d tasks to start with, want 0", d)
	}
	r := start(t, local.Options{Config: cfg, TimeScale: scale, Autoscale: true, TaskStartDelay: time.Minute})
	payment := func() (tasks int) {
		if s, _ := r.Snapshot(); len(s.Stages) > 0 {
			return s.Stages[0].Tasks
		}
		return 0
	}
	if n := payment(); n != 0 {
		t.Fatalf("payment starts with %d workers, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sent := time.Now()
	done := make(chan error, 1)
	go func() {
		sum, err := r.PlaceOrders(ctx, 1, 1, time.Minute, nil)
		if err == nil && !sum.OK() {
			err = fmt.Errorf("%s", sum.Line())
		}
		done <- err
	}()
	var running time.Duration
	for running == 0 {
		if payment() > 0 {
			running = time.Since(sent)
			break
		}
		if time.Since(sent) > time.Minute {
			t.Fatal("no payment worker a simulated hour after the first order")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("the order: %v", err)
	}
	cloud := running * scale
	t.Logf("cold start: first order at zero tasks → a running payment worker in %s (%s at ×%d)", cloud.Round(time.Second), running.Round(time.Millisecond), scale)
	// The rest of the period the order lands in (up to a minute) for the
	// wake-up datapoint, the runner's sampling (a quarter period), the
	// minute's start, and the worker process starting (tenths of a second,
	// tens of seconds at ×60).
	if cloud < time.Minute || cloud > 4*time.Minute {
		t.Errorf("cold start = %s, want 1 to 4 minutes", cloud)
	}
}
