package burger

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/orderapi"
	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/pipeline"
)

var burgerStages = []string{"payment", "grill", "fry", "assemble"}

// resolved holds the stack outputs once RunErr has returned.
type resolved struct {
	apiURL, cluster, dashboard string
	queueURLs, dlqURLs         map[string]string
}

// runStack runs the stack program with values as its config.
func runStack(t *testing.T, values map[string]string) (*awstest.Mocks, resolved, error) {
	t.Helper()
	awstest.SetConfig(t, values)
	var r resolved
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		out, err := program(ctx)
		if err != nil {
			return err
		}
		pulumi.All(out.APIURL, out.ClusterName, out.DashboardURL, out.QueueURLs, out.DLQURLs).ApplyT(func(v []any) error {
			r = resolved{v[0].(string), v[1].(string), v[2].(string), v[3].(map[string]string), v[4].(map[string]string)}
			return nil
		})
		return nil
	})
	return m, r, err
}

// mustRun runs the stack and fails the test on error.
func mustRun(t *testing.T, values map[string]string) (*awstest.Mocks, resolved) {
	t.Helper()
	m, r, err := runStack(t, values)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return m, r
}

// scalingCounts counts the resources that render scaling plans:
// alarms under stage components (queue alarms are not scaling).
func scalingCounts(m *awstest.Mocks) map[string]int {
	out := map[string]int{}
	for _, name := range stagesOf(m) {
		comp, _ := m.Find(stage.Type, name)
		for typ, n := range m.CountsUnder(comp) {
			if typ == awstest.AppAutoScalingTarget || typ == awstest.AppAutoScalingPolicy || typ == awstest.CloudWatchMetricAlarm {
				out[typ] += n
			}
		}
	}
	return out
}

func stagesOf(m *awstest.Mocks) []string {
	var out []string
	for _, r := range m.OfType(stage.Type) {
		out = append(out, r.Name)
	}
	return out
}

func TestResourceGraphPerPolicy(t *testing.T) {
	tests := []struct {
		name    string
		scaling string
		// want per stage
		targets, policies, alarms int
		policyTypes               []string
	}{
		{"fixed", `{"policy":"fixed","desired":2}`, 0, 0, 0, nil},
		{"step", `{"policy":"step","min":1,"max":20}`, 1, 2, 2, []string{"StepScaling", "StepScaling"}},
		// Target tracking's own scale-in is disabled; a load-based step
		// policy (with its alarm) scales in.
		{"target-tracking", `{"policy":"target-tracking","min":1,"max":10}`, 1, 2, 1, []string{"StepScaling", "TargetTrackingScaling"}},
		{"target-tracking from zero", `{"policy":"target-tracking","min":0,"max":10}`, 1, 3, 2, []string{"StepScaling", "StepScaling", "TargetTrackingScaling"}},
		{"step from zero", `{"policy":"step","min":0,"max":20}`, 1, 3, 3, []string{"StepScaling", "StepScaling", "StepScaling"}},
	}
	var baseline map[string]int
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := mustRun(t, map[string]string{"linecook:scaling": tc.scaling})
			n := len(burgerStages)
			got := scalingCounts(m)
			want := map[string]int{}
			for typ, c := range map[string]int{awstest.AppAutoScalingTarget: tc.targets, awstest.AppAutoScalingPolicy: tc.policies, awstest.CloudWatchMetricAlarm: tc.alarms} {
				if c > 0 {
					want[typ] = c * n
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("scaling resources = %v, want %v", got, want)
			}
			for _, name := range burgerStages {
				comp, _ := m.Find(stage.Type, name)
				var types []string
				for _, r := range m.Descendants(comp) {
					if r.Type == awstest.AppAutoScalingPolicy {
						types = append(types, r.String("policyType"))
					}
				}
				slices.Sort(types)
				if !slices.Equal(types, tc.policyTypes) {
					t.Errorf("%s policies = %v, want %v", name, types, tc.policyTypes)
				}
			}
			for _, svc := range m.OfType(awstest.ECSService) {
				if svc.Name == "api" {
					continue
				}
				scaled := tc.targets > 0
				if slices.Contains(svc.IgnoreChanges, "desiredCount") != scaled {
					t.Errorf("%s ignoreChanges = %v with scaling %v", svc.Name, svc.IgnoreChanges, scaled)
				}
			}

			// Everything apart from scaling is the same under every policy.
			rest := m.Counts()
			rest[awstest.CloudWatchMetricAlarm] -= got[awstest.CloudWatchMetricAlarm]
			delete(rest, awstest.AppAutoScalingTarget)
			delete(rest, awstest.AppAutoScalingPolicy)
			if baseline == nil {
				baseline = rest
			} else if !maps.Equal(rest, baseline) {
				t.Errorf("non-scaling resources differ from the fixed policy's:\n got %v\nwant %v", rest, baseline)
			}
			total := 0
			for _, c := range m.Counts() {
				total += c
			}
			t.Logf("%s: %d resources (%d scaling: %v)", tc.name, total, got[awstest.AppAutoScalingTarget]+got[awstest.AppAutoScalingPolicy]+got[awstest.CloudWatchMetricAlarm], got)
		})
	}
}

