package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/consumer/consumertest"
)

// One emulator pair for the whole test binary, on fixed ports and with
// persistence, so the outage test can stop it and start it again where
// clients expect it, with its queues and messages.
var (
	emu     *emulators.Emulators
	emuOpts emulators.Options
	client  *sqs.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	code, err := withEmulators(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func withEmulators(m *testing.M) (int, error) {
	ctx := context.Background()
	dataDir, err := os.MkdirTemp("", "linecook-consumer-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dataDir)
	sqsPort, err := freePort()
	if err != nil {
		return 0, err
	}
	ddbPort, err := freePort()
	if err != nil {
		return 0, err
	}
	emuOpts = emulators.Options{DataDir: dataDir, SQSPort: sqsPort, DynamoDBPort: ddbPort}
	if testing.Verbose() {
		emuOpts.Log = os.Stderr
	}
	if emu, err = emulators.Start(ctx, emuOpts); err != nil {
		return 0, err
	}
	defer func() { _ = emu.Stop() }()
	if err := emu.Setenv(); err != nil {
		return 0, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return 0, err
	}
	client = sqs.NewFromConfig(cfg)
	return m.Run(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func needEmulators(t testing.TB) {
	t.Helper()
	if client == nil {
		t.Skip("needs the SQS emulator (not started with -short)")
	}
}

var queueSeq atomic.Int64

// newQueues creates a stage's queues under a name unique to the test.
func newQueues(t testing.TB, maxReceiveCount int) consumertest.Queues {
	t.Helper()
	needEmulators(t)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	name = fmt.Sprintf("%.50s-%d", name, queueSeq.Add(1))
	q, err := consumertest.CreateQueues(context.Background(), client, name, maxReceiveCount)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func stageConfig(q consumertest.Queues, maxReceiveCount int) consumer.Config {
	return consumer.Config{
		Stage: "grill", QueueURL: q.URL, NextQueueURL: q.NextURL, DLQURL: q.DLQURL,
		Concurrency: 20, VisibilityTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second, MaxReceiveCount: maxReceiveCount,
		RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
	}
}

// send puts messages on a queue, each with a trace id.
func send(t testing.TB, url string, bodies ...string) {
	t.Helper()
	for chunk := range slices.Chunk(bodies, 10) {
		in := &sqs.SendMessageBatchInput{QueueUrl: &url}
		for i, b := range chunk {
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(b),
				MessageAttributes: map[string]types.MessageAttributeValue{
					workers.TraceIDAttribute: {DataType: aws.String("String"), StringValue: aws.String("trace-" + b)},
				},
			})
		}
		out, err := client.SendMessageBatch(context.Background(), in)
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send: %v %v", err, out)
		}
	}
}

// collect receives and deletes messages from url until it has n or the
// (generous) deadline passes.
func collect(t testing.TB, url string, n int) []consumertest.Received {
	t.Helper()
	var got []consumertest.Received
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		batch, err := consumertest.ReceiveAll(context.Background(), client, url, 1)
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

// empty reports whether a receive waiting a second finds nothing.
func empty(t testing.TB, url string) bool {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1, VisibilityTimeout: 0})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Messages) == 0
}

var noop = workers.HandlerFunc(func(context.Context, workers.Message) (workers.Output, error) { return workers.Output{}, nil })

func TestEmulatorForwardsWithTheTraceIDAndEmptiesTheQueue(t *testing.T) {
	q := newQueues(t, 3)
	var want []string
	for i := range 50 {
		want = append(want, "order-"+strconv.Itoa(i))
	}
	send(t, q.URL, want...)
	r := startConsumer(t, stageConfig(q, 3), client, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		return workers.Output{Body: append([]byte("grilled "), m.Body...), Attributes: map[string]string{"grilled-by": m.Stage}}, nil
	}))
	got := collect(t, q.NextURL, 50)
	r.stop(t)

	var bodies []string
	for _, m := range got {
		order := strings.TrimPrefix(m.Body, "grilled ")
		bodies = append(bodies, order)
		if m.Attributes[workers.TraceIDAttribute] != "trace-"+order || m.Attributes["grilled-by"] != "grill" {
			t.Errorf("%s forwarded with attributes %v, want its trace id and grilled-by", m.Body, m.Attributes)
		}
	}
	slices.Sort(bodies)
	slices.Sort(want)
	if !slices.Equal(bodies, want) {
		t.Errorf("forwarded %v, want each order once", bodies)
	}
	if !empty(t, q.URL) {
		t.Error("the source queue still has messages: completed ones were not deleted")
	}
}

