// The sweep index: finding orders left accepted, without a scan.
//
// An order is written with two extra attributes, the keys of the sparse
// global secondary index pipeline.OrderTableSweepIndex: a shard (hash key)
// and the time it is due for sending again (range key, epoch ms: its
// creation plus SweepAfter). The first start of its first stage removes
// both in the same write that moves it to in-progress; a withdrawal
// replaces the whole item. So the index holds exactly the orders no stage
// has started, each listed once, and stays as small as the orders in the
// first queue. The sweep asks each shard for the due ones with a Query
// (`sweepShard = :s AND sweepAt <= :now`); it never scans the table.
//
// Sending one again is claimed first, by a conditional write that moves
// its due time forward (and counts the resend) only if it is still
// accepted and still due at the time the sweep read: of several sweepers
// (one per API task) reading the same order, one wins and sends it; the
// others' writes fail and they skip it.

package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
)

// DefaultSweepAfter is how long an order may stay accepted before the sweep
// may send it again, unless Config says otherwise: the stack's default. An
// order that was only waiting in the queue when sent again costs a
// duplicate message, which the first stage drops (orders.ErrDuplicate).
const DefaultSweepAfter = pipeline.DefaultSweepAfter

// MaxSweepBackoff caps the time between two sends of an order that stays
// accepted: the gap doubles with the order's age (sends at SweepAfter, 2×,
// 4×, … its age) so that orders waiting in a long backlog are not
// multiplied, and then stays at an hour.
const MaxSweepBackoff = time.Hour

// SweepShards is how many shards the sweep index's hash key spreads
// accepted orders over. A global secondary index's partition takes about
// 1 000 writes a second, and every order writes the index twice (listed,
// then delisted): one shard would throttle the API's order writes at a
// few hundred orders a second, eight take thousands. The sweep queries all
// eight each round.
const SweepShards = 8

// sweepShard spreads order ids over the shards.
func sweepShard(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return strconv.Itoa(int(h.Sum32() % SweepShards))
}

// sweepKeys is the shape of the sweep index's items (keys only).
type sweepKeys struct {
	ID      string `dynamodbav:"id"`
	SweepAt int64  `dynamodbav:"sweepAt"`
}

// Stranded returns up to limit orders that are still accepted past their
// due time at now, the longest overdue first within each shard. The index
// is eventually consistent: an order just started may still be listed
// (ClaimResend then refuses it), one just written may not be yet.
func (s *Store) Stranded(ctx context.Context, now time.Time, limit int) ([]orders.Stranded, error) {
	var out []orders.Stranded
	for shard := range SweepShards {
		p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(pipeline.OrderTableSweepIndex),
			KeyConditionExpression:    aws.String("#shard = :shard AND #at <= :now"),
			ExpressionAttributeNames:  map[string]string{"#shard": pipeline.OrderTableSweepShard, "#at": pipeline.OrderTableSweepAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{":shard": str(strconv.Itoa(shard)), ":now": millis(now)},
			Limit:                     aws.Int32(int32(min(limit, 100))),
		})
		for p.HasMorePages() && len(out) < limit {
			cctx, cancel := s.call(ctx)
			page, err := p.NextPage(cctx)
			cancel()
			if err != nil {
				return out, fmt.Errorf("query the sweep index, shard %d: %w", shard, err)
			}
			var keys []sweepKeys
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &keys); err != nil {
				return out, fmt.Errorf("query the sweep index, shard %d: %w", shard, err)
			}
			for _, k := range keys {
				if len(out) < limit {
					out = append(out, orders.Stranded{ID: k.ID, Due: time.UnixMilli(k.SweepAt)})
				}
			}
		}
	}
	return out, nil
}

// ClaimResend claims a stranded order for sending again at now: if it is
// still accepted and still due at st.Due, its next due time moves forward
// (by its age, at least SweepAfter, at most MaxSweepBackoff) and its
// resend count grows, in one conditional write, and the order is returned
// to be sent. Anything else (a stage started it, it was withdrawn, another
// sweeper claimed it first) is orders.ErrNotStranded, and the order must
// not be sent.
//
// A claim whose send then fails, or whose sweeper dies before sending,
// leaves the order due again at its next due time: nothing is lost, the
// rescue is only later.
func (s *Store) ClaimResend(ctx context.Context, st orders.Stranded, now time.Time) (orders.Order, error) {
	age := now.Sub(orders.IDTime(st.ID))
	next := now.Add(min(max(age, s.sweepAfter), MaxSweepBackoff))
	names := map[string]string{"#kind": "kind", "#status": "status", "#at": pipeline.OrderTableSweepAt}
	o, err := s.update(ctx, st.ID,
		"SET #at = :next ADD resends :one",
		"#kind = :order AND #status = :accepted AND #at = :due",
		names,
		map[string]types.AttributeValue{
			":next": millis(next), ":due": millis(st.Due), ":one": &types.AttributeValueMemberN{Value: "1"},
			":order": str(kindOrder), ":accepted": str(string(orders.Accepted)),
		})
	if err == nil {
		return o, nil
	}
	if !conditionFailed(err) {
		return orders.Order{}, fmt.Errorf("claim order %s for sending again: %w", st.ID, err)
	}
	// Usually another sweeper won, or the first stage started the order
	// since the index was read. An order started by a worker that does
	// not delist it (an older one, during a deployment) would stay in
	// the index for ever, read each round: delist it.
	names["#shard"] = pipeline.OrderTableSweepShard
	cctx, cancel := s.call(ctx)
	defer cancel()
	_, err = s.db.UpdateItem(cctx, updateInput(s.table, st.ID, "REMOVE #shard, #at",
		"attribute_exists(#at) AND (#kind <> :order OR #status <> :accepted)", names,
		map[string]types.AttributeValue{":order": str(kindOrder), ":accepted": str(string(orders.Accepted))}))
	if err != nil && !conditionFailed(err) {
		return orders.Order{}, fmt.Errorf("claim order %s for sending again: %w (and delisting it: %w)", st.ID, orders.ErrNotStranded, err)
	}
	return orders.Order{}, fmt.Errorf("claim order %s for sending again: %w", st.ID, orders.ErrNotStranded)
}

func millis(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// errNoSweepIndex is EnsureTable's complaint about a table made before the
// index.
var errNoSweepIndex = errors.New("has no " + pipeline.OrderTableSweepIndex + " index (an older linecook made it, and DynamoDB emulators cannot add one): delete the table and let it be made again")
