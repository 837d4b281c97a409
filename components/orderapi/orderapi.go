// Package orderapi is a Pulumi component for the pipeline's front door: an
// internet-facing Application Load Balancer in public subnets, the order
// API on Fargate in private subnets reachable only from the load balancer,
// and the DynamoDB table of orders. The API writes an order to the table
// and sends it to the first stage's queue; its task role may do exactly
// that.
//
// It reads no configuration; the API's settings come as a pipeline.API,
// plain data.
package orderapi

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/internal/fargate"
	"github.com/linecook/linecook/components/internal/iampolicy"
	"github.com/linecook/linecook/pipeline"
)

// Type is the component's type token.
const Type = "linecook:orderapi:OrderApi"

// HealthCheckPath is the path the load balancer probes.
const HealthCheckPath = "/healthz"

// containerName is the API's container, the load balancer's target.
const containerName = "api"

// tlsPolicy allows TLS 1.2 and 1.3 only.
const tlsPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// Args configures an OrderApi.
type Args struct {
	// API sizes the service and chooses HTTPS (CertificateARN) and the
	// API key (APIKeySecretARN). Port, CPU, Memory and DesiredCount are
	// required: pipeline.Parse fills them.
	API pipeline.API
	// Table sets point-in-time recovery and deletion protection.
	Table pipeline.OrderTable
	// Image is the linecook image; the API runs `api`.
	Image pulumi.StringInput
	// ClusterArn is the shared ECS cluster.
	ClusterArn pulumi.StringInput
	// The network: the load balancer goes in the public subnets, the
	// tasks in the private ones.
	VpcId            pulumi.StringInput
	PublicSubnetIds  pulumi.StringArrayInput
	PrivateSubnetIds pulumi.StringArrayInput
	// The first stage's queue, where new orders go.
	QueueUrl pulumi.StringInput
	QueueArn pulumi.StringInput
	// LogRetentionDays of the API's logs; 0 means the pipeline default.
	LogRetentionDays int
}

// OrderApi is the component.
type OrderApi struct {
	pulumi.ResourceState

	// Url is http(s)://<load balancer DNS name>.
	Url                 pulumi.StringOutput `pulumi:"url"`
	LoadBalancerDnsName pulumi.StringOutput `pulumi:"loadBalancerDnsName"`
	TableName           pulumi.StringOutput `pulumi:"tableName"`
	TableArn            pulumi.StringOutput `pulumi:"tableArn"`
	ServiceName         pulumi.StringOutput `pulumi:"serviceName"`
	SecurityGroupId     pulumi.StringOutput `pulumi:"securityGroupId"`
	TaskRoleArn         pulumi.StringOutput `pulumi:"taskRoleArn"`
}

