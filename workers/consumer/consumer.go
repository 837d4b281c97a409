package consumer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/logkey"
)

// SQS is the part of the SQS API the runtime uses; *sqs.Client satisfies
// it. Tests can substitute a fake.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// The attributes of a message the runtime sends to the DLQ itself (a
// permanent failure), saying why. A message SQS moves there after
// maxReceiveCount failures carries only what it had.
const (
	ErrorAttribute        = "linecook-error"         // the handler's error
	StageAttribute        = "linecook-stage"         // the stage that gave up on it
	ReceiveCountAttribute = "linecook-receive-count" // its receive count there
	MessageIDAttribute    = "linecook-message-id"    // its message id there
)

// maxAttributes is SQS's limit of message attributes per message.
const maxAttributes = 10

// maxErrorText bounds the error text put on a dead letter.
const maxErrorText = 1024

// AfterDrain is the most Run takes once its drain timeout has passed:
// time for cancelled handlers to return and their messages to go back to
// the queue, then for the final flush. Whoever sets the drain timeout
// (pipeline, from ECS's stopTimeout) must leave at least this much before
// the SIGKILL.
const AfterDrain = afterCancelGrace + flushTimeout

// afterCancelGrace is how long Run waits, once the drain timeout has
// passed and handlers' ctx is cancelled, for them to return.
const afterCancelGrace = time.Second

// flushTimeout bounds the final flush of pending sends, deletes and
// visibility changes on shutdown.
const flushTimeout = 3 * time.Second

// visibilityShards is how many visibility batchers run: each sends in
// order (a message's last change must be the one applied), and messages
// are spread over them by receipt handle.
const visibilityShards = 4

// batchLinger is how long a partial batch waits for more entries.
const batchLinger = 5 * time.Millisecond

// batchFlushers is how many send or delete requests run at once;
// dlqFlushers, for the DLQ, where traffic is light.
const (
	batchFlushers = 8
	dlqFlushers   = 2
)

// Option configures a Consumer.
type Option func(*options)

type options struct {
	log        *slog.Logger
	metrics    io.Writer
	middleware []workers.Middleware
	sqsBackoff backoff
	protector  Protector
}

// Protector is told when the worker goes from no message in flight to
// some (Busy) and back (Idle), alternately, starting with Busy; a
// message is in flight from its receive until it is settled. Its methods
// must return at once: the calls happen on the message path.
// protect.Guard keeps the ECS task's scale-in protection that way.
type Protector interface {
	Busy()
	Idle()
}

// WithProtector tells p when the worker is busy and when idle. A nil p
// turns it off (a nil *protect.Guard, too, does nothing).
func WithProtector(p Protector) Option { return func(o *options) { o.protector = p } }

// WithLogger sets the logger. The default writes JSON to stderr at the
// configured LogLevel.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMetrics sets where the EMF metric lines go (default stdout); nil
// turns metrics off.
func WithMetrics(w io.Writer) Option { return func(o *options) { o.metrics = w } }

// WithMiddleware wraps the handler in mw (the first given outermost),
// inside the runtime's own panic recovery and outside its timeout.
func WithMiddleware(mw ...workers.Middleware) Option {
	return func(o *options) { o.middleware = append(o.middleware, mw...) }
}

// WithSQSBackoff sets how receives back off while SQS fails: from base,
// doubling, to max (default 100ms to 10s).
func WithSQSBackoff(base, max time.Duration) Option {
	return func(o *options) { o.sqsBackoff = backoff{base: base, max: max} }
}

// Consumer runs one stage: it receives the stage's messages, hands them to
// the handler and forwards the outputs. Build it with New; Run it once.
type Consumer struct {
	cfg     Config
	client  SQS
	handler workers.Handler
	log     *slog.Logger
	metrics *emf
	slots   *slots
	backoff backoff
	running atomic.Bool

	receiving                             *health
	next, dlq, deletes                    *batcher
	visibility                            [visibilityShards]*batcher
	seed                                  maphash.Seed
	inflight                              sync.WaitGroup
	active                                atomic.Int64 // messages inflight counts
	draining                              atomic.Bool
	received, succeeded, failed, released atomic.Int64
	deadLettered                          atomic.Int64

	protector Protector
	// transitions serialises the protector's signals; busy is the last
	// one sent.
	transitions sync.Mutex
	busy        bool
}

