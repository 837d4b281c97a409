package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/workers/consumer"
)

// The Go benchmarks of the worker runtime's throughput: BenchmarkDrain
// (the drains linecook bench compares) and BenchmarkSlowHandler.

// benchClient is the emulator the benchmarks drain, without persistence
// (which would put an SQLite write under every call and measure the disk
// instead).
var benchClient *sqs.Client

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() || flag.Lookup("test.bench").Value.String() == "" {
		os.Exit(m.Run()) // the tests need no emulator: start it only for the benchmarks
	}
	ctx := context.Background()
	emu, err := emulators.Start(ctx, emulators.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer emu.Stop()
		if err := emu.Setenv(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// As a linecook worker builds its client: connections pooled for
		// the runtime's concurrent requests.
		cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(consumer.HTTPClient(benchConfig("", max(*benchConcurrency, *slowConcurrency)))))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		benchClient = sqs.NewFromConfig(cfg)
		return m.Run()
	}()
	os.Exit(code)
}

var queueSeq atomic.Int64

var (
	benchMessages    = flag.Int("drain.messages", 20000, "backlog each BenchmarkDrain iteration drains")
	benchConcurrency = flag.Int("drain.concurrency", 200, "the runtime's LINECOOK_CONCURRENCY in BenchmarkDrain")
	slowMessages     = flag.Int("slow.messages", 3000, "backlog each BenchmarkSlowHandler iteration drains")
	slowConcurrency  = flag.Int("slow.concurrency", 600, "the runtime's LINECOOK_CONCURRENCY in BenchmarkSlowHandler")
	slowWork         = flag.Duration("slow.work", 3*time.Second, "how long BenchmarkSlowHandler's handler waits per message")
)

// BenchmarkSlowHandler drains a backlog with an I/O-bound handler (3 s a
// message) at concurrency 600 in one process: the most it can do is
// 600 / 3 s = 200 msgs/s, and reaching it shows the runtime keeps every
// slot busy (receiving fast enough, and only for free slots).
func BenchmarkSlowHandler(b *testing.B) {
	if benchClient == nil {
		b.Skip("needs the SQS emulator (not started with -short)")
	}
	n := *slowMessages
	counter := &receiveCounter{SQS: benchClient}
	var total time.Duration
	for i := range b.N {
		url := benchQueue(b, fmt.Sprintf("slow-%d", i), n)
		b.StartTimer()
		start := time.Now()
		err := drainConsumer(context.Background(), counter, benchConfig(url, *slowConcurrency), n, *slowWork,
			consumer.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), consumer.WithMetrics(io.Discard))
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if _, err := benchClient.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
	b.ReportMetric(float64(*slowConcurrency)/slowWork.Seconds(), "ceiling-msgs/s")
	b.ReportMetric(float64(n*b.N)/float64(counter.withMessages.Load()), "msgs/receive")
}

// receiveCounter counts receives and the messages they return.
type receiveCounter struct {
	consumer.SQS
	withMessages atomic.Int64 // receives that returned any
}

func (r *receiveCounter) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := r.SQS.ReceiveMessage(ctx, in, opts...)
	if err == nil && len(out.Messages) > 0 {
		r.withMessages.Add(1)
	}
	return out, err
}

// BenchmarkDrain drains the same backlog three ways against the SQS
// emulator and reports msgs/s:
//
//   - naive: receive one, handle (nothing), delete one, in one loop;
//   - batched: receive ten and DeleteMessageBatch them, from eight
//     goroutines, no handler: the ceiling;
//   - runtime: workers/consumer with a no-op handler, as a last stage.
//
// One iteration drains -drain.messages (20 000). The machine is shared and
// noisy: compare the three in one run, and repeat whole runs rather than
// using -count (which repeats each sub-benchmark back to back):
//
//	for i in 1 2 3; do go test -run '^$' -bench Drain -benchtime 1x ./tools/bench/; done
func BenchmarkDrain(b *testing.B) {
	if benchClient == nil {
		b.Skip("needs the SQS emulator (not started with -short)")
	}
	n := *benchMessages
	drains := []struct {
		name  string
		drain func(ctx context.Context, url string) error
	}{
		{"naive", func(ctx context.Context, url string) error { return drainNaive(ctx, benchClient, url, n) }},
		{"batched", func(ctx context.Context, url string) error { return drainBatched(ctx, benchClient, url, n, 8) }},
		{"runtime", func(ctx context.Context, url string) error {
			return drainConsumer(ctx, benchClient, benchConfig(url, *benchConcurrency), n, 0,
				consumer.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), consumer.WithMetrics(io.Discard))
		}},
	}
	for _, d := range drains {
		b.Run(d.name, func(b *testing.B) {
			var total time.Duration
			for i := range b.N {
				url := benchQueue(b, fmt.Sprintf("%s-%d", d.name, i), n)
				b.StartTimer()
				start := time.Now()
				if err := d.drain(context.Background(), url); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if _, err := benchClient.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
		})
	}
}

// benchQueue creates a queue holding a backlog of n messages.
func benchQueue(b *testing.B, name string, n int) string {
	b.StopTimer()
	q, err := createStageQueues(context.Background(), benchClient, fmt.Sprintf("bench-%s-%d", name, queueSeq.Add(1)), 3)
	if err != nil {
		b.Fatal(err)
	}
	if err := fill(context.Background(), benchClient, q.URL, n, `{"order":"burger","qty":1}`); err != nil {
		b.Fatal(err)
	}
	return q.URL
}

// benchConfig is the runtime's configuration in BenchmarkDrain: a last
// stage (it only deletes, as the other two drains do).
func benchConfig(url string, concurrency int) consumer.Config {
	return consumer.Config{
		Stage: "bench", QueueURL: url, Concurrency: concurrency,
		VisibilityTimeout: 30 * time.Second, DrainTimeout: 10 * time.Second, MaxReceiveCount: 3,
		RetryBaseDelay: time.Second, RetryMaxDelay: time.Minute,
	}
}
