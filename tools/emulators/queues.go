package emulators

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/pipeline"
)

// QueueSettings are what differs between stage queues; everything else
// CreateQueues sets as the cloud's queue component (components/queue)
// does for every stage.
type QueueSettings struct {
	// VisibilityTimeout is the main queue's, in whole seconds; 0 leaves
	// SQS's default (30 s).
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many receives SQS allows a message before it
	// moves it to the DLQ; 0 sets no redrive policy.
	MaxReceiveCount int
}

// Queues are a stage's queue and its DLQ.
type Queues struct {
	Name, URL, DLQName, DLQURL string
}

// CreateQueues creates the queue name and its DLQ name-dlq with the
// settings the cloud gives a stage's queues, so that what runs against the
// emulator meets the queues it would meet on AWS: the DLQ keeps messages
// pipeline.MaxRetention (14 days, longer than the main queue, which a
// redrive does not restart) and takes pipeline.MaxMessageSize; the main
// queue has s's visibility timeout, pipeline.MaxMessageSize and a redrive
// policy to the DLQ after s.MaxReceiveCount receives; and the DLQ's
// redrive-allow policy lets only the main queue use it.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, s QueueSettings) (Queues, error) {
	q := Queues{Name: name, DLQName: name + "-dlq"}
	size := strconv.Itoa(pipeline.MaxMessageSize)
	var err error
	q.DLQURL, err = createQueue(ctx, client, q.DLQName, map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): seconds(pipeline.MaxRetention),
		string(types.QueueAttributeNameMaximumMessageSize):     size,
	})
	if err != nil {
		return Queues{}, err
	}
	attrs := map[string]string{string(types.QueueAttributeNameMaximumMessageSize): size}
	if s.VisibilityTimeout != 0 {
		attrs[string(types.QueueAttributeNameVisibilityTimeout)] = seconds(s.VisibilityTimeout)
	}
	if s.MaxReceiveCount > 0 {
		dlqARN, err := queueARN(ctx, client, q.DLQURL)
		if err != nil {
			return Queues{}, err
		}
		redrive, err := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": s.MaxReceiveCount})
		if err != nil {
			return Queues{}, err
		}
		attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(redrive)
	}
	if q.URL, err = createQueue(ctx, client, q.Name, attrs); err != nil {
		return Queues{}, err
	}
	mainARN, err := queueARN(ctx, client, q.URL)
	if err != nil {
		return Queues{}, err
	}
	allow, err := json.Marshal(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{mainARN}})
	if err != nil {
		return Queues{}, err
	}
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl:   aws.String(q.DLQURL),
		Attributes: map[string]string{string(types.QueueAttributeNameRedriveAllowPolicy): string(allow)},
	}); err != nil {
		return Queues{}, fmt.Errorf("emulators: redrive-allow policy on %s: %w", q.DLQName, err)
	}
	return q, nil
}

// CreateQueue creates a plain queue with SQS's defaults and returns its
// URL: for a queue with no DLQ of its own, such as a test's scratch queue
// or the next stage's queue of a stage run alone.
func CreateQueue(ctx context.Context, client *sqs.Client, name string) (string, error) {
	return createQueue(ctx, client, name, nil)
}

func createQueue(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("emulators: create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func queueARN(ctx context.Context, client *sqs.Client, url string) (string, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("emulators: arn of %s: %w", url, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

func seconds(d time.Duration) string {
	return strconv.Itoa(int(d / time.Second))
}

// QueueDepth is what GetQueueAttributes reports of a queue.
type QueueDepth struct {
	Visible, InFlight int
}

// Depth reads a queue's visible and in-flight counts.
func Depth(ctx context.Context, client *sqs.Client, url string) (QueueDepth, error) {
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return QueueDepth{}, err
	}
	v, _ := strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	f, _ := strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return QueueDepth{Visible: v, InFlight: f}, nil
}
