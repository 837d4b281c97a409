package stage_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/internal/iampolicy"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
)

const (
	image    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook@sha256:feed"
	queueArn = "arn:aws:sqs:us-east-1:123456789012:grill"
	queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/grill"
	dlqArn   = "arn:aws:sqs:us-east-1:123456789012:grill-dlq"
	dlqURL   = "https://sqs.us-east-1.amazonaws.com/123456789012/grill-dlq"
	nextArn  = "arn:aws:sqs:us-east-1:123456789012:fry"
	nextURL  = "https://sqs.us-east-1.amazonaws.com/123456789012/fry"
	tableArn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
)

var subnets = []string{"subnet-private-a", "subnet-private-b"}

// stageFrom parses one stage the way the stack does, defaults and all.
func stageFrom(t *testing.T, stageJSON, scalingJSON string) pipeline.Stage {
	t.Helper()
	values := map[string]string{"linecook:stages": "[" + stageJSON + "]"}
	if scalingJSON != "" {
		values["linecook:scaling"] = scalingJSON
	}
	cfg, err := pipeline.Parse(values, pipeline.Options{})
	if err != nil {
		t.Fatalf("parse stage: %v", err)
	}
	return cfg.Stages[0]
}

type wiring struct{ next, table bool }

func argsFor(st pipeline.Stage, w wiring) *stage.Args {
	a := stage.ArgsOf(st)
	if a.Image == nil {
		a.Image = pulumi.String(image)
	}
	a.ClusterArn, a.ClusterName = pulumi.String("arn:aws:ecs:us-east-1:123456789012:cluster/kitchen"), pulumi.String("kitchen")
	a.QueueUrl, a.QueueArn, a.QueueName = pulumi.String(queueURL), pulumi.String(queueArn), pulumi.String("grill")
	a.DlqUrl, a.DlqArn = pulumi.String(dlqURL), pulumi.String(dlqArn)
	a.VpcId, a.SubnetIds = pulumi.String("vpc-1"), pulumi.ToStringArray(subnets)
	a.LogRetentionDays = 30
	if w.next {
		a.NextQueueUrl, a.NextQueueArn = pulumi.String(nextURL), pulumi.String(nextArn)
	}
	if w.table {
		a.OrderTableName, a.OrderTableArn = pulumi.String("orders"), pulumi.String(tableArn)
	}
	return &a
}

func run(t *testing.T, args *stage.Args) (*awstest.Mocks, error) {
	t.Helper()
	return awstest.Run(func(ctx *pulumi.Context) error {
		_, err := stage.New(ctx, "grill", args)
		return err
	})
}

func one(t *testing.T, m *awstest.Mocks, typ string) awstest.Resource {
	t.Helper()
	rs := m.OfType(typ)
	if len(rs) != 1 {
		t.Fatalf("%d %s, want 1", len(rs), typ)
	}
	return rs[0]
}

func TestScalingResourcesPerPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scaling string
		// want counts of scaling resources and the policy names
		targets, alarms int
		policies        []string
		desired         float64
		ignoresDesired  bool
	}{
		{"fixed", `{"policy":"fixed","desired":3}`, 0, 0, nil, 3, false},
		// Target tracking scales in through the load-based step policy.
		{"target tracking", `{"policy":"target-tracking","min":1,"max":8}`, 1, 1, []string{"grill-backlog-per-task", "grill-scale-in"}, 1, true},
		{"target tracking from zero", `{"policy":"target-tracking","min":0,"max":8}`, 1, 2, []string{"grill-backlog-per-task", "grill-scale-in", "grill-wake-up"}, 0, true},
		{"step", `{"policy":"step","min":2,"max":20}`, 1, 2, []string{"grill-scale-in", "grill-scale-out"}, 2, true},
		{"step from zero", `{"policy":"step","min":0,"max":20}`, 1, 3, []string{"grill-scale-in", "grill-scale-out", "grill-wake-up"}, 0, true},
		{"step on the oldest message's age", `{"policy":"step","min":1,"max":20,"scaleOutOn":"age"}`, 1, 2, []string{"grill-scale-in", "grill-scale-out"}, 1, true},
		// Latency tracks the expected wait on the workers' measured time.
		{"latency", `{"policy":"latency","min":1,"max":8}`, 1, 1, []string{"grill-expected-wait", "grill-scale-in"}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stageFrom(t, `{"name":"grill","worker":"grill"}`, tc.scaling)
			plan := st.Plan()
			m, err := run(t, argsFor(st, wiring{next: true, table: true}))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range m.OfType(awstest.AppAutoScalingPolicy) {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			if len(m.OfType(awstest.AppAutoScalingTarget)) != tc.targets || len(m.OfType(awstest.CloudWatchMetricAlarm)) != tc.alarms || !slices.Equal(names, tc.policies) {
				t.Errorf("targets %d, alarms %d, policies %v; want %d, %d, %v",
					len(m.OfType(awstest.AppAutoScalingTarget)), len(m.OfType(awstest.CloudWatchMetricAlarm)), names, tc.targets, tc.alarms, tc.policies)
			}
			svc := one(t, m, awstest.ECSService)
			if got := svc.Number("desiredCount"); got != tc.desired {
				t.Errorf("desiredCount = %v, want %v", got, tc.desired)
			}
			if got := slices.Contains(svc.IgnoreChanges, "desiredCount"); got != tc.ignoresDesired {
				t.Errorf("ignoreChanges desiredCount = %v, want %v", got, tc.ignoresDesired)
			}
			if tc.targets == 1 {
				checkTarget(t, m, plan)
			}
			if plan.TargetTracking != nil {
				checkTargetTracking(t, m, plan)
			}
			checkStepPolicies(t, m, plan)
		})
	}
}

