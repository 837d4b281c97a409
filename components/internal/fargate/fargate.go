// Package fargate registers what every linecook Fargate service needs
// around its container: a log group, an execution role that may pull only
// its own image and write only its own log group (and read only its own
// secrets), a task role carrying the caller's policy, and the task
// definition. The stage and order API components share it; the parts that
// differ (security groups, load balancing, scaling) stay in each.
package fargate

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/internal/iampolicy"
)

// Container is the one container of a task.
type Container struct {
	Name    string
	Image   pulumi.StringInput
	Command []string
	Env     pulumi.StringMapInput
	// Secrets maps environment variable names to Secrets Manager secret
	// ARNs; ECS injects the values at start, and the execution role may
	// read exactly these secrets.
	Secrets map[string]string
	// Port is the container port to map; 0 maps none.
	Port int
	// StopTimeout is the SIGTERM-to-SIGKILL window ECS gives the container.
	StopTimeout time.Duration
	// ReadonlyRootFilesystem is safe for linecook's own image, which
	// writes nothing; a bring-your-own image may need a writable root.
	ReadonlyRootFilesystem bool
}

// TaskArgs describes a task definition.
type TaskArgs struct {
	// Family names the task definition family.
	Family string
	// CPU units and memory MiB: a valid Fargate pair.
	CPU, Memory int
	Container   Container
	// LogRetentionDays of the task's log group.
	LogRetentionDays int
	// TaskPolicy is the task role's inline policy (JSON). Nil leaves the
	// task role without permissions.
	TaskPolicy pulumi.StringInput
}

// Task is what NewTask registered.
type Task struct {
	Definition    *ecs.TaskDefinition
	TaskRole      *iam.Role
	ExecutionRole *iam.Role
	LogGroup      *cloudwatch.LogGroup
}

// NewTask registers the log group, roles and task definition, as children
// of parent and named from name.
func NewTask(ctx *pulumi.Context, name string, args TaskArgs, parent pulumi.Resource) (*Task, error) {
	opts := []pulumi.ResourceOption{pulumi.Parent(parent)}
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("look up region: %w", err)
	}
	partition, err := aws.GetPartition(ctx, &aws.GetPartitionArgs{}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("look up partition: %w", err)
	}
	caller, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}

	t := &Task{}
	t.LogGroup, err = cloudwatch.NewLogGroup(ctx, name+"-logs", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, opts...)
	if err != nil {
		return nil, err
	}

	// The execution role is assumed by the ECS agent to pull the image,
	// ship logs and fetch secrets; it never reaches the application.
	t.ExecutionRole, err = iam.NewRole(ctx, name+"-execution", &iam.RoleArgs{
		Description:      pulumi.String("ECS agent: pull " + name + "'s image, write its logs, read its secrets"),
		AssumeRolePolicy: pulumi.String(assumeRolePolicy(nil).JSON()),
	}, opts...)
	if err != nil {
		return nil, err
	}
	secretARNs := slices.Sorted(maps.Values(args.Container.Secrets))
	execPolicy := pulumi.All(args.Container.Image, t.LogGroup.Arn).ApplyT(func(v []any) string {
		return ExecutionPolicy(v[0].(string), v[1].(string), partition.Partition, secretARNs).JSON()
	}).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, name+"-execution", &iam.RolePolicyArgs{
		Role:   t.ExecutionRole.ID(),
		Policy: execPolicy,
	}, opts...); err != nil {
		return nil, err
	}

	// The task role is what the application's AWS SDK uses. ECS documents
	// the source-account/ARN condition for it against confused deputies.
	t.TaskRole, err = iam.NewRole(ctx, name+"-task", &iam.RoleArgs{
		Description: pulumi.String(name + "'s application permissions"),
		AssumeRolePolicy: pulumi.String(assumeRolePolicy(map[string]map[string]string{
			"ArnLike":      {"aws:SourceArn": fmt.Sprintf("arn:%s:ecs:%s:%s:*", partition.Partition, region.Name, caller.AccountId)},
			"StringEquals": {"aws:SourceAccount": caller.AccountId},
		}).JSON()),
	}, opts...)
	if err != nil {
		return nil, err
	}
	if args.TaskPolicy != nil {
		if _, err := iam.NewRolePolicy(ctx, name+"-task", &iam.RolePolicyArgs{
			Role:   t.TaskRole.ID(),
			Policy: args.TaskPolicy,
		}, opts...); err != nil {
			return nil, err
		}
	}

	c := args.Container
	env := pulumi.StringMapInput(pulumi.StringMap{})
	if c.Env != nil {
		env = c.Env
	}
	defs := pulumi.All(c.Image, env, t.LogGroup.Name).ApplyT(func(v []any) (string, error) {
		return containerDefinitions(c, v[0].(string), v[1].(map[string]string), v[2].(string), region.Name)
	}).(pulumi.StringOutput)
	t.Definition, err = ecs.NewTaskDefinition(ctx, name, &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(args.Family),
		Cpu:                     pulumi.String(strconv.Itoa(args.CPU)),
		Memory:                  pulumi.String(strconv.Itoa(args.Memory)),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
		// The linecook image is built for linux/amd64.
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String("X86_64"),
		},
		ExecutionRoleArn:     t.ExecutionRole.Arn,
		TaskRoleArn:          t.TaskRole.Arn,
		ContainerDefinitions: defs,
	}, opts...)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func assumeRolePolicy(condition map[string]map[string]string) iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Effect:    "Allow",
		Principal: map[string]string{"Service": "ecs-tasks.amazonaws.com"},
		Action:    []string{"sts:AssumeRole"},
		Condition: condition,
	})
}

