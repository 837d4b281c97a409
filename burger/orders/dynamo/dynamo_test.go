package dynamo_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

func TestMain(m *testing.M) { emutest.Main(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func newOrder(t *testing.T) orders.Order {
	t.Helper()
	return orders.New(orders.Request{Items: []orders.Line{{Item: "burger", Quantity: 2}, {Item: "fries", Quantity: 1}}}, t0)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestCreateGetRoundTripAndNeverOverwrite(t *testing.T) {
	s := emutest.Table(t)
	o := newOrder(t)
	o.PlacedBy = "auth0|user-42"
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx(t), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || got.Status != orders.Accepted || got.TraceID != o.TraceID || got.PlacedBy != o.PlacedBy || !got.CreatedAt.Equal(o.CreatedAt) ||
		len(got.Items) != 2 || got.Items[0] != o.Items[0] || len(got.Stages) != 0 || !got.CompletedAt.IsZero() {
		t.Errorf("Get = %+v, want %+v", got, o)
	}
	again := o
	again.TraceID = "different"
	if err := s.Create(ctx(t), again); !errors.Is(err, orders.ErrExists) {
		t.Errorf("second Create of %s = %v, want ErrExists", o.ID, err)
	}
	if got, _ := s.Get(ctx(t), o.ID); got.TraceID != o.TraceID {
		t.Errorf("a failed Create overwrote the order: trace %q", got.TraceID)
	}
	if _, err := s.Get(ctx(t), orders.NewID(t0)); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestStageLifecycleAppliesOnce(t *testing.T) {
	s := emutest.Table(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	st, err := s.StartStage(ctx(t), o.ID, "grill", at(100))
	if err != nil || st.Attempts != 1 || !st.StartedAt.Equal(at(100)) || st.Ended() {
		t.Fatalf("first StartStage = %+v, %v; want attempt 1 started at +100ms", st, err)
	}
	if got, _ := s.Get(ctx(t), o.ID); got.Status != orders.InProgress {
		t.Errorf("status after a stage started = %s, want in-progress", got.Status)
	}
	// A redelivery before the stage ended: another attempt, same start.
	st, err = s.StartStage(ctx(t), o.ID, "grill", at(200))
	if err != nil || st.Attempts != 2 || !st.StartedAt.Equal(at(100)) {
		t.Fatalf("second StartStage = %+v, %v; want attempt 2, start kept", st, err)
	}
	applied, err := s.EndStage(ctx(t), o.ID, "grill", at(2200), false)
	if err != nil || !applied {
		t.Fatalf("EndStage = %v, %v; want applied", applied, err)
	}
	applied, err = s.EndStage(ctx(t), o.ID, "grill", at(9999), false)
	if err != nil || applied {
		t.Fatalf("second EndStage = %v, %v; want not applied, no error", applied, err)
	}
	// A redelivery after the end: nothing changes, the caller sees Ended.
	st, err = s.StartStage(ctx(t), o.ID, "grill", at(3000))
	if err != nil || !st.Ended() || st.Attempts != 2 || !st.EndedAt.Equal(at(2200)) {
		t.Fatalf("StartStage after end = %+v, %v; want ended at +2200ms after 2 attempts", st, err)
	}
	got, err := s.Get(ctx(t), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Stages["grill"]; g.Attempts != 2 || !g.EndedAt.Equal(at(2200)) || got.Status != orders.InProgress {
		t.Errorf("stored grill = %+v, status %s", g, got.Status)
	}

	if _, err := s.EndStage(ctx(t), o.ID, "fry", at(1), false); !errors.Is(err, orders.ErrNotStarted) {
		t.Errorf("EndStage of a stage never started = %v, want ErrNotStarted", err)
	}
	if _, err := s.StartStage(ctx(t), orders.NewID(t0), "grill", at(1)); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("StartStage on an unknown order = %v, want ErrNotFound", err)
	}
	if _, err := s.EndStage(ctx(t), orders.NewID(t0), "grill", at(1), true); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("EndStage on an unknown order = %v, want ErrNotFound", err)
	}
}

func TestCompletionHappensOnce(t *testing.T) {
	s := emutest.Table(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(5 * time.Second)
	if _, err := s.StartStage(ctx(t), o.ID, "assemble", t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if applied, err := s.EndStage(ctx(t), o.ID, "assemble", end, true); err != nil || !applied {
		t.Fatalf("EndStage(complete) = %v, %v", applied, err)
	}
	if applied, err := s.Complete(ctx(t), o.ID, end.Add(time.Hour)); err != nil || applied {
		t.Errorf("Complete after completion = %v, %v; want not applied", applied, err)
	}
	if applied, err := s.EndStage(ctx(t), o.ID, "assemble", end.Add(time.Hour), true); err != nil || applied {
		t.Errorf("EndStage(complete) again = %v, %v; want not applied", applied, err)
	}
	got, err := s.Get(ctx(t), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != orders.Completed || !got.CompletedAt.Equal(end) || !got.Stages["assemble"].EndedAt.Equal(end) {
		t.Errorf("order = status %s completed %v assemble %+v; want completed once at %v", got.Status, got.CompletedAt, got.Stages["assemble"], end)
	}
	if _, err := s.StartStage(ctx(t), o.ID, "late", end); !errors.Is(err, orders.ErrCompleted) {
		t.Errorf("StartStage of a new stage on a completed order = %v, want ErrCompleted", err)
	}
	if _, err := s.Complete(ctx(t), orders.NewID(t0), end); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Complete(unknown) = %v, want ErrNotFound", err)
	}
}

// TestConcurrentDeliveries runs what SQS's at-least-once delivery can do:
// the same message handled by many workers at once. Every start is
// counted, and exactly one end and one completion apply.
func TestConcurrentDeliveries(t *testing.T) {
	s := emutest.Table(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	starts := make([]int, n)
	ends := make([]bool, n)
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() {
			st, err := s.StartStage(ctx(t), o.ID, "payment", t0)
			starts[i], errs[i] = st.Attempts, err
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			ends[i], errs[n+i] = s.EndStage(ctx(t), o.ID, "payment", t0.Add(time.Duration(i)*time.Second), true)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	applied := 0
	for i := range n {
		seen[starts[i]] = true
		if ends[i] {
			applied++
		}
	}
	if len(seen) != n {
		t.Errorf("attempt numbers %v: want %d distinct", starts, n)
	}
	if applied != 1 {
		t.Errorf("%d EndStage calls applied, want exactly 1", applied)
	}
	got, err := s.Get(ctx(t), o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stages["payment"].Attempts != n || got.Status != orders.Completed || !got.CompletedAt.Equal(got.Stages["payment"].EndedAt) {
		t.Errorf("stored = %+v status %s completed %v", got.Stages["payment"], got.Status, got.CompletedAt)
	}
}

func TestWithdrawOnlyUnstartedOrdersAndKeepThemWithdrawn(t *testing.T) {
	s := emutest.Table(t)
	a, b, late := newOrder(t), newOrder(t), newOrder(t)
	for _, o := range []orders.Order{a, b} {
		if err := s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.StartStage(ctx(t), b.ID, "payment", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Withdraw(ctx(t), a.ID, t0); err != nil {
		t.Errorf("Withdraw(accepted) = %v", err)
	}
	if _, err := s.Get(ctx(t), a.ID); !errors.Is(err, orders.ErrWithdrawn) || !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Get after Withdraw = %v, want ErrWithdrawn, which is ErrNotFound too", err)
	}
	if err := s.Withdraw(ctx(t), a.ID, t0); err != nil {
		t.Errorf("Withdraw twice = %v, want nil", err)
	}
	if err := s.Withdraw(ctx(t), b.ID, t0); !errors.Is(err, orders.ErrStarted) {
		t.Errorf("Withdraw(in progress) = %v, want ErrStarted", err)
	}
	if got, err := s.Get(ctx(t), b.ID); err != nil || got.Status != orders.InProgress {
		t.Errorf("a refused Withdraw changed the order: %+v, %v", got, err)
	}

	// A write that lands after the withdrawal writes nothing, and a stage
	// that receives the order's message anyway is told it was withdrawn.
	if err := s.Withdraw(ctx(t), late.ID, t0); err != nil {
		t.Fatalf("Withdraw(not written yet) = %v", err)
	}
	if err := s.Create(ctx(t), late); !errors.Is(err, orders.ErrWithdrawn) {
		t.Errorf("Create after Withdraw = %v, want ErrWithdrawn", err)
	}
	if _, err := s.StartStage(ctx(t), late.ID, "payment", t0); !errors.Is(err, orders.ErrWithdrawn) {
		t.Errorf("StartStage of a withdrawn order = %v, want ErrWithdrawn", err)
	}
	all, err := s.Recent(ctx(t), 10)
	if err != nil || len(all) != 1 || all[0].ID != b.ID {
		t.Errorf("Recent = %v, %v; want only the order in progress", all, err)
	}
	many, err := s.GetMany(ctx(t), []string{a.ID, b.ID, late.ID})
	if err != nil || len(many) != 1 {
		t.Errorf("GetMany = %v, %v; want only the order in progress", many, err)
	}
}

func TestIdempotencyRecords(t *testing.T) {
	s := emutest.Table(t)
	rec := orders.Idempotency{Key: "c1b2-retry", OrderID: orders.NewID(t0), TraceID: orders.NewTraceID(), RequestHash: "h1", PlacedBy: "user-42", CreatedAt: t0}
	if err := s.PutIdempotency(ctx(t), rec); err != nil {
		t.Fatal(err)
	}
	other := rec
	other.OrderID, other.RequestHash = orders.NewID(t0), "h2"
	if err := s.PutIdempotency(ctx(t), other); !errors.Is(err, orders.ErrExists) {
		t.Fatalf("second claim = %v, want ErrExists", err)
	}
	got, err := s.GetIdempotency(ctx(t), rec.Key)
	if err != nil || got != rec {
		t.Fatalf("GetIdempotency = %+v, %v; want %+v", got, err, rec)
	}
	// The record is not an order, whatever id is asked for.
	if _, err := s.Get(ctx(t), "idem#"+rec.Key); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("Get of the idempotency record's id = %v, want ErrNotFound", err)
	}
	if err := s.MarkIdempotencyDone(ctx(t), rec.Key); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetIdempotency(ctx(t), rec.Key); !got.Done {
		t.Error("MarkIdempotencyDone did not stick")
	}
	if err := s.DeleteIdempotency(ctx(t), rec.Key, other.OrderID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdempotency(ctx(t), rec.Key); err != nil {
		t.Errorf("a release for another order removed the key: %v", err)
	}
	if err := s.DeleteIdempotency(ctx(t), rec.Key, rec.OrderID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdempotency(ctx(t), rec.Key); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("GetIdempotency after release = %v, want ErrNotFound", err)
	}
	if err := s.MarkIdempotencyDone(ctx(t), "never-claimed"); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("MarkIdempotencyDone(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRecentNewestFirstOrdersOnly(t *testing.T) {
	s := emutest.Table(t)
	var ids []string
	for i := range 3 {
		o := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, t0.Add(time.Duration(i)*time.Second))
		if err := s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	if err := s.PutIdempotency(ctx(t), orders.Idempotency{Key: "k", OrderID: ids[0], CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Recent(ctx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[1] {
		t.Errorf("Recent(2) = %d orders %v, want %s, %s", len(got), got, ids[2], ids[1])
	}
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

func TestGetManyReadsBatchesAndSkipsMissing(t *testing.T) {
	s := emutest.Table(t)
	var ids []string
	for range 230 { // three BatchGetItem calls
		o := newOrder(t)
		o.ID = orders.NewID(time.Now())
		if err := s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	missing := orders.NewID(time.Now())
	got, err := s.GetMany(ctx(t), append(ids, missing))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Errorf("GetMany returned %d orders, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if got[id].ID != id || got[id].Status != orders.Accepted {
			t.Errorf("order %s = %+v", id, got[id])
			break
		}
	}
	if _, ok := got[missing]; ok {
		t.Error("GetMany returned an order for an id never created")
	}
}