func checkTarget(t *testing.T, m *awstest.Mocks, plan policies.Plan) {
	t.Helper()
	target := one(t, m, awstest.AppAutoScalingTarget)
	if target.String("resourceId") != "service/kitchen/grill" || target.String("scalableDimension") != "ecs:service:DesiredCount" ||
		target.String("serviceNamespace") != "ecs" || target.Number("minCapacity") != float64(plan.Min) || target.Number("maxCapacity") != float64(plan.Max) {
		t.Errorf("scalable target = %v, want service/kitchen/grill %d–%d", target.Inputs, plan.Min, plan.Max)
	}
	for _, p := range m.OfType(awstest.AppAutoScalingPolicy) {
		if p.String("resourceId") != "service/kitchen/grill" {
			t.Errorf("policy %s on %q", p.Name, p.String("resourceId"))
		}
	}
}

func checkTargetTracking(t *testing.T, m *awstest.Mocks, plan policies.Plan) {
	t.Helper()
	tt := plan.TargetTracking
	p, ok := m.Find(awstest.AppAutoScalingPolicy, "grill-"+tt.Name)
	if !ok {
		t.Fatal("no target tracking policy")
	}
	cfg := "targetTrackingScalingPolicyConfiguration."
	if p.String("policyType") != "TargetTrackingScaling" || p.Number(cfg+"targetValue") != tt.TargetValue ||
		p.Number(cfg+"scaleOutCooldown") != tt.ScaleOutCooldown.Seconds() || p.Number(cfg+"scaleInCooldown") != tt.ScaleInCooldown.Seconds() ||
		p.Bool(cfg+"disableScaleIn") != tt.DisableScaleIn {
		t.Errorf("target tracking = %v, want target %g", p.Get(cfg), tt.TargetValue)
	}
	// The metric math is the plan's, rendered for this queue and service.
	want := tt.Metric.Queries(policies.Target{QueueName: "grill", ClusterName: "kitchen", ServiceName: "grill", Stage: "grill", Workload: plan.Workload})
	got := p.List(cfg + "customizedMetricSpecification.metrics")
	if len(got) != len(want) {
		t.Fatalf("%d metric queries, want %d", len(got), len(want))
	}
	for i, q := range want {
		g := got[i].(map[string]any)
		if g["id"] != q.ID || g["returnData"] != q.ReturnData {
			t.Errorf("query %d = %v, want id %s returnData %v", i, g, q.ID, q.ReturnData)
		}
		if q.Stat == nil {
			if g["expression"] != q.Expression {
				t.Errorf("query %s expression = %v, want %q", q.ID, g["expression"], q.Expression)
			}
			continue
		}
		stat := g["metricStat"].(map[string]any)
		metric := stat["metric"].(map[string]any)
		dims := map[string]string{}
		for _, d := range metric["dimensions"].([]any) {
			dm := d.(map[string]any)
			dims[dm["name"].(string)] = dm["value"].(string)
		}
		if stat["stat"] != string(q.Stat.Stat) || metric["metricName"] != q.Stat.MetricName ||
			metric["namespace"] != q.Stat.Namespace || !maps.Equal(dims, q.Stat.Dimensions) {
			t.Errorf("query %s = %v, want %+v", q.ID, stat, *q.Stat)
		}
	}
}