// New builds a Consumer for one stage from its Config, an SQS client and
// the stage's handler.
func New(cfg Config, client SQS, h workers.Handler, opts ...Option) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("consumer: nil SQS client")
	}
	if h == nil {
		return nil, errors.New("consumer: nil handler")
	}
	o := options{metrics: os.Stdout, sqsBackoff: backoff{base: 100 * time.Millisecond, max: 10 * time.Second}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.sqsBackoff.base <= 0 || o.sqsBackoff.max < o.sqsBackoff.base {
		return nil, fmt.Errorf("consumer: SQS backoff from %v to %v: want 0 < base <= max", o.sqsBackoff.base, o.sqsBackoff.max)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	log := o.log.With(logkey.Stage, cfg.Stage)
	mw := append([]workers.Middleware{workers.Recover()}, o.middleware...)
	mw = append(mw, workers.Timeout(cfg.HandlerTimeout))

	c := &Consumer{
		cfg:       cfg,
		client:    client,
		handler:   workers.Chain(h, mw...),
		log:       log,
		slots:     newSlots(cfg.Concurrency),
		backoff:   o.sqsBackoff,
		receiving: &health{log: log, what: "receiving from " + cfg.QueueURL},
		seed:      maphash.MakeSeed(),
		protector: o.protector,
	}
	if o.metrics != nil {
		c.metrics = newEMF(o.metrics, cfg.Stage)
	}
	retry := backoff{base: batchRetryBase, max: batchRetryMax}
	if cfg.NextQueueURL != "" {
		c.next = newBatcher(sendCall(client, cfg.NextQueueURL), batchLinger, batchFlushers, false,
			&health{log: log, what: "sending to " + cfg.NextQueueURL}, retry)
	}
	if cfg.DLQURL != "" {
		c.dlq = newBatcher(sendCall(client, cfg.DLQURL), batchLinger, dlqFlushers, false,
			&health{log: log, what: "sending to " + cfg.DLQURL}, retry)
	}
	c.deletes = newBatcher(deleteCall(client, cfg.QueueURL), batchLinger, batchFlushers, false,
		&health{log: log, what: "deleting from " + cfg.QueueURL}, retry)
	vh := &health{log: log, what: "changing visibility in " + cfg.QueueURL}
	for i := range c.visibility {
		c.visibility[i] = newBatcher(visibilityCall(client, cfg.QueueURL), batchLinger, 1, true, vh, retry)
	}
	return c, nil
}

// Run consumes the stage's queue until ctx is cancelled, then drains:
// it starts no new receive, lets the long polls in flight end (they are
// never longer than the drain) and returns what they bring and every
// message it has not started to the queue, gives handlers in flight
// DrainTimeout to finish before cancelling their ctx, flushes the sends,
// deletes and visibility changes still pending, and returns nil. Every
// message it received is then either completed (forwarded and deleted)
// or visible in the queue again, or, if a handler ignored its cancelled
// ctx, visible again when its visibility timeout ends.
//
// SQS failures never end Run: it backs off and retries until ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("consumer: Run called twice")
	}
	// The batchers and handlers outlive ctx: they finish the drain.
	flushCtx, stopFlushing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFlushing()
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	var batchers sync.WaitGroup
	for _, b := range c.batchers() {
		batchers.Go(func() { b.run(flushCtx) })
	}
	metricsCtx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	var metricsDone sync.WaitGroup
	metricsDone.Go(func() { c.metrics.run(metricsCtx) })

	pollers := c.cfg.pollers()
	c.log.Info("consumer started", logkey.Queue, c.cfg.QueueURL, logkey.NextQueue, c.cfg.NextQueueURL, logkey.DLQ, c.cfg.DLQURL,
		logkey.Concurrency, c.cfg.Concurrency, logkey.Pollers, pollers, logkey.VisibilityTimeout, c.cfg.VisibilityTimeout.String())
	var polling sync.WaitGroup
	for range pollers {
		polling.Go(func() { c.poll(ctx, handlerCtx) })
	}

	<-ctx.Done()
	c.draining.Store(true)
	drainStart := time.Now()
	c.log.Info("draining: stopped receiving", logkey.DrainTimeout, c.cfg.DrainTimeout.String())
	drained := make(chan struct{})
	go func() {
		// Long polls in flight end on their own, within the drain: SQS
		// hands messages to a long poll whose caller has gone all the
		// same, and those would stay invisible for a visibility timeout
		// and count a receive. What they bring goes straight back.
		polling.Wait()
		c.inflight.Wait()
		close(drained)
	}()
	t := time.NewTimer(c.cfg.DrainTimeout)
	select {
	case <-drained:
		t.Stop()
	case <-t.C:
		c.log.Warn("drain timeout: cancelling the handlers still running; their messages go back to the queue",
			logkey.InFlight, c.active.Load())
		cancelHandlers()
		select {
		case <-drained:
		case <-time.After(afterCancelGrace):
			c.log.Error("messages still in flight after their handlers were cancelled (a handler ignoring its ctx, or SQS slow to take them back); they reappear when their visibility timeout ends",
				logkey.InFlight, c.active.Load())
		}
	}

	// Senders first: a send that succeeds queues a delete, one that fails
	// a visibility change or a dead letter.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if c.next != nil {
			c.next.close()
		}
		if c.dlq != nil {
			c.dlq.close()
		}
		c.deletes.close()
		for _, v := range c.visibility {
			v.close()
		}
	}()
	select {
	case <-closed:
	case <-time.After(flushTimeout):
		c.log.Error("final flush timed out; unflushed messages reappear when their visibility timeout ends")
		stopFlushing()
		<-closed
	}
	batchers.Wait()
	stopMetrics()
	metricsDone.Wait()
	if err := c.metrics.flush(time.Now()); err != nil {
		c.log.Warn("writing metrics", logkey.Error, err.Error())
	}
	c.log.Info("consumer stopped", logkey.Drain, time.Since(drainStart).Round(time.Millisecond).String(),
		logkey.Received, c.received.Load(), logkey.Succeeded, c.succeeded.Load(), logkey.Failed, c.failed.Load(),
		logkey.DeadLettered, c.deadLettered.Load(), logkey.ReturnedToQueue, c.released.Load())
	return nil
}

