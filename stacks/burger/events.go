package burger

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/pipeline"
)

// orderEvents is the stack's order-events topic, encrypted with SNS's
// AWS-managed key, and the subscriptions of other teams' queues from
// linecook:events: raw delivery (a subscriber's message is the event JSON,
// with type, stage and order_id as message attributes), the subscriber's
// filter policy, and, for a queue whose URL is given, a queue policy that
// lets only this topic send to it.
func orderEvents(ctx *pulumi.Context, ev pipeline.Events) (*sns.Topic, error) {
	topic, err := sns.NewTopic(ctx, "order-events", &sns.TopicArgs{
		KmsMasterKeyId: pulumi.String("alias/aws/sns"),
	})
	if err != nil {
		return nil, err
	}
	for i, s := range ev.Subscribers {
		name := fmt.Sprintf("order-events-%d", i)
		var opts []pulumi.ResourceOption
		if s.QueueURL != "" {
			policy := topic.Arn.ApplyT(func(arn string) (string, error) {
				b, err := json.Marshal(map[string]any{
					"Version": "2012-10-17",
					"Statement": []map[string]any{{
						"Sid":       "OrderEventsFromLinecook",
						"Effect":    "Allow",
						"Principal": map[string]string{"Service": "sns.amazonaws.com"},
						"Action":    []string{"sqs:SendMessage"},
						"Resource":  []string{s.QueueARN},
						"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": arn}},
					}},
				})
				return string(b), err
			}).(pulumi.StringOutput)
			qp, err := sqs.NewQueuePolicy(ctx, name, &sqs.QueuePolicyArgs{QueueUrl: pulumi.String(s.QueueURL), Policy: policy})
			if err != nil {
				return nil, err
			}
			// Deliveries start once the queue accepts them.
			opts = append(opts, pulumi.DependsOn([]pulumi.Resource{qp}))
		}
		args := &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("sqs"), Endpoint: pulumi.String(s.QueueARN),
			RawMessageDelivery: pulumi.Bool(true),
		}
		if s.FilterPolicy != "" {
			args.FilterPolicy = pulumi.String(s.FilterPolicy)
		}
		if _, err := sns.NewTopicSubscription(ctx, name, args, opts...); err != nil {
			return nil, err
		}
	}
	return topic, nil
}
