package emulators

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// CreateTopic creates (or finds) the SNS topic name and returns its ARN.
func CreateTopic(ctx context.Context, client *sns.Client, name string) (string, error) {
	out, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	return aws.ToString(out.TopicArn), nil
}

// Subscribe subscribes the queue at queueURL to topicARN the way the stack
// subscribes another team's queue: raw delivery (the event JSON is the
// message body, the attributes are message attributes), and a queue policy
// that lets only this topic send. filterPolicy, when not empty, is an SNS
// filter policy on the message attributes.
func Subscribe(ctx context.Context, topics *sns.Client, queues *sqs.Client, topicARN, queueURL, filterPolicy string) error {
	attrs, err := queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", queueURL, err)
	}
	queueARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	policy, _ := json.Marshal(QueuePolicy(topicARN, queueARN))
	if _, err := queues.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): string(policy)},
	}); err != nil {
		return fmt.Errorf("subscribe %s: queue policy: %w", queueURL, err)
	}
	sub := map[string]string{"RawMessageDelivery": "true"}
	if filterPolicy != "" {
		sub["FilterPolicy"] = filterPolicy
	}
	if _, err := topics.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN), Attributes: sub,
	}); err != nil {
		return fmt.Errorf("subscribe %s to %s: %w", queueARN, topicARN, err)
	}
	return nil
}

// QueuePolicy lets SNS send to queueARN from topicARN only (aws:SourceArn).
func QueuePolicy(topicARN, queueARN string) map[string]any {
	return map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid":       "OrderEventsFromLinecook",
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": "sns.amazonaws.com"},
			"Action":    []string{"sqs:SendMessage"},
			"Resource":  []string{queueARN},
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": topicARN}},
		}},
	}
}