func TestStagesAreChainedWithExactPermissions(t *testing.T) {
	m, r := mustRun(t, nil)
	if got := slices.Sorted(maps.Keys(r.queueURLs)); !slices.Equal(got, slices.Sorted(slices.Values(burgerStages))) {
		t.Fatalf("queueUrls stages = %v, want %v", got, burgerStages)
	}
	arn := func(name string) string {
		q, ok := m.Find(awstest.SQSQueue, name)
		if !ok {
			t.Fatalf("no queue %s", name)
		}
		return q.Outputs["arn"].(string)
	}
	table := m.OfType(awstest.DynamoDBTable)[0]
	clusterTasks := strings.Replace(m.OfType(awstest.ECSCluster)[0].Outputs["arn"].(string), ":cluster/", ":task/", 1) + "/*"
	for i, name := range burgerStages {
		grants := m.Grants(t, name+"-task")
		// Scale-in protection: the stage's own cluster's tasks, nothing wider.
		for _, a := range []string{"ecs:UpdateTaskProtection", "ecs:GetTaskProtection"} {
			if got := grants[a]; !slices.Equal(got, []string{clusterTasks}) {
				t.Errorf("%s %s on %v, want the cluster's tasks %s", name, a, got, clusterTasks)
			}
		}
		wantSend := []string{arn(name + "-dlq")}
		wantNext := ""
		if i+1 < len(burgerStages) {
			next := burgerStages[i+1]
			wantSend = append(wantSend, arn(next))
			wantNext = r.queueURLs[next]
		}
		slices.Sort(wantSend)
		if got := grants["sqs:SendMessage"]; !slices.Equal(got, wantSend) {
			t.Errorf("%s may send to %v, want only %v", name, got, wantSend)
		}
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} {
			if got := grants[a]; !slices.Equal(got, []string{arn(name)}) {
				t.Errorf("%s %s on %v, want its own queue only", name, a, got)
			}
		}
		for _, a := range []string{"dynamodb:GetItem", "dynamodb:UpdateItem"} {
			if got := grants[a]; !slices.Equal(got, []string{table.Outputs["arn"].(string)}) {
				t.Errorf("%s %s on %v, want the order table", name, a, got)
			}
		}
		env := envOf(t, m, name)
		if env[pipeline.EnvQueueURL] != r.queueURLs[name] || env[pipeline.EnvNextQueueURL] != wantNext ||
			env[pipeline.EnvDLQURL] != r.dlqURLs[name] || env[pipeline.EnvOrderTable] != table.Outputs["name"] ||
			env[pipeline.EnvWorker] != name {
			t.Errorf("%s env = %v", name, env)
		}
	}
	api := m.Grants(t, "api-task")
	if got := api["sqs:SendMessage"]; !slices.Equal(got, []string{arn("payment")}) {
		t.Errorf("API sends to %v, want the first stage's queue", got)
	}
	if env := envOf(t, m, "api"); env[pipeline.EnvNextQueueURL] != r.queueURLs["payment"] {
		t.Errorf("API env = %v, want the payment queue", env)
	}
}

