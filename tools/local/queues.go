package local

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
