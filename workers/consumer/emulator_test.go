// The consumer's tests on the local emulator (fauxqs): the conformance
// suite, and what only the real protocol shows. -short skips them.

package consumer_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/tools/emulators/emutest"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
	"github.com/linecook/linecook/workers/consumer/consumertest"
)

// One emulator pair for the whole test binary, with persistence, so the
// outage test can stop SQS and start it again where clients expect it,
// with its queues and messages.
var (
	emu    *emulators.Emulators
	client *sqs.Client
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
	opts := emulators.Options{DataDir: dataDir}
	if testing.Verbose() {
		opts.Log = os.Stderr
	}
	if emu, err = emulators.Start(ctx, opts); err != nil {
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

func needEmulators(t testing.TB) {
	t.Helper()
	if client == nil {
		t.Skip("needs the SQS emulator (not started with -short)")
	}
}

func TestConformanceOnTheEmulator(t *testing.T) {
	needEmulators(t)
	consumertest.RunConformance(t, emulatorHarness{})
}

// emulatorHarness is the conformance suite's SQS as the emulator.
type emulatorHarness struct{}

func (emulatorHarness) Queues(t *testing.T, maxReceiveCount int) consumertest.Queues {
	return newQueues(t, maxReceiveCount)
}

func (emulatorHarness) Client() consumer.SQS { return client }

func (emulatorHarness) Depth(t *testing.T, url string) consumertest.Depth {
	t.Helper()
	d, err := emulators.Depth(context.Background(), client, url)
	if err != nil {
		t.Fatal(err)
	}
	return consumertest.Depth{Visible: d.Visible, InFlight: d.InFlight}
}

// Outage stops the SQS emulator; end starts it again on the same port,
// with the same queues and messages.
func (emulatorHarness) Outage(t *testing.T) (end func()) {
	emu.StopSQS()
	return func() {
		if err := emu.StartSQS(context.Background()); err != nil {
			t.Fatalf("restarting the SQS emulator: %v", err)
		}
	}
}

// newQueues creates a stage's queues, as the cloud has them, and a next
// queue, under a name unique to the test.
func newQueues(t testing.TB, maxReceiveCount int) consumertest.Queues {
	t.Helper()
	needEmulators(t)
	ctx := context.Background()
	name := emutest.Name(t)
	q, err := emulators.CreateQueues(ctx, client, name, emulators.QueueSettings{MaxReceiveCount: maxReceiveCount})
	if err != nil {
		t.Fatal(err)
	}
	next, err := emulators.CreateQueue(ctx, client, name+"-next")
	if err != nil {
		t.Fatal(err)
	}
	return consumertest.Queues{URL: q.URL, NextURL: next, DLQURL: q.DLQURL}
}

// TestEmulatorCancelUnderLoadLosesNothing stops a busy consumer and counts:
// every message must be forwarded (at least once) and deleted, or be back
// in the queue. Emulator only: a receive cut off by the shutdown may have
// taken messages on the server, which come back only after their
// visibility timeout; the Fake takes nothing from a cancelled receive.
func TestEmulatorCancelUnderLoadLosesNothing(t *testing.T) {
	const n = 1000
	q := newQueues(t, 10)
	cfg := consumertest.StageConfig(q, 10)
	cfg.Concurrency = 100
	cfg.DrainTimeout = time.Second
	cfg.VisibilityTimeout = 5 * time.Second
	var want []string
	for i := range n {
		want = append(want, "order-"+strconv.Itoa(i))
	}
	consumertest.Send(t, client, q.URL, want...)
	var handled atomic.Int32
	r := consumertest.Start(t, cfg, client, workers.HandlerFunc(func(ctx context.Context, m workers.Message) (workers.Output, error) {
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
	consumertest.Eventually(t, "300 messages handled", func() bool { return handled.Load() >= 300 })
	r.Stop(t)

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
