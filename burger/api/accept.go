// The accept sequence behind POST /orders: claim the idempotency key, write
// the order, send it to the first stage, and, when a call fails, withdraw
// it so that a 503 leaves nothing half-written. api.go has the handlers.

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/linecook/linecook/burger/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers"
	"github.com/linecook/linecook/workers/logkey"
)

// accept writes o, sends it to the first stage, and answers 202; on
// failure it undoes what it wrote and answers 503. key, when set, is the
// Idempotency-Key claimed for o.
func (s *Server) accept(ctx context.Context, w http.ResponseWriter, r *http.Request, o orders.Order, key string) {
	cctx, cancel := s.call(ctx)
	err := s.store.Create(cctx, o)
	cancel()
	// ErrExists: a retry taking over a crashed request found the order
	// written; sending it (again) is what is left to do.
	if err != nil && !errors.Is(err, orders.ErrExists) {
		// A write that timed out may still land after we answer:
		// withdraw the order whether or not it is there yet, or an order
		// the client was told failed could sit in the table as accepted
		// forever.
		s.compensate(ctx, o, key)
		s.unavailable(w, r, "the order table", err)
		return
	}
	if err := s.send(ctx, o); err != nil {
		s.compensate(ctx, o, key)
		s.unavailable(w, r, "the order queue", err)
		return
	}
	s.markDone(ctx, key)
	s.placed(o)
	s.answerAccepted(w, r, o.ID, o.TraceID, false)
}

// placed publishes o's placed event: after the send, so a subscriber never
// hears of an order the pipeline does not have.
func (s *Server) placed(o orders.Order) {
	s.events.Publish(events.Event{Type: events.Placed, OrderID: o.ID, Time: o.CreatedAt, TraceID: o.TraceID})
}

// send sends o to the first stage's queue, with its trace id as the
// attribute the worker runtime carries from stage to stage.
func (s *Server) send(ctx context.Context, o orders.Order) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.cfg.NextQueueURL),
		MessageBody: aws.String(string(orders.EncodeMessage(o))),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			workers.TraceIDAttribute: {DataType: aws.String("String"), StringValue: aws.String(o.TraceID)},
		},
	})
	if err != nil {
		return fmt.Errorf("send order %s: %w", o.ID, err)
	}
	return nil
}

// compensate withdraws an order that could not be written or sent, then
// releases its key so a retry starts afresh. The key is released only
// once the order is withdrawn: a key released while its order remains
// would let a retry create a second order.
func (s *Server) compensate(ctx context.Context, o orders.Order, key string) {
	cctx, cancel := s.call(ctx)
	err := s.store.Withdraw(cctx, o.ID, s.now())
	cancel()
	switch {
	case errors.Is(err, orders.ErrStarted):
		// The send that reported an error reached the queue after all
		// (its answer was what timed out): a stage has the order, which
		// will complete although this client is told 503.
		s.log.WarnContext(ctx, "an order whose send reported an error was delivered anyway; it will complete",
			logkey.OrderID, o.ID, logkey.TraceID, o.TraceID, logkey.IdempotencyKey, key != "")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "could not withdraw an order that was never sent; it stays accepted and unprocessed",
			logkey.OrderID, o.ID, logkey.TraceID, o.TraceID, logkey.IdempotencyKey, key != "", logkey.Error, err)
		return
	}
	s.release(ctx, key, o.ID)
}

