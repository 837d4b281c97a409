package bench

// The drains the worker throughput benchmark compares, shared by runDrain
// (linecook bench) and the Go benchmarks in drain_test.go.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/tools/emulators"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/consumer"
)

// stageQueues are a stage's queue and DLQ, and the next stage's queue.
type stageQueues struct {
	URL, NextURL, DLQURL string
}

// createStageQueues creates name and name-dlq as the cloud has a stage's
// queues, redriving after maxReceiveCount receives, and a plain
// name-next.
func createStageQueues(ctx context.Context, client *sqs.Client, name string, maxReceiveCount int) (stageQueues, error) {
	q, err := emulators.CreateQueues(ctx, client, name, emulators.QueueSettings{MaxReceiveCount: maxReceiveCount})
	if err != nil {
		return stageQueues{}, err
	}
	next, err := emulators.CreateQueue(ctx, client, name+"-next")
	if err != nil {
		return stageQueues{}, err
	}
	return stageQueues{URL: q.URL, NextURL: next, DLQURL: q.DLQURL}, nil
}

// fill sends n messages with the given body to the queue, in batches of
// ten from eight goroutines.
func fill(ctx context.Context, client *sqs.Client, url string, n int, body string) error {
	const goroutines = 8
	batches := make(chan int)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for size := range batches {
				in := &sqs.SendMessageBatchInput{QueueUrl: &url}
				for i := range size {
					in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: &body})
				}
				out, err := client.SendMessageBatch(ctx, in)
				if err == nil && len(out.Failed) > 0 {
					err = fmt.Errorf("send: %d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for sent := 0; sent < n; sent += 10 {
		select {
		case batches <- min(10, n-sent):
		case err = <-errs:
			break feed
		}
	}
	close(batches)
	wg.Wait()
	close(errs)
	return errors.Join(err, <-errs)
}

// drainNaive receives, handles (does nothing) and deletes n messages one
// at a time, as the simplest consumer loop does: the baseline.
func drainNaive(ctx context.Context, client *sqs.Client, url string, n int) error {
	for done := 0; done < n; {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		for _, m := range out.Messages {
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				return fmt.Errorf("delete: %w", err)
			}
			done++
		}
	}
	return nil
}

// drainBatched receives ten at a time and deletes them with one
// DeleteMessageBatch, from several goroutines, with no handler at all:
// about as fast as the endpoint lets a client drain a queue, the ceiling
// for the runtime.
func drainBatched(ctx context.Context, client *sqs.Client, url string, n, goroutines int) error {
	var left atomic.Int64
	left.Store(int64(n))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for left.Load() > 0 && ctx.Err() == nil {
				out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					if left.Load() > 0 {
						cancel(fmt.Errorf("receive: %w", err))
					}
					return
				}
				if len(out.Messages) == 0 {
					continue
				}
				in := &sqs.DeleteMessageBatchInput{QueueUrl: &url}
				for i, m := range out.Messages {
					in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
				}
				del, err := client.DeleteMessageBatch(ctx, in)
				if err == nil && len(del.Failed) > 0 {
					err = fmt.Errorf("%d entries failed: %s", len(del.Failed), aws.ToString(del.Failed[0].Message))
				}
				if err != nil {
					cancel(fmt.Errorf("delete: %w", err))
					return
				}
				if left.Add(-int64(len(out.Messages))) <= 0 {
					cancel(nil) // end the others' long polls
				}
			}
		})
	}
	wg.Wait()
	if left.Load() > 0 {
		return context.Cause(ctx)
	}
	return nil
}

// drainConsumer runs the runtime until it has handled n messages, then
// stops it and waits for its drain, so the deletes are done when it
// returns. Its handler waits work (0: returns at once), as an I/O-bound
// handler waiting on a remote call does. cfg.QueueURL is the queue
// drained.
func drainConsumer(ctx context.Context, client consumer.SQS, cfg consumer.Config, n int, work time.Duration, opts ...consumer.Option) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var handled atomic.Int64
	h := workers.HandlerFunc(func(hctx context.Context, _ workers.Message) (workers.Output, error) {
		if work > 0 {
			t := time.NewTimer(work)
			defer t.Stop()
			select {
			case <-t.C:
			case <-hctx.Done():
				return workers.Output{}, hctx.Err()
			}
		}
		if handled.Add(1) == int64(n) {
			cancel()
		}
		return workers.Output{}, nil
	})
	c, err := consumer.New(cfg, client, h, opts...)
	if err != nil {
		return err
	}
	if err := c.Run(ctx); err != nil {
		return err
	}
	if got := handled.Load(); got < int64(n) {
		return fmt.Errorf("handled %d of %d messages before the context ended", got, n)
	}
	return nil
}
