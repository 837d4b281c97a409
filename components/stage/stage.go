// Package stage is a Pulumi component for one pipeline stage's workers: an
// ECS service on Fargate that consumes the stage's queue and forwards to
// the next, with a task role that may touch exactly those queues (and the
// order table), a security group that admits nothing, private subnets
// only, a deployment circuit breaker, and the stage's scaling policy
// rendered into Application Auto Scaling and CloudWatch resources.
//
// The stage is described by a pipeline.Stage (plain data: pipeline.Parse
// fills one from stack config with defaults, or build one by hand), its
// scaling by the policies.Plan built from it. The component reads no
// configuration and creates no cluster: pass one in, with Container
// Insights on (the policies scale on its RunningTaskCount), and with the
// FARGATE_SPOT capacity provider when a stage runs on Spot.
package stage

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/internal/fargate"
	"github.com/linecook/linecook/components/internal/iampolicy"
	"github.com/linecook/linecook/pipeline"
)

// Type is the component's type token.
const Type = "linecook:stage:Stage"

// DefaultLogRetentionDays applies when Args.LogRetentionDays is 0.
const DefaultLogRetentionDays = pipeline.DefaultLogRetentionDays

// Stage is the component.
type Stage struct {
	pulumi.ResourceState

	// The ECS service's name.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// The ECS service's ARN.
	ServiceArn pulumi.StringOutput `pulumi:"serviceArn"`
	// The tasks' IAM role: grant it what your own worker needs beyond
	// the queues and the table.
	TaskRoleArn pulumi.StringOutput `pulumi:"taskRoleArn"`
	// The tasks' security group, which admits nothing.
	SecurityGroupId pulumi.StringOutput `pulumi:"securityGroupId"`
	// The CloudWatch Logs group of the tasks' logs.
	LogGroupName pulumi.StringOutput `pulumi:"logGroupName"`
}

// New registers the stage's service, roles, security group and scaling.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Stage, error) {
	if args == nil {
		args = &Args{}
	}
	st, plan, err := args.resolve(name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", name, err)
	}
	s := &Stage{}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	// The linecook image runs a worker by name, on a read-only root;
	// an image of its own runs its own entrypoint, as it was built.
	linecookImage := args.Worker != ""
	var command []string
	if linecookImage {
		command = []string{"worker", args.Worker}
	}

	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcId,
		Description: pulumi.String("linecook stage " + st.Name + ": no inbound; HTTPS out to AWS APIs"),
		// Workers only pull from SQS: nothing ever connects to them. An
		// explicit empty list makes the provider remove any ingress rule
		// added by hand, rather than ignore it.
		Ingress: ec2.SecurityGroupIngressArray{},
		Egress: ec2.SecurityGroupEgressArray{&ec2.SecurityGroupEgressArgs{
			Description: pulumi.String("HTTPS to AWS APIs (SQS, DynamoDB, ECR, CloudWatch Logs)"),
			Protocol:    pulumi.String("tcp"), FromPort: pulumi.Int(443), ToPort: pulumi.Int(443),
			CidrBlocks: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		}},
		Tags: pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, err
	}

	task, err := fargate.NewTask(ctx, name, fargate.TaskArgs{
		Family: fargate.Family(ctx, name),
		CPU:    st.CPU, Memory: st.Memory,
		LogRetentionDays: orDefault(args.LogRetentionDays, DefaultLogRetentionDays),
		TaskPolicy:       args.taskPolicy(st),
		Container: fargate.Container{
			Name:    st.Name,
			Image:   args.Image,
			Command: command,
			Env:     args.env(st),
			// The worker drains in-flight messages on SIGTERM within
			// DrainTimeout, shorter than this.
			StopTimeout:            st.StopTimeout,
			ReadonlyRootFilesystem: linecookImage,
		},
	}, s)
	if err != nil {
		return nil, err
	}

	svcArgs := &ecs.ServiceArgs{
		Cluster:        args.ClusterArn,
		TaskDefinition: task.Definition.Arn,
		DesiredCount:   pulumi.Int(plan.Desired),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        args.SubnetIds,
			SecurityGroups: pulumi.StringArray{sg.ID()},
			AssignPublicIp: pulumi.Bool(false),
		},
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable: pulumi.Bool(true), Rollback: pulumi.Bool(true),
		},
		PropagateTags:        pulumi.String("SERVICE"),
		EnableEcsManagedTags: pulumi.Bool(true),
	}
	if st.Spot {
		// Spot tasks get SIGTERM two minutes before reclaim, more than
		// StopTimeout: the worker drains as on any scale-in.
		svcArgs.CapacityProviderStrategies = ecs.ServiceCapacityProviderStrategyArray{
			&ecs.ServiceCapacityProviderStrategyArgs{CapacityProvider: pulumi.String("FARGATE_SPOT"), Weight: pulumi.Int(1)},
		}
	} else {
		svcArgs.LaunchType = pulumi.String("FARGATE")
	}
	svcOpts := []pulumi.ResourceOption{parent}
	if plan.Scaled() {
		// The autoscaler owns the task count once the service exists:
		// `pulumi up` must not reset it to Desired.
		svcOpts = append(svcOpts, pulumi.IgnoreChanges([]string{"desiredCount"}))
	}
	svc, err := ecs.NewService(ctx, name, svcArgs, svcOpts...)
	if err != nil {
		return nil, err
	}

	if err := renderPlan(ctx, name, plan, scalingTarget{
		QueueName:   args.QueueName.ToStringOutput(),
		ClusterName: args.ClusterName.ToStringOutput(),
		ServiceName: svc.Name,
		Stage:       st.Name,
		Workload:    st.Workload(),
	}, s); err != nil {
		return nil, err
	}

	s.ServiceName = svc.Name
	s.ServiceArn = svc.ID().ToStringOutput()
	s.TaskRoleArn = task.TaskRole.Arn
	s.SecurityGroupId = sg.ID().ToStringOutput()
	s.LogGroupName = task.LogGroup.Name
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"serviceName": s.ServiceName, "serviceArn": s.ServiceArn, "taskRoleArn": s.TaskRoleArn,
		"securityGroupId": s.SecurityGroupId, "logGroupName": s.LogGroupName,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// env renders the task environment once the queue URLs are known.
