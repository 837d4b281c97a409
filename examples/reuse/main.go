// Command reuse shows linecook's components in someone else's Pulumi Go
// program: a thumbnailing stage that runs its own worker image (any
// language; it reads LINECOOK_QUEUE_URL and friends from its environment)
// on a linecook queue, scaled from zero by backlog per task.
//
// Point a Pulumi.yaml's main at this directory to deploy it.
package main

import (
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
	"github.com/linecook/linecook/pipeline"
)

// thumbnails is written as a linecook stack file would write it; Parse
// fills in the rest (visibility timeout, stop and drain timeouts, task
// size) and rejects impossible values with a clear message.
const thumbnails = `[{
	"name": "thumbnails",
	"image": "ghcr.io/acme/thumbnailer:1.4",
	"concurrency": 4,
	"processingTime": "5s",
	"latency": "2m",
	"scaling": {"policy": "target-tracking", "min": 0, "max": 20}
}]`

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	cfg, err := pipeline.Parse(map[string]string{"linecook:stages": thumbnails}, pipeline.Options{})
	if err != nil {
		return err
	}
	st := cfg.Stages[0]

	net, err := vpc.New(ctx, "media", &vpc.Args{NAT: vpc.NATSingle})
	if err != nil {
		return err
	}
	// Container Insights publishes the task counts the scaling reads.
	cluster, err := ecs.NewCluster(ctx, "media", &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	})
	if err != nil {
		return err
	}

	q, err := queue.New(ctx, st.Name, &queue.Args{
		VisibilityTimeoutSeconds: pulumi.Int(int(st.VisibilityTimeout / time.Second)),
		MaxAgeSeconds:            pulumi.Int(int(st.Latency / time.Second)),
		AlarmEmail:               "media-oncall@acme.example",
	})
	if err != nil {
		return err
	}

	// The last (and only) stage: no next queue, no order table.
	args := stage.ArgsOf(st)
	args.ClusterArn, args.ClusterName = cluster.Arn, cluster.Name
	args.QueueUrl, args.QueueArn, args.QueueName = q.Url, q.Arn, q.Name
	args.DlqUrl, args.DlqArn = q.DlqUrl, q.DlqArn
	args.VpcId, args.SubnetIds = net.VpcId, net.PrivateSubnetIds
	worker, err := stage.New(ctx, st.Name, &args)
	if err != nil {
		return err
	}

	ctx.Export("queueUrl", q.Url)
	ctx.Export("serviceName", worker.ServiceName)
	return nil
}
