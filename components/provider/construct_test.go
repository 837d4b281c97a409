package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/orderapi"
	"github.com/linecook/linecook/components/provider"
	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
)

// Each component is constructed twice: through the provider, with the
// inputs a TypeScript, Python or YAML program sends, and from Go with the
// same values. A user of any language must get the same resources, with
// the same inputs, under the same parents, and the same outputs; the Go
// tests of each component check what those resources are.

const (
	region    = "arn:aws:sqs:us-east-1:123456789012:"
	sqsURL    = "https://sqs.us-east-1.amazonaws.com/123456789012/"
	image     = "ghcr.io/acme/thumbs:1.2"
	table     = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
	cluster   = "arn:aws:ecs:us-east-1:123456789012:cluster/kitchen"
	cert      = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	apiSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key"
)

var cases = []struct {
	name   string
	typ    string
	inputs map[string]any
	goNew  func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error)
}{
	{
		name: "queue", typ: queue.Type,
		inputs: map[string]any{"visibilityTimeoutSeconds": 120, "maxAgeSeconds": 30, "maxReceiveCount": 5, "alarmEmail": "oncall@acme.example"},
		goNew: func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error) {
			return queue.New(ctx, name, &queue.Args{
				VisibilityTimeoutSeconds: pulumi.Int(120), MaxAgeSeconds: pulumi.Int(30), MaxReceiveCount: 5, AlarmEmail: "oncall@acme.example",
			})
		},
	},
	{
		name: "vpc", typ: vpc.Type,
		inputs: map[string]any{"azs": 3, "nat": "per-az", "endpoints": true, "cidr": "10.8.0.0/16"},
		goNew: func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error) {
			return vpc.New(ctx, name, &vpc.Args{AZs: 3, NAT: vpc.NATPerAZ, Endpoints: true, CIDR: "10.8.0.0/16"})
		},
	},
	{
		name: "stage with own image, step scaling from zero", typ: stage.Type,
		inputs: map[string]any{
			"image": image, "clusterArn": cluster, "clusterName": "kitchen",
			"queueUrl": sqsURL + "thumbs", "queueArn": region + "thumbs", "queueName": "thumbs",
			"dlqUrl": sqsURL + "thumbs-dlq", "dlqArn": region + "thumbs-dlq",
			"vpcId": "vpc-1", "subnetIds": []any{"subnet-a", "subnet-b"},
			"concurrency": 4, "processingTimeSeconds": 2.5, "latencySeconds": 60, "cpu": 512, "memory": 1024,
			"env":     map[string]any{"THUMB_SIZE": "256"},
			"scaling": map[string]any{"policy": "step", "min": 0, "max": 20},
		},
		goNew: func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error) {
			return stage.New(ctx, name, &stage.Args{
				Image: pulumi.String(image), ClusterArn: pulumi.String(cluster), ClusterName: pulumi.String("kitchen"),
				QueueUrl: pulumi.String(sqsURL + "thumbs"), QueueArn: pulumi.String(region + "thumbs"), QueueName: pulumi.String("thumbs"),
				DlqUrl: pulumi.String(sqsURL + "thumbs-dlq"), DlqArn: pulumi.String(region + "thumbs-dlq"),
				VpcId: pulumi.String("vpc-1"), SubnetIds: pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
				Concurrency: 4, ProcessingTimeSeconds: 2.5, LatencySeconds: 60, Cpu: 512, Memory: 1024,
				Env:     map[string]string{"THUMB_SIZE": "256"},
				Scaling: &stage.ScalingArgs{Policy: "step", Min: pulumi.IntRef(0), Max: 20},
			})
		},
	},
	{
		name: "linecook worker stage, target tracking, next queue and table", typ: stage.Type,
		inputs: map[string]any{
			"image": image, "worker": "grill", "clusterArn": cluster, "clusterName": "kitchen",
			"queueUrl": sqsURL + "grill", "queueArn": region + "grill", "queueName": "grill",
			"dlqUrl": sqsURL + "grill-dlq", "dlqArn": region + "grill-dlq",
			"nextQueueUrl": sqsURL + "fry", "nextQueueArn": region + "fry",
			"orderTableName": "orders", "orderTableArn": table,
			"vpcId": "vpc-1", "subnetIds": []any{"subnet-a"}, "spot": true, "logRetentionDays": 30,
		},
		goNew: func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error) {
			return stage.New(ctx, name, &stage.Args{
				Image: pulumi.String(image), Worker: "grill", ClusterArn: pulumi.String(cluster), ClusterName: pulumi.String("kitchen"),
				QueueUrl: pulumi.String(sqsURL + "grill"), QueueArn: pulumi.String(region + "grill"), QueueName: pulumi.String("grill"),
				DlqUrl: pulumi.String(sqsURL + "grill-dlq"), DlqArn: pulumi.String(region + "grill-dlq"),
				NextQueueUrl: pulumi.String(sqsURL + "fry"), NextQueueArn: pulumi.String(region + "fry"),
				OrderTableName: pulumi.String("orders"), OrderTableArn: pulumi.String(table),
				VpcId: pulumi.String("vpc-1"), SubnetIds: pulumi.ToStringArray([]string{"subnet-a"}), Spot: true, LogRetentionDays: 30,
			})
		},
	},
	{
		name: "order API with HTTPS and an API key", typ: orderapi.Type,
		inputs: map[string]any{
			"image": image, "clusterArn": cluster, "vpcId": "vpc-1",
			"publicSubnetIds": []any{"subnet-pa", "subnet-pb"}, "privateSubnetIds": []any{"subnet-a", "subnet-b"},
			"queueUrl": sqsURL + "payment", "queueArn": region + "payment",
			"certificateArn": cert, "apiKeySecretArn": apiSecret, "deletionProtection": true, "desiredCount": 3,
		},
		goNew: func(ctx *pulumi.Context, name string) (pulumi.ComponentResource, error) {
			return orderapi.New(ctx, name, &orderapi.Args{
				Image: pulumi.String(image), ClusterArn: pulumi.String(cluster), VpcId: pulumi.String("vpc-1"),
				PublicSubnetIds:  pulumi.ToStringArray([]string{"subnet-pa", "subnet-pb"}),
				PrivateSubnetIds: pulumi.ToStringArray([]string{"subnet-a", "subnet-b"}),
				QueueUrl:         pulumi.String(sqsURL + "payment"), QueueArn: pulumi.String(region + "payment"),
				CertificateArn: pulumi.String(cert), ApiKeySecretArn: apiSecret, DeletionProtection: true, DesiredCount: 3,
			})
		},
	},
}

