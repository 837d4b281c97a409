// Package orderapi is a Pulumi component for the pipeline's front door: an
// internet-facing Application Load Balancer in public subnets, the order
// API on Fargate in private subnets reachable only from the load balancer,
// and the DynamoDB table of orders, with its sparse index of the orders no
// stage has started. The API writes an order to the table and sends it to
// the first stage's queue, and its sweeper queries the index for orders
// left accepted and sends them again; its task role may do exactly that.
//
// It reads no configuration; the API's settings come as a pipeline.API,
// plain data.
package orderapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// Args configures an OrderApi. The tags are the Pulumi package's schema.
type Args struct {
	// The linecook image; the API tasks run its `api` command.
	Image pulumi.StringInput `pulumi:"image"`
	// The shared ECS cluster's ARN.
	ClusterArn pulumi.StringInput `pulumi:"clusterArn"`
	// The VPC of the load balancer and the tasks.
	VpcId pulumi.StringInput `pulumi:"vpcId"`
	// The public subnets, where the load balancer goes (two or more zones).
	PublicSubnetIds pulumi.StringArrayInput `pulumi:"publicSubnetIds"`
	// The private subnets, where the tasks run (no public IP).
	PrivateSubnetIds pulumi.StringArrayInput `pulumi:"privateSubnetIds"`
	// The URL of the first stage's queue, where accepted orders go.
	QueueUrl pulumi.StringInput `pulumi:"queueUrl"`
	// The ARN of the first stage's queue.
	QueueArn pulumi.StringInput `pulumi:"queueArn"`

	// The SNS topic of order events the API publishes placed events to.
	// Unset: none are published.
	EventsTopicArn pulumi.StringInput `pulumi:"eventsTopicArn,optional"`

	// The port the API listens on inside its tasks. Default 8080.
	Port int `pulumi:"port,optional"`
	// CPU units of one API task. Default 256.
	Cpu int `pulumi:"cpu,optional"`
	// Memory (MiB) of one API task, valid with cpu on Fargate. Default 512.
	Memory int `pulumi:"memory,optional"`
	// How many API tasks run. Default 2.
	DesiredCount int `pulumi:"desiredCount,optional"`
	// An ACM certificate's ARN: adds an HTTPS listener on 443, and HTTP
	// redirects to it.
	CertificateArn pulumi.StringInput `pulumi:"certificateArn,optional"`
	// A Secrets Manager secret holding the API key: requests then need it
	// in the X-Api-Key header.
	ApiKeySecretArn string `pulumi:"apiKeySecretArn,optional"`
	// The OpenID Connect issuer whose bearer tokens (Authorization: Bearer
	// <JWT>, RS256 or ES256) the API accepts, besides the API key when
	// one is set: an https URL, exactly the tokens' "iss". Set it with
	// jwtAudience and jwksUrl, or none of them.
	JwtIssuer string `pulumi:"jwtIssuer,optional"`
	// The audience the issuer's tokens must name in "aud" for this API.
	JwtAudience string `pulumi:"jwtAudience,optional"`
	// Where the issuer publishes its signing keys (its discovery
	// document's jwks_uri): an https URL on port 443, reached from the
	// private subnets through their NAT.
	JwksUrl string `pulumi:"jwksUrl,optional"`
	// Turn on the order table's point-in-time recovery.
	PointInTimeRecovery bool `pulumi:"pointInTimeRecovery,optional"`
	// Protect the order table from deletion: destroy fails until it is
	// turned off.
	DeletionProtection bool `pulumi:"deletionProtection,optional"`
	// Retention of the API's logs in days, one CloudWatch Logs accepts.
	// Default 14.
	LogRetentionDays int `pulumi:"logRetentionDays,optional"`
	// Seconds an order may stay accepted (no stage started) before the
	// API's sweeper sends it to the first stage again: 60 to 86400, and
	// best more than the first stage's latency plus its visibility
	// timeout (an order waiting that long is sent twice, and the stage
	// drops the duplicate). Default 300.
	SweepAfterSeconds int `pulumi:"sweepAfterSeconds,optional"`
}

// ArgsOf is the API's own settings from linecook's stack config
// (pipeline.Parse); the wiring is the caller's to add.
func ArgsOf(api pipeline.API, table pipeline.OrderTable) Args {
	a := Args{
		Port: api.Port, Cpu: api.CPU, Memory: api.Memory, DesiredCount: api.DesiredCount,
		ApiKeySecretArn: api.APIKeySecretARN, PointInTimeRecovery: table.PointInTimeRecovery, DeletionProtection: table.DeletionProtection,
		JwtIssuer: api.JWT.Issuer, JwtAudience: api.JWT.Audience, JwksUrl: api.JWT.JWKSURL,
		SweepAfterSeconds: int(api.SweepAfter / time.Second),
	}
	if api.CertificateARN != "" {
		a.CertificateArn = pulumi.String(api.CertificateARN)
	}
	return a
}

