package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/api"
	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/workers"
)

// lateLandingStore's Create reports a timeout at once and performs the
// write only when the test says so: a PutItem still queued in DynamoDB
// when the API gave up on it, which lands after the API has answered.
type lateLandingStore struct {
	api.Store
	land   chan struct{}
	landed chan error
}

func (s lateLandingStore) Create(ctx context.Context, o orders.Order) error {
	go func() {
		<-s.land
		s.landed <- s.Store.Create(context.Background(), o)
	}()
	return fmt.Errorf("create order %s: %w", o.ID, context.DeadlineExceeded)
}

// TestCreateLandingAfterTheAnswerLeavesNoOrder: the API answered 503 for
// an order whose write timed out; when that write lands afterwards, it
// must not leave an order behind, accepted and never sent.
func TestCreateLandingAfterTheAnswerLeavesNoOrder(t *testing.T) {
	late := lateLandingStore{land: make(chan struct{}), landed: make(chan error, 1)}
	f := start(t, func(d *deps) {
		late.Store = d.store
		d.store = late
	})
	if r := f.post(t, burgerAndFries, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with a timed-out write = %d %s, want 503", r.status, r.raw)
	}
	close(late.land)
	if err := <-late.landed; err == nil {
		t.Error("the late write of the order succeeded after the API answered 503")
	}
	if got := f.orders(t); len(got) != 0 {
		t.Errorf("table holds %d orders after a 503 and a late write, want none: %+v", len(got), got)
	}
}

// sentButTimedOut delivers the message, then reports a timeout: SQS took
// the message but its answer came too late.
type sentButTimedOut struct{ api.Queue }

func (q sentButTimedOut) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if _, err := q.Queue.SendMessage(ctx, in, opts...); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("send: %w", context.DeadlineExceeded)
}

// TestMessageOfAWithdrawnOrderIsDroppedNotDeadLettered: the API answered
// 503 for an order whose send reported a timeout, and withdrew it; the
// message reached the queue all the same. The first stage must drop it
// (its client was told to retry, and does, under a new order), not send
// it to the DLQ, whose alarm means "an order could not be made".
func TestMessageOfAWithdrawnOrderIsDroppedNotDeadLettered(t *testing.T) {
	f := start(t, func(d *deps) { d.queue = sentButTimedOut{d.queue} })
	if r := f.post(t, burgerAndFries, nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with a send that timed out = %d %s, want 503", r.status, r.raw)
	}
	msgs := f.received(t)
	if len(msgs) != 1 {
		t.Fatalf("queue holds %d messages, want the one whose send timed out", len(msgs))
	}
	msg := workers.Message{ID: aws.ToString(msgs[0].MessageId), Body: []byte(aws.ToString(msgs[0].Body)), ReceiveCount: 1}
	m, err := orders.DecodeMessage(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, "GET", "/orders/"+m.OrderID, "", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET of the withdrawn order = %d %s, want 404", r.status, r.raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pay := handlers.NewPayment(handlers.Deps{Store: f.store, Config: handlers.Config{Work: f.cfg.Work}, Log: slog.New(slog.DiscardHandler)})
	out, err := pay.Handle(ctx, msg)
	if err != nil || !out.Drop {
		t.Errorf("payment on the withdrawn order's message = %+v, %v; want it dropped without error (permanent: %v)",
			out, err, workers.IsPermanent(err))
	}
	if got := f.orders(t); len(got) != 0 {
		t.Errorf("table holds %d orders, want none", len(got))
	}
	if _, err := f.store.Get(ctx, m.OrderID); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Get of the withdrawn order = %v, want ErrNotFound", err)
	}
}
