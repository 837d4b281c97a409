package stage

// Rendering a policies.Plan into AWS resources. The plan decides
// everything (bounds, metrics, thresholds, steps, cooldowns); this file
// only translates, one plan element to one resource, so what `linecook
// simulate` evaluates is what AWS runs:
//
//	Plan.Scaled()        → appautoscaling.Target (Min, Max)
//	Plan.TargetTracking  → appautoscaling.Policy, TargetTrackingScaling,
//	                       metric math from Metric.Queries
//	Plan.StepPolicies[i] → appautoscaling.Policy, StepScaling
//	                       + cloudwatch.MetricAlarm on Metric.Queries whose
//	                       action is that policy
//
// A fixed plan renders nothing: the service simply runs Plan.Desired.

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/policies"
)

// scalingTarget names what the plan's metrics are measured on.
type scalingTarget struct {
	QueueName, ClusterName, ServiceName pulumi.StringOutput
	// Stage names the workers' metrics; Workload fills in what they have
	// not reported.
	Stage    string
	Workload policies.Workload
}

// queries renders m's CloudWatch queries once the names are known, through
// fn, which converts them to the resource's own query type.
func queriesOf[T any](t scalingTarget, m policies.Metric, fn func([]policies.Query) T) pulumi.Output {
	return pulumi.All(t.QueueName, t.ClusterName, t.ServiceName).ApplyT(func(v []any) T {
		return fn(m.Queries(policies.Target{QueueName: v[0].(string), ClusterName: v[1].(string), ServiceName: v[2].(string),
			Stage: t.Stage, Workload: t.Workload}))
	})
}

func renderPlan(ctx *pulumi.Context, name string, plan policies.Plan, t scalingTarget, parent pulumi.Resource) error {
	if !plan.Scaled() {
		return nil
	}
	opts := pulumi.Parent(parent)
	target, err := appautoscaling.NewTarget(ctx, name, &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		ResourceId:        pulumi.Sprintf("service/%s/%s", t.ClusterName, t.ServiceName),
		MinCapacity:       pulumi.Int(plan.Min),
		MaxCapacity:       pulumi.Int(plan.Max),
	}, opts)
	if err != nil {
		return err
	}
	// Policies refer to the target through its outputs, so they are
	// created after it and removed before it.
	on := func(a *appautoscaling.PolicyArgs) *appautoscaling.PolicyArgs {
		a.ResourceId, a.ScalableDimension, a.ServiceNamespace = target.ResourceId, target.ScalableDimension, target.ServiceNamespace
		return a
	}

	if tt := plan.TargetTracking; tt != nil {
		metrics := queriesOf(t, tt.Metric, trackingMetrics).(appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArrayOutput)
		if _, err := appautoscaling.NewPolicy(ctx, name+"-"+tt.Name, on(&appautoscaling.PolicyArgs{
			PolicyType: pulumi.String("TargetTrackingScaling"),
			TargetTrackingScalingPolicyConfiguration: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
				TargetValue:      pulumi.Float64(tt.TargetValue),
				ScaleOutCooldown: pulumi.Int(seconds(tt.ScaleOutCooldown)),
				ScaleInCooldown:  pulumi.Int(seconds(tt.ScaleInCooldown)),
				DisableScaleIn:   pulumi.Bool(tt.DisableScaleIn),
				CustomizedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs{
					Metrics: metrics,
				},
			},
		}), opts); err != nil {
			return err
		}
	}

	for _, sp := range plan.StepPolicies {
		steps := appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArray{}
		for _, s := range sp.Steps {
			steps = append(steps, &appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs{
				MetricIntervalLowerBound: bound(s.LowerBound),
				MetricIntervalUpperBound: bound(s.UpperBound),
				ScalingAdjustment:        pulumi.Int(s.Adjustment),
			})
		}
		cfg := &appautoscaling.PolicyStepScalingPolicyConfigurationArgs{
			AdjustmentType:        pulumi.String(string(sp.AdjustmentType)),
			Cooldown:              pulumi.Int(seconds(sp.Cooldown)),
			MetricAggregationType: pulumi.String(string(sp.Alarm.Statistic)),
			StepAdjustments:       steps,
		}
		if sp.MinAdjustmentMagnitude > 0 {
			cfg.MinAdjustmentMagnitude = pulumi.Int(sp.MinAdjustmentMagnitude)
		}
		policy, err := appautoscaling.NewPolicy(ctx, name+"-"+sp.Name, on(&appautoscaling.PolicyArgs{
			PolicyType:                     pulumi.String("StepScaling"),
			StepScalingPolicyConfiguration: cfg,
		}), opts)
		if err != nil {
			return err
		}

		a := sp.Alarm
		period := seconds(a.Period)
		queries := queriesOf(t, a.Metric, func(qs []policies.Query) []cloudwatch.MetricAlarmMetricQuery {
			return alarmQueries(qs, period)
		}).(cloudwatch.MetricAlarmMetricQueryArrayOutput)
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+sp.Name, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.Sprintf("linecook %s: %s when %s %s %g", name, sp.Name, a.Metric, a.Comparison, a.Threshold),
			MetricQueries:      queries,
			ComparisonOperator: pulumi.String(string(a.Comparison)),
			Threshold:          pulumi.Float64(a.Threshold),
			EvaluationPeriods:  pulumi.Int(a.EvaluationPeriods),
			DatapointsToAlarm:  pulumi.Int(a.DatapointsToAlarm),
			TreatMissingData:   pulumi.String(string(a.MissingData)),
			AlarmActions:       pulumi.Array{policy.Arn},
		}, opts); err != nil {
			return err
		}
	}
	return nil
}

