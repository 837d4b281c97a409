package stage

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
	"github.com/linecook/linecook/workers"
)

// Args configures a Stage. The tags are the Pulumi package's schema: the
// same names in TypeScript, Python and YAML. Resources the stage is wired
// to are inputs (pass another resource's outputs); what shapes the
// resources (sizes, scaling) is plain, known when the program runs.
type Args struct {
	// The container image the stage's tasks run: the linecook image with
	// `worker` set, or your own worker's image, which runs its own
	// entrypoint with the same environment.
	Image pulumi.StringInput `pulumi:"image"`
	// The built-in worker the linecook image runs (`worker <name>`). Leave
	// it empty for an image of your own.
	Worker string `pulumi:"worker,optional"`
	// The stage's name, in its task environment (LINECOOK_STAGE), its
	// container and its resources' descriptions: 1–24 lowercase letters,
	// digits or hyphens, starting with a letter. Defaults to the
	// component's resource name.
	StageName string `pulumi:"stageName,optional"`

	// The shared ECS cluster's ARN. It must have Container Insights on:
	// the scaling policies read its RunningTaskCount.
	ClusterArn pulumi.StringInput `pulumi:"clusterArn"`
	// The shared ECS cluster's name.
	ClusterName pulumi.StringInput `pulumi:"clusterName"`

	// The URL of the queue the stage consumes.
	QueueUrl pulumi.StringInput `pulumi:"queueUrl"`
	// The ARN of the queue the stage consumes.
	QueueArn pulumi.StringInput `pulumi:"queueArn"`
	// The name of the queue the stage consumes: its scaling metrics are
	// that queue's.
	QueueName pulumi.StringInput `pulumi:"queueName"`
	// The URL of the consumed queue's dead-letter queue: messages that
	// fail permanently go there at once.
	DlqUrl pulumi.StringInput `pulumi:"dlqUrl"`
	// The ARN of the consumed queue's dead-letter queue.
	DlqArn pulumi.StringInput `pulumi:"dlqArn"`
	// The URL of the next stage's queue, where finished messages go. Unset
	// for the last stage.
	NextQueueUrl pulumi.StringInput `pulumi:"nextQueueUrl,optional"`
	// The ARN of the next stage's queue; set with nextQueueUrl.
	NextQueueArn pulumi.StringInput `pulumi:"nextQueueArn,optional"`
	// The name of a DynamoDB table the workers read and update. Unset for
	// a stage that needs none.
	OrderTableName pulumi.StringInput `pulumi:"orderTableName,optional"`
	// The ARN of that table; set with orderTableName.
	OrderTableArn pulumi.StringInput `pulumi:"orderTableArn,optional"`

	// The SNS topic of order events the workers publish to (started,
	// finished, completed, failed). Unset: the workers publish none.
	EventsTopicArn pulumi.StringInput `pulumi:"eventsTopicArn,optional"`

	// The VPC of the tasks' security group.
	VpcId pulumi.StringInput `pulumi:"vpcId"`
	// The subnets the tasks run in: private ones (tasks get no public IP).
	SubnetIds pulumi.StringArrayInput `pulumi:"subnetIds"`

	// How many messages one task works on at once. Default 10.
	Concurrency int `pulumi:"concurrency,optional"`
	// The mean time one message takes, in seconds: it sizes the default
	// visibility timeout and the scaling target. Default 1.
	ProcessingTimeSeconds float64 `pulumi:"processingTimeSeconds,optional"`
	// How long a message may wait in the queue, in seconds: the scaling
	// objective. Default 30.
	LatencySeconds float64 `pulumi:"latencySeconds,optional"`
	// The consumed queue's visibility timeout, which the worker's
	// heartbeat extends: give the queue the same. Default 4 × the
	// processing time, at least 30.
	VisibilityTimeoutSeconds int `pulumi:"visibilityTimeoutSeconds,optional"`
	// The consumed queue's maxReceiveCount: the worker backs off retries
	// by receive count. Default 3, the queue component's default.
	MaxReceiveCount int `pulumi:"maxReceiveCount,optional"`
	// CPU units of one task: 256, 512, 1024, 2048, 4096, 8192 or 16384.
	// Default 256.
	Cpu int `pulumi:"cpu,optional"`
	// Memory (MiB) of one task, valid with cpu on Fargate. Default 512.
	Memory int `pulumi:"memory,optional"`
	// Run the tasks on Fargate Spot.
	Spot bool `pulumi:"spot,optional"`
	// Keep a task protected from scale-in while its worker has messages in
	// flight, so autoscaling and deployments stop idle tasks, never one
	// mid-message (the worker calls the ECS agent's task protection
	// endpoint; the task role may protect its own cluster's tasks only).
	// Default true; false grants no permission and tells the workers not
	// to call.
	ScaleInProtection *bool `pulumi:"scaleInProtection,optional"`
	// How long ECS waits after SIGTERM before SIGKILL, 2 to 120 seconds;
	// the worker drains in-flight messages within it. Default 30.
	StopTimeoutSeconds int `pulumi:"stopTimeoutSeconds,optional"`
	// Extra environment variables of the tasks (LINECOOK_* are reserved).
	Env map[string]string `pulumi:"env,optional"`
	// How the stage scales. Default: target tracking on backlog per task,
	// 1 to 10 tasks.
	Scaling *ScalingArgs `pulumi:"scaling,optional"`

	// Retention of the task logs in days, one CloudWatch Logs accepts.
	// Default 14.
	LogRetentionDays int `pulumi:"logRetentionDays,optional"`
}