// transition tells the protector when the count of messages in flight
// has reached or left zero. Counts change on many goroutines at once, so
// two transitions can reach here out of order; each reads the count
// afresh under the lock and sends only a change, so the last signal sent
// always matches the count, and Busy and Idle alternate.
func (c *Consumer) transition() {
	if c.protector == nil {
		return
	}
	c.transitions.Lock()
	defer c.transitions.Unlock()
	busy := c.active.Load() > 0
	if busy == c.busy {
		return
	}
	c.busy = busy
	if busy {
		c.protector.Busy()
	} else {
		c.protector.Idle()
	}
}

func (c *Consumer) batchers() []*batcher {
	bs := []*batcher{c.deletes}
	if c.next != nil {
		bs = append(bs, c.next)
	}
	if c.dlq != nil {
		bs = append(bs, c.dlq)
	}
	return append(bs, c.visibility[:]...)
}

// poll receives messages while ctx lasts, as many at a time as it holds
// free slots, and starts a handler for each. A receive runs on
// handlerCtx: once started it is let finish after ctx ends (see Run),
// unless the drain times out first.
func (c *Consumer) poll(ctx, handlerCtx context.Context) {
	in := &sqs.ReceiveMessageInput{
		QueueUrl:              &c.cfg.QueueURL,
		WaitTimeSeconds:       int32(c.cfg.receiveWait() / time.Second),
		VisibilityTimeout:     int32(c.cfg.VisibilityTimeout / time.Second),
		MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	}
	bo := c.backoff
	for {
		n := c.slots.acquire(ctx, maxBatch, gatherLinger)
		if n == 0 {
			return
		}
		if ctx.Err() != nil {
			c.slots.release(n)
			return
		}
		in.MaxNumberOfMessages = int32(n)
		out, err := c.client.ReceiveMessage(handlerCtx, in)
		now := time.Now()
		var msgs []types.Message
		if out != nil {
			msgs = out.Messages
		}
		c.slots.release(n - len(msgs))
		for i := range msgs {
			c.start(handlerCtx, &msgs[i], now)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.receiving.fail(err)
			if !sleep(ctx, bo.next()) {
				return
			}
			continue
		}
		c.receiving.ok()
		bo.reset()
	}
}

