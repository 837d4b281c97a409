package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/workers"
)

// kitchen is what an application hands Parse: its workers with their
// workload defaults and its default stages (the burger app's, as
// burger/handlers.Pipeline gives them; the pipeline package knows none).
var kitchen = Options{
	Workers: map[string]workers.Defaults{
		"payment":  {ProcessingTime: 3 * time.Second, Concurrency: 200},
		"grill":    {ProcessingTime: 2 * time.Second, Concurrency: 50},
		"fry":      {ProcessingTime: 1500 * time.Millisecond, Concurrency: 50},
		"assemble": {},
	},
	Stages: []string{"payment", "grill", "fry", "assemble"},
}

func TestParseDefaultsToTheApplicationsPipeline(t *testing.T) {
	cfg, err := Parse(map[string]string{"aws:region": "us-east-1"}, kitchen)
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
	}, kitchen)
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

func TestValidImagesAndEmailsAreAccepted(t *testing.T) {
	for _, image := range []string{
		"linecook", "linecook:latest", "ghcr.io/org/worker:1.2.3", "localhost:5000/a/b_c/d-e:v1",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook:2026-01-01",
		"public.ecr.aws/docker/library/python:3.13-slim@sha256:" + strings.Repeat("ab", 32),
	} {
		values := map[string]string{"linecook:image": image, "linecook:stages": `[{"name":"a","image":"` + image + `"}]`}
		if _, err := Parse(values, kitchen); err != nil {
			t.Errorf("image %s: %v", image, err)
		}
	}
	for _, email := range []string{"ops@example.com", "on-call+linecook@mail.example.co.uk"} {
		if _, err := Parse(map[string]string{"linecook:alarmEmail": email}, kitchen); err != nil {
			t.Errorf("alarm email %s: %v", email, err)
		}
	}
}

// TestWorkerDefaultsComeFromTheApplication: a worker's declared defaults
// size its stage, a zero field falls back to the generic default, an own
// image ignores the worker's, and with no workers listed any name goes.
func TestWorkerDefaultsComeFromTheApplication(t *testing.T) {
	cfg, err := Parse(map[string]string{"linecook:stages": `[
		{"name":"pay","worker":"payment"},
		{"name":"pack","worker":"assemble"},
		{"name":"own","worker":"payment","image":"example.com/own:1"}]`}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		pt time.Duration
		c  int
	}{{3 * time.Second, 200}, {DefaultProcessingTime, DefaultConcurrency}, {DefaultProcessingTime, DefaultConcurrency}} {
		if st := cfg.Stages[i]; st.ProcessingTime != want.pt || st.Concurrency != want.c {
			t.Errorf("%s: processing time %s, concurrency %d; want %s, %d", st.Name, st.ProcessingTime, st.Concurrency, want.pt, want.c)
		}
	}
	cfg, err = Parse(map[string]string{"linecook:stages": `[{"name":"thumbs","worker":"thumbnail"}]`}, Options{})
	if err != nil {
		t.Fatalf("no workers listed: %v", err)
	}
	if st := cfg.Stages[0]; st.ProcessingTime != DefaultProcessingTime || st.Concurrency != DefaultConcurrency {
		t.Errorf("unknown worker's workload = %+v, want the generic defaults", st.Workload())
	}
}

// TestStagesAreRequiredWithoutADefaultPipeline: a program that passes no
// default stages gets an error naming the key, not an empty pipeline.
func TestStagesAreRequiredWithoutADefaultPipeline(t *testing.T) {
	_, err := Parse(map[string]string{"aws:region": "us-east-1"}, Options{})
	var e *Error
	if !errors.As(err, &e) || e.Key != KeyStages || !strings.Contains(err.Error(), "no default pipeline") {
		t.Fatalf("Parse without stages = %v, want a linecook:stages error saying there is no default pipeline", err)
	}
	_, err = Parse(map[string]string{"linecook:stages": `[]`}, Options{})
	if err == nil || strings.Contains(err.Error(), "default pipeline") {
		t.Errorf("empty stages without a default = %v, want an error that offers no default", err)
	}
}

