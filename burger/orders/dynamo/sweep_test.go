package dynamo_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

// sweepStore is a store on a fresh table whose orders are due for the
// sweep a minute after they were created.
func sweepStore(t *testing.T) (*dynamo.Store, *dynamodb.Client) {
	t.Helper()
	db := dynamodb.NewFromConfig(emutest.Config(t))
	return dynamo.New(db, dynamo.Config{Table: emutest.Table(t).Table(), SweepAfter: time.Minute}), db
}

func strandedIDs(t *testing.T, s *dynamo.Store, now time.Time) []string {
	t.Helper()
	got, err := s.Stranded(ctx(t), now, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range got {
		ids = append(ids, st.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestSweepFindsOnlyOrdersLeftAccepted: the index lists an order from its
// write until its first stage starts, and the sweep sees it only once it
// is due; a withdrawn order is not listed.
func TestSweepFindsOnlyOrdersLeftAccepted(t *testing.T) {
	s, _ := sweepStore(t)
	var ids []string
	for i := range 4 {
		o := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, t0.Add(time.Duration(i)*10*time.Second))
		if err := s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	started, withdrawn := ids[1], ids[2]
	if _, err := s.StartStage(ctx(t), started, "payment", "m1", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Withdraw(ctx(t), withdrawn, t0); err != nil {
		t.Fatal(err)
	}
	if got := strandedIDs(t, s, t0.Add(59*time.Second)); len(got) != 0 {
		t.Errorf("Stranded before any order was due = %v, want none", got)
	}
	if got, want := strandedIDs(t, s, t0.Add(time.Minute)), []string{ids[0]}; !slices.Equal(got, want) {
		t.Errorf("Stranded when the first is due = %v, want %v", got, want)
	}
	if got, want := strandedIDs(t, s, t0.Add(time.Hour)), []string{ids[0], ids[3]}; !slices.Equal(got, want) {
		t.Errorf("Stranded an hour on = %v, want the two accepted orders %v (not the started %s, not the withdrawn %s)", got, want, started, withdrawn)
	}
}

// TestClaimResendOnceThenBackOff: of several sweepers reading the same
// stranded order, one claims it, keeping its trace id; the order is due
// again only after its age has passed once more.
func TestClaimResendOnceThenBackOff(t *testing.T) {
	s, _ := sweepStore(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(90 * time.Second)
	due, err := s.Stranded(ctx(t), now, 10)
	if err != nil || len(due) != 1 || due[0].ID != o.ID || !due[0].Due.Equal(t0.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("Stranded = %+v, %v; want %s due at %v", due, err, o.ID, t0.Add(time.Minute))
	}
	const sweepers = 8
	var wg sync.WaitGroup
	claimed := make([]orders.Order, sweepers)
	errs := make([]error, sweepers)
	for i := range sweepers {
		wg.Go(func() { claimed[i], errs[i] = s.ClaimResend(ctx(t), due[0], now) })
	}
	wg.Wait()
	wins := 0
	for i := range sweepers {
		switch {
		case errs[i] == nil:
			wins++
			if got := claimed[i]; got.ID != o.ID || got.TraceID != o.TraceID || got.Resends != 1 || len(got.Items) != 2 || got.Status != orders.Accepted {
				t.Errorf("claimed order = %+v, want %s with its trace id %s, its items, resent once", got, o.ID, o.TraceID)
			}
		case !errors.Is(errs[i], orders.ErrNotStranded):
			t.Errorf("a losing claim = %v, want ErrNotStranded", errs[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent claims won, want exactly 1", wins, sweepers)
	}
	// Due again after its age (90 s) has passed once more.
	if got := strandedIDs(t, s, now.Add(89*time.Second)); len(got) != 0 {
		t.Errorf("Stranded 89 s after the resend = %v, want none yet", got)
	}
	if got := strandedIDs(t, s, now.Add(90*time.Second)); !slices.Equal(got, []string{o.ID}) {
		t.Errorf("Stranded 90 s after the resend = %v, want %s again", got, o.ID)
	}
	got, err := s.Get(ctx(t), o.ID)
	if err != nil || got.Resends != 1 || got.Timeline().Resends != 1 {
		t.Errorf("Get = %+v, %v; want resent once, in the timeline too", got, err)
	}
	// Once its first stage starts, a claim fails and the index drops it.
	if _, err := s.StartStage(ctx(t), o.ID, "payment", "m1", now); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Stranded(ctx(t), now.Add(time.Hour), 10)
	if len(again) != 0 {
		t.Errorf("Stranded after the first stage started = %v, want none", again)
	}
	if _, err := s.ClaimResend(ctx(t), orders.Stranded{ID: o.ID, Due: now.Add(90 * time.Second)}, now.Add(time.Hour)); !errors.Is(err, orders.ErrNotStranded) {
		t.Errorf("ClaimResend of a started order = %v, want ErrNotStranded", err)
	}
}

// TestBackoffIsCapped: an old order is due again an hour after each send,
// not its (days-long) age.
func TestBackoffIsCapped(t *testing.T) {
	s, _ := sweepStore(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(72 * time.Hour)
	due, _ := s.Stranded(ctx(t), now, 10)
	if len(due) != 1 {
		t.Fatalf("Stranded = %v", due)
	}
	if _, err := s.ClaimResend(ctx(t), due[0], now); err != nil {
		t.Fatal(err)
	}
	if got := strandedIDs(t, s, now.Add(dynamo.MaxSweepBackoff)); !slices.Equal(got, []string{o.ID}) {
		t.Errorf("Stranded %s after the resend = %v, want it due again", dynamo.MaxSweepBackoff, got)
	}
}

// TestAStartedOrderLeftInTheIndexIsDelisted: a worker that does not delist
// orders (one older than the index, during a deployment) leaves a started
// order in the index. The sweep must not send it, and must delist it so
// that it does not read it every round.
func TestAStartedOrderLeftInTheIndexIsDelisted(t *testing.T) {
	s, db := sweepStore(t)
	o := newOrder(t)
	if err := s.Create(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	// What an older worker's StartStage wrote: in progress, keys kept.
	if _, err := db.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table()),
		Key:                       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: o.ID}},
		UpdateExpression:          aws.String("SET #status = :p"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: string(orders.InProgress)}},
	}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	due, _ := s.Stranded(ctx(t), now, 10)
	if len(due) != 1 {
		t.Fatalf("Stranded = %v, want the stale entry", due)
	}
	if _, err := s.ClaimResend(ctx(t), due[0], now); !errors.Is(err, orders.ErrNotStranded) {
		t.Errorf("ClaimResend of an order in progress = %v, want ErrNotStranded", err)
	}
	if got := strandedIDs(t, s, now.Add(48*time.Hour)); len(got) != 0 {
		t.Errorf("Stranded after the failed claim = %v, want the entry delisted", got)
	}
	if got, err := s.Get(ctx(t), o.ID); err != nil || got.Status != orders.InProgress {
		t.Errorf("delisting changed the order: %+v, %v", got, err)
	}
}

// TestEnsureTableRefusesATableWithoutTheIndex: a table made before the
// sweep index would take orders the sweep can never find.
func TestEnsureTableRefusesATableWithoutTheIndex(t *testing.T) {
	db := dynamodb.NewFromConfig(emutest.Config(t))
	name := emutest.Name(t)
	if _, err := db.CreateTable(ctx(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	err := dynamo.New(db, dynamo.Config{Table: name}).EnsureTable(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "has no accepted index") {
		t.Errorf("EnsureTable on a table without the index = %v, want an error naming the index", err)
	}
}
