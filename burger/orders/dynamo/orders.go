// Order writes and reads: each state change one conditional write.

package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
)

// Create writes a new order. It fails with orders.ErrExists if the id is
// taken, so it never overwrites, and with orders.ErrWithdrawn if the order
// was withdrawn: a write that lands after its withdrawal writes nothing.
func (s *Store) Create(ctx context.Context, o orders.Order) error {
	it := toItem(o)
	if o.Status == orders.Accepted && len(o.Stages) == 0 {
		// Listed in the sweep index until its first stage starts.
		it.SweepShard, it.SweepAt = sweepShard(o.ID), o.CreatedAt.Add(s.sweepAfter).UnixMilli()
	}
	item, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	if conditionFailed(err) {
		if _, err := s.Get(ctx, o.ID); errors.Is(err, orders.ErrWithdrawn) {
			return fmt.Errorf("create order %s: %w", o.ID, orders.ErrWithdrawn)
		}
		return fmt.Errorf("create order %s: %w", o.ID, orders.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return nil
}

// Get reads an order, consistently: a stage or the API sees every write
// that came before. A missing order is orders.ErrNotFound; a withdrawn one
// is orders.ErrWithdrawn (which is ErrNotFound too).
func (s *Store) Get(ctx context.Context, id string) (orders.Order, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return orders.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if out.Item == nil {
		return orders.Order{}, fmt.Errorf("order %s: %w", id, orders.ErrNotFound)
	}
	var it orderItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return orders.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	switch it.Kind {
	case kindOrder:
		return it.order(), nil
	case kindWithdrawn:
		return orders.Order{}, fmt.Errorf("order %s: %w", id, orders.ErrWithdrawn)
	}
	return orders.Order{}, fmt.Errorf("order %s: %w", id, orders.ErrNotFound)
}

// GetMany reads the orders with the given ids, 100 to a BatchGetItem as
// DynamoDB allows, retrying keys it leaves unprocessed. Ids with no order
// are absent from the result. Callers that track a batch of orders (the
// local runner waiting for its orders) use it instead of one Get each.
func (s *Store) GetMany(ctx context.Context, ids []string) (map[string]orders.Order, error) {
	return s.getMany(ctx, ids, true)
}

func (s *Store) getMany(ctx context.Context, ids []string, consistent bool) (map[string]orders.Order, error) {
	out := make(map[string]orders.Order, len(ids))
	for start := 0; start < len(ids); start += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, id := range ids[start:min(start+100, len(ids))] {
			keys = append(keys, key(id))
		}
		req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(consistent)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				// Unprocessed keys mean the table is busy: back off.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
			}
			cctx, cancel := s.call(ctx)
			res, err := s.db.BatchGetItem(cctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("get %d orders: %w", len(keys), err)
			}
			var items []orderItem
			if err := attributevalue.UnmarshalListOfMaps(res.Responses[s.table], &items); err != nil {
				return nil, fmt.Errorf("get %d orders: %w", len(keys), err)
			}
			for _, it := range items {
				if it.Kind == kindOrder {
					out[it.ID] = it.order()
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// Withdraw takes back an order that no stage has started: the API's
// compensation when it cannot tell whether the order was written, or
// whether it reached the first queue. It leaves a tombstone in the order's
// place, whether or not the order was there, rather than deleting it: a
// write of the order still under way then lands on the tombstone and
// writes nothing (Create fails with orders.ErrWithdrawn), and a message of
// the order that reached a queue after all finds it withdrawn (StartStage
// fails with orders.ErrWithdrawn) and is dropped. A deleted order would
// instead come back as accepted and never sent, or send its message to a
// DLQ. An order already in progress is orders.ErrStarted and is left
// alone; withdrawing twice is harmless.
func (s *Store) Withdraw(ctx context.Context, id string, at time.Time) error {
	item, err := attributevalue.MarshalMap(tombstoneItem{
		ID: id, Kind: kindWithdrawn, WithdrawnAt: at.UTC(), ExpiresAt: at.Add(TombstoneTTL).Unix(),
	})
	if err != nil {
		return fmt.Errorf("withdraw order %s: %w", id, err)
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	_, err = s.db.PutItem(cctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(id) OR #kind = :withdrawn OR (#kind = :order AND #status = :accepted)"),
		ExpressionAttributeNames:  map[string]string{"#kind": "kind", "#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":order": str(kindOrder), ":withdrawn": str(kindWithdrawn), ":accepted": str(string(orders.Accepted))},
	})
	if conditionFailed(err) {
		if _, err := s.Get(ctx, id); err != nil {
			return fmt.Errorf("withdraw order %s: %w", id, err)
		}
		return fmt.Errorf("withdraw order %s: %w", id, orders.ErrStarted)
	}
	if err != nil {
		return fmt.Errorf("withdraw order %s: %w", id, err)
	}
	return nil
}

// update runs one conditional UpdateItem on an order and returns the
// order as written, or the raw error (a failed condition included).
func (s *Store) update(ctx context.Context, id, update, cond string, names map[string]string, values map[string]types.AttributeValue) (orders.Order, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	in := updateInput(s.table, id, update, cond, names, values)
	in.ReturnValues = types.ReturnValueAllNew
	out, err := s.db.UpdateItem(ctx, in)
	if err != nil {
		return orders.Order{}, err
	}
	var it orderItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return orders.Order{}, err
	}
	return it.order(), nil
}

// write runs one conditional UpdateItem on an order, returning nothing
// but the raw error: for the writes whose caller needs no state back,
// DynamoDB then sends back no item (and the SDK decodes none).
func (s *Store) write(ctx context.Context, id, update, cond string, names map[string]string, values map[string]types.AttributeValue) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.db.UpdateItem(ctx, updateInput(s.table, id, update, cond, names, values))
	return err
}

// updateInput is one conditional UpdateItem on an order.
func updateInput(table, id, update, cond string, names map[string]string, values map[string]types.AttributeValue) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                 &table,
		Key:                       key(id),
		UpdateExpression:          &update,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// StartStage records that stage started work on order id at the given
// time, on behalf of the SQS message messageID, and returns the stage's
// state:
//
//   - first delivery: the stage's state is created (Attempts 1), held by
//     messageID, and the order moves to in-progress;
//   - a redelivery of the holding message while the stage has not ended
//     (a worker failed or was stopped mid-work): Attempts grows,
//     StartedAt stays;
//   - another message of the order while the stage has not ended (a
//     duplicate: the sweeper re-sent an order that was only waiting, or
//     a stage forwarded it twice): orders.ErrDuplicate, with the state,
//     and nothing is written: the holder does the work, not both;
//   - the stage has ended: the state is returned unchanged, Ended() true,
//     and the caller must not redo the work.
//
// An empty messageID holds nothing and is held by nothing: any delivery
// may start the work again (as before stages were held). An unknown order
// is orders.ErrNotFound; a completed order on which the stage never ran is
// orders.ErrCompleted.
func (s *Store) StartStage(ctx context.Context, id, stage, messageID string, at time.Time) (orders.StageState, error) {
	fresh := map[string]types.AttributeValue{"startedAt": timeValue(at), "attempts": &types.AttributeValueMemberN{Value: "1"}}
	again, againCond := "SET stages.#s.attempts = stages.#s.attempts + :one", "attribute_exists(stages.#s) AND attribute_not_exists(stages.#s.endedAt)"
	againValues := map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}
	if messageID != "" {
		fresh["messageId"] = str(messageID)
		// A stage held by no message was started by an older worker:
		// any delivery may take it over, as then.
		againCond += " AND (attribute_not_exists(stages.#s.messageId) OR stages.#s.messageId = :mid)"
		againValues[":mid"] = str(messageID)
	}
	// Three rounds cover every interleaving with a concurrent delivery:
	// each failed round means the state moved forward in between.
	for range 3 {
		// The first start of the first stage takes the order out of
		// the sweep index: it is no longer only accepted.
		o, err := s.update(ctx, id,
			"SET stages.#s = :fresh, #status = :inprogress REMOVE #shard, #at",
			"#kind = :order AND attribute_not_exists(stages.#s) AND #status <> :completed",
			map[string]string{"#s": stage, "#kind": "kind", "#status": "status", "#shard": pipeline.OrderTableSweepShard, "#at": pipeline.OrderTableSweepAt},
			map[string]types.AttributeValue{
				":fresh":      &types.AttributeValueMemberM{Value: fresh},
				":inprogress": str(string(orders.InProgress)),
				":completed":  str(string(orders.Completed)),
				":order":      str(kindOrder),
			})
		if err == nil {
			return o.Stages[stage], nil
		}
		if !conditionFailed(err) {
			return orders.StageState{}, fmt.Errorf("start %s on order %s: %w", stage, id, err)
		}
		o, err = s.update(ctx, id, again, againCond, map[string]string{"#s": stage}, againValues)
		if err == nil {
			return o.Stages[stage], nil
		}
		if !conditionFailed(err) {
			return orders.StageState{}, fmt.Errorf("restart %s on order %s: %w", stage, id, err)
		}
		o, err = s.Get(ctx, id)
		if err != nil {
			return orders.StageState{}, fmt.Errorf("start %s: %w", stage, err)
		}
		st, ok := o.Stages[stage]
		switch {
		case ok && st.Ended():
			return st, nil
		case ok && messageID != "" && st.MessageID != "" && st.MessageID != messageID:
			return st, fmt.Errorf("start %s on order %s with message %s: held by message %s: %w", stage, id, messageID, st.MessageID, orders.ErrDuplicate)
		case !ok && o.Status == orders.Completed:
			return orders.StageState{}, fmt.Errorf("start %s on order %s: %w", stage, id, orders.ErrCompleted)
		}
	}
	return orders.StageState{}, fmt.Errorf("start %s on order %s: its state kept changing under concurrent deliveries", stage, id)
}

// EndStage records that stage finished its work on order id. With
// complete, the same write also marks the order completed, so the last
// stage's end and the order's completion cannot be separated by a crash.
// It reports whether this call applied the end: false means an earlier
// delivery already had, and nothing was written. Ending a stage that never
// started is orders.ErrNotStarted.
func (s *Store) EndStage(ctx context.Context, id, stage string, at time.Time, complete bool) (bool, error) {
	update := "SET stages.#s.endedAt = :at"
	cond := "attribute_exists(stages.#s) AND attribute_not_exists(stages.#s.endedAt)"
	names := map[string]string{"#s": stage}
	values := map[string]types.AttributeValue{":at": timeValue(at)}
	if complete {
		update += ", #status = :completed, completedAt = :at"
		cond += " AND #status <> :completed"
		names["#status"] = "status"
		values[":completed"] = str(string(orders.Completed))
	}
	err := s.write(ctx, id, update, cond, names, values)
	if err == nil {
		return true, nil
	}
	if !conditionFailed(err) {
		return false, fmt.Errorf("end %s on order %s: %w", stage, id, err)
	}
	o, err := s.Get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("end %s: %w", stage, err)
	}
	st, ok := o.Stages[stage]
	switch {
	case !ok:
		return false, fmt.Errorf("end %s on order %s: %w", stage, id, orders.ErrNotStarted)
	case st.Ended():
		return false, nil
	case complete && o.Status == orders.Completed:
		// Completed by someone else (Complete); end the stage alone.
		return s.EndStage(ctx, id, stage, at, false)
	}
	return false, fmt.Errorf("end %s on order %s: condition failed on a started, unended stage of an order in status %s", stage, id, o.Status)
}

// Complete marks order id completed at the given time, at most once: it
// reports whether this call did. The last stage completes orders through
// EndStage; Complete repairs an order whose last stage ended without it.
func (s *Store) Complete(ctx context.Context, id string, at time.Time) (bool, error) {
	err := s.write(ctx, id,
		"SET #status = :completed, completedAt = :at",
		"#kind = :order AND #status <> :completed",
		map[string]string{"#status": "status", "#kind": "kind"},
		map[string]types.AttributeValue{":completed": str(string(orders.Completed)), ":at": timeValue(at), ":order": str(kindOrder)})
	if err == nil {
		return true, nil
	}
	if !conditionFailed(err) {
		return false, fmt.Errorf("complete order %s: %w", id, err)
	}
	if _, err := s.Get(ctx, id); err != nil {
		return false, fmt.Errorf("complete: %w", err)
	}
	return false, nil
}

// Recent returns up to n orders, newest first. It scans the whole table,
// so it is for local dashboards, tests and demos only: against a real
// table its cost grows with every order ever placed. What a deployed
// reader needs (the API's live page) is RecentIDs, through an index.
func (s *Store) Recent(ctx context.Context, n int) ([]orders.Order, error) {
	var all []orders.Order
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          aws.String("#kind = :order"),
		ExpressionAttributeNames:  map[string]string{"#kind": "kind"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":order": str(kindOrder)},
	})
	for p.HasMorePages() {
		cctx, cancel := s.call(ctx)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("scan orders: %w", err)
		}
		var items []orderItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("scan orders: %w", err)
		}
		for _, it := range items {
			all = append(all, it.order())
		}
	}
	// ULIDs sort by creation time.
	slices.SortFunc(all, func(a, b orders.Order) int { return strings.Compare(b.ID, a.ID) })
	if len(all) > n {
		all = all[:n]
	}
	return all, nil
}