// visibilityRecorder records the visibility timeouts the runtime asks for.
type visibilityRecorder struct {
	consumer.SQS
	mu       sync.Mutex
	timeouts []int32
	receives atomic.Int64
}

func (v *visibilityRecorder) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	v.mu.Lock()
	for _, e := range in.Entries {
		v.timeouts = append(v.timeouts, e.VisibilityTimeout)
	}
	v.mu.Unlock()
	return v.SQS.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

func (v *visibilityRecorder) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	v.receives.Add(1)
	return v.SQS.ReceiveMessage(ctx, in, opts...)
}

func TestEmulatorFailingMessageReachesTheDLQWithGrowingBackoff(t *testing.T) {
	q := newQueues(t, 3)
	send(t, q.URL, "cold-grill")
	type attempt struct {
		count int
		at    time.Time
	}
	var mu sync.Mutex
	var attempts []attempt
	rec := &visibilityRecorder{SQS: client}
	r := startConsumer(t, stageConfig(q, 3), rec, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		mu.Lock()
		attempts = append(attempts, attempt{m.ReceiveCount, time.Now()})
		mu.Unlock()
		return workers.Output{}, errors.New("the grill is cold")
	}))
	dead := collect(t, q.DLQURL, 1)
	r.stop(t)

	if dead[0].Body != "cold-grill" || dead[0].Attributes[workers.TraceIDAttribute] != "trace-cold-grill" {
		t.Errorf("DLQ got %q with %v, want the failing message with its trace id", dead[0].Body, dead[0].Attributes)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 3 {
		t.Fatalf("handled %d times, want 3 (maxReceiveCount)", len(attempts))
	}
	rec.mu.Lock()
	delays := rec.timeouts
	rec.mu.Unlock()
	if len(delays) != 3 || !(delays[0] < delays[1] && delays[1] < delays[2]) || delays[0] < 1 {
		t.Fatalf("retry delays asked for: %v s, want three, growing, never 0", delays)
	}
	for i := 1; i < 3; i++ {
		if attempts[i].count != i+1 {
			t.Errorf("attempt %d saw receive count %d", i+1, attempts[i].count)
		}
		// The emulator held the message for the delay asked for (less a
		// little for clocks): the backoff is real, not just requested.
		if gap, min := attempts[i].at.Sub(attempts[i-1].at), time.Duration(delays[i-1])*time.Second-250*time.Millisecond; gap < min {
			t.Errorf("attempt %d came %v after the previous one, want at least %v", i+1, gap, min)
		}
	}
}

func TestEmulatorPermanentAndUndecodableGoToTheDLQAtOnce(t *testing.T) {
	q := newQueues(t, 5)
	var bodies []string
	for i := range 20 {
		bodies = append(bodies, fmt.Sprintf(`{"item":"burger","n":%d}`, i))
	}
	send(t, q.URL, append(bodies, `{"item":"pizza"}`, "{{not json")...)
	var handled sync.Map
	h := workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		n, _ := handled.LoadOrStore(string(m.Body), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		var order struct{ Item string }
		if err := json.Unmarshal(m.Body, &order); err != nil {
			return workers.Output{}, workers.Permanent(fmt.Errorf("undecodable order: %w", err))
		}
		if order.Item != "burger" {
			return workers.Output{}, workers.Permanent(fmt.Errorf("no such item %q", order.Item))
		}
		return workers.Output{}, nil
	})
	r := startConsumer(t, stageConfig(q, 5), client, h)
	dead := collect(t, q.DLQURL, 2)
	good := collect(t, q.NextURL, 20)
	r.stop(t)

	if len(good) != 20 {
		t.Errorf("%d good messages forwarded, want 20", len(good))
	}
	for _, d := range dead {
		n, _ := handled.Load(d.Body)
		if n.(*atomic.Int32).Load() != 1 || d.Attributes[consumer.ReceiveCountAttribute] != "1" || d.Attributes[consumer.StageAttribute] != "grill" {
			t.Errorf("dead letter %q: handled %d times, attributes %v; want once, receive count 1, stage grill", d.Body, n.(*atomic.Int32).Load(), d.Attributes)
		}
		wantErr := map[string]string{`{"item":"pizza"}`: `no such item "pizza"`, "{{not json": "undecodable order"}[d.Body]
		if wantErr == "" || !strings.Contains(d.Attributes[consumer.ErrorAttribute], wantErr) {
			t.Errorf("dead letter %q says %q, want %q", d.Body, d.Attributes[consumer.ErrorAttribute], wantErr)
		}
	}
	if !empty(t, q.URL) {
		t.Error("dead-lettered messages were not deleted from the source queue")
	}
}

