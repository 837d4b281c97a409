// Package queue is a Pulumi component for one pipeline stage's SQS queue:
// the queue, its dead-letter queue, the redrive between them, and the two
// alarms an operator needs (something landed in the DLQ; messages wait
// longer than the stage's latency objective), sent to an SNS topic.
//
// It depends on nothing else in linecook and reads no configuration: any
// Pulumi Go program can use it.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/pipeline"
)

// Type is the component's type token. Changing it replaces every queue
// unless the new token carries pulumi.Aliases.
const Type = "linecook:queue:Queue"

const (
	// DefaultMaxReceiveCount is how many receives a message gets before
	// SQS moves it to the DLQ.
	DefaultMaxReceiveCount = 3
	// DLQRetentionSeconds is 14 days, SQS's maximum. A standard queue
	// keeps a message's original enqueue time when redriving it, so the
	// DLQ must retain longer than the main queue or messages would expire
	// the moment they arrive.
	DLQRetentionSeconds = int(pipeline.MaxRetention / time.Second)
	// RetentionSeconds is the main queue's retention: SQS's own default of
	// 4 days, stated so the relation to DLQRetentionSeconds is visible.
	RetentionSeconds = 4 * 24 * 60 * 60
	// MaxMessageSize is 256 KiB. SQS now accepts up to 1 MiB, but the
	// pinned AWS provider (pulumi-aws v6.83) validates 1024–262144 and
	// would reject more at preview; orders are a few hundred bytes, and
	// payloads that large belong in S3 with a pointer in the message.
	// Setting it explicitly keeps an existing queue from drifting.
	MaxMessageSize = pipeline.MaxMessageSize
	// ageAlarmMinutes is how long the oldest message must stay over the
	// latency objective before the age alarm fires: long enough that a
	// stage starting from zero tasks (a wake-up plus a task start, two to
	// three minutes) does not page anyone, short enough to catch a
	// stage that has really fallen behind.
	ageAlarmMinutes = 5
)

// Args configures a Queue. The tags are the Pulumi package's schema.
type Args struct {
	// The main queue's visibility timeout in seconds: how long a received
	// message stays hidden while a worker processes it.
	VisibilityTimeoutSeconds pulumi.IntInput `pulumi:"visibilityTimeoutSeconds"`
	// The stage's latency objective in seconds: the age-of-oldest-message
	// alarm fires when messages wait longer.
	MaxAgeSeconds pulumi.IntInput `pulumi:"maxAgeSeconds"`
	// How many receives a message gets before SQS moves it to the
	// dead-letter queue, 1 to 1000. Default 3.
	MaxReceiveCount int `pulumi:"maxReceiveCount,optional"`
	// The SNS topic both alarms notify. Unset creates a topic.
	AlarmTopicArn pulumi.StringInput `pulumi:"alarmTopicArn,optional"`
	// An email address to subscribe to the created alarm topic (the
	// address must confirm the subscription).
	AlarmEmail string `pulumi:"alarmEmail,optional"`
}

// Queue is the component.
type Queue struct {
	pulumi.ResourceState

	// The main queue's URL: producers send here.
	Url pulumi.StringOutput `pulumi:"url"`
	// The main queue's ARN.
	Arn pulumi.StringOutput `pulumi:"arn"`
	// The main queue's name, which its CloudWatch metrics carry.
	Name pulumi.StringOutput `pulumi:"name"`
	// The dead-letter queue's URL.
	DlqUrl pulumi.StringOutput `pulumi:"dlqUrl"`
	// The dead-letter queue's ARN.
	DlqArn pulumi.StringOutput `pulumi:"dlqArn"`
	// The dead-letter queue's name.
	DlqName pulumi.StringOutput `pulumi:"dlqName"`
	// The SNS topic the alarms notify.
	AlarmTopicArn pulumi.StringOutput `pulumi:"alarmTopicArn"`
}

