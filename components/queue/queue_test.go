package queue_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/queue"
)

func TestQueueWithDLQ(t *testing.T) {
	var urls []string
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		q, err := queue.New(ctx, "grill", &queue.Args{
			VisibilityTimeoutSeconds: pulumi.Int(40),
			MaxAgeSeconds:            pulumi.Int(30),
			MaxReceiveCount:          5,
			AlarmEmail:               "oncall@example.com",
		})
		if err != nil {
			return err
		}
		pulumi.All(q.Url, q.DlqUrl, q.Arn, q.DlqArn).ApplyT(func(v []any) error {
			for _, s := range v {
				urls = append(urls, s.(string))
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	main, ok := m.Find(awstest.SQSQueue, "grill")
	if !ok {
		t.Fatal("no main queue named grill")
	}
	dlq, ok := m.Find(awstest.SQSQueue, "grill-dlq")
	if !ok {
		t.Fatal("no DLQ named grill-dlq")
	}
	for _, tc := range []struct {
		what      string
		got, want float64
	}{
		{"main visibility timeout", main.Number("visibilityTimeoutSeconds"), 40},
		{"main max message size", main.Number("maxMessageSize"), queue.MaxMessageSize},
		{"DLQ max message size", dlq.Number("maxMessageSize"), queue.MaxMessageSize},
		{"DLQ retention", dlq.Number("messageRetentionSeconds"), 1209600},
		{"main retention", main.Number("messageRetentionSeconds"), queue.RetentionSeconds},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if dlq.Number("messageRetentionSeconds") <= main.Number("messageRetentionSeconds") {
		t.Error("DLQ retention must exceed the main queue's, or redriven messages expire on arrival")
	}
	for _, r := range []awstest.Resource{main, dlq} {
		if !r.Bool("sqsManagedSseEnabled") {
			t.Errorf("%s: sqsManagedSseEnabled is not set", r.Name)
		}
	}

	var redrive struct {
		DeadLetterTargetArn string
		MaxReceiveCount     int
	}
	if err := main.JSON("redrivePolicy", &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.DeadLetterTargetArn != dlq.Outputs["arn"] || redrive.MaxReceiveCount != 5 {
		t.Errorf("redrive policy = %+v, want the DLQ's ARN %v and maxReceiveCount 5", redrive, dlq.Outputs["arn"])
	}

	allows := m.OfType(awstest.SQSRedriveAllowPolicy)
	if len(allows) != 1 {
		t.Fatalf("%d redrive-allow policies, want 1", len(allows))
	}
	var allow struct {
		RedrivePermission string
		SourceQueueArns   []string
	}
	if err := allows[0].JSON("redriveAllowPolicy", &allow); err != nil {
		t.Fatal(err)
	}
	if allows[0].String("queueUrl") != dlq.Outputs["url"] || allow.RedrivePermission != "byQueue" ||
		len(allow.SourceQueueArns) != 1 || allow.SourceQueueArns[0] != main.Outputs["arn"] {
		t.Errorf("redrive-allow on %s = %+v, want byQueue from %v only", allows[0].String("queueUrl"), allow, main.Outputs["arn"])
	}

	topics := m.OfType(awstest.SNSTopic)
	if len(topics) != 1 {
		t.Fatalf("%d topics, want the one the component creates", len(topics))
	}
	topicArn := topics[0].Outputs["arn"]
	alarms := map[string]awstest.Resource{}
	for _, a := range m.OfType(awstest.CloudWatchMetricAlarm) {
		alarms[a.String("metricName")] = a
		if acts := a.Strings("alarmActions"); len(acts) != 1 || acts[0] != topicArn {
			t.Errorf("alarm %s actions = %v, want [%v]", a.Name, acts, topicArn)
		}
	}
	if len(alarms) != 2 {
		t.Fatalf("alarms on %v, want the DLQ depth and the oldest message age", alarms)
	}
	dlqAlarm := alarms["ApproximateNumberOfMessagesVisible"]
	if dlqAlarm.String("dimensions.QueueName") != dlq.Outputs["name"] || dlqAlarm.Number("threshold") != 1 ||
		dlqAlarm.String("comparisonOperator") != "GreaterThanOrEqualToThreshold" {
		t.Errorf("DLQ alarm = %v, want ≥ 1 visible on the DLQ", dlqAlarm.Inputs)
	}
	age := alarms["ApproximateAgeOfOldestMessage"]
	if age.String("dimensions.QueueName") != main.Outputs["name"] || age.Number("threshold") != 30 {
		t.Errorf("age alarm = %v, want over 30 s on the main queue", age.Inputs)
	}

	subs := m.OfType(awstest.SNSTopicSubscription)
	if len(subs) != 1 || subs[0].String("endpoint") != "oncall@example.com" || subs[0].String("protocol") != "email" ||
		subs[0].String("topic") != topicArn {
		t.Errorf("subscriptions = %v, want one email subscription to the topic", subs)
	}

	comp, _ := m.Find(queue.Type, "grill")
	for _, r := range m.Resources() {
		if r.Type != queue.Type && r.Parent != comp.URN {
			t.Errorf("%s %s is not a child of the component", r.Type, r.Name)
		}
		if r.Type != queue.Type && !strings.HasPrefix(r.Name, "grill") {
			t.Errorf("%s %s is not named from the component", r.Type, r.Name)
		}
	}
	if len(urls) != 4 || urls[0] != main.Outputs["url"] || urls[1] != dlq.Outputs["url"] ||
		urls[2] != main.Outputs["arn"] || urls[3] != dlq.Outputs["arn"] {
		t.Errorf("outputs = %v, want the queues' url, DLQ url, arn, DLQ arn", urls)
	}
}

func TestQueueUsesAGivenTopicAndDefaults(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:shared"
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		_, err := queue.New(ctx, "fry", &queue.Args{
			VisibilityTimeoutSeconds: pulumi.Int(30),
			MaxAgeSeconds:            pulumi.Int(60),
			AlarmTopicArn:            pulumi.String(topic),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.OfType(awstest.SNSTopic)) + len(m.OfType(awstest.SNSTopicSubscription)); n != 0 {
		t.Errorf("created %d topics/subscriptions, want none when a topic is given", n)
	}
	for _, a := range m.OfType(awstest.CloudWatchMetricAlarm) {
		if acts := a.Strings("alarmActions"); len(acts) != 1 || acts[0] != topic {
			t.Errorf("alarm %s actions = %v, want the given topic", a.Name, acts)
		}
	}
	main, _ := m.Find(awstest.SQSQueue, "fry")
	var redrive struct{ MaxReceiveCount int }
	if err := main.JSON("redrivePolicy", &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.MaxReceiveCount != queue.DefaultMaxReceiveCount {
		t.Errorf("default maxReceiveCount = %d, want %d", redrive.MaxReceiveCount, queue.DefaultMaxReceiveCount)
	}
}

func TestQueueRejectsMissingArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *queue.Args
		want string
	}{
		{"no visibility", &queue.Args{MaxAgeSeconds: pulumi.Int(1)}, "visibilityTimeoutSeconds (unset): required"},
		{"no latency", &queue.Args{VisibilityTimeoutSeconds: pulumi.Int(1)}, "maxAgeSeconds (unset): required"},
		{"bad receive count", &queue.Args{VisibilityTimeoutSeconds: pulumi.Int(1), MaxAgeSeconds: pulumi.Int(1), MaxReceiveCount: 5000}, "maxReceiveCount 5000: must be 1 to 1000"},
		{"bad email", &queue.Args{VisibilityTimeoutSeconds: pulumi.Int(1), MaxAgeSeconds: pulumi.Int(1), AlarmEmail: "on call"}, `alarmEmail "on call"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := awstest.Run(func(ctx *pulumi.Context) error {
				_, err := queue.New(ctx, "q", tc.args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one naming %s", err, tc.want)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources registered despite the error", n)
			}
		})
	}
}