// TestNoWildcardOnQueuesOrTables reads every IAM document in the stack.
func TestNoWildcardOnQueuesOrTables(t *testing.T) {
	m, _ := mustRun(t, nil)
	known := map[string]bool{}
	for _, r := range m.Resources() {
		if a, ok := r.Outputs["arn"].(string); ok {
			known[a] = true
		}
	}
	policies := m.OfType(awstest.IAMRolePolicy)
	if len(policies) != 2*(len(burgerStages)+1) {
		t.Errorf("%d role policies, want an execution and a task policy per service", len(policies))
	}
	for _, p := range policies {
		doc, err := awstest.Policy(p.String("policy"))
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for _, s := range doc.Statement {
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s grants wildcard action %s", p.Name, a)
				}
				if !strings.HasPrefix(a, "sqs:") && !strings.HasPrefix(a, "dynamodb:") {
					continue
				}
				if len(s.Resource) == 0 {
					t.Errorf("%s: %s has no resource", p.Name, a)
				}
				for _, res := range s.Resource {
					// An index of a table in this stack is as
					// named as the table itself.
					table, index, isIndex := strings.Cut(res, "/index/")
					if strings.Contains(res, "*") || !(known[res] || isIndex && known[table] && index != "" && !strings.Contains(index, "/")) {
						t.Errorf("%s: %s on %q, want the ARN of a queue or table in this stack, or of one of the table's indexes", p.Name, a, res)
					}
				}
			}
		}
	}
}

func TestNetworkIsPrivate(t *testing.T) {
	m, _ := mustRun(t, map[string]string{"linecook:api": `{"certificateArn":"arn:aws:acm:us-east-1:123456789012:certificate/x"}`})
	var private []string
	for _, s := range m.OfType(awstest.EC2Subnet) {
		if strings.Contains(s.Name, "-private-") {
			private = append(private, s.ID())
		}
	}
	if len(private) != 2 {
		t.Fatalf("%d private subnets, want 2", len(private))
	}
	// Resources register concurrently under the mocks: compare as sets.
	slices.Sort(private)
	for _, svc := range m.OfType(awstest.ECSService) {
		subnets := slices.Sorted(slices.Values(svc.Strings("networkConfiguration.subnets")))
		if svc.Bool("networkConfiguration.assignPublicIp") || !slices.Equal(subnets, private) {
			t.Errorf("service %s network = %v, want private subnets %v without public IPs", svc.Name, svc.Get("networkConfiguration"), private)
		}
	}

	sgOwner := map[string]string{} // SG id → who owns it
	for _, sg := range m.OfType(awstest.EC2SecurityGroup) {
		owner := "?"
		for _, comp := range m.OfType(stage.Type) {
			if sg.Parent == comp.URN {
				owner = "stage"
			}
		}
		if apiComp, _ := m.Find(orderapi.Type, "api"); sg.Parent == apiComp.URN {
			owner = map[bool]string{true: "alb", false: "api"}[sg.Name == "api-alb"]
		}
		sgOwner[sg.ID()] = owner
		if owner == "stage" && (sg.Get("ingress") == nil || len(sg.List("ingress")) != 0) {
			t.Errorf("stage SG %s ingress = %v, want none", sg.Name, sg.Get("ingress"))
		}
	}
	var albPorts []float64
	for _, rule := range m.OfType(awstest.VPCSecurityGroupIngressRule) {
		switch sgOwner[rule.String("securityGroupId")] {
		case "stage":
			t.Errorf("ingress rule %s on a stage SG", rule.Name)
		case "api":
			if sgOwner[rule.String("referencedSecurityGroupId")] != "alb" || rule.String("cidrIpv4") != "" {
				t.Errorf("API ingress %v, want from the ALB SG only", rule.Inputs)
			}
		case "alb":
			if rule.String("cidrIpv4") != "0.0.0.0/0" {
				t.Errorf("ALB ingress %v", rule.Inputs)
			}
			albPorts = append(albPorts, rule.Number("fromPort"), rule.Number("toPort"))
		default:
			t.Errorf("ingress rule %s on unknown SG", rule.Name)
		}
	}
	slices.Sort(albPorts)
	if !slices.Equal(albPorts, []float64{80, 80, 443, 443}) {
		t.Errorf("ALB ingress ports = %v, want 80 and 443 only", albPorts)
	}
}

func TestStackFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, tc := range []struct {
		stack string
		check func(t *testing.T, m *awstest.Mocks)
	}{
		{"dev", func(t *testing.T, m *awstest.Mocks) {
			counts := m.Counts()
			if counts[awstest.EC2NatGateway] != 1 || counts[awstest.EC2VpcEndpoint] != 0 || counts[awstest.EC2Subnet] != 4 {
				t.Errorf("dev network = %d NAT, %d endpoints, %d subnets; want 1, 0, 4", counts[awstest.EC2NatGateway], counts[awstest.EC2VpcEndpoint], counts[awstest.EC2Subnet])
			}
			api, _ := m.Find(awstest.ECSService, "api")
			if api.Number("desiredCount") != 1 {
				t.Errorf("dev API desiredCount = %v, want 1", api.Number("desiredCount"))
			}
			if got := scalingCounts(m)[awstest.AppAutoScalingTarget]; got != 4 {
				t.Errorf("dev: %d scalable targets, want 4", got)
			}
		}},
		{"prod", func(t *testing.T, m *awstest.Mocks) {
			counts := m.Counts()
			if counts[awstest.EC2NatGateway] != 3 || counts[awstest.EC2VpcEndpoint] != 6 || counts[awstest.EC2Subnet] != 6 {
				t.Errorf("prod network = %d NAT, %d endpoints, %d subnets; want 3, 6, 6", counts[awstest.EC2NatGateway], counts[awstest.EC2VpcEndpoint], counts[awstest.EC2Subnet])
			}
			tbl := m.OfType(awstest.DynamoDBTable)[0]
			if !tbl.Bool("pointInTimeRecovery.enabled") || !tbl.Bool("deletionProtectionEnabled") {
				t.Errorf("prod table = %v, want PITR and deletion protection", tbl.Inputs)
			}
			fry, _ := m.Find(awstest.ECSService, "fry")
			if fry.String("capacityProviderStrategies.0.capacityProvider") != "FARGATE_SPOT" {
				t.Errorf("prod fry = %v, want Fargate Spot", fry.Get("capacityProviderStrategies"))
			}
			pay, _ := m.Find(awstest.ECSTaskDefinition, "payment")
			if pay.String("cpu") != "512" || pay.String("memory") != "1024" {
				t.Errorf("prod payment task = %s/%s, want 512/1024", pay.String("cpu"), pay.String("memory"))
			}
			target, _ := m.Find(awstest.AppAutoScalingTarget, "grill")
			if target.Number("minCapacity") != 2 || target.Number("maxCapacity") != 50 {
				t.Errorf("prod grill scaling = %v, want 2–50", target.Inputs)
			}
		}},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			values, err := pipeline.ReadStackFile(pipeline.StackFile(root, tc.stack))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pipeline.Parse(values, handlers.Pipeline()); err != nil {
				t.Fatalf("Pulumi.%s.yaml does not parse: %v", tc.stack, err)
			}
			m, _ := mustRun(t, values)
			tc.check(t, m)
			logs := m.OfType(awstest.CloudWatchLogGroup)
			want, _ := pipeline.Parse(values, handlers.Pipeline())
			for _, l := range logs {
				if l.Number("retentionInDays") != float64(want.LogRetentionDays) {
					t.Errorf("log group %s keeps %v days, want %d", l.Name, l.Number("retentionInDays"), want.LogRetentionDays)
				}
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	_, r := mustRun(t, nil)
	if !strings.HasPrefix(r.apiURL, "http://") || !strings.Contains(r.apiURL, ".elb.amazonaws.com") {
		t.Errorf("apiUrl = %q", r.apiURL)
	}
	if r.cluster != "linecook" {
		t.Errorf("clusterName = %q", r.cluster)
	}
	if want := "#dashboards:name=linecook-" + awstest.Stack; !strings.HasSuffix(r.dashboard, want) {
		t.Errorf("dashboardUrl = %q, want it to end in %s", r.dashboard, want)
	}
	for _, name := range burgerStages {
		if !strings.HasSuffix(r.queueURLs[name], "/"+name) || !strings.HasSuffix(r.dlqURLs[name], "/"+name+"-dlq") {
			t.Errorf("%s: queue %q, DLQ %q", name, r.queueURLs[name], r.dlqURLs[name])
		}
	}
}

func TestOneImageForEveryService(t *testing.T) {
	t.Run("built with Go, pushed by digest", func(t *testing.T) {
		pushed := recordPushes(t)
		m, _ := mustRun(t, nil)
		repos := m.OfType(awstest.ECRRepository)
		if len(repos) != 1 || len(m.OfType(awstest.AWSXECRImage)) != 0 {
			t.Fatalf("%d repositories, %d awsx images; want one repository and no Docker build", len(repos), len(m.OfType(awstest.AWSXECRImage)))
		}
		// The digest is the one `linecook image build --revision=` gives
		// for these sources.
		root, _ := filepath.Abs(filepath.Join("..", ".."))
		idx, err := buildOnce(context.Background(), root)
		if err != nil {
			t.Fatal(err)
		}
		digest, _ := idx.Digest()
		url, _ := repos[0].Outputs["repositoryUrl"].(string)
		want := url + "@" + digest.String()
		for _, td := range m.OfType(awstest.ECSTaskDefinition) {
			if got := containerOf(t, td).Image; got != want {
				t.Errorf("%s runs %q, want the built image by digest %q", td.Name, got, want)
			}
		}
		if got := pushed(); len(got) != 1 || got[0] != url+":sha256-"+digest.Hex[:12] {
			t.Errorf("pushed %v, want one push to %s:sha256-%s", got, url, digest.Hex[:12])
		}
	})
	t.Run("built from the Dockerfile", func(t *testing.T) {
		pushed := recordPushes(t)
		m, _ := mustRun(t, map[string]string{"linecook:imageBuild": "docker"})
		images := m.OfType(awstest.AWSXECRImage)
		if len(images) != 1 || len(m.OfType(awstest.ECRRepository)) != 1 {
			t.Fatalf("%d images, %d repositories; want one of each", len(images), len(m.OfType(awstest.ECRRepository)))
		}
		img := images[0]
		root, _ := filepath.Abs(filepath.Join("..", ".."))
		if img.String("context") != root || img.String("dockerfile") != filepath.Join(root, "Dockerfile") || img.String("platform") != "linux/amd64" {
			t.Errorf("image build = %v, want context %s", img.Inputs, root)
		}
		if _, err := os.Stat(filepath.Join(img.String("context"), "go.mod")); err != nil {
			t.Errorf("build context is not the repository root: %v", err)
		}
		uri := img.Outputs["imageUri"].(string)
		for _, td := range m.OfType(awstest.ECSTaskDefinition) {
			if got := containerOf(t, td).Image; got != uri {
				t.Errorf("%s runs %q, want the built image %q", td.Name, got, uri)
			}
		}
		if got := pushed(); len(got) != 0 {
			t.Errorf("pushed %v besides the Docker build", got)
		}
	})
	t.Run("prebuilt", func(t *testing.T) {
		pushed := recordPushes(t)
		const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/linecook:v1.2.3"
		m, _ := mustRun(t, map[string]string{"linecook:image": uri})
		if n := len(m.OfType(awstest.AWSXECRImage)) + len(m.OfType(awstest.ECRRepository)); n != 0 {
			t.Errorf("built %d images/repositories despite linecook:image", n)
		}
		for _, td := range m.OfType(awstest.ECSTaskDefinition) {
			if got := containerOf(t, td).Image; got != uri {
				t.Errorf("%s runs %q, want %q", td.Name, got, uri)
			}
		}
		if got := pushed(); len(got) != 0 {
			t.Errorf("pushed %v despite linecook:image", got)
		}
	})
}

func TestDashboardShowsEveryStage(t *testing.T) {
	m, _ := mustRun(t, nil)
	dash := m.OfType(awstest.CloudWatchDashboard)
	if len(dash) != 1 {
		t.Fatalf("%d dashboards", len(dash))
	}
	var body struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Metrics [][]any
			}
		}
	}
	if err := dash[0].JSON("dashboardBody", &body); err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, w := range body.Widgets {
		for _, metric := range w.Properties.Metrics {
			var parts []string
			for _, p := range metric {
				if s, ok := p.(string); ok {
					parts = append(parts, s)
				}
			}
			series = append(series, strings.Join(parts, " "))
		}
	}
	for _, name := range burgerStages {
		for _, want := range []string{
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName " + name,
			"AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName " + name,
			"AWS/SQS ApproximateAgeOfOldestMessage QueueName " + name,
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName " + name + "-dlq",
			"ECS/ContainerInsights RunningTaskCount ClusterName linecook ServiceName " + name,
			"linecook ProcessingTime Stage " + name,
			"linecook Succeeded Stage " + name,
			"linecook Failed Stage " + name,
		} {
			if !slices.Contains(series, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
	}
}

func TestConfigWithoutPulumiConfigVariable(t *testing.T) {
	awstest.UnsetConfig(t)
	m, err := awstest.Run(Program)
	if err != nil {
		t.Fatal(err)
	}
	if got := stagesOf(m); len(got) != len(burgerStages) {
		t.Errorf("stages = %v, want the default burger pipeline", got)
	}
}

func TestComponentsAreParentedAndNamed(t *testing.T) {
	m, _ := mustRun(t, nil)
	for _, typ := range []string{queue.Type, stage.Type, orderapi.Type} {
		for _, comp := range m.OfType(typ) {
			for _, child := range m.Descendants(comp) {
				if !strings.HasPrefix(child.Name, comp.Name) {
					t.Errorf("%s %s under %s %s is not named from it", child.Type, child.Name, typ, comp.Name)
				}
			}
		}
	}
}

type container struct {
	Image       string
	Environment []struct{ Name, Value string }
}

func containerOf(t *testing.T, td awstest.Resource) container {
	t.Helper()
	var defs []container
	if err := td.JSON("containerDefinitions", &defs); err != nil || len(defs) != 1 {
		t.Fatalf("%s container definitions: %v (%d)", td.Name, err, len(defs))
	}
	return defs[0]
}

func envOf(t *testing.T, m *awstest.Mocks, name string) map[string]string {
	t.Helper()
	td, ok := m.Find(awstest.ECSTaskDefinition, name)
	if !ok {
		t.Fatalf("no task definition %s", name)
	}
	env := map[string]string{}
	for _, kv := range containerOf(t, td).Environment {
		env[kv.Name] = kv.Value
	}
	return env
}

// TestLoadBalancerWaitsForTheInternetRoute: AWS refuses an internet-facing
// load balancer (InvalidSubnet) in subnets with no route to an internet
// gateway, and a destroy that detaches the gateway first strands it. The
// engine orders resources by the dependencies their inputs carry, so the
// load balancer must depend on every public subnet's association with the
// route table that holds the gateway route.
func TestLoadBalancerWaitsForTheInternetRoute(t *testing.T) {
	m, _ := mustRun(t, nil)
	lbs := m.OfType(awstest.LBLoadBalancer)
	if len(lbs) != 1 {
		t.Fatalf("%d load balancers, want 1", len(lbs))
	}
	var public []string
	for _, a := range m.OfType(awstest.EC2RouteTableAssociation) {
		if strings.Contains(a.Name, "-public-") {
			public = append(public, a.URN)
		}
	}
	if len(public) < 2 {
		t.Fatalf("%d public route table associations, want one per AZ", len(public))
	}
	for _, u := range public {
		if !slices.Contains(lbs[0].DependsOn, u) {
			t.Errorf("load balancer does not depend on %s (it depends on %v)", u, lbs[0].DependsOn)
		}
	}
}
