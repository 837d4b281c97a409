// The recent index: the newest orders without scanning the table, for the
// order API's live page.

package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/pipeline"
)

// MaxRecent is the most ids RecentIDs returns: a page's worth, never a
// listing of the table.
const MaxRecent = 1000

// day is the recent index's hash key of an order placed at t: its UTC
// date. A day's orders share one index partition, which takes about 1000
// writes a second; since an order writes to the index once, when it is
// created, that is about 1000 new orders a second.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// RecentIDs returns the ids of the orders placed most recently, up to n
// (at most MaxRecent), newest first, through the recent index
// (pipeline.OrderTableRecentIndex): one Query of the partition of now's
// UTC day, reading n keys and no more however many orders the table
// holds, and a second of the day before while today has fewer than n.
// Like any global secondary index it is eventually consistent: an order
// written a moment ago may be missing. Withdrawn orders are not listed.
func (s *Store) RecentIDs(ctx context.Context, now time.Time, n int) ([]string, error) {
	n = min(n, MaxRecent)
	var ids []string
	for _, d := range []time.Time{now, now.AddDate(0, 0, -1)} {
		if len(ids) >= n {
			break
		}
		cctx, cancel := s.call(ctx)
		out, err := s.db.Query(cctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(pipeline.OrderTableRecentIndex),
			KeyConditionExpression:    aws.String("#day = :day"),
			ExpressionAttributeNames:  map[string]string{"#day": pipeline.OrderTableRecentDay},
			ExpressionAttributeValues: map[string]types.AttributeValue{":day": str(day(d))},
			// ULIDs sort by creation time: newest first.
			ScanIndexForward: aws.Bool(false),
			Limit:            aws.Int32(int32(n - len(ids))),
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("recent orders of %s: %w", day(d), err)
		}
		for _, it := range out.Items {
			if id, ok := it[pipeline.OrderTableKey].(*types.AttributeValueMemberS); ok {
				ids = append(ids, id.Value)
			}
		}
	}
	return ids, nil
}

// GetManyEventually is GetMany with eventually consistent reads: half the
// read capacity, for readers that may show a write a moment late (the
// live page, which reads again a second later).
func (s *Store) GetManyEventually(ctx context.Context, ids []string) (map[string]orders.Order, error) {
	return s.getMany(ctx, ids, false)
}
