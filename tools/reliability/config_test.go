package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
)

// TestWhatTheStackAcceptsTheTasksAccept: a stage configuration that the
// stack's parser accepts must give tasks an environment the worker
// runtime accepts. Otherwise `pulumi up` succeeds and every task of the
// stage exits at start, over and over. Each setting is tried at and beyond
// its limits: the parser must reject what the runtime would.
func TestWhatTheStackAcceptsTheTasksAccept(t *testing.T) {
	settings := map[string][]string{
		"concurrency":       {"1", "200", fmt.Sprint(workers.MaxConcurrency), fmt.Sprint(workers.MaxConcurrency + 1), "20000"},
		"visibilityTimeout": {`"1s"`, `"30s"`, `"12h"`, `"43201s"`, `"1500ms"`},
		"maxReceiveCount":   {"1", "1000", "1001"},
		"stopTimeout":       {`"2s"`, `"3s"`, `"8s"`, `"10s"`, `"16s"`, `"30s"`, `"120s"`, `"121s"`},
		"processingTime":    {`"1ms"`, `"3s"`, `"1h"`},
	}
	tried, accepted := 0, 0
	for field, values := range settings {
		for _, v := range values {
			tried++
			raw := fmt.Sprintf(`[{"name":"pay","worker":"payment",%q:%s},{"name":"grill","worker":"grill"}]`, field, v)
			cfg, err := pipeline.Parse(map[string]string{"linecook:stages": raw}, handlers.Pipeline())
			if err != nil {
				continue // rejected up front: fine
			}
			accepted++
			for i, st := range cfg.Stages {
				q := pipeline.Queues{URL: "https://sqs.us-east-1.amazonaws.com/1/" + st.Name, DLQURL: "https://sqs.us-east-1.amazonaws.com/1/" + st.Name + "-dlq", OrderTable: "orders"}
				if i == 0 {
					q.NextURL = "https://sqs.us-east-1.amazonaws.com/1/grill"
				}
				// After its drain the runtime may take AfterDrain more;
				// ECS's SIGKILL must not come first. Below 10 s the
				// window is split in half, and the tail may overrun.
				if st.StopTimeout >= 10*time.Second && st.StopTimeout-st.DrainTimeout < consumer.AfterDrain {
					t.Errorf("stopTimeout %s, drain %s: the runtime may need %s after the drain, more than the %s left before SIGKILL",
						st.StopTimeout, st.DrainTimeout, consumer.AfterDrain, st.StopTimeout-st.DrainTimeout)
				}
				env := st.TaskEnv(q)
				for k, val := range env {
					t.Setenv(k, val)
				}
				if _, err := consumer.LoadConfig(); err != nil {
					t.Errorf("%s = %s: the stack accepts it, but stage %s's workers refuse to start: %v", field, v, st.Name, err)
				}
				if _, err := handlers.LoadConfig(); err != nil {
					t.Errorf("%s = %s: the stack accepts it, but the %s handler refuses to start: %v", field, v, st.Worker, err)
				}
			}
		}
	}
	// The API task, at the limits of its own settings.
	for _, field := range []string{`"port":1024`, `"port":8080`, `"port":65535`, `"sweepAfter":"61s"`, `"sweepAfter":"24h"`, `"sweepAfter":86400`} {
		cfg, err := pipeline.Parse(map[string]string{"linecook:api": "{" + field + "}"}, handlers.Pipeline())
		if err != nil {
			t.Errorf("api %s: %v", field, err)
			continue
		}
		for k, v := range cfg.API.APIEnv("https://sqs.us-east-1.amazonaws.com/1/pay", "orders") {
			t.Setenv(k, v)
		}
		if got, err := api.LoadConfig(); err != nil {
			t.Errorf("api %s: the stack accepts it, but the API refuses to start: %v", field, err)
		} else if got.SweepAfter != cfg.API.SweepAfter {
			t.Errorf("api %s: the stack says sweep after %s, the API would sweep after %s", field, cfg.API.SweepAfter, got.SweepAfter)
		}
	}
	if accepted == 0 || accepted == tried {
		t.Fatalf("the parser accepted %d of %d settings: the table no longer straddles the limits", accepted, tried)
	}
}