func checkStepPolicies(t *testing.T, m *awstest.Mocks, plan policies.Plan) {
	t.Helper()
	for _, sp := range plan.StepPolicies {
		p, ok := m.Find(awstest.AppAutoScalingPolicy, "grill-"+sp.Name)
		if !ok {
			t.Errorf("no step policy %s", sp.Name)
			continue
		}
		cfg := "stepScalingPolicyConfiguration."
		if p.String("policyType") != "StepScaling" || p.String(cfg+"adjustmentType") != string(sp.AdjustmentType) ||
			p.Number(cfg+"cooldown") != sp.Cooldown.Seconds() || p.String(cfg+"metricAggregationType") != string(sp.Alarm.Statistic) ||
			p.Number(cfg+"minAdjustmentMagnitude") != float64(sp.MinAdjustmentMagnitude) {
			t.Errorf("step policy %s = %v", sp.Name, p.Get(cfg))
		}
		steps := p.List(cfg + "stepAdjustments")
		if len(steps) != len(sp.Steps) {
			t.Errorf("%s: %d steps, want %d", sp.Name, len(steps), len(sp.Steps))
			continue
		}
		for i, s := range sp.Steps {
			g := steps[i].(map[string]any)
			if g["scalingAdjustment"] != float64(s.Adjustment) || !sameBound(g["metricIntervalLowerBound"], s.LowerBound) ||
				!sameBound(g["metricIntervalUpperBound"], s.UpperBound) {
				t.Errorf("%s step %d = %v, want %+v", sp.Name, i, g, s)
			}
		}

		alarm, ok := m.Find(awstest.CloudWatchMetricAlarm, "grill-"+sp.Name)
		if !ok {
			t.Errorf("no alarm for %s", sp.Name)
			continue
		}
		a := sp.Alarm
		if alarm.String("comparisonOperator") != string(a.Comparison) || alarm.Number("threshold") != a.Threshold ||
			alarm.Number("evaluationPeriods") != float64(a.EvaluationPeriods) || alarm.Number("datapointsToAlarm") != float64(a.DatapointsToAlarm) ||
			alarm.String("treatMissingData") != string(a.MissingData) {
			t.Errorf("alarm %s = %v, want %+v", sp.Name, alarm.Inputs, a)
		}
		if acts := alarm.Strings("alarmActions"); len(acts) != 1 || acts[0] != p.Outputs["arn"] {
			t.Errorf("alarm %s actions = %v, want its policy %v", sp.Name, acts, p.Outputs["arn"])
		}
		want := a.Metric.Queries(policies.Target{QueueName: "grill", ClusterName: "kitchen", ServiceName: "grill"})
		got := alarm.List("metricQueries")
		if len(got) != len(want) {
			t.Errorf("alarm %s: %d queries, want %d", sp.Name, len(got), len(want))
			continue
		}
		for i, q := range want {
			g := got[i].(map[string]any)
			if g["id"] != q.ID || g["returnData"] != q.ReturnData {
				t.Errorf("alarm %s query %d = %v, want %s", sp.Name, i, g, q.ID)
			}
			if q.Stat != nil {
				metric := g["metric"].(map[string]any)
				if metric["metricName"] != q.Stat.MetricName || metric["period"] != 60.0 || metric["stat"] != string(q.Stat.Stat) {
					t.Errorf("alarm %s query %s = %v", sp.Name, q.ID, metric)
				}
			} else if g["expression"] != q.Expression {
				t.Errorf("alarm %s query %s expression = %v", sp.Name, q.ID, g["expression"])
			}
		}
	}
}

func sameBound(got any, want *float64) bool {
	if want == nil {
		return got == nil
	}
	s, _ := got.(string)
	var f float64
	return json.Unmarshal([]byte(s), &f) == nil && f == *want
}