// ScalingArgs chooses and bounds a stage's scaling policy.
type ScalingArgs struct {
	// The policy: target-tracking (backlog per task, its target from the
	// configured processing time), latency (the expected wait of a new
	// message, from the workers' measured processing time, kept at
	// latencySeconds), step, or fixed. Default target-tracking.
	Policy string `pulumi:"policy,optional"`
	// The fewest tasks; 0 lets the stage scale to zero (a wake-up policy
	// starts the first task). Default 1.
	Min *int `pulumi:"min,optional"`
	// The most tasks. Default 10.
	Max int `pulumi:"max,optional"`
	// The task count of a fixed policy, and the count a scaled service
	// starts with (clamped to min and max). Default max for fixed, min
	// otherwise.
	Desired *int `pulumi:"desired,optional"`
	// Seconds after a scale-out before another. Default 60.
	ScaleOutCooldownSeconds int `pulumi:"scaleOutCooldownSeconds,optional"`
	// Seconds after a scale-in before another. Default 120.
	ScaleInCooldownSeconds int `pulumi:"scaleInCooldownSeconds,optional"`
	// How long, in seconds, tasks must stay at most half busy before some
	// are removed. Default 300.
	ScaleInAfterSeconds int `pulumi:"scaleInAfterSeconds,optional"`
	// Overrides the backlog-per-task target derived from concurrency,
	// processing time and latency.
	TargetValue float64 `pulumi:"targetValue,optional"`
	// What step scaling scales out on: messages (the backlog; default) or
	// age (the age of the oldest message, from half the latency objective).
	ScaleOutOn string `pulumi:"scaleOutOn,optional"`
}