func (s *Server) release(ctx context.Context, key, orderID string) {
	if key == "" {
		return
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.store.DeleteIdempotency(cctx, key, orderID); err != nil {
		// The key stays claimed and unfinished: a retry after the
		// window takes over, finding no order, and creates it.
		s.log.WarnContext(ctx, "could not release an idempotency key", logkey.OrderID, orderID, logkey.TraceID, info(ctx).traceID, logkey.Error, err)
	}
}

func (s *Server) markDone(ctx context.Context, key string) {
	if key == "" {
		return
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.store.MarkIdempotencyDone(cctx, key); err != nil {
		// The order is accepted and sent; only a retry with the key
		// notices (409 within the window, a harmless resend after).
		s.log.WarnContext(ctx, "could not mark an idempotency key done", logkey.TraceID, info(ctx).traceID, logkey.Error, err)
	}
}

// replay answers a request whose Idempotency-Key is already claimed.
func (s *Server) replay(ctx context.Context, w http.ResponseWriter, r *http.Request, req orders.Request, key string) {
	cctx, cancel := s.call(ctx)
	rec, err := s.store.GetIdempotency(cctx, key)
	cancel()
	switch {
	case errors.Is(err, orders.ErrNotFound):
		// Released between our claim attempt and this read: the first
		// request failed and undid itself. A retry claims it afresh.
		s.inProgress(w, "a request with this Idempotency-Key just failed; retry")
		return
	case err != nil:
		s.unavailable(w, r, "the order table", err)
		return
	}
	if caller := info(r.Context()).principal; rec.PlacedBy != "" && rec.PlacedBy != caller {
		// Not a retry: another client's key. Its order is not this
		// client's to see.
		writeError(w, http.StatusUnprocessableEntity, &apiError{
			Message: fmt.Sprintf("Idempotency-Key %q was already used by another client; use a new key for a new order", key),
			Field:   HeaderIdempotency,
		})
		return
	}
	if rec.RequestHash != req.Hash() {
		writeError(w, http.StatusUnprocessableEntity, &apiError{
			Message: fmt.Sprintf("Idempotency-Key %q was already used for a different order (%s); use a new key for a new order", key, rec.OrderID),
			Field:   HeaderIdempotency,
		})
		return
	}
	info(r.Context()).traceID = rec.TraceID
	if rec.Done {
		s.answerAccepted(w, r, rec.OrderID, rec.TraceID, true)
		return
	}
	if s.now().Sub(rec.CreatedAt) < s.cfg.IdempotencyWindow {
		s.inProgress(w, "a request with this Idempotency-Key is still in progress; retry")
		return
	}
	// The request that claimed the key died before finishing. Finish
	// its work, with its order id and trace id.
	o := orders.Order{ID: rec.OrderID, TraceID: rec.TraceID, PlacedBy: rec.PlacedBy, Items: req.Items, Status: orders.Accepted, CreatedAt: rec.CreatedAt, Stages: map[string]orders.StageState{}}
	cctx, cancel = s.call(ctx)
	existing, err := s.store.Get(cctx, o.ID)
	cancel()
	switch {
	case errors.Is(err, orders.ErrWithdrawn):
		// It failed and withdrew its order, but could not release the
		// key. Release it now: the next retry starts afresh.
		s.release(ctx, key, o.ID)
		s.inProgress(w, "a request with this Idempotency-Key failed; retry")
		return
	case errors.Is(err, orders.ErrNotFound):
		s.log.InfoContext(ctx, "taking over an unfinished idempotent request: creating its order", logkey.OrderID, o.ID, logkey.TraceID, o.TraceID)
		s.accept(ctx, w, r, o, key)
		return
	case err != nil:
		s.unavailable(w, r, "the order table", err)
		return
	}
	if existing.Status == orders.Accepted && len(existing.Stages) == 0 {
		s.log.InfoContext(ctx, "taking over an unfinished idempotent request: sending its order", logkey.OrderID, o.ID, logkey.TraceID, o.TraceID)
		if err := s.send(ctx, existing); err != nil {
			// Keep both the order and the key: the next retry
			// tries again.
			s.unavailable(w, r, "the order queue", err)
			return
		}
		s.placed(existing)
	}
	s.markDone(ctx, key)
	s.answerAccepted(w, r, existing.ID, existing.TraceID, true)
}

func (s *Server) inProgress(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusConflict, &apiError{Message: msg, Field: HeaderIdempotency})
}
