package consumertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
)

// Run is a consumer running under a test, its logs (JSON, from debug
// level) and metrics captured for the test to read.
type Run struct {
	Logs, Metrics *Buffer

	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns, with err set
	err    error
}

// Start runs a consumer until the test calls Stop or ends; on a failed
// test it logs the consumer's logs.
func Start(t testing.TB, cfg consumer.Config, client consumer.SQS, h workers.Handler, opts ...consumer.Option) *Run {
	t.Helper()
	r := &Run{done: make(chan struct{}), Logs: &Buffer{}, Metrics: &Buffer{}}
	log := slog.New(slog.NewJSONHandler(r.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]consumer.Option{consumer.WithLogger(log), consumer.WithMetrics(r.Metrics)}, opts...)
	c, err := consumer.New(cfg, client, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
		}
		if t.Failed() {
			t.Logf("consumer logs:\n%s", r.Logs.String())
		}
	})
	return r
}

// Cancel cancels the consumer's context, as SIGTERM does, without waiting.
func (r *Run) Cancel() { r.cancel() }

// Stop cancels the consumer and waits for Run to return, failing the test
// if it returns an error or takes more than a minute.
func (r *Run) Stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run = %v", r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context ending")
	}
}

// Running reports whether Run has not returned.
func (r *Run) Running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// LogsWith returns the log records at level whose message contains msg.
func (r *Run) LogsWith(t testing.TB, level, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range r.Logs.JSONLines(t) {
		if l["level"] == level && strings.Contains(fmt.Sprint(l["msg"]), msg) {
			out = append(out, l)
		}
	}
	return out
}

// Buffer is a bytes.Buffer safe for the consumer's goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// JSONLines parses the JSON lines written so far.
func (s *Buffer) JSONLines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Eventually waits (generously: a minute) for cond.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Send puts messages with the given bodies on a queue, each with the
// trace id trace-<body>, and returns their message ids.
func Send(t testing.TB, client consumer.SQS, url string, bodies ...string) []string {
	t.Helper()
	msgs := make([]outgoing, len(bodies))
	for i, b := range bodies {
		msgs[i] = outgoing{b, map[string]string{workers.TraceIDAttribute: "trace-" + b}}
	}
	return send(t, client, url, msgs...)
}

// outgoing is a message to send, with string attributes.
type outgoing struct {
	body  string
	attrs map[string]string
}

func send(t testing.TB, client consumer.SQS, url string, msgs ...outgoing) []string {
	t.Helper()
	var ids []string
	for chunk := range slices.Chunk(msgs, 10) {
		in := &sqs.SendMessageBatchInput{QueueUrl: &url}
		for i, m := range chunk {
			e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.body)}
			if len(m.attrs) > 0 {
				e.MessageAttributes = map[string]types.MessageAttributeValue{}
				for k, v := range m.attrs {
					e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
				}
			}
			in.Entries = append(in.Entries, e)
		}
		out, err := client.SendMessageBatch(context.Background(), in)
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send: %v %v", err, out)
		}
		byEntry := map[string]string{}
		for _, s := range out.Successful {
			byEntry[aws.ToString(s.Id)] = aws.ToString(s.MessageId)
		}
		for i := range chunk {
			ids = append(ids, byEntry[strconv.Itoa(i)])
		}
	}
	return ids
}

// Received is a message read back from a queue by ReceiveAll.
type Received struct {
	ID, Body     string
	Attributes   map[string]string
	ReceiveCount int
}

// ReceiveAll receives and deletes every message in the queue until a
// receive waiting waitSeconds comes back empty.
func ReceiveAll(ctx context.Context, client consumer.SQS, url string, waitSeconds int32) ([]Received, error) {
	var all []Received
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			return all, fmt.Errorf("receive: %w", err)
		}
		if len(out.Messages) == 0 {
			return all, nil
		}
		del := &sqs.DeleteMessageBatchInput{QueueUrl: &url}
		for i, m := range out.Messages {
			r := Received{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: map[string]string{}}
			for k, v := range m.MessageAttributes {
				r.Attributes[k] = aws.ToString(v.StringValue)
			}
			r.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			all = append(all, r)
			del.Entries = append(del.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if _, err := client.DeleteMessageBatch(ctx, del); err != nil {
			return all, fmt.Errorf("delete: %w", err)
		}
	}
}

// Collect receives and deletes messages from url until it has at least n
// or the (generous) deadline passes; it returns all it received, which
// may be more than n.
func Collect(t testing.TB, client consumer.SQS, url string, n int) []Received {
	t.Helper()
	var got []Received
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		batch, err := ReceiveAll(context.Background(), client, url, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, batch...)
	}
	if len(got) < n {
		t.Fatalf("got %d messages from %s, want %d", len(got), url, n)
	}
	return got
}