// ArgsOf is the stage's own settings from a stage of linecook's stack
// config (pipeline.Parse), for a Go program that reads that config. The
// wiring (image, cluster, queues, network) is the caller's to add.
func ArgsOf(st pipeline.Stage) Args {
	s := st.Scaling
	a := Args{
		Worker:                   st.Worker,
		StageName:                st.Name,
		Concurrency:              st.Concurrency,
		ProcessingTimeSeconds:    st.ProcessingTime.Seconds(),
		LatencySeconds:           st.Latency.Seconds(),
		VisibilityTimeoutSeconds: seconds(st.VisibilityTimeout),
		MaxReceiveCount:          st.MaxReceiveCount,
		Cpu:                      st.CPU,
		Memory:                   st.Memory,
		Spot:                     st.Spot,
		StopTimeoutSeconds:       seconds(st.StopTimeout),
		Env:                      st.Env,
		Scaling: &ScalingArgs{
			Policy:                  string(s.Policy),
			Min:                     &s.Min,
			Max:                     s.Max,
			Desired:                 &s.Desired,
			ScaleOutCooldownSeconds: seconds(s.ScaleOutCooldown),
			ScaleInCooldownSeconds:  seconds(s.ScaleInCooldown),
			ScaleInAfterSeconds:     seconds(s.ScaleInAfter),
			TargetValue:             s.TargetValue,
			ScaleOutOn:              s.ScaleOutOn,
		},
	}
	if st.DisableScaleInProtection {
		off := false
		a.ScaleInProtection = &off
	}
	if st.Image != "" {
		// An image of its own runs its own entrypoint.
		a.Image, a.Worker = pulumi.String(st.Image), ""
	}
	return a
}

// ArgError is a stage argument that was wrong: its schema name, its value,
// and what is accepted.
type ArgError struct {
	Arg    string
	Value  any
	Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("%s %v: %s", e.Arg, e.Value, e.Reason)
}

// resolve applies the documented defaults and checks every value against
// AWS's limits, naming the argument, before anything is registered. It
// returns the stage as linecook's worker environment describes it, and
// its scaling plan.
func (a *Args) resolve(name string) (pipeline.Stage, policies.Plan, error) {
	var errs []error
	bad := func(arg string, v any, reason string) { errs = append(errs, &ArgError{arg, v, reason}) }
	st := pipeline.Stage{
		Name:           or(a.StageName, name),
		Worker:         a.Worker,
		Concurrency:    or(a.Concurrency, pipeline.DefaultConcurrency),
		ProcessingTime: or(duration(a.ProcessingTimeSeconds), pipeline.DefaultProcessingTime),
		Latency:        or(duration(a.LatencySeconds), pipeline.DefaultLatency),
		CPU:            or(a.Cpu, pipeline.DefaultCPU),
		Memory:         or(a.Memory, pipeline.DefaultMemory),
		Spot:           a.Spot,
		Env:            a.Env,

		DisableScaleInProtection: a.ScaleInProtection != nil && !*a.ScaleInProtection,
	}
	if r := pipeline.StageNameReason(st.Name); r != "" {
		bad("stageName", st.Name, r)
	}
	if a.Image == nil {
		bad("image", "(unset)", "required: the linecook image with worker set, or your own worker's image")
	}
	if st.Concurrency < 1 || st.Concurrency > workers.MaxConcurrency {
		bad("concurrency", st.Concurrency, fmt.Sprintf("must be 1 to %d (the worker runtime's limit for one task; add tasks instead)", workers.MaxConcurrency))
	}
	if a.ProcessingTimeSeconds < 0 {
		bad("processingTimeSeconds", a.ProcessingTimeSeconds, "must be more than 0")
	}
	if a.LatencySeconds < 0 {
		bad("latencySeconds", a.LatencySeconds, "must be more than 0")
	}
	st.VisibilityTimeout = pipeline.DefaultVisibilityTimeout(st.ProcessingTime)
	if a.VisibilityTimeoutSeconds != 0 {
		st.VisibilityTimeout = time.Duration(a.VisibilityTimeoutSeconds) * time.Second
	}
	if r := pipeline.VisibilityTimeoutReason(st.VisibilityTimeout); r != "" {
		bad("visibilityTimeoutSeconds", a.VisibilityTimeoutSeconds, r)
	}
	st.MaxReceiveCount = or(a.MaxReceiveCount, pipeline.DefaultMaxReceiveCount)
	if r := pipeline.MaxReceiveCountReason(st.MaxReceiveCount); r != "" {
		bad("maxReceiveCount", st.MaxReceiveCount, r)
	}
	if field, r := pipeline.FargateReason(st.CPU, st.Memory); r != "" {
		if field == "cpu" {
			bad("cpu", st.CPU, r)
		} else {
			bad("memory", st.Memory, r)
		}
	}
	st.StopTimeout = or(time.Duration(a.StopTimeoutSeconds)*time.Second, pipeline.DefaultStopTimeout)
	if r := pipeline.StopTimeoutReason(st.StopTimeout); r != "" {
		bad("stopTimeoutSeconds", a.StopTimeoutSeconds, r)
	}
	st.DrainTimeout = pipeline.DrainTimeout(st.StopTimeout)
	for _, k := range sortedKeys(a.Env) {
		if r := pipeline.EnvNameReason(k); r != "" {
			bad("env", k, r)
		}
	}
	if a.LogRetentionDays != 0 {
		if r := pipeline.LogRetentionReason(a.LogRetentionDays); r != "" {
			bad("logRetentionDays", a.LogRetentionDays, r)
		}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"clusterArn", a.ClusterArn != nil}, {"clusterName", a.ClusterName != nil},
		{"queueUrl", a.QueueUrl != nil}, {"queueArn", a.QueueArn != nil}, {"queueName", a.QueueName != nil},
		{"dlqUrl", a.DlqUrl != nil}, {"dlqArn", a.DlqArn != nil},
		{"vpcId", a.VpcId != nil}, {"subnetIds", a.SubnetIds != nil},
	} {
		if !f.set {
			bad(f.name, "(unset)", "required")
		}
	}
	if (a.NextQueueUrl == nil) != (a.NextQueueArn == nil) {
		bad("nextQueueUrl/nextQueueArn", "(one unset)", "set both, or neither for the last stage")
	}
	if (a.OrderTableName == nil) != (a.OrderTableArn == nil) {
		bad("orderTableName/orderTableArn", "(one unset)", "set both, or neither")
	}
	var err error
	if st.Scaling, err = a.Scaling.settings(); err != nil {
		errs = append(errs, err)
	}
	plan, err := policies.Build(st.Scaling, st.Workload())
	if len(errs) == 0 && err != nil {
		var fe *policies.FieldError
		if errors.As(err, &fe) {
			err = &ArgError{scalingArg(fe.Field), fe.Value, fe.Err.Error()}
		}
		errs = append(errs, err)
	}
	return st, plan, errors.Join(errs...)
}

