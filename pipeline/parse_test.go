package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/policies"
)

var burgerWorkers = []string{"payment", "grill", "fry", "assemble"}

func TestParseDefaultsToBurgerPipeline(t *testing.T) {
	cfg, err := Parse(map[string]string{"aws:region": "us-east-1"}, Options{Workers: burgerWorkers})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Stages {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, ","), "payment,grill,fry,assemble"; got != want {
		t.Fatalf("stages = %s, want %s", got, want)
	}
	pay := cfg.Stages[0]
	if pay.ProcessingTime != 3*time.Second || pay.Concurrency != 200 || pay.Latency != DefaultLatency {
		t.Errorf("payment workload = %+v", pay.Workload())
	}
	if pay.Scaling.Policy != policies.TargetTracking || pay.Scaling.Min != 1 || pay.Scaling.Max != 10 {
		t.Errorf("payment scaling = %+v", pay.Scaling)
	}
	if pay.VisibilityTimeout != 30*time.Second || pay.MaxReceiveCount != 3 {
		t.Errorf("payment queue = vt %s, mrc %d", pay.VisibilityTimeout, pay.MaxReceiveCount)
	}
	if pay.DrainTimeout >= pay.StopTimeout {
		t.Errorf("drain %s must be shorter than stop timeout %s", pay.DrainTimeout, pay.StopTimeout)
	}
	if cfg.VPC.AZs != 2 || cfg.VPC.NAT != NATSingle || cfg.LogRetentionDays != 14 || cfg.API.DesiredCount != 2 {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestParseStageOverridesGlobalScaling(t *testing.T) {
	cfg, err := Parse(map[string]string{
		"linecook:scaling": `{"policy":"step","max":"20","scaleOutCooldown":30}`,
		"linecook:stages": `[{"name":"pay","worker":"payment","scaling":{"policy":"fixed","desired":4}},
		                     {"name":"grill","worker":"grill","concurrency":5,"processingTime":"10s","latency":"1m"}]`,
	}, Options{Workers: burgerWorkers})
	if err != nil {
		t.Fatal(err)
	}
	pay, grill := cfg.Stages[0].Scaling, cfg.Stages[1].Scaling
	if pay.Policy != policies.Fixed || pay.Desired != 4 {
		t.Errorf("pay scaling = %+v, want fixed 4", pay)
	}
	if grill.Policy != policies.Step || grill.Max != 20 || grill.ScaleOutCooldown != 30*time.Second {
		t.Errorf("grill scaling = %+v, want step max 20 cooldown 30s", grill)
	}
	if got := policies.TargetBacklogPerTask(cfg.Stages[1].Workload()); got != 30 {
		t.Errorf("grill target = %g, want 5 × 60s / 10s = 30", got)
	}
	if cfg.Stages[1].VisibilityTimeout != 40*time.Second {
		t.Errorf("grill visibility = %s, want 4 × 10s", cfg.Stages[1].VisibilityTimeout)
	}
}

func TestParseErrorsNameKeyValueAndChoices(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   []string // substrings of the error
	}{
		{"unknown policy", map[string]string{"linecook:scaling": `{"policy":"stpe"}`},
			[]string{"linecook:scaling.policy", `"stpe"`, "fixed, step, target-tracking"}},
		{"min over max", map[string]string{"linecook:scaling": `{"min":5,"max":2}`},
			[]string{"linecook:scaling.min", `"5"`, "max (2)"}},
		{"negative min", map[string]string{"linecook:scaling": `{"min":-1}`},
			[]string{"linecook:scaling.min", `"-1"`, "0 or more"}},
		{"desired minus one", map[string]string{"linecook:scaling": `{"desired":-1}`},
			[]string{"linecook:scaling.desired", `"-1"`, "0 or more"}},
		{"stage override min over max", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","scaling":{"min":50}}]`},
			[]string{"linecook:stages[0].scaling.min", `"50"`, "max (10)"}},
		{"zero concurrency", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","concurrency":0}]`},
			[]string{"linecook:stages[0].concurrency", `"0"`, "1 or more"}},
		{"concurrency over the runtime's limit", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","concurrency":20000}]`},
			[]string{"linecook:stages[0].concurrency", `"20000"`, "1 to 10000"}},
		{"unknown worker", map[string]string{"linecook:stages": `[{"name":"a","worker":"grll"}]`},
			[]string{"linecook:stages[0].worker", `"grll"`, "assemble, fry, grill, payment"}},
		{"unknown field", map[string]string{"linecook:scaling": `{"polcy":"step"}`},
			[]string{"linecook:scaling", `"polcy"`, "unknown field", "desired, max, min"}},
		{"unknown key", map[string]string{"linecook:scalling": `{}`},
			[]string{"linecook:scalling", "unknown key", "linecook:scaling"}},
		{"bad duration", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","latency":"soon"}]`},
			[]string{"linecook:stages[0].latency", "soon", "duration"}},
		{"duration overflowing", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","visibilityTimeout":1e12}]`},
			[]string{"linecook:stages[0].visibilityTimeout", `"1e12"`, "out of range"}},
		{"wrong type", map[string]string{"linecook:scaling": `{"min":true}`},
			[]string{"linecook:scaling.min", "whole number"}},
		{"bad memory", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","cpu":256,"memory":4096}]`},
			[]string{"linecook:stages[0].memory", `"4096"`, "512, 1024 or 2048"}},
		{"nat none needs endpoints", map[string]string{"linecook:vpc": `{"nat":"none"}`},
			[]string{"linecook:vpc.nat", `"none"`, "endpoints"}},
		{"bad nat", map[string]string{"linecook:vpc": `{"nat":"two"}`},
			[]string{"linecook:vpc.nat", `"two"`, "none, single, per-az"}},
		{"duplicate stage", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry"},{"name":"a","worker":"grill"}]`},
			[]string{"linecook:stages[1].name", `"a"`, "duplicate"}},
		{"bad retention", map[string]string{"linecook:logRetentionDays": "10"},
			[]string{"linecook:logRetentionDays", `"10"`, "1, 3, 5, 7, 14"}},
		{"alarm email without a domain", map[string]string{"linecook:alarmEmail": "ops@"},
			[]string{"linecook:alarmEmail", `"ops@"`, "one email address, like ops@example.com"}},
		{"two alarm emails", map[string]string{"linecook:alarmEmail": "a@example.com, b@example.com"},
			[]string{"linecook:alarmEmail", "one email address"}},
		{"image with a space", map[string]string{"linecook:image": "linecook latest"},
			[]string{"linecook:image", `"linecook latest"`, "container image reference"}},
		{"image with an uppercase repository", map[string]string{"linecook:image": "Linecook:1.0"},
			[]string{"linecook:image", "container image reference"}},
		{"stage image with a space", map[string]string{"linecook:stages": `[{"name":"a","image":"my worker:1"}]`},
			[]string{"linecook:stages[0].image", `"my worker:1"`, "container image reference"}},
		{"reserved env", map[string]string{"linecook:stages": `[{"name":"a","worker":"fry","env":{"LINECOOK_QUEUE_URL":"x"}}]`},
			[]string{"linecook:stages[0].env", "LINECOOK_QUEUE_URL", "reserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.values, Options{Workers: burgerWorkers})
			if err == nil {
				t.Fatalf("Parse(%v) succeeded, want an error", tt.values)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidImagesAndEmailsAreAccepted(t *testing.T) {
	for _, image := range []string{
		"linecook", "linecook:latest", "ghcr.io/org/worker:1.2.3", "localhost:5000/a/b_c/d-e:v1",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook:2026-01-01",
		"public.ecr.aws/docker/library/python:3.13-slim@sha256:" + strings.Repeat("ab", 32),
	} {
		values := map[string]string{"linecook:image": image, "linecook:stages": `[{"name":"a","image":"` + image + `"}]`}
		if _, err := Parse(values, Options{Workers: burgerWorkers}); err != nil {
			t.Errorf("image %s: %v", image, err)
		}
	}
	for _, email := range []string{"ops@example.com", "on-call+linecook@mail.example.co.uk"} {
		if _, err := Parse(map[string]string{"linecook:alarmEmail": email}, Options{}); err != nil {
			t.Errorf("alarm email %s: %v", email, err)
		}
	}
}
