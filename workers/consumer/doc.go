// Package consumer is linecook's SQS worker runtime: it drives one
// stage's workers.Handler from the stage's queue, forwards each output to
// the next stage's queue and loses nothing on the way.
//
// A program builds it from the task's environment and runs it until
// SIGTERM:
//
//	cfg, err := consumer.LoadConfig()
//	...
//	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(consumer.HTTPClient(cfg)))
//	...
//	c, err := consumer.New(cfg, sqs.NewFromConfig(awsCfg), handler)
//	...
//	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err = c.Run(ctx)
//
// # A message's way through
//
// Pollers long-poll the queue (20 s, or a second under the drain timeout
// when that is shorter; up to 10 messages, with every message
// attribute and the ApproximateReceiveCount and SentTimestamp system
// attributes), asking only for as many messages as there are free slots
// under the concurrency limit, so no message waits received but unstarted
// while its visibility timeout runs. Several pollers run at once, so that
// hundreds of slow (I/O-bound) handlers are kept busy from one process.
// A slot is held from receive to deletion.
//
// Each message's handler runs in its own goroutine, wrapped in
// workers.Recover (a panic is a failure, not a crash) and workers.Timeout
// (LINECOOK_HANDLER_TIMEOUT). Then:
//
//   - success: the output (the incoming body if Output.Body is nil) goes to
//     the next queue with the incoming attributes, the handler's, and the
//     trace id (workers.TraceIDAttribute); only once SQS has accepted it
//     is the message deleted. The last stage, or Output.Drop, just deletes.
//   - failure: the message stays in the queue, invisible for RetryDelay of
//     its receive count (exponential, jittered, capped, never 0), so SQS
//     redelivers it with growing backoff and moves it to the DLQ after the
//     queue's maxReceiveCount.
//   - permanent failure (workers.IsPermanent, an invalid message, an output
//     the next queue refuses): the message goes to the DLQ at once, with the
//     attributes linecook-error, linecook-stage, linecook-receive-count and
//     linecook-message-id, and is then deleted. Without a DLQ it is
//     retried like any failure.
//
// Sends, deletes and visibility changes are batched (ten entries, or
// after 5 ms), entries that fail are retried one by one, and a message
// whose forward failed is never deleted. While a handler runs past half
// the visibility timeout, a heartbeat extends it, every half timeout,
// until the message is settled; a message deleted meanwhile just stops it.
//
// Delivery is at least once: a process killed between forward and delete
// forwards the message again when SQS redelivers it. Handlers should be
// idempotent (the message id is stable across redeliveries).
//
// SQS failures (endpoint down, throttling) never end Run: receives back
// off with jitter from 100 ms to 10 s, batch calls retry a few times, and
// each kind of call logs once when it starts failing and once when it
// recovers.
//
// # Shutdown
//
// When Run's ctx is cancelled it starts no new receive, lets the long
// polls in flight end (SQS would hand messages to an abandoned one all the
// same, leaving them invisible for a visibility timeout), returns received
// messages it has not started to the queue (visibility 0), lets running
// handlers finish for up to LINECOOK_DRAIN_TIMEOUT, then cancels their ctx
// and returns their messages too, flushes pending sends, deletes and
// visibility changes, and returns. The stack sets the drain timeout a few seconds under ECS's
// stopTimeout for that last flush.
//
// # Scale-in protection
//
// WithProtector tells a Protector when the worker goes from no message in
// flight to some and back, and nothing else; it never waits for it.
// linecookd passes a protect.Guard, which keeps the ECS task protected
// from scale-in while the worker is busy (package workers/protect), so
// that autoscaling stops idle tasks, not ones mid-message.
//
// # Settings
//
// LoadConfig reads these variables (names shared with pipeline/env.go);
// the stack sets the first eight for every stage, and a stage's env can
// set the others.
//
//	variable                     default  meaning
//	LINECOOK_STAGE               —        stage name (required): logs, metric dimension, DLQ attribute
//	LINECOOK_QUEUE_URL           —        the stage's queue (required)
//	LINECOOK_NEXT_QUEUE_URL      ""       the next stage's queue; empty for the last stage
//	LINECOOK_DLQ_URL             ""       the DLQ for permanent failures; empty retries them instead
//	LINECOOK_CONCURRENCY         10       messages handled at once by one process (1–10000)
//	LINECOOK_VISIBILITY_TIMEOUT  30s      asked for on receive, extended by the heartbeat (whole seconds, 1s–12h)
//	LINECOOK_DRAIN_TIMEOUT       25s      time running handlers get on shutdown
//	LINECOOK_MAX_RECEIVE_COUNT   3        the queue's redrive maxReceiveCount (1–1000)
//	LINECOOK_HANDLER_TIMEOUT     0s       deadline of one message's handler; 0 means none
//	LINECOOK_POLLERS             0        concurrent receive loops; 0 means ceil(concurrency/10) within 2–16
//	LINECOOK_RETRY_BASE_DELAY    1s       first retry delay, doubled per receive (at least 1s)
//	LINECOOK_RETRY_MAX_DELAY     5m       cap of the retry delay (at most 12h)
//	LINECOOK_LOG_LEVEL           INFO     DEBUG logs every completed message
//
// # Logs and metrics
//
// Logs are JSON (log/slog) on stderr, each with the stage; a message's
// lines carry its message_id, trace_id, receive_count and duration_ms
// (package logkey's keys, listed in docs/workers.md). Completions are
// logged at debug level, failures at warn, last attempts and lost
// deletes at error.
//
// Metrics are CloudWatch Embedded Metric Format lines on stdout: namespace
// linecook, dimension Stage, metrics ProcessingTime (Milliseconds, the
// handler's time), Succeeded and Failed (Count). They are aggregated per
// second rather than written per message, which at thousands of messages a
// second would cost more in log ingestion than the work; every
// ProcessingTime sample is kept (in arrays of up to 100, EMF's limit), so
// averages and percentiles stay exact. No CloudWatch API is called.
package consumer
