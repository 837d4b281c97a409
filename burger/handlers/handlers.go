// Package burger is the burger pipeline's stages as linecook workers:
// payment (a simulated call to a payment provider, 3 s like the reference
// system's), then the grill, fryer and assembly stations, whose work grows
// with what the order contains (orders.Work).
//
// Every handler does the same three steps on the order's record: start the
// stage (idempotent: a redelivery counts an attempt, or finds the stage
// already ended and skips the work; another message of the same order
// while the stage is under way is a duplicate and is dropped), do the work
// (a sleep that honours ctx), end the stage (applied at most once). The last stage of the
// pipeline marks the order completed in the same write. So SQS's
// at-least-once delivery never records a stage twice, a worker stopped
// mid-work leaves the order to the redelivery, and the runtime may forward
// a message again: the next stage is idempotent in the same way.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/linecook/linecook/burger/events"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/logkey"
)

// The worker names Register uses, in pipeline order.
const (
	PaymentWorker  = "payment"
	GrillWorker    = "grill"
	FryWorker      = "fry"
	AssembleWorker = "assemble"
)

// Names lists the burger workers in pipeline order.
var Names = []string{PaymentWorker, GrillWorker, FryWorker, AssembleWorker}

// Store is what the stages need of the order store (orders/dynamo.Store).
type Store interface {
	StartStage(ctx context.Context, id, stage, messageID string, at time.Time) (orders.StageState, error)
	EndStage(ctx context.Context, id, stage string, at time.Time, complete bool) (bool, error)
	Complete(ctx context.Context, id string, at time.Time) (bool, error)
}

// Deps is what the handlers need. The zero Deps is enough to register the
// handlers (to list their names); handling a message needs a Store.
type Deps struct {
	Store Store
	// Config times the simulated work; the zero Config means
	// DefaultConfig().
	Config Config
	// Last is set for the pipeline's last stage (the one with no next
	// queue): it also marks orders completed.
	Last bool
	// Now and Rand replace time.Now and math/rand/v2.Float64, for tests.
	Now  func() time.Time
	Rand func() float64
	// Log receives the handlers' logs; nil means slog.Default().
	Log *slog.Logger
	// Events gets each order's started, finished, completed and failed
	// events; nil sends none.
	Events events.Publisher
	// MaxReceiveCount is the queue's redrive count: a failure on that
	// receive dead-letters the message, which is a failed event. 0: only
	// permanent failures are known to dead-letter.
	MaxReceiveCount int
}