// delivery is one received message on its way through the stage.
type delivery struct {
	msg      workers.Message
	handle   string
	body     string
	attrs    map[string]types.MessageAttributeValue
	received time.Time
	// invalid says why the runtime cannot hand the message to a handler.
	invalid error

	// res receives the outcome of the delivery's batch ops, one at a time.
	res chan error

	mu       sync.Mutex
	finished bool
	// heartbeat extends the visibility timeout while the message is ours.
	heartbeat *time.Timer
}

func (c *Consumer) start(handlerCtx context.Context, m *types.Message, received time.Time) {
	c.received.Add(1)
	if m.ReceiptHandle == nil {
		// Without a handle the message can be neither deleted nor
		// returned; SQS redelivers it when its visibility timeout ends.
		c.log.Error("received a message without a receipt handle", logkey.MessageID, aws.ToString(m.MessageId))
		c.slots.release(1)
		return
	}
	d := &delivery{handle: *m.ReceiptHandle, body: aws.ToString(m.Body), attrs: m.MessageAttributes, received: received, res: make(chan error, 1)}
	d.msg = workers.Message{
		ID:           aws.ToString(m.MessageId),
		Body:         []byte(d.body),
		Stage:        c.cfg.Stage,
		ReceiveCount: 1,
	}
	switch {
	case m.MessageId == nil:
		d.invalid = errors.New("invalid message: no message id")
	case m.Body == nil:
		d.invalid = errors.New("invalid message: no body")
	}
	if len(m.MessageAttributes) > 0 {
		d.msg.Attributes = make(map[string]string, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			if v.StringValue != nil {
				d.msg.Attributes[k] = *v.StringValue
			}
		}
	}
	d.msg.TraceID = d.msg.Attributes[workers.TraceIDAttribute]
	if d.msg.TraceID == "" {
		// A message that enters the pipeline here starts its own trace.
		d.msg.TraceID = d.msg.ID
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		d.msg.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.msg.SentAt = time.UnixMilli(ms)
	}
	c.inflight.Add(1)
	if c.active.Add(1) == 1 {
		c.transition()
	}
	go c.process(handlerCtx, d)
}

func (c *Consumer) process(handlerCtx context.Context, d *delivery) {
	defer c.inflight.Done()
	defer func() {
		if c.active.Add(-1) == 0 {
			c.transition()
		}
	}()
	defer c.slots.release(1)
	if c.draining.Load() {
		c.release(d, "draining")
		return
	}
	c.startHeartbeat(d)
	if d.invalid != nil {
		c.deadLetter(d, d.invalid, 0)
		return
	}
	begin := time.Now()
	out, err := c.handler.Handle(handlerCtx, d.msg)
	took := time.Since(begin)
	switch {
	case err == nil:
		c.complete(d, out, took)
	case handlerCtx.Err() != nil:
		c.release(d, "drain timeout")
	case workers.IsPermanent(err):
		c.deadLetter(d, err, took)
	default:
		c.retry(d, err, took)
	}
}

// complete forwards the output, then deletes the message: in that order,
// so a crash in between duplicates the message downstream rather than
// losing it.
func (c *Consumer) complete(d *delivery, out workers.Output, took time.Duration) {
	if c.next != nil && !out.Drop {
		body := d.body
		if out.Body != nil {
			body = string(out.Body)
		}
		attrs := c.forwardAttributes(d, out.Attributes)
		err := d.await(c.next, &op{body: body, attrs: attrs, size: messageSize(body, attrs)})
		if errors.Is(err, errRejected) {
			c.deadLetter(d, workers.Permanent(fmt.Errorf("the next queue refused the output: %w", err)), took)
			return
		}
		if err != nil {
			c.retry(d, fmt.Errorf("forwarding to the next queue: %w", err), took)
			return
		}
	}
	err := d.await(c.deletes, &op{handle: d.handle})
	c.finish(d)
	c.succeeded.Add(1)
	c.metrics.record(took, true)
	if err != nil {
		c.log.Error("deleting a completed message failed; it will be handled again", c.fields(d, took, err)...)
		return
	}
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.LogAttrs(context.Background(), slog.LevelDebug, "message completed", c.attrs(d, took)...)
	}
}

