package consumertest

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/workers/consumer"
)

// Recorder is a consumer.SQS that passes every call on to another one and
// records it, for tests of how the runtime uses SQS: what it sends before
// it deletes, how many entries a batch has, which visibility timeouts it
// asks for. Because it wraps any consumer.SQS, the same checks run on the
// Fake and on a real endpoint.
type Recorder struct {
	sqs consumer.SQS

	mu    sync.Mutex
	calls []Call
	ids   map[string]string // receipt handle → message id
}

// Call is one recorded call.
type Call struct {
	Op       string // "ReceiveMessage", "SendMessageBatch", ...
	QueueURL string
	// At is when the call returned.
	At time.Time
	// Entries are the bodies sent (SendMessageBatch) or the ids of the
	// messages addressed (DeleteMessageBatch, ChangeMessageVisibilityBatch);
	// for ReceiveMessage, the ids received.
	Entries []string
	// Timeouts are the visibility timeouts asked for, entry by entry
	// (ChangeMessageVisibilityBatch), or the receive's (ReceiveMessage).
	Timeouts []int32
	// Max is ReceiveMessage's MaxNumberOfMessages.
	Max int32
	// Err is the error the call returned.
	Err error
}

// NewRecorder returns a Recorder passing calls on to sqs.
func NewRecorder(sqs consumer.SQS) *Recorder {
	return &Recorder{sqs: sqs, ids: map[string]string{}}
}

// Calls returns the calls made so far, in the order they returned.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

func (r *Recorder) record(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.At = time.Now()
	r.calls = append(r.calls, c)
}

// id is the id of the message a receipt handle was received with; the
// handle itself if it was not received through r.
func (r *Recorder) id(handle *string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.ids[aws.ToString(handle)]; ok {
		return id
	}
	return aws.ToString(handle)
}

// ReceiveMessage implements consumer.SQS.
func (r *Recorder) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := r.sqs.ReceiveMessage(ctx, in, opts...)
	c := Call{Op: "ReceiveMessage", QueueURL: aws.ToString(in.QueueUrl), Max: in.MaxNumberOfMessages, Timeouts: []int32{in.VisibilityTimeout}, Err: err}
	if err == nil {
		r.mu.Lock()
		for _, m := range out.Messages {
			r.ids[aws.ToString(m.ReceiptHandle)] = aws.ToString(m.MessageId)
			c.Entries = append(c.Entries, aws.ToString(m.MessageId))
		}
		r.mu.Unlock()
	}
	r.record(c)
	return out, err
}

// SendMessageBatch implements consumer.SQS.
func (r *Recorder) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	c := Call{Op: "SendMessageBatch", QueueURL: aws.ToString(in.QueueUrl)}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, aws.ToString(e.MessageBody))
	}
	out, err := r.sqs.SendMessageBatch(ctx, in, opts...)
	c.Err = err
	r.record(c)
	return out, err
}

// DeleteMessageBatch implements consumer.SQS.
func (r *Recorder) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	c := Call{Op: "DeleteMessageBatch", QueueURL: aws.ToString(in.QueueUrl)}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, r.id(e.ReceiptHandle))
	}
	out, err := r.sqs.DeleteMessageBatch(ctx, in, opts...)
	c.Err = err
	r.record(c)
	return out, err
}

// ChangeMessageVisibilityBatch implements consumer.SQS.
func (r *Recorder) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	c := Call{Op: "ChangeMessageVisibilityBatch", QueueURL: aws.ToString(in.QueueUrl)}
	for _, e := range in.Entries {
		c.Entries = append(c.Entries, r.id(e.ReceiptHandle))
		c.Timeouts = append(c.Timeouts, e.VisibilityTimeout)
	}
	out, err := r.sqs.ChangeMessageVisibilityBatch(ctx, in, opts...)
	c.Err = err
	r.record(c)
	return out, err
}