func trackingMetrics(qs []policies.Query) []appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetric {
	out := make([]appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetric, 0, len(qs))
	for _, q := range qs {
		m := appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetric{
			Id: q.ID, Label: ptr(q.Label), ReturnData: ptr(q.ReturnData),
		}
		if q.Stat != nil {
			var dims []appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimension
			for _, k := range slices.Sorted(maps.Keys(q.Stat.Dimensions)) {
				dims = append(dims, appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimension{Name: k, Value: q.Stat.Dimensions[k]})
			}
			m.MetricStat = &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStat{
				Stat: string(q.Stat.Stat),
				Metric: appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetric{
					Namespace: q.Stat.Namespace, MetricName: q.Stat.MetricName, Dimensions: dims,
				},
			}
		} else {
			m.Expression = ptr(q.Expression)
		}
		out = append(out, m)
	}
	return out
}

func alarmQueries(qs []policies.Query, period int) []cloudwatch.MetricAlarmMetricQuery {
	out := make([]cloudwatch.MetricAlarmMetricQuery, 0, len(qs))
	for _, q := range qs {
		m := cloudwatch.MetricAlarmMetricQuery{Id: q.ID, Label: ptr(q.Label), ReturnData: ptr(q.ReturnData)}
		if q.Stat != nil {
			m.Metric = &cloudwatch.MetricAlarmMetricQueryMetric{
				Namespace: ptr(q.Stat.Namespace), MetricName: q.Stat.MetricName,
				Dimensions: q.Stat.Dimensions, Stat: string(q.Stat.Stat), Period: period,
			}
		} else {
			m.Expression = ptr(q.Expression)
		}
		out = append(out, m)
	}
	return out
}

// bound renders a step bound the way Application Auto Scaling's API takes
// it; nil is unbounded.
func bound(b *float64) pulumi.StringPtrInput {
	if b == nil {
		return nil
	}
	return pulumi.String(strconv.FormatFloat(*b, 'f', -1, 64))
}

func seconds(d time.Duration) int { return int(d / time.Second) }

func ptr[T any](v T) *T { return &v }
