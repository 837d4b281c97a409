// Table administration: the health check and creating the table locally.

package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/pipeline"
)

// Ping reads a key that never exists: a cheap check that the table is
// reachable and readable with the caller's permissions.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	if _, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key("ping#")}); err != nil {
		return fmt.Errorf("order table %s: %w", s.table, err)
	}
	return nil
}

// EnsureTable creates the table if it does not exist, with the key, index
// and billing the infrastructure gives it (components/orderapi), and waits
// until it is active. It is for local runs and tests; in AWS the stack
// owns the table. A table that exists without the index is an error: it
// was made by an older linecook, and the live page would find no orders.
func (s *Store) EnsureTable(ctx context.Context) error {
	desc, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	var missing *types.ResourceNotFoundException
	switch {
	case err == nil:
		if !slices.ContainsFunc(desc.Table.GlobalSecondaryIndexes, func(i types.GlobalSecondaryIndexDescription) bool {
			return aws.ToString(i.IndexName) == pipeline.OrderTableSweepIndex
		}) {
			return fmt.Errorf("table %s %w", s.table, errNoSweepIndex)
		}
		if !slices.ContainsFunc(desc.Table.GlobalSecondaryIndexes, func(i types.GlobalSecondaryIndexDescription) bool {
			return aws.ToString(i.IndexName) == pipeline.OrderTableRecentIndex
		}) {
			return fmt.Errorf("table %s has no index %s: it was created by an older linecook; delete it to have it created again", s.table, pipeline.OrderTableRecentIndex)
		}
	case errors.As(err, &missing):
		_, err = s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   &s.table,
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(pipeline.OrderTableKey), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(pipeline.OrderTableSweepShard), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(pipeline.OrderTableSweepAt), AttributeType: types.ScalarAttributeTypeN},
				{AttributeName: aws.String(pipeline.OrderTableRecentDay), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(pipeline.OrderTableKey), KeyType: types.KeyTypeHash}},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName: aws.String(pipeline.OrderTableSweepIndex),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(pipeline.OrderTableSweepShard), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(pipeline.OrderTableSweepAt), KeyType: types.KeyTypeRange},
				},
				// The sweep needs the id and the due time, which
				// the keys hold; it reads the rest in its claim.
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			}, {
				IndexName: aws.String(pipeline.OrderTableRecentIndex),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(pipeline.OrderTableRecentDay), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(pipeline.OrderTableKey), KeyType: types.KeyTypeRange},
				},
				// Keys only: stage updates then never write to the
				// index (see RecentIDs).
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			}},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", s.table, err)
		}
	default:
		return fmt.Errorf("describe table %s: %w", s.table, err)
	}
	w := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}, time.Minute); err != nil {
		return fmt.Errorf("table %s: %w", s.table, err)
	}
	return nil
}