func TestEmulatorPanickingHandlerDoesNotKillTheWorker(t *testing.T) {
	q := newQueues(t, 2)
	send(t, q.URL, "boom", "a", "b", "c")
	r := startConsumer(t, stageConfig(q, 2), client, workers.HandlerFunc(func(_ context.Context, m workers.Message) (workers.Output, error) {
		if string(m.Body) == "boom" {
			panic("fryer fire")
		}
		return workers.Output{}, nil
	}))
	dead := collect(t, q.DLQURL, 1)
	send(t, q.URL, "after")
	good := collect(t, q.NextURL, 4)
	if !r.running() {
		t.Fatal("Run returned after panics")
	}
	r.stop(t)
	if dead[0].Body != "boom" || len(good) != 4 {
		t.Errorf("DLQ got %q, next got %d; want boom and 4", dead[0].Body, len(good))
	}
}

func TestEmulatorHeartbeatKeepsALongMessageInvisiblePastItsTimeout(t *testing.T) {
	q := newQueues(t, 3)
	cfg := stageConfig(q, 3)
	cfg.VisibilityTimeout = 2 * time.Second
	send(t, q.URL, "slow")
	var handled atomic.Int32
	started := make(chan struct{})
	r := startConsumer(t, cfg, client, workers.HandlerFunc(func(ctx context.Context, _ workers.Message) (workers.Output, error) {
		if handled.Add(1) == 1 {
			close(started)
		}
		select {
		case <-time.After(5 * time.Second): // two and a half visibility timeouts
		case <-ctx.Done():
		}
		return workers.Output{}, nil
	}))
	<-started
	// Another consumer polls meanwhile: without the heartbeat it would get
	// the message once the 2s timeout ran out.
	var stolen []types.Message
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &q.URL, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		if err != nil {
			t.Fatal(err)
		}
		stolen = append(stolen, out.Messages...)
	}
	got := collect(t, q.NextURL, 1)
	r.stop(t)
	if len(stolen) > 0 || handled.Load() != 1 {
		t.Errorf("another receiver got %d copies, the handler ran %d times; want 0 and 1", len(stolen), handled.Load())
	}
	if got[0].Body != "slow" {
		t.Errorf("forwarded %q", got[0].Body)
	}
}

