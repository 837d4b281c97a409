package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/pipeline"
)

// StageQueues are one stage's queue and DLQ on the emulator.
type StageQueues struct {
	Name, URL, DLQName, DLQURL string
}

// createQueues creates every stage's queue and DLQ with the settings the
// cloud queue component uses: redrive after MaxReceiveCount receives, the
// stage's visibility timeout (divided by the time scale), a 14-day DLQ, the
// maximum message size set explicitly, and a redrive-allow policy that
// lets only the stage's own queue use the DLQ.
func createQueues(ctx context.Context, client *sqs.Client, prefix string, stages []pipeline.Stage) ([]StageQueues, error) {
	out := make([]StageQueues, len(stages))
	for i, st := range stages {
		q := StageQueues{Name: prefix + "-" + st.Name, DLQName: prefix + "-" + st.Name + "-dlq"}
		dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName: aws.String(q.DLQName),
			Attributes: map[string]string{
				string(sqstypes.QueueAttributeNameMessageRetentionPeriod): seconds(pipeline.MaxRetention),
				string(sqstypes.QueueAttributeNameMaximumMessageSize):     strconv.Itoa(pipeline.MaxMessageSize),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("local: create %s: %w", q.DLQName, err)
		}
		q.DLQURL = aws.ToString(dlq.QueueUrl)
		dlqArn, err := queueARN(ctx, client, q.DLQURL)
		if err != nil {
			return nil, err
		}
		redrive, _ := json.Marshal(map[string]string{
			"deadLetterTargetArn": dlqArn,
			"maxReceiveCount":     strconv.Itoa(st.MaxReceiveCount),
		})
		main, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName: aws.String(q.Name),
			Attributes: map[string]string{
				string(sqstypes.QueueAttributeNameVisibilityTimeout):  seconds(st.VisibilityTimeout),
				string(sqstypes.QueueAttributeNameMaximumMessageSize): strconv.Itoa(pipeline.MaxMessageSize),
				string(sqstypes.QueueAttributeNameRedrivePolicy):      string(redrive),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("local: create %s: %w", q.Name, err)
		}
		q.URL = aws.ToString(main.QueueUrl)
		mainArn, err := queueARN(ctx, client, q.URL)
		if err != nil {
			return nil, err
		}
		allow, _ := json.Marshal(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{mainArn}})
		if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
			QueueUrl:   aws.String(q.DLQURL),
			Attributes: map[string]string{string(sqstypes.QueueAttributeNameRedriveAllowPolicy): string(allow)},
		}); err != nil {
			return nil, fmt.Errorf("local: redrive-allow policy on %s: %w", q.DLQName, err)
		}
		out[i] = q
	}
	return out, nil
}

func queueARN(ctx context.Context, client *sqs.Client, url string) (string, error) {
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("local: arn of %s: %w", url, err)
	}
	return attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}

// QueueDepth is what GetQueueAttributes reports of a queue.
type QueueDepth struct {
	Visible, InFlight int
}

// Depth reads a queue's visible and in-flight counts.
func Depth(ctx context.Context, client *sqs.Client, url string) (QueueDepth, error) {
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return QueueDepth{}, err
	}
	v, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	f, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return QueueDepth{Visible: v, InFlight: f}, nil
}

func seconds(d time.Duration) string {
	return strconv.Itoa(int(d / time.Second))
}
