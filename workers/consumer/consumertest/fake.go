package consumertest

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Fake is an in-memory SQS with the semantics the runtime relies on:
// visibility timeouts, receive counts, redrive to a DLQ after
// maxReceiveCount, long polling, receipt handles that stop working once a
// message is deleted or received again, and per-entry batch results. It
// can be told to fail calls or single entries; NewRecorder records what
// is asked of it.
//
// It implements consumer.SQS. The zero value is not usable: call NewFake.
type Fake struct {
	mu        sync.Mutex
	queues    map[string]*fakeQueue
	seq       int
	changed   chan struct{}
	fail      func(op, queueURL string) error
	failEntry func(op, queueURL, body string) *types.BatchResultErrorEntry
}

// Message is a snapshot of a message in a Fake queue.
type Message struct {
	ID, Body     string
	Attributes   map[string]string
	ReceiveCount int
	Visible      bool
}

type fakeQueue struct {
	msgs       []*fakeMessage
	maxReceive int
	dlq        string
}

type fakeMessage struct {
	id, body     string
	attrs        map[string]types.MessageAttributeValue
	sent         time.Time
	receiveCount int
	handle       string
	visibleAt    time.Time
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{queues: make(map[string]*fakeQueue), changed: make(chan struct{})}
}

// CreateQueue adds a queue and returns its URL. With maxReceiveCount > 0
// and a dlqURL, a message received more than maxReceiveCount times moves
// there instead of being delivered, as SQS's redrive policy does.
func (f *Fake) CreateQueue(name string, maxReceiveCount int, dlqURL string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	url := "https://sqs.fake/000000000000/" + name
	f.queues[url] = &fakeQueue{maxReceive: maxReceiveCount, dlq: dlqURL}
	return url
}