// New registers a queue, its DLQ and their alarms.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Queue, error) {
	if args == nil {
		args = &Args{}
	}
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("queue %s: %w", name, err)
	}
	q := &Queue{}
	if err := ctx.RegisterComponentResource(Type, name, q, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(q)

	dlq, err := sqs.NewQueue(ctx, name+"-dlq", &sqs.QueueArgs{
		MessageRetentionSeconds: pulumi.Int(DLQRetentionSeconds),
		SqsManagedSseEnabled:    pulumi.Bool(true),
		MaxMessageSize:          pulumi.Int(MaxMessageSize),
	}, parent)
	if err != nil {
		return nil, err
	}

	maxReceive := args.MaxReceiveCount
	if maxReceive == 0 {
		maxReceive = DefaultMaxReceiveCount
	}
	redrive := dlq.Arn.ApplyT(func(arn string) (string, error) {
		return jsonString(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": maxReceive})
	}).(pulumi.StringOutput)
	main, err := sqs.NewQueue(ctx, name, &sqs.QueueArgs{
		VisibilityTimeoutSeconds: args.VisibilityTimeoutSeconds,
		MessageRetentionSeconds:  pulumi.Int(RetentionSeconds),
		SqsManagedSseEnabled:     pulumi.Bool(true),
		MaxMessageSize:           pulumi.Int(MaxMessageSize),
		// Long polling by default, for any consumer that does not ask.
		ReceiveWaitTimeSeconds: pulumi.Int(20),
		RedrivePolicy:          redrive,
	}, parent)
	if err != nil {
		return nil, err
	}

	// Only this stage's queue may use the DLQ as its dead-letter target.
	allow := main.Arn.ApplyT(func(arn string) (string, error) {
		return jsonString(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{arn}})
	}).(pulumi.StringOutput)
	if _, err := sqs.NewRedriveAllowPolicy(ctx, name+"-dlq", &sqs.RedriveAllowPolicyArgs{
		QueueUrl:           dlq.Url,
		RedriveAllowPolicy: allow,
	}, parent); err != nil {
		return nil, err
	}

	topicArn := args.AlarmTopicArn
	if topicArn == nil {
		topic, err := sns.NewTopic(ctx, name+"-alarms", &sns.TopicArgs{}, parent)
		if err != nil {
			return nil, err
		}
		topicArn = topic.Arn
	}
	if args.AlarmEmail != "" {
		if _, err := sns.NewTopicSubscription(ctx, name+"-alarms-email", &sns.TopicSubscriptionArgs{
			Topic:    topicArn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(args.AlarmEmail),
		}, parent); err != nil {
			return nil, err
		}
	}
	actions := pulumi.Array{topicArn}

	// Any message in the DLQ is an order that will not finish on its own.
	if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-dlq-not-empty", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.Sprintf("Messages in the %s dead-letter queue: orders that failed %d times or permanently.", name, maxReceive),
		Namespace:          pulumi.String("AWS/SQS"),
		MetricName:         pulumi.String("ApproximateNumberOfMessagesVisible"),
		Dimensions:         pulumi.StringMap{"QueueName": dlq.Name},
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(1),
		ComparisonOperator: pulumi.String("GreaterThanOrEqualToThreshold"),
		Threshold:          pulumi.Float64(1),
		// SQS stops publishing for an idle queue: an empty DLQ.
		TreatMissingData: pulumi.String("notBreaching"),
		AlarmActions:     actions,
		OkActions:        actions,
	}, parent); err != nil {
		return nil, err
	}

	if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-oldest-message", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.Sprintf("Messages in %s have waited longer than the stage's latency objective for %d minutes.", name, ageAlarmMinutes),
		Namespace:          pulumi.String("AWS/SQS"),
		MetricName:         pulumi.String("ApproximateAgeOfOldestMessage"),
		Dimensions:         pulumi.StringMap{"QueueName": main.Name},
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(ageAlarmMinutes),
		DatapointsToAlarm:  pulumi.Int(ageAlarmMinutes),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          args.MaxAgeSeconds.ToIntOutput().ApplyT(func(s int) float64 { return float64(s) }).(pulumi.Float64Output),
		TreatMissingData:   pulumi.String("notBreaching"),
		AlarmActions:       actions,
		OkActions:          actions,
	}, parent); err != nil {
		return nil, err
	}

	q.Url, q.Arn, q.Name = main.Url, main.Arn, main.Name
	q.DlqUrl, q.DlqArn, q.DlqName = dlq.Url, dlq.Arn, dlq.Name
	q.AlarmTopicArn = topicArn.ToStringOutput()
	if err := ctx.RegisterResourceOutputs(q, pulumi.Map{
		"url": q.Url, "arn": q.Arn, "name": q.Name,
		"dlqUrl": q.DlqUrl, "dlqArn": q.DlqArn, "dlqName": q.DlqName,
		"alarmTopicArn": q.AlarmTopicArn,
	}); err != nil {
		return nil, err
	}
	return q, nil
}

func (a *Args) validate() error {
	var errs []error
	if a.VisibilityTimeoutSeconds == nil {
		errs = append(errs, errors.New("visibilityTimeoutSeconds (unset): required"))
	}
	if a.MaxAgeSeconds == nil {
		errs = append(errs, errors.New("maxAgeSeconds (unset): required (the stage's latency objective)"))
	}
	if a.MaxReceiveCount != 0 {
		if r := pipeline.MaxReceiveCountReason(a.MaxReceiveCount); r != "" {
			errs = append(errs, fmt.Errorf("maxReceiveCount %d: %s", a.MaxReceiveCount, r))
		}
	}
	if a.AlarmEmail != "" && !pipeline.IsEmail(a.AlarmEmail) {
		errs = append(errs, fmt.Errorf("alarmEmail %q: not one bare email address (like oncall@example.com)", a.AlarmEmail))
	}
	return errors.Join(errs...)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