func TestProviderBuildsWhatGoBuilds(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resolved := map[string]any{}
			fromGo, err := awstest.Run(func(ctx *pulumi.Context) error {
				c, err := tc.goNew(ctx, "c")
				if err != nil {
					return err
				}
				outputsOf(c).ToMapOutput().ApplyT(func(v map[string]any) error {
					maps.Copy(resolved, v)
					return nil
				})
				return nil
			})
			if err != nil {
				t.Fatalf("from Go: %v", err)
			}
			m, resp, err := construct(t, tc.typ, tc.inputs)
			if err != nil {
				t.Fatalf("through the provider: %v", err)
			}
			want, got := shape(fromGo), shape(m)
			if len(want) < 3 {
				t.Fatalf("Go registered only %d resources", len(want))
			}
			if !slices.Equal(got, want) {
				t.Errorf("through the provider the resources differ from Go's:\n%s", diff(want, got))
			}
			// The outputs the program sees are the component's.
			state := awstest.Plain(resource.ToResourcePropertyMap(resp.State))
			if len(resolved) == 0 {
				t.Fatal("the component has no outputs")
			}
			for k, v := range resolved {
				if fmt.Sprint(state[k]) != fmt.Sprint(v) {
					t.Errorf("output %s = %v through the provider, %v from Go", k, state[k], v)
				}
			}
		})
	}
}

