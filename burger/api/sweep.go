// The sweeper: orders left accepted because their API task died between
// writing and sending them are found and sent again.

package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers/logkey"
)

// SweepStore is what the sweeper needs of the order store
// (orders/dynamo.Store): the orders still accepted past their due time,
// read from an index rather than a scan, and a claim that lets one
// sweeper of several send each.
type SweepStore interface {
	Stranded(ctx context.Context, now time.Time, limit int) ([]orders.Stranded, error)
	ClaimResend(ctx context.Context, st orders.Stranded, now time.Time) (orders.Order, error)
}

// sweepBatch bounds the orders one round claims; a larger backlog of
// stranded orders takes several rounds.
const sweepBatch = 500

// Sweeper sends orders left accepted past Config.SweepAfter to the first
// stage's queue again, with their ids, items and trace ids.
//
// It runs in every API task, beside the server and off its request path:
// its only cost to POST /orders is the two index attributes of the order's
// write. Every task sweeping is safe: each order is claimed by one
// conditional write before it is sent, so of several sweepers one sends
// it (orders/dynamo.Store.ClaimResend). An order is accepted until its
// first stage starts, so an order only waiting in a long queue (a backlog,
// a stage scaling from zero) is found too and sent again: the first stage
// drops the duplicate (orders.ErrDuplicate, or the stage found ended), and
// the claim puts its next send off by the order's age, so a waiting order
// is sent at SweepAfter, then when twice as old, and so on, at most
// hourly.
type Sweeper struct {
	cfg   Config
	store SweepStore
	queue Queue
	log   *slog.Logger
	now   func() time.Time
}

// NewSweeper returns the sweeper of the API configured by cfg, over the
// store and queue the API uses.
func NewSweeper(cfg Config, store SweepStore, queue Queue, log *slog.Logger) (*Sweeper, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sweeper{cfg: cfg, store: store, queue: queue, log: log, now: time.Now}, nil
}

// Interval is the time between two rounds: a quarter of SweepAfter, from
// one second to 30 s. A stranded order is sent again at most SweepAfter
// plus Interval after it was written; the rounds cost one Query per index
// shard each (eight), whatever the load.
func (sw *Sweeper) Interval() time.Duration {
	return min(max(sw.cfg.SweepAfter/4, time.Second), 30*time.Second)
}

// Run sweeps every Interval until ctx ends. It fails only by logging: a
// round that cannot read the index or send an order leaves it for the
// next round.
func (sw *Sweeper) Run(ctx context.Context) {
	interval := sw.Interval()
	sw.log.Info("sweeping orders left accepted", logkey.SweepAfter, sw.cfg.SweepAfter.String())
	// API tasks started together would sweep in step; a random first
	// wait spreads them over the interval.
	t := time.NewTimer(time.Duration(rand.Int64N(int64(interval))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sw.Sweep(ctx)
		t.Reset(interval)
	}
}

// SweepResult is what one round did.
type SweepResult struct {
	// Stranded orders the index listed as due; Resent of them were
	// claimed and sent; Skipped were claimed by another sweeper or
	// started in the meantime; Failed could not be claimed or sent
	// (they are due again later).
	Stranded, Resent, Skipped, Failed int
}

// Sweep runs one round: it reads the orders due, claims each and sends it.
func (sw *Sweeper) Sweep(ctx context.Context) SweepResult {
	now := sw.now()
	var res SweepResult
	due, err := sw.store.Stranded(ctx, now, sweepBatch)
	if err != nil {
		sw.log.WarnContext(ctx, "could not read the orders left accepted; the next round tries again", logkey.Error, err)
	}
	res.Stranded = len(due)
	for _, st := range due {
		if ctx.Err() != nil {
			break
		}
		switch err := sw.resend(ctx, st, now); {
		case err == nil:
			res.Resent++
		case errors.Is(err, orders.ErrNotStranded):
			res.Skipped++
		default:
			res.Failed++
			sw.log.WarnContext(ctx, "could not send again an order left accepted; it is due again later", logkey.OrderID, st.ID, logkey.Error, err)
		}
	}
	if res.Resent > 0 || res.Failed > 0 {
		sw.log.WarnContext(ctx, "sent orders left accepted to the first stage again",
			logkey.Stranded, res.Stranded, logkey.Resent, res.Resent, logkey.Failed, res.Failed, logkey.SweepAfter, sw.cfg.SweepAfter.String())
	}
	return res
}

// resend claims one stranded order and sends it. Once claimed, the send
// goes ahead even if the task is shutting down: a claim not followed by
// its send puts the order off by a whole backoff.
func (sw *Sweeper) resend(ctx context.Context, st orders.Stranded, now time.Time) error {
	ctx = context.WithoutCancel(ctx)
	cctx, cancel := context.WithTimeout(ctx, sw.cfg.AWSTimeout)
	o, err := sw.store.ClaimResend(cctx, st, now)
	cancel()
	if err != nil {
		return err
	}
	cctx, cancel = context.WithTimeout(ctx, sw.cfg.AWSTimeout)
	defer cancel()
	if err := send(cctx, sw.queue, sw.cfg.NextQueueURL, o); err != nil {
		return fmt.Errorf("claimed, not sent: %w", err)
	}
	sw.log.InfoContext(ctx, "sent an order left accepted to the first stage again",
		logkey.OrderID, o.ID, logkey.TraceID, o.TraceID, logkey.Resends, o.Resends, logkey.Waited, now.Sub(o.CreatedAt).Round(time.Millisecond).String())
	return nil
}