// TestValuesAsPulumiConfigSetStoresThem: `pulumi config set --path` stores
// 3 as a number, true as a boolean and 1.5 as a string, so env values may
// be numbers or booleans and durations numeric strings (seconds).
func TestValuesAsPulumiConfigSetStoresThem(t *testing.T) {
	cfg, err := Parse(map[string]string{"linecook:stages": `[{"name":"fry","worker":"fry",
		"env":{"RETRIES":3,"RATIO":1.5,"DEBUG":true,"MODE":"fast"},
		"processingTime":"1.5","latency":"90","stopTimeout":"20"}]`}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	st := cfg.Stages[0]
	for k, want := range map[string]string{"RETRIES": "3", "RATIO": "1.5", "DEBUG": "true", "MODE": "fast"} {
		if st.Env[k] != want {
			t.Errorf("env %s = %q, want %q", k, st.Env[k], want)
		}
	}
	if st.ProcessingTime != 1500*time.Millisecond || st.Latency != 90*time.Second || st.StopTimeout != 20*time.Second {
		t.Errorf("durations = %s, %s, %s; want 1.5s, 1m30s, 20s", st.ProcessingTime, st.Latency, st.StopTimeout)
	}
}

// TestFixedWithoutDesiredKeepsMax: a stage switched to fixed without a
// desired count runs max tasks, never fewer than autoscaling could have
// been running; desired, when set, wins.
func TestFixedWithoutDesiredKeepsMax(t *testing.T) {
	for _, tc := range []struct {
		scaling string
		want    int
	}{
		{`{"policy":"fixed"}`, DefaultMax},
		{`{"policy":"fixed","max":4}`, 4},
		{`{"policy":"fixed","max":4,"desired":2}`, 2},
		{`{"policy":"step","min":1,"max":4}`, 1},
	} {
		cfg, err := Parse(map[string]string{"linecook:scaling": tc.scaling}, kitchen)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Stages[0].Scaling.Desired; got != tc.want {
			t.Errorf("%s: desired = %d, want %d", tc.scaling, got, tc.want)
		}
	}
}

// TestScaleInAfterUpToADay: whole minutes up to 24 h are accepted.
func TestScaleInAfterUpToADay(t *testing.T) {
	for _, v := range []string{`"1m"`, `"24h"`, `"1h30m"`, `600`} {
		if _, err := Parse(map[string]string{"linecook:scaling": `{"scaleInAfter":` + v + `}`}, kitchen); err != nil {
			t.Errorf("scaleInAfter %s: %v", v, err)
		}
	}
}

// TestJWTReachesTheAPITask: linecook:api.jwt becomes the API task's
// LINECOOK_JWT_* variables, which a stage's env may not set; without it
// the API task has none of them.
func TestJWTReachesTheAPITask(t *testing.T) {
	cfg, err := Parse(map[string]string{
		"linecook:api": `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/.well-known/jwks.json"}}`,
		"linecook:vpc": `{"nat":"per-az"}`,
	}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	want := JWT{Issuer: "https://login.example.com/", Audience: "orders", JWKSURL: "https://login.example.com/.well-known/jwks.json"}
	if cfg.API.JWT != want {
		t.Errorf("API.JWT = %+v, want %+v", cfg.API.JWT, want)
	}
	env := cfg.API.APIEnv("https://sqs/q", "orders")
	for k, v := range map[string]string{EnvJWTIssuer: want.Issuer, EnvJWTAudience: want.Audience, EnvJWTJWKSURL: want.JWKSURL} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
		if EnvNameReason(k) == "" {
			t.Errorf("a stage's env may set %s, which linecook sets", k)
		}
	}
	plain, err := Parse(nil, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	for k := range plain.API.APIEnv("https://sqs/q", "orders") {
		if strings.HasPrefix(k, "LINECOOK_JWT_") {
			t.Errorf("API task without linecook:api.jwt has %s", k)
		}
	}
	// An existing VPC's routes are not linecook's to check.
	if _, err := Parse(map[string]string{
		"linecook:api": `{"jwt":{"issuer":"https://login.example.com/","audience":"orders","jwksUrl":"https://login.example.com/jwks"}}`,
		"linecook:vpc": `{"vpcId":"vpc-1","publicSubnetIds":["subnet-a","subnet-b"],"privateSubnetIds":["subnet-c"]}`,
	}, kitchen); err != nil {
		t.Errorf("JWT in an existing VPC: %v", err)
	}
}

// Scale-in protection is on unless a stage turns it off; off, and only
// then, the task environment says so, so a stage with the default keeps
// the task definition it always had.
func TestScaleInProtectionIsOnUnlessAStageTurnsItOff(t *testing.T) {
	cfg, err := Parse(map[string]string{
		"linecook:stages": `[{"name":"pay","worker":"payment"},
		                     {"name":"grill","worker":"grill","scaleInProtection":false},
		                     {"name":"fry","worker":"fry","scaleInProtection":"true"}]`,
	}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		st := cfg.Stages[i]
		if got := !st.DisableScaleInProtection; got != want {
			t.Errorf("%s: protection %v, want %v", st.Name, got, want)
		}
		v, set := st.TaskEnv(Queues{URL: "q"})[EnvScaleInProtection]
		if set != !want || (set && v != "false") {
			t.Errorf("%s: %s = %q (set %v), want it set to false only when off", st.Name, EnvScaleInProtection, v, set)
		}
	}
	if r := EnvNameReason(EnvScaleInProtection); r == "" {
		t.Errorf("a stage's env may set %s; want it reserved (scaleInProtection is the key)", EnvScaleInProtection)
	}
}
