package local

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
)

// StageQueues are one stage's queue and DLQ on the emulator.
type StageQueues = emulators.Queues

// createQueues creates every stage's queue and DLQ, named after the stack,
// with the settings the cloud queue component uses (emulators.CreateQueues).
func createQueues(ctx context.Context, client *sqs.Client, prefix string, stages []pipeline.Stage) ([]StageQueues, error) {
	out := make([]StageQueues, len(stages))
	for i, st := range stages {
		q, err := emulators.CreateQueues(ctx, client, prefix+"-"+st.Name, emulators.QueueSettings{
			VisibilityTimeout: st.VisibilityTimeout, MaxReceiveCount: st.MaxReceiveCount,
		})
		if err != nil {
			return nil, fmt.Errorf("local: stage %s: %w", st.Name, err)
		}
		out[i] = q
	}
	return out, nil
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
