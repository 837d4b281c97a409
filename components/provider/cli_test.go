package provider_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/clitest"
	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
)

// TestYAMLExampleThroughTheCLI runs examples/yaml, as a YAML user would,
// through the real Pulumi CLI and YAML language host with the linecook
// plugin binary (built from main.go) and the stand-in aws provider: up, a
// config change, destroy. The resources it gets are the ones the same
// program gets from Go (each type, name, parent and set of inputs), and
// the facts the components' Go tests check hold on what the CLI deployed.
func TestYAMLExampleThroughTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Pulumi CLI, the YAML host and the plugin (minutes the first time)")
	}
	plugin := clitest.BuildProvider(t, "pulumi-resource-linecook", ".")
	s := clitest.New(t, "../../examples/yaml", clitest.Config("aws:region", awstest.Region), clitest.Providers(plugin))

	up := s.Up()
	if up.Changes.Create < 30 || up.Changes.Update+up.Changes.Replace+up.Changes.Delete != 0 {
		t.Fatalf("first up: %v, want only creates\n%s", up.Changes, up.Stdout)
	}
	deployed := s.Resources()
	got := shapeOf(deployed)
	want := goThumbnails(t)
	if !slices.Equal(got, want) {
		t.Errorf("the YAML program's resources differ from the same program in Go:\n%s", diff(want, got))
	}
	t.Logf("up: %v; %d resources as in Go", up.Changes, len(want))

	// What the stage's Go tests check, on what the CLI deployed.
	svc := find(t, deployed, awstest.ECSService, "worker")
	if svc.Inputs["desiredCount"] != 0.0 {
		t.Errorf("desiredCount = %v, want 0: the stage scales from zero", svc.Inputs["desiredCount"])
	}
	if net := svc.Inputs["networkConfiguration"].(map[string]any); net["assignPublicIp"] != false {
		t.Errorf("networkConfiguration = %v, want no public IP", net)
	}
	find(t, deployed, awstest.AppAutoScalingPolicy, "worker-wake-up")
	target := find(t, deployed, awstest.AppAutoScalingTarget, "worker")
	if target.Inputs["minCapacity"] != 0.0 || target.Inputs["maxCapacity"] != 20.0 {
		t.Errorf("scaling target min/max = %v/%v, want 0/20", target.Inputs["minCapacity"], target.Inputs["maxCapacity"])
	}
	var defs []struct {
		Image       string
		Command     []string
		Environment []struct{ Name, Value string }
	}
	td := find(t, deployed, awstest.ECSTaskDefinition, "worker")
	if err := json.Unmarshal([]byte(td.Inputs["containerDefinitions"].(string)), &defs); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range defs[0].Environment {
		env[e.Name] = e.Value
	}
	queueURL := find(t, deployed, awstest.SQSQueue, "thumbnails").Outputs["url"]
	if defs[0].Image != "ghcr.io/acme/thumbnailer:1.4" || defs[0].Command != nil ||
		env["LINECOOK_CONCURRENCY"] != "4" || env["LINECOOK_STAGE"] != "thumbnails" || env["LINECOOK_QUEUE_URL"] != queueURL {
		t.Errorf("container = %+v, env %v: want the team's image, its own entrypoint, concurrency 4, stage thumbnails, queue %v", defs[0], env, queueURL)
	}
	if s.Outputs()["queueUrl"] != queueURL {
		t.Errorf("output queueUrl = %v, want %v", s.Outputs()["queueUrl"], queueURL)
	}

	// A config change reaches the component as an input: the scaling
	// target's bound, updated in place; nothing else changes.
	s.ConfigSet("maxTasks", "5")
	up = s.Up()
	if want := (clitest.Counts{Update: 1, Same: up.Changes.Same}); up.Changes != want {
		t.Errorf("maxTasks 20→5: %v, want one update\n%s", up.Changes, up.Summary())
	}
	if step, ok := up.Step("worker", clitest.OpUpdate); !ok || !slices.Equal(step.Diffs, []string{"maxCapacity"}) {
		t.Errorf("maxTasks 20→5: the update = %+v (found %v), want the scaling target's maxCapacity", step, ok)
	}

	// A bad input fails the preview with the message Go gives, and
	// changes nothing.
	// (-1 written to the stack file: the CLI would read it as a flag.)
	stackFile := filepath.Join(s.Dir(), "Pulumi.test.yaml")
	b, err := os.ReadFile(stackFile)
	if err != nil || !strings.Contains(string(b), `thumbnails:maxTasks: "5"`) {
		t.Fatalf("stack file: %v\n%s", err, b)
	}
	if err := os.WriteFile(stackFile, []byte(strings.Replace(string(b), `thumbnails:maxTasks: "5"`, `thumbnails:maxTasks: "-1"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.TryUp()
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "stage worker: scaling.max -1: must be 1 or more") {
		t.Errorf("maxTasks -1: err %v, want the stage's error naming scaling.max\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if r.Changes.Create+r.Changes.Update+r.Changes.Replace+r.Changes.Delete != 0 {
		t.Errorf("maxTasks -1: the failed up changed %v", r.Changes)
	}
	s.ConfigSet("maxTasks", "5")

	d := s.Destroy()
	if d.Changes.Delete < 30 {
		t.Errorf("destroy: %v", d.Changes)
	}
	if left := s.Resources(); len(left) != 0 {
		t.Errorf("%d resources left after destroy", len(left))
	}
}

// goThumbnails is examples/yaml written in Go, under the mocks.
func goThumbnails(t *testing.T) []string {
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		net, err := vpc.New(ctx, "network", &vpc.Args{NAT: vpc.NATSingle})
		if err != nil {
			return err
		}
		cluster, err := ecs.NewCluster(ctx, "cluster", &ecs.ClusterArgs{Settings: ecs.ClusterSettingArray{
			&ecs.ClusterSettingArgs{Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled")}}})
		if err != nil {
			return err
		}
		q, err := queue.New(ctx, "thumbnails", &queue.Args{VisibilityTimeoutSeconds: pulumi.Int(30), MaxAgeSeconds: pulumi.Int(120), AlarmEmail: "media-oncall@acme.example"})
		if err != nil {
			return err
		}
		_, err = stage.New(ctx, "worker", &stage.Args{
			StageName: "thumbnails", Image: pulumi.String("ghcr.io/acme/thumbnailer:1.4"),
			ClusterArn: cluster.Arn, ClusterName: cluster.Name,
			QueueUrl: q.Url, QueueArn: q.Arn, QueueName: q.Name, DlqUrl: q.DlqUrl, DlqArn: q.DlqArn,
			VpcId: net.VpcId, SubnetIds: net.PrivateSubnetIds,
			Concurrency: 4, ProcessingTimeSeconds: 5, LatencySeconds: 120,
			Scaling: &stage.ScalingArgs{Policy: "target-tracking", Min: pulumi.IntRef(0), Max: 20},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var rs []clitest.Resource
	for _, r := range m.Resources() {
		rs = append(rs, clitest.Resource{URN: r.URN, Type: r.Type, Name: r.Name, Parent: r.Parent, Custom: r.Custom, Inputs: r.Inputs})
	}
	return shapeOf(rs)
}

// shapeOf is each resource's type, name, parent's type and input names.
func shapeOf(rs []clitest.Resource) []string {
	var out []string
	for _, r := range rs {
		if strings.HasPrefix(r.Type, "pulumi:") {
			continue // the stack and the default providers
		}
		parent := ""
		if p := resource.URN(r.Parent); p != "" && p.Type() != resource.RootStackType {
			parent = string(p.Type())
		}
		keys := slices.Sorted(maps.Keys(r.Inputs))
		if !r.Custom {
			keys = nil // a component's inputs are its arguments, told apart above
		}
		out = append(out, fmt.Sprintf("%s %s (parent %s) %v", r.Type, r.Name, parent, keys))
	}
	slices.Sort(out)
	return out
}

func find(t *testing.T, rs []clitest.Resource, typ, name string) clitest.Resource {
	t.Helper()
	for _, r := range rs {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s %s deployed", typ, name)
	return clitest.Resource{}
}