// FailCalls makes every call for which fn returns an error fail with it;
// nil stops failing.
func (f *Fake) FailCalls(fn func(op, queueURL string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// FailEntries makes the batch entries for which fn returns an error entry
// fail with it, as SQS reports a failure inside a successful batch call;
// body is the message's body. nil stops failing.
func (f *Fake) FailEntries(fn func(op, queueURL, body string) *types.BatchResultErrorEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failEntry = fn
}

// Send puts a message on a queue, with string attributes.
func (f *Fake) Send(queueURL, body string, attrs map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := make(map[string]types.MessageAttributeValue, len(attrs))
	for k, v := range attrs {
		a[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return f.sendLocked(queueURL, body, a)
}

func (f *Fake) sendLocked(queueURL, body string, attrs map[string]types.MessageAttributeValue) string {
	q := f.queues[queueURL]
	f.seq++
	id := "m" + strconv.Itoa(f.seq)
	q.msgs = append(q.msgs, &fakeMessage{id: id, body: body, attrs: maps.Clone(attrs), sent: time.Now()})
	f.signalLocked()
	return id
}

func (f *Fake) signalLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Remove deletes a message by id, as another consumer or an operator
// purging the queue would: the receipt handles given out for it stop
// working.
func (f *Fake) Remove(queueURL, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[queueURL]
	for i, m := range q.msgs {
		if m.id == id {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			return true
		}
	}
	return false
}

// Messages returns a snapshot of a queue's messages, visible or not.
func (f *Fake) Messages(queueURL string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	var out []Message
	for _, m := range f.queues[queueURL].msgs {
		a := make(map[string]string, len(m.attrs))
		for k, v := range m.attrs {
			a[k] = aws.ToString(v.StringValue)
		}
		out = append(out, Message{ID: m.id, Body: m.body, Attributes: a, ReceiveCount: m.receiveCount, Visible: !m.visibleAt.After(now)})
	}
	return out
}

func (f *Fake) queue(op string, url *string) (*fakeQueue, error) {
	q, ok := f.queues[aws.ToString(url)]
	if !ok {
		return nil, fmt.Errorf("%s: no queue %q", op, aws.ToString(url))
	}
	return q, nil
}

// ReceiveMessage implements consumer.SQS.
func (f *Fake) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	deadline := time.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		f.mu.Lock()
		q, err := f.queue("ReceiveMessage", in.QueueUrl)
		if err == nil && f.fail != nil {
			err = f.fail("ReceiveMessage", aws.ToString(in.QueueUrl))
		}
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		out := f.receiveLocked(q, in)
		changed := f.changed
		if len(out.Messages) > 0 || !time.Now().Before(deadline) {
			f.mu.Unlock()
			return out, nil
		}
		f.mu.Unlock()
		// Wake on a change, or soon, for visibility timeouts that end.
		t := time.NewTimer(min(10*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

func (f *Fake) receiveLocked(q *fakeQueue, in *sqs.ReceiveMessageInput) *sqs.ReceiveMessageOutput {
	out := &sqs.ReceiveMessageOutput{}
	now := time.Now()
	vt := time.Duration(in.VisibilityTimeout) * time.Second
	if in.VisibilityTimeout == 0 {
		vt = 30 * time.Second
	}
	max := int(in.MaxNumberOfMessages)
	if max == 0 {
		max = 1
	}
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		if len(out.Messages) >= max || m.visibleAt.After(now) {
			kept = append(kept, m)
			continue
		}
		if q.maxReceive > 0 && q.dlq != "" && m.receiveCount >= q.maxReceive {
			dlq := f.queues[q.dlq]
			m.visibleAt, m.handle = time.Time{}, ""
			dlq.msgs = append(dlq.msgs, m)
			continue
		}
		m.receiveCount++
		m.handle = m.id + "#" + strconv.Itoa(m.receiveCount)
		m.visibleAt = now.Add(vt)
		kept = append(kept, m)
		out.Messages = append(out.Messages, types.Message{
			MessageId:         aws.String(m.id),
			ReceiptHandle:     aws.String(m.handle),
			Body:              aws.String(m.body),
			MessageAttributes: maps.Clone(m.attrs),
			Attributes: map[string]string{
				"ApproximateReceiveCount": strconv.Itoa(m.receiveCount),
				"SentTimestamp":           strconv.FormatInt(m.sent.UnixMilli(), 10),
			},
		})
	}
	q.msgs = kept
	return out
}

// SendMessageBatch implements consumer.SQS.
func (f *Fake) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	url := aws.ToString(in.QueueUrl)
	if err := f.check("SendMessageBatch", in.QueueUrl, len(in.Entries)); err != nil {
		return nil, err
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if fe := f.entryFailure("SendMessageBatch", url, aws.ToString(e.MessageBody), e.Id); fe != nil {
			out.Failed = append(out.Failed, *fe)
			continue
		}
		id := f.sendLocked(url, aws.ToString(e.MessageBody), e.MessageAttributes)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(id)})
	}
	return out, nil
}

// DeleteMessageBatch implements consumer.SQS.
func (f *Fake) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	url := aws.ToString(in.QueueUrl)
	if err := f.check("DeleteMessageBatch", in.QueueUrl, len(in.Entries)); err != nil {
		return nil, err
	}
	q := f.queues[url]
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		i := q.find(aws.ToString(e.ReceiptHandle))
		if fe := f.entryFailure("DeleteMessageBatch", url, q.bodyAt(i), e.Id); fe != nil {
			out.Failed = append(out.Failed, *fe)
			continue
		}
		if i < 0 {
			out.Failed = append(out.Failed, invalidHandle(e.Id))
			continue
		}
		q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// ChangeMessageVisibilityBatch implements consumer.SQS.
func (f *Fake) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	url := aws.ToString(in.QueueUrl)
	if err := f.check("ChangeMessageVisibilityBatch", in.QueueUrl, len(in.Entries)); err != nil {
		return nil, err
	}
	q := f.queues[url]
	now := time.Now()
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		i := q.find(aws.ToString(e.ReceiptHandle))
		if fe := f.entryFailure("ChangeMessageVisibilityBatch", url, q.bodyAt(i), e.Id); fe != nil {
			out.Failed = append(out.Failed, *fe)
			continue
		}
		if i < 0 {
			out.Failed = append(out.Failed, invalidHandle(e.Id))
			continue
		}
		m := q.msgs[i]
		if !m.visibleAt.After(now) {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("MessageNotInflight"), Message: aws.String("message is not in flight"), SenderFault: true})
			continue
		}
		m.visibleAt = now.Add(time.Duration(e.VisibilityTimeout) * time.Second)
		out.Successful = append(out.Successful, types.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	f.signalLocked()
	return out, nil
}

func (f *Fake) check(op string, url *string, entries int) error {
	if _, err := f.queue(op, url); err != nil {
		return err
	}
	if entries < 1 || entries > 10 {
		return fmt.Errorf("%s: %d entries, SQS takes 1 to 10", op, entries)
	}
	if f.fail != nil {
		return f.fail(op, aws.ToString(url))
	}
	return nil
}

func (f *Fake) entryFailure(op, url, body string, id *string) *types.BatchResultErrorEntry {
	if f.failEntry == nil {
		return nil
	}
	fe := f.failEntry(op, url, body)
	if fe != nil {
		fe.Id = id
	}
	return fe
}

func (q *fakeQueue) find(handle string) int {
	for i, m := range q.msgs {
		if handle != "" && m.handle == handle {
			return i
		}
	}
	return -1
}

func (q *fakeQueue) bodyAt(i int) string {
	if i < 0 {
		return ""
	}
	return q.msgs[i].body
}

func invalidHandle(id *string) types.BatchResultErrorEntry {
	return types.BatchResultErrorEntry{Id: id, Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("the receipt handle is not valid"), SenderFault: true}
}
