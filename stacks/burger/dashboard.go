package burger

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/queue"
	"github.com/linecook/linecook/components/stage"
	"github.com/linecook/linecook/pipeline"
)

// The metrics the workers publish in CloudWatch embedded metric format:
// namespace, names and the one dimension. The worker runtime emits exactly
// these.
const (
	metricsNamespace  = "linecook"
	processingTime    = "ProcessingTime" // Milliseconds
	succeeded         = "Succeeded"
	failed            = "Failed"
	stageDimension    = "Stage"
	widgetsPerStage   = 6
	widgetWidth       = 24 / widgetsPerStage
	widgetHeight      = 6
	headerHeight      = 1
	dashboardPeriod   = 60
	dashboardNameMax  = 255
	dashboardNameBase = "linecook-"
)

// dashboardStage is what one row of the dashboard shows, names resolved.
type dashboardStage struct {
	Name, Queue, DLQ, Service string
	// LatencySeconds is drawn on the age-of-oldest-message graph.
	LatencySeconds float64
}

// dashboard registers the stack's dashboard and returns its console URL.
func dashboard(ctx *pulumi.Context, cfg pipeline.Config, cluster *ecs.Cluster, queues []*queue.Queue, stages []*stage.Stage) (pulumi.StringOutput, error) {
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{})
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("look up region: %w", err)
	}
	inputs := []any{cluster.Name}
	for i := range cfg.Stages {
		inputs = append(inputs, queues[i].Name, queues[i].DlqName, stages[i].ServiceName)
	}
	body := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		rows := make([]dashboardStage, len(cfg.Stages))
		for i, st := range cfg.Stages {
			rows[i] = dashboardStage{
				Name: st.Name, Queue: v[1+3*i].(string), DLQ: v[2+3*i].(string), Service: v[3+3*i].(string),
				LatencySeconds: st.Latency.Seconds(),
			}
		}
		return dashboardBody(region.Name, v[0].(string), rows)
	}).(pulumi.StringOutput)

	name := dashboardName(ctx.Stack())
	if _, err := cloudwatch.NewDashboard(ctx, "linecook", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name),
		DashboardBody: body,
	}); err != nil {
		return pulumi.StringOutput{}, err
	}
	return pulumi.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s", region.Name, region.Name, name), nil
}

// dashboardName is unique per stack; dashboard names allow letters,
// digits, "-" and "_".
func dashboardName(stack string) string {
	name := dashboardNameBase + strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, stack)
	return name[:min(len(name), dashboardNameMax)]
}

type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// dashboardBody lays out one row per stage, in pipeline order: queue
// depth, age of the oldest message against the latency objective, tasks,
// DLQ depth, processing time, and messages done and failed.
func dashboardBody(region, cluster string, stages []dashboardStage) (string, error) {
	var widgets []widget
	y := 0
	for _, st := range stages {
		widgets = append(widgets, widget{Type: "text", X: 0, Y: y, Width: 24, Height: headerHeight, Properties: map[string]any{
			"markdown": fmt.Sprintf("## %s — queue `%s`, service `%s`", st.Name, st.Queue, st.Service),
		}})
		y += headerHeight
		graphs := []map[string]any{
			graph(region, st.Name+": queue depth", "Maximum", [][]any{
				{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", st.Queue, map[string]any{"label": "visible"}},
				{"AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", st.Queue, map[string]any{"label": "in flight"}},
			}),
			withLine(graph(region, st.Name+": oldest message (s)", "Maximum", [][]any{
				{"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", st.Queue, map[string]any{"label": "age of oldest"}},
			}), "latency objective", st.LatencySeconds),
			graph(region, st.Name+": tasks", "Average", [][]any{
				{"ECS/ContainerInsights", "RunningTaskCount", "ClusterName", cluster, "ServiceName", st.Service, map[string]any{"label": "running"}},
				{"ECS/ContainerInsights", "DesiredTaskCount", "ClusterName", cluster, "ServiceName", st.Service, map[string]any{"label": "desired"}},
			}),
			graph(region, st.Name+": dead-letter queue", "Maximum", [][]any{
				{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", st.DLQ, map[string]any{"label": "in DLQ"}},
			}),
			graph(region, st.Name+": processing time (ms)", "p50", [][]any{
				{metricsNamespace, processingTime, stageDimension, st.Name, map[string]any{"stat": "p50", "label": "p50"}},
				{metricsNamespace, processingTime, stageDimension, st.Name, map[string]any{"stat": "p99", "label": "p99"}},
			}),
			graph(region, st.Name+": messages", "Sum", [][]any{
				{metricsNamespace, succeeded, stageDimension, st.Name, map[string]any{"label": "succeeded"}},
				{metricsNamespace, failed, stageDimension, st.Name, map[string]any{"label": "failed"}},
			}),
		}
		for i, g := range graphs {
			widgets = append(widgets, widget{Type: "metric", X: i * widgetWidth, Y: y, Width: widgetWidth, Height: widgetHeight, Properties: g})
		}
		y += widgetHeight
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		return "", fmt.Errorf("render dashboard: %w", err)
	}
	return string(b), nil
}

func graph(region, title, stat string, metrics [][]any) map[string]any {
	return map[string]any{
		"title": title, "region": region, "view": "timeSeries", "stacked": false,
		"period": dashboardPeriod, "stat": stat, "metrics": metrics,
	}
}

func withLine(g map[string]any, label string, value float64) map[string]any {
	g["annotations"] = map[string]any{"horizontal": []map[string]any{{"label": label, "value": value}}}
	return g
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("burger: " + err.Error())
	}
	return string(b)
}