// OrderApi is the component.
type OrderApi struct {
	pulumi.ResourceState

	// The API's URL: http(s)://<load balancer DNS name>.
	Url pulumi.StringOutput `pulumi:"url"`
	// The load balancer's DNS name, for a DNS alias.
	LoadBalancerDnsName pulumi.StringOutput `pulumi:"loadBalancerDnsName"`
	// The order table's name: give it to the stages that track orders.
	TableName pulumi.StringOutput `pulumi:"tableName"`
	// The order table's ARN.
	TableArn pulumi.StringOutput `pulumi:"tableArn"`
	// The API's ECS service name.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	// The API tasks' security group: it admits the API port from the load
	// balancer only.
	SecurityGroupId pulumi.StringOutput `pulumi:"securityGroupId"`
	// The API tasks' IAM role.
	TaskRoleArn pulumi.StringOutput `pulumi:"taskRoleArn"`
}

// New registers the table, load balancer and API service.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*OrderApi, error) {
	if args == nil {
		args = &Args{}
	}
	api, err := args.resolve()
	if err != nil {
		return nil, fmt.Errorf("orderapi %s: %w", name, err)
	}
	c := &OrderApi{}
	if err := ctx.RegisterComponentResource(Type, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	https := args.CertificateArn != nil

	table, err := dynamodb.NewTable(ctx, name+"-orders", &dynamodb.TableArgs{
		BillingMode: pulumi.String("PAY_PER_REQUEST"),
		HashKey:     pulumi.String(pipeline.OrderTableKey),
		Attributes: dynamodb.TableAttributeArray{
			&dynamodb.TableAttributeArgs{Name: pulumi.String(pipeline.OrderTableKey), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(pipeline.OrderTableSweepShard), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(pipeline.OrderTableSweepAt), Type: pulumi.String("N")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(pipeline.OrderTableRecentDay), Type: pulumi.String("S")},
		},
		GlobalSecondaryIndexes: dynamodb.TableGlobalSecondaryIndexArray{
			// Sparse: only orders no stage has started carry its keys.
			// The sweeper needs no more than the keys (the id and the
			// due time), so each order costs the index two small writes.
			&dynamodb.TableGlobalSecondaryIndexArgs{
				Name:           pulumi.String(pipeline.OrderTableSweepIndex),
				HashKey:        pulumi.String(pipeline.OrderTableSweepShard),
				RangeKey:       pulumi.String(pipeline.OrderTableSweepAt),
				ProjectionType: pulumi.String("KEYS_ONLY"),
			},
			// The live page's newest orders, by a Query of one day's
			// partition rather than a Scan. Keys only: stage updates
			// never write to it. Added to an existing table, it lists the
			// orders placed from then on (older ones lack its key).
			&dynamodb.TableGlobalSecondaryIndexArgs{
				Name:           pulumi.String(pipeline.OrderTableRecentIndex),
				HashKey:        pulumi.String(pipeline.OrderTableRecentDay),
				RangeKey:       pulumi.String(pipeline.OrderTableKey),
				ProjectionType: pulumi.String("KEYS_ONLY"),
			},
		},
		// Idempotency records carry an expiry; without TTL they would be
		// kept forever.
		Ttl: &dynamodb.TableTtlArgs{AttributeName: pulumi.String(pipeline.OrderTableTTL), Enabled: pulumi.Bool(true)},
		// With no key given, DynamoDB uses the AWS-managed key (aws/dynamodb),
		// whose use shows in CloudTrail, rather than an AWS-owned one.
		ServerSideEncryption:      &dynamodb.TableServerSideEncryptionArgs{Enabled: pulumi.Bool(true)},
		PointInTimeRecovery:       &dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(args.PointInTimeRecovery)},
		DeletionProtectionEnabled: pulumi.Bool(args.DeletionProtection),
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
			CertificateArn: args.CertificateArn, SslPolicy: pulumi.String(tlsPolicy),
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
	topic := args.EventsTopicArn
	if topic == nil {
		topic = pulumi.String("")
	}
	// The API reads and writes single items; only the sweeper queries,
	// and only the index: a Scan or a Query of the table is refused.
	policy := pulumi.All(args.QueueArn, table.Arn, topic).ApplyT(func(v []any) string {
		st := []iampolicy.Statement{
			iampolicy.Allow("AcceptOrders", []string{"sqs:SendMessage", "sqs:GetQueueAttributes"}, v[0].(string)),
			iampolicy.Allow("StoreOrders", []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, v[1].(string)),
			iampolicy.Allow("SweepAcceptedOrders", []string{"dynamodb:Query"}, v[1].(string)+"/index/"+pipeline.OrderTableSweepIndex),
		}
		// The live page: the newest ids from the recent index, then
		// the orders by key.
		st = append(st,
			iampolicy.Allow("ListRecentOrders", []string{"dynamodb:Query"}, v[1].(string)+"/index/"+pipeline.OrderTableRecentIndex),
			iampolicy.Allow("ReadRecentOrders", []string{"dynamodb:BatchGetItem"}, v[1].(string)))
		if t := v[2].(string); t != "" {
			st = append(st, iampolicy.Allow("PublishOrderEvents", []string{"sns:Publish"}, t))
		}
		return iampolicy.New(st...).JSON()
	}).(pulumi.StringOutput)
	env := pulumi.All(args.QueueUrl, table.Name, topic).ApplyT(func(v []any) map[string]string {
		env := api.APIEnv(v[0].(string), v[1].(string))
		if t := v[2].(string); t != "" {
			env[pipeline.EnvEventsTopicARN] = t
		}
		return env
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

// resolve applies the documented defaults and checks every value against
// AWS's limits, naming the argument, before anything is registered.
func (a *Args) resolve() (pipeline.API, error) {
	api := pipeline.API{
		Port: or(a.Port, pipeline.DefaultAPIPort), CPU: or(a.Cpu, pipeline.DefaultCPU),
		Memory: or(a.Memory, pipeline.DefaultMemory), DesiredCount: or(a.DesiredCount, pipeline.DefaultAPIDesiredCount),
		APIKeySecretARN: a.ApiKeySecretArn,
		JWT:             pipeline.JWT{Issuer: a.JwtIssuer, Audience: a.JwtAudience, JWKSURL: a.JwksUrl},
		SweepAfter:      time.Duration(or(a.SweepAfterSeconds, int(pipeline.DefaultSweepAfter/time.Second))) * time.Second,
	}
	var errs []error
	bad := func(arg string, v any, reason string) { errs = append(errs, fmt.Errorf("%s %v: %s", arg, v, reason)) }
	if api.Port < 1 || api.Port > 65535 {
		bad("port", api.Port, "must be a TCP port (1 to 65535)")
	}
	if field, r := pipeline.FargateReason(api.CPU, api.Memory); r != "" {
		if field == "cpu" {
			bad("cpu", api.CPU, r)
		} else {
			bad("memory", api.Memory, r)
		}
	}
	if api.DesiredCount < 1 {
		bad("desiredCount", api.DesiredCount, "must be 1 or more")
	}
	if a.LogRetentionDays != 0 {
		if r := pipeline.LogRetentionReason(a.LogRetentionDays); r != "" {
			bad("logRetentionDays", a.LogRetentionDays, r)
		}
	}
	if r := pipeline.SweepAfterReason(api.SweepAfter); r != "" {
		bad("sweepAfterSeconds", a.SweepAfterSeconds, r)
	}
	if v := a.ApiKeySecretArn; v != "" && !pipeline.IsARN(v, "secretsmanager") {
		bad("apiKeySecretArn", v, "not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
	}
	if a.JwtIssuer != "" || a.JwtAudience != "" || a.JwksUrl != "" {
		if field, r := pipeline.JWTReason(api.JWT); r != "" {
			// The rule names the config's fields; name the arguments.
			arg := map[string]struct{ name, value string }{
				"issuer": {"jwtIssuer", a.JwtIssuer}, "audience": {"jwtAudience", a.JwtAudience}, "jwksUrl": {"jwksUrl", a.JwksUrl},
			}[field]
			r = strings.Replace(r, "issuer, audience and jwksUrl", "jwtIssuer, jwtAudience and jwksUrl", 1)
			bad(arg.name, strconv.Quote(arg.value), r)
		}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"image", a.Image != nil}, {"clusterArn", a.ClusterArn != nil}, {"vpcId", a.VpcId != nil},
		{"publicSubnetIds", a.PublicSubnetIds != nil}, {"privateSubnetIds", a.PrivateSubnetIds != nil},
		{"queueUrl", a.QueueUrl != nil}, {"queueArn", a.QueueArn != nil},
	} {
		if !f.set {
			bad(f.name, "(unset)", "required")
		}
	}
	return api, errors.Join(errs...)
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