// ExecutionPolicy is the execution role's policy: pull the image when it
// lives in ECR (GetAuthorizationToken cannot be scoped, the layer actions
// can: to the image's repository), write the log group's streams, and read
// the given secrets.
func ExecutionPolicy(image, logGroupARN, partition string, secretARNs []string) iampolicy.Document {
	var st []iampolicy.Statement
	if repo, ok := ECRRepositoryARN(image); ok {
		st = append(st,
			iampolicy.Allow("EcrLogin", []string{"ecr:GetAuthorizationToken"}, "*"),
			iampolicy.Allow("PullImage", []string{"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"}, repo),
		)
	}
	st = append(st, iampolicy.Allow("WriteLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, logGroupARN+":log-stream:*"))
	if len(secretARNs) > 0 {
		st = append(st, iampolicy.Allow("ReadSecrets", []string{"secretsmanager:GetSecretValue"}, secretARNs...))
	}
	return iampolicy.New(st...)
}

// ECRRepositoryARN returns the ARN of the ECR repository an image URI
// (ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]/REPO[:TAG|@DIGEST])
// names, or false for an image hosted elsewhere.
func ECRRepositoryARN(image string) (string, bool) {
	host, path, ok := strings.Cut(image, "/")
	if !ok || path == "" {
		return "", false
	}
	labels := strings.Split(host, ".")
	if len(labels) < 6 || labels[1] != "dkr" || (labels[2] != "ecr" && labels[2] != "ecr-fips") || labels[4] != "amazonaws" {
		return "", false
	}
	account, region := labels[0], labels[3]
	partition := "aws"
	if strings.HasSuffix(host, ".amazonaws.com.cn") {
		partition = "aws-cn"
	} else if !strings.HasSuffix(host, ".amazonaws.com") {
		return "", false
	}
	repo, _, _ := strings.Cut(path, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, region, account, repo), true
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type portMapping struct {
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

type containerDefinition struct {
	Name                   string           `json:"name"`
	Image                  string           `json:"image"`
	Essential              bool             `json:"essential"`
	Command                []string         `json:"command,omitempty"`
	Environment            []keyValue       `json:"environment"`
	Secrets                []secret         `json:"secrets,omitempty"`
	PortMappings           []portMapping    `json:"portMappings,omitempty"`
	StopTimeout            int              `json:"stopTimeout"`
	ReadonlyRootFilesystem bool             `json:"readonlyRootFilesystem"`
	LogConfiguration       logConfiguration `json:"logConfiguration"`
}

// containerDefinitions renders the task's container definitions. Variables
// are sorted so an unchanged environment renders identically and never
// shows as a diff.
func containerDefinitions(c Container, image string, env map[string]string, logGroup, region string) (string, error) {
	d := containerDefinition{
		Name:                   c.Name,
		Image:                  image,
		Essential:              true,
		Command:                c.Command,
		Environment:            []keyValue{},
		StopTimeout:            int(c.StopTimeout / time.Second),
		ReadonlyRootFilesystem: c.ReadonlyRootFilesystem,
		LogConfiguration: logConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group":         logGroup,
			"awslogs-region":        region,
			"awslogs-stream-prefix": c.Name,
		}},
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		d.Environment = append(d.Environment, keyValue{Name: k, Value: env[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Secrets)) {
		d.Secrets = append(d.Secrets, secret{Name: k, ValueFrom: c.Secrets[k]})
	}
	if c.Port > 0 {
		d.PortMappings = []portMapping{{ContainerPort: c.Port, Protocol: "tcp"}}
	}
	b, err := json.Marshal([]containerDefinition{d})
	if err != nil {
		return "", fmt.Errorf("render container definition: %w", err)
	}
	return string(b), nil
}

// Family names a task definition family unique to the project and stack,
// so two stacks in one account never add revisions to each other's family.
// Families allow letters, digits, hyphens and underscores; Pulumi stack
// names may also hold dots.
func Family(ctx *pulumi.Context, name string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, ctx.Project()+"-"+ctx.Stack()+"-"+name)
}
