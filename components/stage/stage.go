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
	"errors"
	"fmt"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/internal/fargate"
	"github.com/linecook/linecook/components/internal/iampolicy"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/policies"
)

// Type is the component's type token.
const Type = "linecook:stage:Stage"

// DefaultLogRetentionDays applies when Args.LogRetentionDays is 0.
const DefaultLogRetentionDays = pipeline.DefaultLogRetentionDays

// Args configures a Stage.
type Args struct {
	// Stage is what the stage runs and how it scales. Required fields:
	// Name, Worker or Image, Concurrency, ProcessingTime, Latency, CPU,
	// Memory, StopTimeout and Scaling.
	Stage pipeline.Stage
	// Image is the linecook image, which runs `worker <Stage.Worker>`. A
	// stage with its own Stage.Image runs that instead, with the same
	// environment and no command.
	Image pulumi.StringInput

	// ClusterArn and ClusterName name the shared ECS cluster. It must
	// have Container Insights enabled: the scaling policies read its
	// ECS/ContainerInsights RunningTaskCount, and without it scaling sees
	// no tasks.
	ClusterArn  pulumi.StringInput
	ClusterName pulumi.StringInput

	// The queue the stage consumes, and its DLQ.
	QueueUrl  pulumi.StringInput
	QueueArn  pulumi.StringInput
	QueueName pulumi.StringInput
	DlqUrl    pulumi.StringInput
	DlqArn    pulumi.StringInput
	// The next stage's queue; nil for the last stage.
	NextQueueUrl pulumi.StringInput
	NextQueueArn pulumi.StringInput
	// The order table; nil for a stage that does not touch it.
	OrderTableName pulumi.StringInput
	OrderTableArn  pulumi.StringInput

	// VpcId and SubnetIds place the tasks: private subnets.
	VpcId     pulumi.StringInput
	SubnetIds pulumi.StringArrayInput

	// LogRetentionDays of the task logs; 0 means DefaultLogRetentionDays.
	LogRetentionDays int
}

// Stage is the component.
type Stage struct {
	pulumi.ResourceState

	ServiceName     pulumi.StringOutput `pulumi:"serviceName"`
	ServiceArn      pulumi.StringOutput `pulumi:"serviceArn"`
	TaskRoleArn     pulumi.StringOutput `pulumi:"taskRoleArn"`
	SecurityGroupId pulumi.StringOutput `pulumi:"securityGroupId"`
	LogGroupName    pulumi.StringOutput `pulumi:"logGroupName"`
}

// New registers the stage's service, roles, security group and scaling.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Stage, error) {
	if args == nil {
		args = &Args{}
	}
	plan, err := args.validate()
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", name, err)
	}
	s := &Stage{}
	if err := ctx.RegisterComponentResource(Type, name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	st := args.Stage

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

	image := args.Image
	if st.Image != "" {
		image = pulumi.String(st.Image)
	}
	task, err := fargate.NewTask(ctx, name, fargate.TaskArgs{
		Family: fargate.Family(ctx, name),
		CPU:    st.CPU, Memory: st.Memory,
		LogRetentionDays: orDefault(args.LogRetentionDays, DefaultLogRetentionDays),
		TaskPolicy:       args.taskPolicy(),
		Container: fargate.Container{
			Name:    st.Name,
			Image:   image,
			Command: st.Command(),
			Env:     args.env(),
			// The worker drains in-flight messages on SIGTERM within
			// DrainTimeout, shorter than this.
			StopTimeout:            st.StopTimeout,
			ReadonlyRootFilesystem: st.Image == "",
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

// validate checks what the constructor needs and builds the scaling plan,
// before anything is registered.
func (a *Args) validate() (policies.Plan, error) {
	var errs []error
	st := a.Stage
	if st.Name == "" {
		errs = append(errs, errors.New("Stage.Name is required"))
	}
	if st.Worker == "" && st.Image == "" {
		errs = append(errs, errors.New("Stage.Worker or Stage.Image is required"))
	}
	if st.Image == "" && a.Image == nil {
		errs = append(errs, errors.New("Image (the linecook image) is required for a stage without its own Stage.Image"))
	}
	if st.CPU == 0 || st.Memory == 0 {
		errs = append(errs, errors.New("Stage.CPU and Stage.Memory are required"))
	}
	if st.StopTimeout < 2*time.Second || st.StopTimeout > 120*time.Second {
		errs = append(errs, fmt.Errorf("Stage.StopTimeout %s: must be 2s to 120s (ECS's range)", st.StopTimeout))
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"ClusterArn", a.ClusterArn != nil}, {"ClusterName", a.ClusterName != nil},
		{"QueueUrl", a.QueueUrl != nil}, {"QueueArn", a.QueueArn != nil}, {"QueueName", a.QueueName != nil},
		{"DlqUrl", a.DlqUrl != nil}, {"DlqArn", a.DlqArn != nil},
		{"VpcId", a.VpcId != nil}, {"SubnetIds", a.SubnetIds != nil},
	} {
		if !f.set {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if (a.NextQueueUrl == nil) != (a.NextQueueArn == nil) {
		errs = append(errs, errors.New("NextQueueUrl and NextQueueArn go together"))
	}
	if (a.OrderTableName == nil) != (a.OrderTableArn == nil) {
		errs = append(errs, errors.New("OrderTableName and OrderTableArn go together"))
	}
	plan, err := policies.Build(st.Scaling, st.Workload())
	if err != nil {
		errs = append(errs, fmt.Errorf("Stage.Scaling/workload: %w", err))
	}
	return plan, errors.Join(errs...)
}

// env renders the task environment once the queue URLs are known.
func (a *Args) env() pulumi.StringMapOutput {
	return pulumi.All(a.QueueUrl, optional(a.NextQueueUrl), a.DlqUrl, optional(a.OrderTableName)).ApplyT(func(v []any) map[string]string {
		return a.Stage.TaskEnv(pipeline.Queues{URL: v[0].(string), NextURL: v[1].(string), DLQURL: v[2].(string), OrderTable: v[3].(string)})
	}).(pulumi.StringMapOutput)
}

// taskPolicy grants exactly what the worker runtime does: consume its own
// queue, send to the next queue and to its own DLQ (permanent failures go
// there at once), and read and update orders.
func (a *Args) taskPolicy() pulumi.StringOutput {
	return pulumi.All(a.QueueArn, a.DlqArn, optional(a.NextQueueArn), optional(a.OrderTableArn)).ApplyT(func(v []any) string {
		queue, dlq, next, table := v[0].(string), v[1].(string), v[2].(string), v[3].(string)
		st := []iampolicy.Statement{
			iampolicy.Allow("ConsumeOwnQueue", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, queue),
			iampolicy.Allow("ForwardAndDeadLetter", []string{"sqs:SendMessage"}, next, dlq),
		}
		if table != "" {
			st = append(st, iampolicy.Allow("TrackOrders", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, table))
		}
		return iampolicy.New(st...).JSON()
	}).(pulumi.StringOutput)
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