func (d Deps) withDefaults() Deps {
	if d.Config == (Config{}) {
		d.Config = DefaultConfig()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Float64
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Events == nil {
		d.Events = events.Nop{}
	}
	return d
}

// All returns the four burger handlers by worker name.
func All(deps Deps) map[string]workers.Handler {
	return map[string]workers.Handler{
		PaymentWorker:  NewPayment(deps),
		GrillWorker:    NewGrill(deps),
		FryWorker:      NewFry(deps),
		AssembleWorker: NewAssemble(deps),
	}
}

// Register adds the four burger workers to r under Names.
func Register(r *workers.Registry, deps Deps) error {
	all := All(deps)
	for _, name := range Names {
		if err := r.Register(name, all[name]); err != nil {
			return fmt.Errorf("burger: %w", err)
		}
	}
	return nil
}

// Pipeline is what the burger application hands the stack config parser:
// its workers with their workload defaults, and the burger pipeline as the
// stages when `linecook:stages` is unset. The burger stack, `linecook
// local` and `linecook simulate` all parse Pulumi.<stack>.yaml with it.
func Pipeline() pipeline.Options {
	known := map[string]workers.Defaults{}
	for name, h := range All(Deps{}) {
		known[name] = workers.DefaultsOf(h)
	}
	return pipeline.Options{Workers: known, Stages: slices.Clone(Names)}
}

// Payment charges the order: a fixed simulated delay per order, the
// stand-in for a payment provider that takes its time.
type Payment struct{ stage }

// Grill cooks the order's patties, four at a time.
type Grill struct{ stage }

// Fry fries the order's fries, rings and chicken, four baskets at a time.
type Fry struct{ stage }

// Assemble puts the order together, one item at a time.
type Assemble struct{ stage }

var (
	_ workers.Handler   = (*Payment)(nil)
	_ workers.Handler   = (*Grill)(nil)
	_ workers.Handler   = (*Fry)(nil)
	_ workers.Handler   = (*Assemble)(nil)
	_ workers.Defaulter = (*Payment)(nil)
	_ workers.Defaulter = (*Grill)(nil)
	_ workers.Defaulter = (*Fry)(nil)
	_ workers.Defaulter = (*Assemble)(nil)
)

// Defaults: payment waits on the provider, so one task keeps hundreds of
// orders in flight; the stations are the menu's times for a typical order
// (a burger and fries: orders.Work), a few dozen at a time per task.

// Defaults is the payment stage's workload: the provider's 3 s, 200 at once.
func (*Payment) Defaults() workers.Defaults {
	return workers.Defaults{ProcessingTime: DefaultPaymentDelay, Concurrency: 200}
}

// Defaults is the grill's workload.
func (*Grill) Defaults() workers.Defaults {
	return workers.Defaults{ProcessingTime: 2 * time.Second, Concurrency: 50}
}

// Defaults is the fryer's workload.
func (*Fry) Defaults() workers.Defaults {
	return workers.Defaults{ProcessingTime: 1500 * time.Millisecond, Concurrency: 50}
}

// Defaults is the assembly station's workload.
func (*Assemble) Defaults() workers.Defaults {
	return workers.Defaults{ProcessingTime: time.Second, Concurrency: 50}
}

// NewPayment returns the payment stage.
func NewPayment(d Deps) *Payment {
	return &Payment{newStage(PaymentWorker, d, func(c Config, _ []orders.Line) time.Duration { return c.PaymentDelay })}
}

// NewGrill returns the grill station.
func NewGrill(d Deps) *Grill { return &Grill{station(GrillWorker, orders.Grill, d)} }

// NewFry returns the fry station.
func NewFry(d Deps) *Fry { return &Fry{station(FryWorker, orders.Fry, d)} }

// NewAssemble returns the assembly station.
func NewAssemble(d Deps) *Assemble { return &Assemble{station(AssembleWorker, orders.Assemble, d)} }

func station(name string, s orders.Station, d Deps) stage {
	return newStage(name, d, func(_ Config, items []orders.Line) time.Duration { return orders.Work(s, items) })
}

// stage is the behaviour every burger handler shares; base gives the
// unscaled work time of an order.
type stage struct {
	worker string
	deps   Deps
	base   func(c Config, items []orders.Line) time.Duration
}

func newStage(worker string, d Deps, base func(Config, []orders.Line) time.Duration) stage {
	return stage{worker: worker, deps: d.withDefaults(), base: base}
}

// WorkTime is how long this stage works on an order with these items,
// before jitter.
func (s stage) WorkTime(items []orders.Line) time.Duration {
	return s.deps.Config.Scale(s.base(s.deps.Config, items), 0.5)
}

// Handle does the stage's work on one order message, and publishes what
// happened: started and finished (again on a redelivery that finds the
// work done, so a crash between the work and the event loses no event),
// completed at the last stage, and failed when the message is about to be
// dead-lettered.
func (s stage) Handle(ctx context.Context, msg workers.Message) (workers.Output, error) {
	out, err := s.handle(ctx, msg)
	if err != nil && (workers.IsPermanent(err) || (s.deps.MaxReceiveCount > 0 && msg.ReceiveCount >= s.deps.MaxReceiveCount)) {
		if m, derr := orders.DecodeMessage(msg.Body); derr == nil {
			s.event(events.Failed, m.OrderID, msg, func(e *events.Event) { e.Reason = err.Error() })
		}
	}
	return out, err
}

// event publishes one event of this stage about order id.
func (s stage) event(typ, id string, msg workers.Message, edit ...func(*events.Event)) {
	e := events.Event{Type: typ, OrderID: id, Stage: s.stageName(msg), Time: s.deps.Now(), TraceID: msg.TraceID}
	if typ == events.Completed {
		e.Stage = ""
	}
	for _, f := range edit {
		f(&e)
	}
	s.deps.Events.Publish(e)
}

func (s stage) stageName(msg workers.Message) string {
	if msg.Stage != "" {
		return msg.Stage
	}
	return s.worker
}

func (s stage) handle(ctx context.Context, msg workers.Message) (workers.Output, error) {
	m, err := orders.DecodeMessage(msg.Body)
	if err != nil {
		// No retry makes a malformed body valid: straight to the DLQ.
		return workers.Output{}, workers.Permanent(fmt.Errorf("%s: %w", s.worker, err))
	}
	if s.deps.Store == nil {
		// A wiring bug, not the message's fault: retry rather than DLQ.
		return workers.Output{}, fmt.Errorf("%s: no order store configured", s.worker)
	}
	// The timeline is keyed by the stage's name, which may differ from
	// the worker's (a stage "pay" running the payment worker).
	name := s.stageName(msg)
	log := s.deps.Log.With(logkey.Stage, name, logkey.OrderID, m.OrderID, logkey.TraceID, msg.TraceID, logkey.MessageID, msg.ID, logkey.ReceiveCount, msg.ReceiveCount)

	st, err := s.deps.Store.StartStage(ctx, m.OrderID, name, msg.ID, s.deps.Now())
	switch {
	case errors.Is(err, orders.ErrDuplicate):
		// Another message of the order is doing this stage's work (the
		// sweeper re-sent an order that was only waiting, or a stage
		// forwarded it twice). That message ends the stage and forwards
		// the order, or comes back until it does or is dead-lettered.
		log.Info("another message of the order holds the stage; dropping this duplicate", logkey.HeldBy, st.MessageID)
		return workers.Output{Drop: true}, nil
	case errors.Is(err, orders.ErrWithdrawn):
		// Its send reported a failure, so the API withdrew it and told
		// the client to retry; the message arrived all the same.
		log.Warn("order withdrawn by the API (its send reported a failure and the client was told to retry); dropping the message")
		return workers.Output{Drop: true}, nil
	case errors.Is(err, orders.ErrNotFound):
		return workers.Output{}, workers.Permanent(fmt.Errorf("%s: %w", s.worker, err))
	case errors.Is(err, orders.ErrCompleted):
		log.Info("order already completed; dropping the message")
		return workers.Output{Drop: true}, nil
	case err != nil:
		return workers.Output{}, fmt.Errorf("%s: %w", s.worker, err)
	}
	if st.Ended() {
		// A redelivery, or a forward repeated after a crash: the work is
		// done. Succeed so the runtime forwards again; the next stage
		// skips it the same way if it has seen it.
		log.Info("stage already ended; not redoing the work", logkey.EndedAt, st.EndedAt)
		if s.deps.Last {
			// A crash cannot separate the end from the completion
			// (EndStage writes both), but an order ended by an older
			// worker that was not last is completed here.
			if _, err := s.deps.Store.Complete(ctx, m.OrderID, st.EndedAt); err != nil {
				return workers.Output{}, fmt.Errorf("%s: %w", s.worker, err)
			}
		}
		s.ended(m.OrderID, msg)
		return workers.Output{}, nil
	}
	s.event(events.Started, m.OrderID, msg)
	if st.Attempts > 1 {
		log.Info("redoing work of an unfinished earlier attempt", logkey.Attempts, st.Attempts)
	}

	d := s.deps.Config.Scale(s.base(s.deps.Config, m.Items), s.deps.Rand())
	if err := sleep(ctx, d); err != nil {
		return workers.Output{}, fmt.Errorf("%s: order %s: stopped after starting %s of work: %w", s.worker, m.OrderID, d.Round(time.Millisecond), err)
	}

	applied, err := s.deps.Store.EndStage(ctx, m.OrderID, name, s.deps.Now(), s.deps.Last)
	switch {
	case errors.Is(err, orders.ErrNotFound):
		return workers.Output{}, workers.Permanent(fmt.Errorf("%s: order deleted mid-work: %w", s.worker, err))
	case err != nil:
		return workers.Output{}, fmt.Errorf("%s: %w", s.worker, err)
	case !applied:
		log.Info("a concurrent delivery ended the stage first")
	}
	s.ended(m.OrderID, msg)
	return workers.Output{}, nil
}

// ended publishes the stage's finished event, and completed at the last
// stage.
func (s stage) ended(id string, msg workers.Message) {
	s.event(events.Finished, id, msg)
	if s.deps.Last {
		s.event(events.Completed, id, msg)
	}
}

// sleep waits d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
