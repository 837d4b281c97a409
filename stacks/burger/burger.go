// Package burger is the Pulumi program that deploys the burger-ordering
// pipeline: order API → payment → grill → fry → assemble → done, each
// stage a queue with its DLQ and a scaled Fargate service, all in one VPC
// and one ECS cluster, with one alarm topic and one dashboard.
//
// Program reads `linecook:*` stack config only through pipeline.Parse, the
// same parser `linecook local` and `linecook simulate` use, so a config
// mistake fails the same way everywhere, and before any resource exists.
package burger

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/components/orderapi"
	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
	"github.com/linecook/linecook/pipeline"
)

// Program is the stack: `pulumi up` runs it through cmd/burger-stack.
func Program(ctx *pulumi.Context) error {
	_, err := program(ctx)
	return err
}

// outputs are the stack's outputs, kept typed for tests.
type outputs struct {
	APIURL, ClusterName, DashboardURL pulumi.StringOutput
	QueueURLs, DLQURLs, ServiceNames  pulumi.StringMap
	APIServiceName, OrderTableName    pulumi.StringOutput
	AlarmTopicArn, ImageURI, VpcID    pulumi.StringOutput
	EventsTopicArn                    pulumi.StringOutput
}

func program(ctx *pulumi.Context) (*outputs, error) {
	values, err := configValues(ctx)
	if err != nil {
		return nil, err
	}
	// The burger application's workers and default stages: those the
	// linecook image runs (cmd/linecookd registers the same handlers).
	cfg, err := pipeline.Parse(values, handlers.Pipeline())
	if err != nil {
		return nil, err
	}
	out, err := deploy(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ctx.Export("apiUrl", out.APIURL)
	ctx.Export("clusterName", out.ClusterName)
	ctx.Export("dashboardUrl", out.DashboardURL)
	ctx.Export("queueUrls", out.QueueURLs)
	ctx.Export("dlqUrls", out.DLQURLs)
	ctx.Export("serviceNames", out.ServiceNames)
	ctx.Export("apiServiceName", out.APIServiceName)
	ctx.Export("orderTableName", out.OrderTableName)
	ctx.Export("alarmTopicArn", out.AlarmTopicArn)
	ctx.Export("imageUri", out.ImageURI)
	ctx.Export("vpcId", out.VpcID)
	ctx.Export("eventsTopicArn", out.EventsTopicArn)
	return out, nil
}

// configValues returns the stack's whole config as Pulumi hands it to a Go
// program, PULUMI_CONFIG, so that Parse sees every `linecook:` key,
// including misspelt ones. Without it (a program started another way),
// it asks for each key linecook knows.
func configValues(ctx *pulumi.Context) (map[string]string, error) {
	if raw := os.Getenv(pulumi.EnvConfig); raw != "" {
		var values map[string]string
		if err := json.Unmarshal([]byte(raw), &values); err != nil {
			return nil, fmt.Errorf("read stack config from %s: %w", pulumi.EnvConfig, err)
		}
		return values, nil
	}
	values := map[string]string{}
	for _, k := range pipeline.Keys {
		key := pipeline.Namespace + ":" + k
		if v, ok := ctx.GetConfig(key); ok {
			values[key] = v
		}
	}
	return values, nil
}

func deploy(ctx *pulumi.Context, cfg pipeline.Config) (*outputs, error) {
	net, err := network(ctx, cfg)
	if err != nil {
		return nil, err
	}

	// One cluster for every service. Container Insights publishes the
	// RunningTaskCount and DesiredTaskCount the scaling policies read.
	cluster, err := ecs.NewCluster(ctx, "linecook", &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	})
	if err != nil {
		return nil, err
	}
	providers, err := ecs.NewClusterCapacityProviders(ctx, "linecook", &ecs.ClusterCapacityProvidersArgs{
		ClusterName:       cluster.Name,
		CapacityProviders: pulumi.ToStringArray([]string{"FARGATE", "FARGATE_SPOT"}),
	})
	if err != nil {
		return nil, err
	}
	// Services reach the cluster through this output so that they wait
	// for its capacity providers: a Spot service created first fails.
	clusterArn := pulumi.All(cluster.Arn, providers.ClusterName).ApplyT(func(v []any) string {
		return v[0].(string)
	}).(pulumi.StringOutput)

	alarms, err := sns.NewTopic(ctx, "alarms", &sns.TopicArgs{})
	if err != nil {
		return nil, err
	}
	if cfg.AlarmEmail != "" {
		if _, err := sns.NewTopicSubscription(ctx, "alarms-email", &sns.TopicSubscriptionArgs{
			Topic: alarms.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(cfg.AlarmEmail),
		}); err != nil {
			return nil, err
		}
	}

	image, err := linecookImage(ctx, cfg)
	if err != nil {
		return nil, err
	}
	events, err := orderEvents(ctx, cfg.Events)
	if err != nil {
		return nil, err
	}

	queues := make([]*queue.Queue, len(cfg.Stages))
	for i, st := range cfg.Stages {
		queues[i], err = queue.New(ctx, st.Name, &queue.Args{
			VisibilityTimeoutSeconds: pulumi.Int(wholeSeconds(st.VisibilityTimeout)),
			MaxAgeSeconds:            pulumi.Int(wholeSeconds(st.Latency)),
			MaxReceiveCount:          st.MaxReceiveCount,
			AlarmTopicArn:            alarms.Arn,
		})
		if err != nil {
			return nil, err
		}
	}

	apiArgs := orderapi.ArgsOf(cfg.API, cfg.OrderTable)
	apiArgs.Image, apiArgs.ClusterArn = image, clusterArn
	apiArgs.VpcId, apiArgs.PublicSubnetIds, apiArgs.PrivateSubnetIds = net.VpcId, net.PublicSubnetIds, net.PrivateSubnetIds
	apiArgs.QueueUrl, apiArgs.QueueArn = queues[0].Url, queues[0].Arn
	apiArgs.LogRetentionDays = cfg.LogRetentionDays
	apiArgs.EventsTopicArn = events.Arn
	api, err := orderapi.New(ctx, "api", &apiArgs)
	if err != nil {
		return nil, err
	}

	stages := make([]*stage.Stage, len(cfg.Stages))
	for i, st := range cfg.Stages {
		q := queues[i]
		args := stage.ArgsOf(st)
		if args.Image == nil {
			args.Image = image
		}
		args.ClusterArn, args.ClusterName = clusterArn, cluster.Name
		args.QueueUrl, args.QueueArn, args.QueueName = q.Url, q.Arn, q.Name
		args.DlqUrl, args.DlqArn = q.DlqUrl, q.DlqArn
		args.OrderTableName, args.OrderTableArn = api.TableName, api.TableArn
		args.VpcId, args.SubnetIds = net.VpcId, net.PrivateSubnetIds
		args.LogRetentionDays = cfg.LogRetentionDays
		args.EventsTopicArn = events.Arn
		// The last stage forwards nowhere: it marks the order done.
		if i+1 < len(queues) {
			args.NextQueueUrl, args.NextQueueArn = queues[i+1].Url, queues[i+1].Arn
		}
		if stages[i], err = stage.New(ctx, st.Name, &args); err != nil {
			return nil, err
		}
	}

	dashboardURL, err := dashboard(ctx, cfg, cluster, queues, stages)
	if err != nil {
		return nil, err
	}

	queueURLs, dlqURLs, services := pulumi.StringMap{}, pulumi.StringMap{}, pulumi.StringMap{}
	for i, st := range cfg.Stages {
		queueURLs[st.Name] = queues[i].Url
		dlqURLs[st.Name] = queues[i].DlqUrl
		services[st.Name] = stages[i].ServiceName
	}
	return &outputs{
		APIURL: api.Url, ClusterName: cluster.Name, DashboardURL: dashboardURL,
		QueueURLs: queueURLs, DLQURLs: dlqURLs, ServiceNames: services,
		APIServiceName: api.ServiceName, OrderTableName: api.TableName,
		AlarmTopicArn: alarms.Arn, ImageURI: image, VpcID: net.VpcId, EventsTopicArn: events.Arn,
	}, nil
}

// network is the VPC from config, created or adopted.
func network(ctx *pulumi.Context, cfg pipeline.Config) (*vpc.Vpc, error) {
	v := cfg.VPC
	if v.Existing() {
		return vpc.New(ctx, "network", &vpc.Args{
			VpcId:            pulumi.String(v.ID),
			PublicSubnetIds:  pulumi.ToStringArray(v.PublicSubnetIDs),
			PrivateSubnetIds: pulumi.ToStringArray(v.PrivateSubnetIDs),
		})
	}
	args := &vpc.Args{AZs: v.AZs, CIDR: v.CIDR, NAT: v.NAT, Endpoints: v.Endpoints}
	if v.Endpoints && cfg.API.APIKeySecretARN != "" {
		// ECS fetches the API key at task start; without NAT it can only
		// reach Secrets Manager through an endpoint.
		args.InterfaceEndpoints = append(append([]string{}, vpc.DefaultInterfaceEndpoints...), "secretsmanager")
	}
	return vpc.New(ctx, "network", args)
}

// wholeSeconds rounds up: a 500ms latency objective alarms at 1 s, not 0.
func wholeSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