func TestServiceIsPrivateAndClosed(t *testing.T) {
	st := stageFrom(t, `{"name":"grill","worker":"grill","stopTimeout":"45s","env":{"GRILL_TEMP":"230"}}`, "")
	m, err := run(t, argsFor(st, wiring{next: true, table: true}))
	if err != nil {
		t.Fatal(err)
	}
	svc := one(t, m, awstest.ECSService)
	sg := one(t, m, awstest.EC2SecurityGroup)
	net := "networkConfiguration."
	if svc.Bool(net+"assignPublicIp") || !slices.Equal(svc.Strings(net+"subnets"), subnets) ||
		!slices.Equal(svc.Strings(net+"securityGroups"), []string{sg.ID()}) {
		t.Errorf("network = %v, want private subnets, no public IP, the stage's SG", svc.Get("networkConfiguration"))
	}
	if svc.String("launchType") != "FARGATE" || svc.Get("capacityProviderStrategies") != nil {
		t.Errorf("launch = %q / %v, want FARGATE", svc.String("launchType"), svc.Get("capacityProviderStrategies"))
	}
	if !svc.Bool("deploymentCircuitBreaker.enable") || !svc.Bool("deploymentCircuitBreaker.rollback") {
		t.Errorf("circuit breaker = %v, want enabled with rollback", svc.Get("deploymentCircuitBreaker"))
	}
	if svc.String("cluster") != "arn:aws:ecs:us-east-1:123456789012:cluster/kitchen" {
		t.Errorf("cluster = %q", svc.String("cluster"))
	}
	if in := sg.Get("ingress"); in == nil || len(sg.List("ingress")) != 0 {
		t.Errorf("stage SG ingress = %v, want an explicit empty list", in)
	}
	for _, e := range sg.List("egress") {
		if e.(map[string]any)["fromPort"] != 443.0 {
			t.Errorf("stage SG egress %v, want HTTPS only", e)
		}
	}
	if n := len(m.OfType(awstest.VPCSecurityGroupIngressRule)); n != 0 {
		t.Errorf("%d ingress rules, want none", n)
	}

	td := one(t, m, awstest.ECSTaskDefinition)
	var defs []struct {
		Name, Image            string
		Command                []string
		Environment            []struct{ Name, Value string }
		StopTimeout            int
		ReadonlyRootFilesystem bool
		LogConfiguration       struct {
			LogDriver string
			Options   map[string]string
		}
	}
	if err := td.JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 {
		t.Fatalf("%d containers, want 1", len(defs))
	}
	c := defs[0]
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[kv.Name] = kv.Value
	}
	want := st.TaskEnv(pipeline.Queues{URL: queueURL, NextURL: nextURL, DLQURL: dlqURL, OrderTable: "orders"})
	if !maps.Equal(env, want) {
		t.Errorf("environment = %v, want TaskEnv %v", env, want)
	}
	logs := one(t, m, awstest.CloudWatchLogGroup)
	if c.Image != image || !slices.Equal(c.Command, []string{"worker", "grill"}) || c.StopTimeout != 45 || !c.ReadonlyRootFilesystem ||
		c.LogConfiguration.LogDriver != "awslogs" || c.LogConfiguration.Options["awslogs-group"] != logs.Outputs["name"] ||
		c.LogConfiguration.Options["awslogs-region"] != awstest.Region {
		t.Errorf("container = %+v", c)
	}
	if logs.Number("retentionInDays") != 30 {
		t.Errorf("log retention = %v, want 30", logs.Number("retentionInDays"))
	}
	if td.String("cpu") != "256" || td.String("memory") != "512" || td.String("networkMode") != "awsvpc" ||
		!slices.Equal(td.Strings("requiresCompatibilities"), []string{"FARGATE"}) {
		t.Errorf("task definition = %v", td.Inputs)
	}

	comp, _ := m.Find(stage.Type, "grill")
	for _, r := range m.Resources() {
		if r.Type != stage.Type && r.Parent != comp.URN {
			t.Errorf("%s %s is not a child of the component", r.Type, r.Name)
		}
	}
}

// clusterTasks is every task of the test cluster: the most a task role
// may protect from scale-in.
const clusterTasks = "arn:aws:ecs:us-east-1:123456789012:task/kitchen/*"

