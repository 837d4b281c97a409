package consumer_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers/consumer"
)

// configKeys lists the variables Config reads, with their defaults, as
// envconfig itself sees them.
func configKeys(t *testing.T) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 0, ' ', 0)
	format := "{{range .}}{{.Key}}={{.Tags.Get \"default\"}}\n{{end}}"
	if err := envconfig.Usagef(consumer.EnvPrefix, &consumer.Config{}, tw, format); err != nil {
		t.Fatal(err)
	}
	_ = tw.Flush()
	keys := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		k, v, _ := strings.Cut(l, "=")
		keys[k] = v
	}
	return keys
}

// The stack writes a stage's environment with pipeline's names; the
// runtime must read exactly those, or a stage silently runs on defaults.
func TestConfigReadsThePipelineEnvironmentNames(t *testing.T) {
	keys := configKeys(t)
	for _, name := range []string{
		pipeline.EnvStage, pipeline.EnvQueueURL, pipeline.EnvNextQueueURL, pipeline.EnvDLQURL,
		pipeline.EnvConcurrency, pipeline.EnvVisibilityTimeout, pipeline.EnvDrainTimeout, pipeline.EnvMaxReceiveCount,
	} {
		if _, ok := keys[name]; !ok {
			t.Errorf("Config does not read %s (it reads %v)", name, slices.Sorted(mapKeys(keys)))
		}
	}
	for k := range keys {
		if !strings.HasPrefix(k, "LINECOOK_") {
			t.Errorf("Config reads %s, outside linecook's LINECOOK_ namespace", k)
		}
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestLoadConfigReadsWhatTheStackWrites round-trips a stage through the
// environment the stack gives its tasks.
func TestLoadConfigReadsWhatTheStackWrites(t *testing.T) {
	st := pipeline.Stage{
		Name: "grill", Worker: "grill", Concurrency: 50,
		VisibilityTimeout: 45 * time.Second, DrainTimeout: 25 * time.Second, MaxReceiveCount: 4,
	}
	q := pipeline.Queues{URL: "https://sqs/q/grill", NextURL: "https://sqs/q/fry", DLQURL: "https://sqs/q/grill-dlq", OrderTable: "orders"}
	clearEnv(t)
	for k, v := range st.TaskEnv(q) {
		t.Setenv(k, v)
	}
	got, err := consumer.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := consumer.Config{
		Stage: "grill", QueueURL: q.URL, NextQueueURL: q.NextURL, DLQURL: q.DLQURL,
		Concurrency: 50, VisibilityTimeout: 45 * time.Second, DrainTimeout: 25 * time.Second, MaxReceiveCount: 4,
		RetryBaseDelay: time.Second, RetryMaxDelay: 5 * time.Minute,
	}
	if got != want {
		t.Errorf("LoadConfig() =\n%+v\nwant\n%+v", got, want)
	}
}

// clearEnv unsets every LINECOOK_ variable for the test.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "LINECOOK_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"LINECOOK_STAGE": "fry", "LINECOOK_QUEUE_URL": "https://sqs/q/fry"}
	tests := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"LINECOOK_STAGE": ""}, "LINECOOK_STAGE"},
		{map[string]string{"LINECOOK_QUEUE_URL": ""}, "LINECOOK_QUEUE_URL"},
		{map[string]string{"LINECOOK_CONCURRENCY": "0"}, "LINECOOK_CONCURRENCY=0: must be 1 to 10000"},
		{map[string]string{"LINECOOK_CONCURRENCY": "many"}, "LINECOOK_CONCURRENCY"},
		{map[string]string{"LINECOOK_VISIBILITY_TIMEOUT": "1500ms"}, "LINECOOK_VISIBILITY_TIMEOUT=1.5s: must be whole seconds from 1s to 12h"},
		{map[string]string{"LINECOOK_VISIBILITY_TIMEOUT": "13h"}, "LINECOOK_VISIBILITY_TIMEOUT=13h0m0s"},
		{map[string]string{"LINECOOK_MAX_RECEIVE_COUNT": "0"}, "LINECOOK_MAX_RECEIVE_COUNT=0: must be 1 to 1000"},
		{map[string]string{"LINECOOK_DRAIN_TIMEOUT": "-1s"}, "LINECOOK_DRAIN_TIMEOUT=-1s"},
		{map[string]string{"LINECOOK_NEXT_QUEUE_URL": "https://sqs/q/fry"}, "LINECOOK_NEXT_QUEUE_URL=https://sqs/q/fry: must differ from LINECOOK_QUEUE_URL"},
		{map[string]string{"LINECOOK_RETRY_BASE_DELAY": "0s"}, "LINECOOK_RETRY_BASE_DELAY=0s: must be 1s to 12h"},
		{map[string]string{"LINECOOK_RETRY_MAX_DELAY": "500ms"}, "LINECOOK_RETRY_MAX_DELAY=500ms"},
		{map[string]string{"LINECOOK_POLLERS": "100"}, "LINECOOK_POLLERS=100: must be 0 (automatic) to 64"},
		{map[string]string{"LINECOOK_LOG_LEVEL": "LOUD"}, "LINECOOK_LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			clearEnv(t)
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tt.set {
				t.Setenv(k, v)
			}
			_, err := consumer.LoadConfig()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadConfig() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPackageDocListsEverySetting keeps the settings table in doc.go in
// step with Config: every variable, with its default.
func TestPackageDocListsEverySetting(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for key, def := range configKeys(t) {
		if def == "" {
			def = `(—|"")`
		} else {
			def = regexp.QuoteMeta(def)
		}
		re := regexp.MustCompile(`(?m)^//\s+` + key + `\s+` + def + `\s+\S`)
		if !re.Match(doc) {
			t.Errorf("doc.go's settings table has no line for %s with default %s", key, def)
		}
	}
}