// TestProviderArgErrors: a bad input fails the construct with the error
// Go gets, naming the input, and registers nothing below the component.
func TestProviderArgErrors(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		inputs    map[string]any
		want      []string
	}{
		{"queue without latency", queue.Type, map[string]any{"visibilityTimeoutSeconds": 30}, []string{"maxAgeSeconds (unset): required"}},
		{"queue receive count", queue.Type, map[string]any{"visibilityTimeoutSeconds": 30, "maxAgeSeconds": 30, "maxReceiveCount": 5000}, []string{"maxReceiveCount 5000: must be 1 to 1000"}},
		{"stage sizes and scaling", stage.Type, withStage(map[string]any{"cpu": 300, "stopTimeoutSeconds": 500, "scaling": map[string]any{"policy": "lazy"}}),
			[]string{"cpu 300: not a Fargate CPU size", "stopTimeoutSeconds 500: must be whole seconds from 2s to 120s", `scaling.policy lazy: `}},
		{"stage min over max", stage.Type, withStage(map[string]any{"scaling": map[string]any{"min": 5, "max": 2}}), []string{"scaling.min"}},
		{"stage reserved env", stage.Type, withStage(map[string]any{"env": map[string]any{"LINECOOK_QUEUE_URL": "x"}}), []string{"env LINECOOK_QUEUE_URL: set by linecook itself"}},
		{"vpc nat", vpc.Type, map[string]any{"nat": "two"}, []string{`nat "two": must be none, single or per-az`}},
		{"order API without wiring", orderapi.Type, map[string]any{"port": 70000}, []string{"port 70000: must be a TCP port", "image (unset): required", "queueUrl (unset): required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := construct(t, tc.typ, tc.inputs)
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to say %q", err, want)
				}
			}
			for _, r := range m.Resources() {
				if r.Custom {
					t.Errorf("%s %s registered despite the error", r.Type, r.Name)
				}
			}
		})
	}
}

func withStage(extra map[string]any) map[string]any {
	in := map[string]any{
		"image": image, "clusterArn": cluster, "clusterName": "kitchen",
		"queueUrl": sqsURL + "q", "queueArn": region + "q", "queueName": "q",
		"dlqUrl": sqsURL + "q-dlq", "dlqArn": region + "q-dlq", "vpcId": "vpc-1", "subnetIds": []any{"subnet-a"},
	}
	for k, v := range extra {
		in[k] = v
	}
	return in
}

// construct builds one component through the provider, in process, on
// the same fake AWS account the Go tests use.
func construct(t *testing.T, typ string, inputs map[string]any) (*awstest.Mocks, p.ConstructResponse, error) {
	t.Helper()
	prov, err := provider.New()
	if err != nil {
		t.Fatal(err)
	}
	m := awstest.New()
	s, err := integration.NewServer(context.Background(), provider.Name, semver.MustParse(provider.Version),
		integration.WithProvider(prov), integration.WithMocks(m))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Construct(p.ConstructRequest{
		Urn:    resource.NewURN(awstest.Stack, awstest.Project, "", tokens.Type(typ), "c"),
		Inputs: resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(numbers(inputs))),
	})
	return m, resp, err
}

// numbers makes every integer a float64, as the engine sends numbers.
func numbers(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		switch v := v.(type) {
		case int:
			out[k] = float64(v)
		case map[string]any:
			out[k] = numbers(v)
		default:
			out[k] = v
		}
	}
	return out
}

// shape is every custom resource's type, name, parent's type and inputs.
func shape(m *awstest.Mocks) []string {
	var out []string
	for _, r := range m.Resources() {
		if !r.Custom {
			continue
		}
		parent := ""
		if r.Parent != "" {
			parent = string(resource.URN(r.Parent).Type())
		}
		in, _ := json.Marshal(r.Inputs)
		out = append(out, fmt.Sprintf("%s %s (parent %s) %s", r.Type, r.Name, parent, in))
	}
	slices.Sort(out)
	return out
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  only from Go:       %.400s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  only from provider: %.400s\n", g)
		}
	}
	return b.String()
}

// outputsOf is a component's tagged outputs.
func outputsOf(c pulumi.ComponentResource) pulumi.Map {
	switch c := c.(type) {
	case *queue.Queue:
		return pulumi.Map{"url": c.Url, "arn": c.Arn, "name": c.Name, "dlqUrl": c.DlqUrl, "dlqArn": c.DlqArn, "dlqName": c.DlqName, "alarmTopicArn": c.AlarmTopicArn}
	case *vpc.Vpc:
		return pulumi.Map{"vpcId": c.VpcId, "cidrBlock": c.CidrBlock, "publicSubnetIds": c.PublicSubnetIds, "privateSubnetIds": c.PrivateSubnetIds}
	case *stage.Stage:
		return pulumi.Map{"serviceName": c.ServiceName, "serviceArn": c.ServiceArn, "taskRoleArn": c.TaskRoleArn, "securityGroupId": c.SecurityGroupId, "logGroupName": c.LogGroupName}
	case *orderapi.OrderApi:
		return pulumi.Map{"url": c.Url, "loadBalancerDnsName": c.LoadBalancerDnsName, "tableName": c.TableName, "tableArn": c.TableArn,
			"serviceName": c.ServiceName, "securityGroupId": c.SecurityGroupId, "taskRoleArn": c.TaskRoleArn}
	}
	return nil
}
