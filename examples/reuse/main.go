// Command reuse shows linecook's components in someone else's Pulumi Go
// program: a thumbnailing stage that runs its own worker image (any
// language; it reads LINECOOK_QUEUE_URL and friends from its environment)
// on a linecook queue, scaled from zero by backlog per task.
//
// The same program is in examples/yaml and examples/typescript, through
// the linecook Pulumi package; all three get the same resources.
//
// Point a Pulumi.yaml's main at this directory to deploy it.
package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/components/vpc"
)

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
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

	// Thumbnails take about 5 s each; a request may wait up to 2 minutes.
	// The queue's visibility timeout is the stage's default for that
	// processing time: 4 × 5 s, at least 30 s.
	q, err := queue.New(ctx, "thumbnails", &queue.Args{
		VisibilityTimeoutSeconds: pulumi.Int(30),
		MaxAgeSeconds:            pulumi.Int(120),
		AlarmEmail:               "media-oncall@acme.example",
	})
	if err != nil {
		return err
	}

	// The last (and only) stage: no next queue, no order table.
	worker, err := stage.New(ctx, "thumbnails", &stage.Args{
		Image:       pulumi.String("ghcr.io/acme/thumbnailer:1.4"),
		ClusterArn:  cluster.Arn,
		ClusterName: cluster.Name,
		QueueUrl:    q.Url, QueueArn: q.Arn, QueueName: q.Name,
		DlqUrl: q.DlqUrl, DlqArn: q.DlqArn,
		VpcId:                 net.VpcId,
		SubnetIds:             net.PrivateSubnetIds,
		Concurrency:           4,
		ProcessingTimeSeconds: 5,
		LatencySeconds:        120,
		Scaling:               &stage.ScalingArgs{Policy: "target-tracking", Min: pulumi.IntRef(0), Max: 20},
	})
	if err != nil {
		return err
	}

	ctx.Export("queueUrl", q.Url)
	ctx.Export("serviceName", worker.ServiceName)
	return nil
}