func TestTaskRoleIsExactlyScoped(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage string
		w     wiring
		want  map[string][]string
	}{
		{"middle stage", `{"name":"grill","worker":"grill"}`, wiring{next: true, table: true}, map[string][]string{
			"sqs:ReceiveMessage":          {queueArn},
			"sqs:DeleteMessage":           {queueArn},
			"sqs:ChangeMessageVisibility": {queueArn},
			"sqs:GetQueueAttributes":      {queueArn},
			"sqs:SendMessage":             {nextArn, dlqArn},
			"dynamodb:GetItem":            {tableArn},
			"dynamodb:UpdateItem":         {tableArn},
			"ecs:UpdateTaskProtection":    {clusterTasks},
			"ecs:GetTaskProtection":       {clusterTasks},
		}},
		{"last stage, no table", `{"name":"grill","worker":"grill"}`, wiring{}, map[string][]string{
			"sqs:ReceiveMessage":          {queueArn},
			"sqs:DeleteMessage":           {queueArn},
			"sqs:ChangeMessageVisibility": {queueArn},
			"sqs:GetQueueAttributes":      {queueArn},
			"sqs:SendMessage":             {dlqArn},
			"ecs:UpdateTaskProtection":    {clusterTasks},
			"ecs:GetTaskProtection":       {clusterTasks},
		}},
		{"scale-in protection off", `{"name":"grill","worker":"grill","scaleInProtection":false}`, wiring{}, map[string][]string{
			"sqs:ReceiveMessage":          {queueArn},
			"sqs:DeleteMessage":           {queueArn},
			"sqs:ChangeMessageVisibility": {queueArn},
			"sqs:GetQueueAttributes":      {queueArn},
			"sqs:SendMessage":             {dlqArn},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stageFrom(t, tc.stage, "")
			m, err := run(t, argsFor(st, tc.w))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Grants(t, "grill-task")
			for a := range tc.want {
				slices.Sort(tc.want[a])
			}
			if !maps.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("task role grants %v\nwant %v", got, tc.want)
			}

			exec := m.Grants(t, "grill-execution")
			logs := one(t, m, awstest.CloudWatchLogGroup)
			wantExec := map[string][]string{
				"ecr:GetAuthorizationToken":       {"*"},
				"ecr:BatchCheckLayerAvailability": {"arn:aws:ecr:us-east-1:123456789012:repository/linecook"},
				"ecr:GetDownloadUrlForLayer":      {"arn:aws:ecr:us-east-1:123456789012:repository/linecook"},
				"ecr:BatchGetImage":               {"arn:aws:ecr:us-east-1:123456789012:repository/linecook"},
				"logs:CreateLogStream":            {logs.Outputs["arn"].(string) + ":log-stream:*"},
				"logs:PutLogEvents":               {logs.Outputs["arn"].(string) + ":log-stream:*"},
			}
			if !maps.EqualFunc(exec, wantExec, slices.Equal) {
				t.Errorf("execution role grants %v\nwant %v", exec, wantExec)
			}

			role, _ := m.Find(awstest.IAMRole, "grill-task")
			trust, err := iampolicy.Parse(role.String("assumeRolePolicy"))
			if err != nil || len(trust.Statement) != 1 || trust.Statement[0].Principal["Service"] != "ecs-tasks.amazonaws.com" ||
				trust.Statement[0].Condition["StringEquals"]["aws:SourceAccount"] != awstest.AccountID {
				t.Errorf("task role trust = %+v (%v), want ecs-tasks from this account", trust, err)
			}
		})
	}
}

func TestSpotAndOwnImage(t *testing.T) {
	st := stageFrom(t, `{"name":"thumbs","image":"ghcr.io/acme/thumbs:1.2","spot":true}`, "")
	m, err := run(t, argsFor(st, wiring{}))
	if err != nil {
		t.Fatal(err)
	}
	svc := one(t, m, awstest.ECSService)
	if svc.String("launchType") != "" || svc.String("capacityProviderStrategies.0.capacityProvider") != "FARGATE_SPOT" {
		t.Errorf("spot service launch = %q, strategies %v; want FARGATE_SPOT and no launch type", svc.String("launchType"), svc.Get("capacityProviderStrategies"))
	}
	var defs []struct {
		Image                  string
		Command                []string
		ReadonlyRootFilesystem bool
	}
	if err := one(t, m, awstest.ECSTaskDefinition).JSON("containerDefinitions", &defs); err != nil {
		t.Fatal(err)
	}
	if defs[0].Image != "ghcr.io/acme/thumbs:1.2" || defs[0].Command != nil || defs[0].ReadonlyRootFilesystem {
		t.Errorf("own-image container = %+v, want the stage's image, its own entrypoint", defs[0])
	}
	// Not in ECR: the execution role gets no ECR permissions at all.
	for a := range m.Grants(t, "grill-execution") {
		if strings.HasPrefix(a, "ecr:") {
			t.Errorf("execution role has %s for an image outside ECR", a)
		}
	}
}