func (a *Args) env(st pipeline.Stage) pulumi.StringMapOutput {
	return pulumi.All(a.QueueUrl, optional(a.NextQueueUrl), a.DlqUrl, optional(a.OrderTableName), optional(a.EventsTopicArn)).ApplyT(func(v []any) map[string]string {
		return st.TaskEnv(pipeline.Queues{URL: v[0].(string), NextURL: v[1].(string), DLQURL: v[2].(string), OrderTable: v[3].(string), EventsTopic: v[4].(string)})
	}).(pulumi.StringMapOutput)
}

// taskPolicy grants exactly what the worker runtime does: consume its own
// queue, send to the next queue and to its own DLQ (permanent failures go
// there at once), read and update orders, publish order events, and,
// unless the stage turns it off, set its task's scale-in protection.
func (a *Args) taskPolicy(stage pipeline.Stage) pulumi.StringOutput {
	return pulumi.All(a.QueueArn, a.DlqArn, optional(a.NextQueueArn), optional(a.OrderTableArn), optional(a.EventsTopicArn), a.ClusterArn).ApplyT(func(v []any) (string, error) {
		queue, dlq, next, table, topic, cluster := v[0].(string), v[1].(string), v[2].(string), v[3].(string), v[4].(string), v[5].(string)
		st := []iampolicy.Statement{
			iampolicy.Allow("ConsumeOwnQueue", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, queue),
			iampolicy.Allow("ForwardAndDeadLetter", []string{"sqs:SendMessage"}, next, dlq),
		}
		if table != "" {
			st = append(st, iampolicy.Allow("TrackOrders", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, table))
		}
		if topic != "" {
			st = append(st, iampolicy.Allow("PublishOrderEvents", []string{"sns:Publish"}, topic))
		}
		if !stage.DisableScaleInProtection {
			tasks, err := clusterTasks(cluster)
			if err != nil {
				return "", err
			}
			st = append(st, iampolicy.Allow("ScaleInProtection", []string{"ecs:UpdateTaskProtection", "ecs:GetTaskProtection"}, tasks))
		}
		return iampolicy.New(st...).JSON(), nil
	}).(pulumi.StringOutput)
}

// clusterTasks is the ARN pattern of every task of a cluster, from the
// cluster's ARN: arn:aws:ecs:<region>:<account>:cluster/<name> gives
// arn:aws:ecs:<region>:<account>:task/<name>/*. Task protection's actions
// take the task as their resource (the Service Authorization Reference's
// resource type task), and a task's ARN names its cluster but not its
// service, so a task role is scoped to its own cluster's tasks, the
// narrowest AWS allows.
func clusterTasks(clusterARN string) (string, error) {
	parts := strings.Split(clusterARN, ":")
	name, ok := "", false
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "ecs" {
		name, ok = strings.CutPrefix(parts[5], "cluster/")
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("clusterArn %q: not an ECS cluster's ARN (arn:aws:ecs:<region>:<account>:cluster/<name>)", clusterARN)
	}
	parts[5] = "task/" + name + "/*"
	return strings.Join(parts, ":"), nil
}

// optional resolves a nil input to "".
func optional(in pulumi.StringInput) pulumi.StringInput {
	if in == nil {
		return pulumi.String("")
	}
	return in
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