// TestEmulatorCancelUnderLoadLosesNothing stops a busy consumer and counts:
// every message must be forwarded (at least once) and deleted, or be back
// in the queue.
func TestEmulatorCancelUnderLoadLosesNothing(t *testing.T) {
	const n = 1000
	q := newQueues(t, 10)
	cfg := stageConfig(q, 10)
	cfg.Concurrency = 100
	cfg.DrainTimeout = time.Second
	cfg.VisibilityTimeout = 5 * time.Second
	var want []string
	for i := range n {
		want = append(want, "order-"+strconv.Itoa(i))
	}
	send(t, q.URL, want...)
	var handled atomic.Int32
	r := startConsumer(t, cfg, client, workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
		handled.Add(1)
		d := time.Duration(rand.IntN(50)) * time.Millisecond
		if rand.IntN(20) == 0 {
			d = 3 * time.Second // outlives the drain timeout: cancelled
		}
		select {
		case <-time.After(d):
			return workers.Output{}, nil
		case <-ctx.Done():
			return workers.Output{}, ctx.Err()
		}
	}))
	eventually(t, "300 messages handled", func() bool { return handled.Load() >= 300 })
	r.stop(t)

	forwarded := map[string]int{}
	for _, m := range drainAll(t, q.NextURL, time.Second) {
		forwarded[m.Body]++
	}
	// Messages returned at the drain are visible at once; any caught in a
	// receive cut off by the cancel come back after the visibility timeout.
	returned := map[string]int{}
	for _, m := range drainAll(t, q.URL, cfg.VisibilityTimeout+2*time.Second) {
		returned[m.Body]++
	}
	var lost []string
	dup := 0
	for _, b := range want {
		if forwarded[b] == 0 && returned[b] == 0 {
			lost = append(lost, b)
		}
		if forwarded[b] > 1 || (forwarded[b] > 0 && returned[b] > 0) {
			dup++
		}
	}
	t.Logf("%d handled, %d forwarded, %d back in the queue, %d seen twice", handled.Load(), len(forwarded), len(returned), dup)
	if len(lost) > 0 {
		t.Errorf("%d messages lost: %v", len(lost), lost)
	}
	if len(forwarded) < 250 {
		t.Errorf("only %d forwarded, want most of the handled ones", len(forwarded))
	}
}

// drainAll receives and deletes everything from url, going on until it
// has found nothing for quiet.
func drainAll(t *testing.T, url string, quiet time.Duration) []consumertest.Received {
	t.Helper()
	var all []consumertest.Received
	last := time.Now()
	for time.Since(last) < quiet {
		got, err := consumertest.ReceiveAll(context.Background(), client, url, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			all = append(all, got...)
			last = time.Now()
		}
	}
	return all
}

// TestEmulatorOutageBackOffAndRecovery stops the SQS endpoint under a
// running consumer and starts it again on the same port with the same
// data: the consumer must back off without crashing or spinning, log the
// outage once, and carry on.
func TestEmulatorOutageBackOffAndRecovery(t *testing.T) {
	q := newQueues(t, 5)
	cfg := stageConfig(q, 5)
	cfg.VisibilityTimeout = 5 * time.Second
	rec := &visibilityRecorder{SQS: client}
	r := startConsumer(t, cfg, rec, noop, consumer.WithSQSBackoff(50*time.Millisecond, time.Second))
	send(t, q.URL, "before-1", "before-2")
	collect(t, q.NextURL, 2)

	if err := emu.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	before := rec.receives.Load()
	time.Sleep(3 * time.Second)
	outageReceives := rec.receives.Load() - before
	var err error
	emu, err = emulators.Start(context.Background(), emuOpts)
	if err != nil {
		t.Fatalf("restarting the emulator: %v", err)
	}
	outage := time.Since(down)
	if !r.running() {
		t.Fatal("Run returned during the outage")
	}
	send(t, q.URL, "after-1", "after-2", "after-3")
	got := collect(t, q.NextURL, 3)
	r.stop(t)

	var bodies []string
	for _, m := range got {
		bodies = append(bodies, m.Body)
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"after-1", "after-2", "after-3"}) {
		t.Errorf("after the outage forwarded %v", bodies)
	}
	// Two pollers backing off 50ms..1s make a few dozen attempts in a few
	// seconds; a spinning loop would make thousands.
	if limit := int64(2 * (outage/(250*time.Millisecond) + 10)); outageReceives > limit {
		t.Errorf("%d receives during a %v outage, want at most %d: not backing off", outageReceives, outage, limit)
	}
	if n := len(logsWith(t, r.logs, "WARN", "receiving from")); n != 1 {
		t.Errorf("%d receive-failure warnings, want 1 (once per state change)", n)
	}
	if n := len(logsWith(t, r.logs, "INFO", "recovered")); n < 1 {
		t.Error("no recovery log")
	}
}
