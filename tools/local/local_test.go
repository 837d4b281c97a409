package local_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
