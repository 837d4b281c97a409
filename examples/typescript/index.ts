// examples/reuse's program in TypeScript, through the linecook package: a
// thumbnailing stage running your own worker image on a linecook queue,
// scaled from zero by backlog per task.
//
//   npm install
//   pulumi package add github.com/linecook/linecook@v0.1.0   # generates sdks/linecook
//   pulumi up
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as linecook from "@pulumi/linecook";

const config = new pulumi.Config();
const image = config.get("image") ?? "ghcr.io/acme/thumbnailer:1.4";
const maxTasks = config.getNumber("maxTasks") ?? 20;

const network = new linecook.vpc.Vpc("network", { nat: "single" });

// Container Insights publishes the task counts the scaling reads.
const cluster = new aws.ecs.Cluster("cluster", {
    settings: [{ name: "containerInsights", value: "enabled" }],
});

// Thumbnails take about 5 s each; a request may wait up to 2 minutes. The
// visibility timeout is the stage's default for that processing time:
// 4 × 5 s, at least 30 s.
const thumbnails = new linecook.queue.Queue("thumbnails", {
    visibilityTimeoutSeconds: 30,
    maxAgeSeconds: 120,
    alarmEmail: "media-oncall@acme.example",
});

const worker = new linecook.stage.Stage("worker", {
    stageName: "thumbnails",
    image,
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    queueUrl: thumbnails.url,
    queueArn: thumbnails.arn,
    queueName: thumbnails.name,
    dlqUrl: thumbnails.dlqUrl,
    dlqArn: thumbnails.dlqArn,
    vpcId: network.vpcId,
    subnetIds: network.privateSubnetIds,
    concurrency: 4,
    processingTimeSeconds: 5,
    latencySeconds: 120,
    scaling: { policy: "target-tracking", min: 0, max: maxTasks },
});

export const queueUrl = thumbnails.url;
export const serviceName = worker.serviceName;