// New registers the table, load balancer and API service.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*OrderApi, error) {
	if args == nil {
		args = &Args{}
	}
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("orderapi %s: %w", name, err)
	}
	c := &OrderApi{}
	if err := ctx.RegisterComponentResource(Type, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	api := args.API
	https := api.CertificateARN != ""

	table, err := dynamodb.NewTable(ctx, name+"-orders", &dynamodb.TableArgs{
		BillingMode: pulumi.String("PAY_PER_REQUEST"),
		HashKey:     pulumi.String(pipeline.OrderTableKey),
		Attributes: dynamodb.TableAttributeArray{
			&dynamodb.TableAttributeArgs{Name: pulumi.String(pipeline.OrderTableKey), Type: pulumi.String("S")},
		},
		// Idempotency records carry an expiry; without TTL they would be
		// kept forever.
		Ttl: &dynamodb.TableTtlArgs{AttributeName: pulumi.String(pipeline.OrderTableTTL), Enabled: pulumi.Bool(true)},
		// With no key given, DynamoDB uses the AWS-managed key (aws/dynamodb),
		// whose use shows in CloudTrail, rather than an AWS-owned one.
		ServerSideEncryption:      &dynamodb.TableServerSideEncryptionArgs{Enabled: pulumi.Bool(true)},
		PointInTimeRecovery:       &dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(args.Table.PointInTimeRecovery)},
		DeletionProtectionEnabled: pulumi.Bool(args.Table.DeletionProtection),
	}, parent)
	if err != nil {
		return nil, err
	}

	// Two security groups whose rules point at each other: the load
	// balancer takes HTTP(S) from anywhere and may only talk to the API's
	// port; the API takes that port from the load balancer and nothing
	// else. Separate rule resources avoid the cycle inline rules would make.
	albSG, err := ec2.NewSecurityGroup(ctx, name+"-alb", &ec2.SecurityGroupArgs{
		VpcId:       args.VpcId,
		Description: pulumi.String("linecook order API load balancer: HTTP(S) in, API port out"),
		Tags:        pulumi.StringMap{"Name": pulumi.String(name + "-alb")},
	}, parent)
	if err != nil {
		return nil, err
	}
	apiSG, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcId,
		Description: pulumi.String("linecook order API tasks: the API port from the load balancer only"),
		Tags:        pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, err
	}
	listenPorts := []int{80}
	if https {
		listenPorts = append(listenPorts, 443)
	}
	for _, port := range listenPorts {
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-alb-in-%d", name, port), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: albSG.ID(),
			Description:     pulumi.String("HTTP(S) from the internet"),
			IpProtocol:      pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			CidrIpv4: pulumi.String("0.0.0.0/0"),
		}, parent); err != nil {
			return nil, err
		}
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-alb-to-api", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           albSG.ID(),
		Description:               pulumi.String("requests and health checks to the API tasks"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(api.Port),
		ToPort:                    pulumi.Int(api.Port),
		ReferencedSecurityGroupId: apiSG.ID(),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-from-alb", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           apiSG.ID(),
		Description:               pulumi.String("the API port from the load balancer only"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(api.Port),
		ToPort:                    pulumi.Int(api.Port),
		ReferencedSecurityGroupId: albSG.ID(),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-https-out", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: apiSG.ID(),
		Description:     pulumi.String("HTTPS to AWS APIs (SQS, DynamoDB, ECR, CloudWatch Logs, Secrets Manager)"),
		IpProtocol:      pulumi.String("tcp"), FromPort: pulumi.Int(443), ToPort: pulumi.Int(443),
		CidrIpv4: pulumi.String("0.0.0.0/0"),
	}, parent); err != nil {
		return nil, err
	}

	alb, err := lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		LoadBalancerType:        pulumi.String("application"),
		Internal:                pulumi.Bool(false),
		Subnets:                 args.PublicSubnetIds,
		SecurityGroups:          pulumi.StringArray{albSG.ID()},
		DropInvalidHeaderFields: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	tg, err := lb.NewTargetGroup(ctx, name, &lb.TargetGroupArgs{
		VpcId:      args.VpcId,
		TargetType: pulumi.String("ip"),
		Protocol:   pulumi.String("HTTP"),
		Port:       pulumi.Int(api.Port),
		// The API answers in milliseconds and drains on SIGTERM: the
		// default five-minute deregistration only slows deployments.
		DeregistrationDelay: pulumi.Int(30),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Path:               pulumi.String(HealthCheckPath),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(15),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(3),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	forward := lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{Type: pulumi.String("forward"), TargetGroupArn: tg.Arn}}
	var listeners []pulumi.Resource
	httpAction := forward
	if https {
		httpAction = lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol: pulumi.String("HTTPS"), Port: pulumi.String("443"), StatusCode: pulumi.String("HTTP_301"),
			},
		}}
		l, err := lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn, Port: pulumi.Int(443), Protocol: pulumi.String("HTTPS"),
			CertificateArn: pulumi.String(api.CertificateARN), SslPolicy: pulumi.String(tlsPolicy),
			DefaultActions: forward,
		}, parent)
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
	}
	l, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn, Port: pulumi.Int(80), Protocol: pulumi.String("HTTP"),
		DefaultActions: httpAction,
	}, parent)
	if err != nil {
		return nil, err
	}
	listeners = append(listeners, l)

	secrets := map[string]string{}
	if api.APIKeySecretARN != "" {
		secrets[pipeline.EnvAPIKey] = api.APIKeySecretARN
	}
	policy := pulumi.All(args.QueueArn, table.Arn).ApplyT(func(v []any) string {
		return iampolicy.New(
			iampolicy.Allow("AcceptOrders", []string{"sqs:SendMessage", "sqs:GetQueueAttributes"}, v[0].(string)),
			iampolicy.Allow("StoreOrders", []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}, v[1].(string)),
		).JSON()
	}).(pulumi.StringOutput)
	env := pulumi.All(args.QueueUrl, table.Name).ApplyT(func(v []any) map[string]string {
		return api.APIEnv(v[0].(string), v[1].(string))
	}).(pulumi.StringMapOutput)
	task, err := fargate.NewTask(ctx, name, fargate.TaskArgs{
		Family: fargate.Family(ctx, name),
		CPU:    api.CPU, Memory: api.Memory,
		LogRetentionDays: orDefault(args.LogRetentionDays, pipeline.DefaultLogRetentionDays),
		TaskPolicy:       policy,
		Container: fargate.Container{
			Name:                   containerName,
			Image:                  args.Image,
			Command:                pipeline.APICommand(),
			Env:                    env,
			Secrets:                secrets,
			Port:                   api.Port,
			StopTimeout:            pipeline.DefaultStopTimeout,
			ReadonlyRootFilesystem: true,
		},
	}, c)
	if err != nil {
		return nil, err
	}

	// ECS needs the target group attached to a listener before a service
	// can register into it.
	svc, err := ecs.NewService(ctx, name, &ecs.ServiceArgs{
		Cluster:        args.ClusterArn,
		TaskDefinition: task.Definition.Arn,
		DesiredCount:   pulumi.Int(api.DesiredCount),
		LaunchType:     pulumi.String("FARGATE"),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        args.PrivateSubnetIds,
			SecurityGroups: pulumi.StringArray{apiSG.ID()},
			AssignPublicIp: pulumi.Bool(false),
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{&ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: tg.Arn, ContainerName: pulumi.String(containerName), ContainerPort: pulumi.Int(api.Port),
		}},
		HealthCheckGracePeriodSeconds: pulumi.Int(30),
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable: pulumi.Bool(true), Rollback: pulumi.Bool(true),
		},
		PropagateTags:        pulumi.String("SERVICE"),
		EnableEcsManagedTags: pulumi.Bool(true),
	}, parent, pulumi.DependsOn(listeners))
	if err != nil {
		return nil, err
	}

	scheme := "http"
	if https {
		scheme = "https"
	}
	c.LoadBalancerDnsName = alb.DnsName
	c.Url = pulumi.Sprintf("%s://%s", scheme, alb.DnsName)
	c.TableName, c.TableArn = table.Name, table.Arn
	c.ServiceName = svc.Name
	c.SecurityGroupId = apiSG.ID().ToStringOutput()
	c.TaskRoleArn = task.TaskRole.Arn
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"url": c.Url, "loadBalancerDnsName": c.LoadBalancerDnsName,
		"tableName": c.TableName, "tableArn": c.TableArn, "serviceName": c.ServiceName,
		"securityGroupId": c.SecurityGroupId, "taskRoleArn": c.TaskRoleArn,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func (a *Args) validate() error {
	var errs []error
	if a.API.Port < 1 || a.API.Port > 65535 {
		errs = append(errs, fmt.Errorf("API.Port %d: must be a TCP port", a.API.Port))
	}
	if a.API.CPU == 0 || a.API.Memory == 0 || a.API.DesiredCount == 0 {
		errs = append(errs, errors.New("API.CPU, API.Memory and API.DesiredCount are required"))
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Image", a.Image != nil}, {"ClusterArn", a.ClusterArn != nil}, {"VpcId", a.VpcId != nil},
		{"PublicSubnetIds", a.PublicSubnetIds != nil}, {"PrivateSubnetIds", a.PrivateSubnetIds != nil},
		{"QueueUrl", a.QueueUrl != nil}, {"QueueArn", a.QueueArn != nil},
	} {
		if !f.set {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	return errors.Join(errs...)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