// retry leaves the message to SQS, invisible for the backoff its receive
// count calls for; after maxReceiveCount receives SQS moves it to the DLQ.
func (c *Consumer) retry(d *delivery, cause error, took time.Duration) {
	delay := RetryDelay(d.msg.ReceiveCount, c.cfg.RetryBaseDelay, c.cfg.RetryMaxDelay, rand.Float64())
	err := c.settle(d, int32(delay/time.Second))
	c.failed.Add(1)
	c.metrics.record(took, false)
	fields := append(c.fields(d, took, cause), logkey.RetryIn, delay.String(), logkey.MaxReceiveCount, c.cfg.MaxReceiveCount)
	if err != nil {
		fields = append(fields, logkey.VisibilityError, err.Error())
	}
	if d.msg.ReceiveCount >= c.cfg.MaxReceiveCount {
		c.log.Error("message failed its last attempt; SQS moves it to the DLQ", fields...)
		return
	}
	c.log.Warn("message failed; retrying", fields...)
}

// deadLetter sends a message that can never succeed to the DLQ at once,
// with attributes saying why, then deletes it.
func (c *Consumer) deadLetter(d *delivery, cause error, took time.Duration) {
	if c.dlq == nil {
		c.retry(d, fmt.Errorf("%w (no DLQ configured: retrying)", cause), took)
		return
	}
	attrs := c.deadLetterAttributes(d, cause)
	if err := d.await(c.dlq, &op{body: d.body, attrs: attrs, size: messageSize(d.body, attrs)}); err != nil {
		c.retry(d, fmt.Errorf("%w (sending to the DLQ failed: %w)", cause, err), took)
		return
	}
	err := d.await(c.deletes, &op{handle: d.handle})
	c.finish(d)
	c.failed.Add(1)
	c.deadLettered.Add(1)
	c.metrics.record(took, false)
	fields := c.fields(d, took, cause)
	if err != nil {
		c.log.Error("sent a message to the DLQ but could not delete it; it will be handled again", append(fields, logkey.DeleteError, err.Error())...)
		return
	}
	c.log.Warn("permanent failure: message sent to the DLQ", fields...)
}

// release gives a message back to the queue at once: it was not handled
// (the consumer is draining), through no fault of its own.
func (c *Consumer) release(d *delivery, why string) {
	err := c.settle(d, 0)
	c.released.Add(1)
	if err != nil {
		c.log.Warn("returning a message to the queue failed; it reappears when its visibility timeout ends",
			logkey.MessageID, d.msg.ID, logkey.TraceID, d.msg.TraceID, logkey.Why, why, logkey.Error, err.Error())
	}
}

func (c *Consumer) visibilityFor(handle string) *batcher {
	return c.visibility[maphash.String(c.seed, handle)%visibilityShards]
}

// startHeartbeat arranges for the message's visibility timeout to be
// extended when half of it has passed, and again at each half after that,
// for as long as the message is ours.
func (c *Consumer) startHeartbeat(d *delivery) {
	half := c.cfg.VisibilityTimeout / 2
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.finished {
		d.heartbeat = time.AfterFunc(time.Until(d.received.Add(half)), func() { c.extend(d) })
	}
}

func (c *Consumer) extend(d *delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return
	}
	issued := time.Now()
	err := c.visibilityFor(d.handle).add(&op{
		handle:  d.handle,
		seconds: int32(c.cfg.VisibilityTimeout / time.Second),
		// done must not block its batcher, and extended takes d.mu,
		// which settle may hold while it adds to the same batcher.
		done: func(err error) { go c.extended(d, issued, err) },
	})
	if err != nil {
		d.finished = true // the consumer has stopped
	}
}

func (c *Consumer) extended(d *delivery, issued time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished {
		return
	}
	vt := c.cfg.VisibilityTimeout
	switch {
	case err == nil:
		d.heartbeat.Reset(time.Until(issued.Add(vt / 2)))
	case errors.Is(err, errSuperseded):
	case errors.Is(err, errRejected):
		// Deleted by someone else, received again after its timeout ran
		// out, or past SQS's 12 hours: nothing left to keep alive, and
		// the message may be handled twice.
		c.log.Warn("visibility heartbeat rejected; stopping it (the message may be handled again)",
			logkey.MessageID, d.msg.ID, logkey.TraceID, d.msg.TraceID, logkey.Error, err.Error())
	default:
		// Try again soon: the message is still ours until its timeout.
		d.heartbeat.Reset(min(vt/8, time.Second))
	}
}