// settings applies the scaling defaults, the same as stack config's.
func (s *ScalingArgs) settings() (policies.Settings, error) {
	if s == nil {
		s = &ScalingArgs{}
	}
	out := policies.Settings{
		Policy:           policies.Kind(or(s.Policy, string(pipeline.DefaultPolicy))),
		Min:              pipeline.DefaultMin,
		Max:              or(s.Max, pipeline.DefaultMax),
		ScaleOutCooldown: or(time.Duration(s.ScaleOutCooldownSeconds)*time.Second, pipeline.DefaultScaleOutCooldown),
		ScaleInCooldown:  or(time.Duration(s.ScaleInCooldownSeconds)*time.Second, pipeline.DefaultScaleInCooldown),
		ScaleInAfter:     or(time.Duration(s.ScaleInAfterSeconds)*time.Second, pipeline.DefaultScaleInAfter),
		TargetValue:      s.TargetValue,
		ScaleOutOn:       s.ScaleOutOn,
	}
	if _, err := policies.ParseKind(string(out.Policy)); err != nil {
		return out, &ArgError{"scaling.policy", s.Policy, err.Error()}
	}
	if s.Min != nil {
		out.Min = *s.Min
	}
	switch {
	case s.Desired != nil:
		out.Desired = *s.Desired
	case out.Policy == policies.Fixed:
		out.Desired = out.Max
	default:
		out.Desired = out.Min
	}
	return out, nil
}

// scalingArg names a policies field as the schema does.
func scalingArg(field string) string {
	switch field {
	case "concurrency", "latency":
		return field + map[string]string{"latency": "Seconds"}[field]
	case "processingTime":
		return "processingTimeSeconds"
	case "scaleOutCooldown", "scaleInCooldown", "scaleInAfter":
		return "scaling." + field + "Seconds"
	}
	return "scaling." + field
}

// duration converts seconds as the schema takes them.
func duration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