func TestStageArgErrors(t *testing.T) {
	good := stageFrom(t, `{"name":"grill","worker":"grill"}`, "")
	bad := good
	bad.Scaling.Min, bad.Scaling.Max = 5, 2
	for _, tc := range []struct {
		name string
		args func() *stage.Args
		want string
	}{
		{"no image", func() *stage.Args { a := argsFor(good, wiring{}); a.Image = nil; return a }, "image (unset): required"},
		{"no queue", func() *stage.Args { a := argsFor(good, wiring{}); a.QueueArn = nil; return a }, "queueArn (unset): required"},
		{"half a next queue", func() *stage.Args { a := argsFor(good, wiring{}); a.NextQueueUrl = pulumi.String(nextURL); return a }, "nextQueueUrl/nextQueueArn"},
		{"impossible scaling", func() *stage.Args { return argsFor(bad, wiring{}) }, "min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := run(t, tc.args())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered despite the error", n)
			}
		})
	}
}

// Scale-in protection: on by default with the environment unchanged; off,
// the workers are told not to call the endpoint. The task role's side is
// in TestTaskRoleIsExactlyScoped.
func TestScaleInProtectionSwitch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arg     *bool
		wantEnv map[string]string // extra variables beyond TaskEnv of a default stage
	}{
		{"unset: on", nil, nil},
		{"true", ptr(true), nil},
		{"false", ptr(false), map[string]string{pipeline.EnvScaleInProtection: "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stageFrom(t, `{"name":"grill","worker":"grill"}`, "")
			a := argsFor(st, wiring{})
			a.ScaleInProtection = tc.arg
			m, err := run(t, a)
			if err != nil {
				t.Fatal(err)
			}
			var defs []struct {
				Environment []struct{ Name, Value string }
			}
			if err := one(t, m, awstest.ECSTaskDefinition).JSON("containerDefinitions", &defs); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, kv := range defs[0].Environment {
				env[kv.Name] = kv.Value
			}
			want := st.TaskEnv(pipeline.Queues{URL: queueURL, DLQURL: dlqURL})
			maps.Copy(want, tc.wantEnv)
			if !maps.Equal(env, want) {
				t.Errorf("environment = %v, want %v", env, want)
			}
			_, protects := m.Grants(t, "grill-task")["ecs:UpdateTaskProtection"]
			if protects != (tc.arg == nil || *tc.arg) {
				t.Errorf("task role may protect the task: %v, want %v", protects, !protects)
			}
		})
	}
	// The stack config's switch reaches the component through ArgsOf.
	off := stage.ArgsOf(stageFrom(t, `{"name":"grill","worker":"grill","scaleInProtection":false}`, ""))
	if off.ScaleInProtection == nil || *off.ScaleInProtection {
		t.Errorf("ArgsOf(scaleInProtection: false).ScaleInProtection = %v, want false", off.ScaleInProtection)
	}
	if on := stage.ArgsOf(stageFrom(t, `{"name":"grill","worker":"grill"}`, "")); on.ScaleInProtection != nil {
		t.Errorf("ArgsOf(default).ScaleInProtection = %v, want unset (the default)", *on.ScaleInProtection)
	}
}

func ptr[T any](v T) *T { return &v }

// The task role's protection is scoped from the cluster's ARN, known only
// once the cluster exists: a value that is not one fails the deployment,
// naming it, rather than granting anything wider.
func TestClusterArnThatIsNotOneFails(t *testing.T) {
	a := argsFor(stageFrom(t, `{"name":"grill","worker":"grill"}`, ""), wiring{})
	a.ClusterArn = pulumi.String("arn:aws:ecs:us-east-1:123456789012:service/kitchen/grill")
	_, err := run(t, a)
	if err == nil || !strings.Contains(err.Error(), "not an ECS cluster's ARN") {
		t.Fatalf("error = %v, want one naming the cluster ARN", err)
	}
}