// settle stops the heartbeat and makes the message visible again after
// seconds. The heartbeat's last extension, if one is pending, is queued
// before this change on the same ordered batcher, so this one wins.
func (c *Consumer) settle(d *delivery, seconds int32) error {
	d.mu.Lock()
	c.stopHeartbeat(d)
	err := c.visibilityFor(d.handle).add(&op{handle: d.handle, seconds: seconds, res: d.res})
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return <-d.res
}

// finish stops the heartbeat of a message that has been deleted.
func (c *Consumer) finish(d *delivery) {
	d.mu.Lock()
	c.stopHeartbeat(d)
	d.mu.Unlock()
}

func (c *Consumer) stopHeartbeat(d *delivery) {
	d.finished = true
	if d.heartbeat != nil {
		d.heartbeat.Stop()
	}
}

// await queues o and waits for its outcome. A delivery waits for one op
// at a time, so they share its result channel.
func (d *delivery) await(b *batcher, o *op) error {
	o.res = d.res
	if err := b.add(o); err != nil {
		return err
	}
	return <-d.res
}

// forwardAttributes are the attributes of the message sent to the next
// stage: the incoming ones (types kept), the handler's on top (an empty
// value removes one), and the trace id.
func (c *Consumer) forwardAttributes(d *delivery, extra map[string]string) map[string]types.MessageAttributeValue {
	if len(extra) == 0 && d.attrs[workers.TraceIDAttribute].StringValue != nil {
		return d.attrs // read only from here on: no copy needed
	}
	attrs := make(map[string]types.MessageAttributeValue, len(d.attrs)+len(extra)+1)
	for k, v := range d.attrs {
		attrs[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(attrs, k)
			continue
		}
		attrs[k] = stringAttribute(v)
	}
	attrs[workers.TraceIDAttribute] = stringAttribute(d.msg.TraceID)
	return attrs
}

// deadLetterAttributes are the attributes of a dead letter: why, where
// and when it failed, the trace id, and as many of its own attributes as
// SQS's limit of ten leaves room for.
func (c *Consumer) deadLetterAttributes(d *delivery, cause error) map[string]types.MessageAttributeValue {
	attrs := map[string]types.MessageAttributeValue{
		ErrorAttribute:           stringAttribute(truncate(cause.Error(), maxErrorText)),
		StageAttribute:           stringAttribute(c.cfg.Stage),
		ReceiveCountAttribute:    {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(d.msg.ReceiveCount))},
		workers.TraceIDAttribute: stringAttribute(d.msg.TraceID),
	}
	if d.msg.ID != "" {
		attrs[MessageIDAttribute] = stringAttribute(d.msg.ID)
	}
	names := make([]string, 0, len(d.attrs))
	for k := range d.attrs {
		if _, ours := attrs[k]; !ours {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names[:min(len(names), maxAttributes-len(attrs))] {
		attrs[k] = d.attrs[k]
	}
	return attrs
}

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// messageSize is what a message counts against SQS's size limits.
func messageSize(body string, attrs map[string]types.MessageAttributeValue) int {
	n := len(body)
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// fields are the log fields of a message's outcome.
func (c *Consumer) fields(d *delivery, took time.Duration, err error) []any {
	f := []any{logkey.MessageID, d.msg.ID, logkey.TraceID, d.msg.TraceID, logkey.ReceiveCount, d.msg.ReceiveCount, logkey.DurationMS, durationMS(took)}
	if err != nil {
		f = append(f, logkey.Error, err.Error())
		if p := (*workers.PanicError)(nil); errors.As(err, &p) {
			f = append(f, logkey.Stack, string(p.Stack))
		}
	}
	return f
}

func (c *Consumer) attrs(d *delivery, took time.Duration) []slog.Attr {
	return []slog.Attr{
		slog.String(logkey.MessageID, d.msg.ID), slog.String(logkey.TraceID, d.msg.TraceID),
		slog.Int(logkey.ReceiveCount, d.msg.ReceiveCount), slog.Float64(logkey.DurationMS, durationMS(took)),
	}
}

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
