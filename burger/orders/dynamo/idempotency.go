// Idempotency records: a client's Idempotency-Key claimed for one order.

package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
)

// PutIdempotency claims rec.Key for rec.OrderID. It fails with
// orders.ErrExists when the key is already claimed; GetIdempotency then
// says by which order and request.
func (s *Store) PutIdempotency(ctx context.Context, rec orders.Idempotency) error {
	item, err := attributevalue.MarshalMap(idemItem{
		ID: idemPrefix + rec.Key, Kind: kindIdempotency, OrderID: rec.OrderID, TraceID: rec.TraceID,
		RequestHash: rec.RequestHash, PlacedBy: rec.PlacedBy, CreatedAt: rec.CreatedAt.UTC(), Done: rec.Done,
		ExpiresAt: rec.CreatedAt.Add(IdempotencyTTL).Unix(),
	})
	if err != nil {
		return fmt.Errorf("claim idempotency key: %w", err)
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	if conditionFailed(err) {
		return fmt.Errorf("idempotency key %q: %w", rec.Key, orders.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("claim idempotency key: %w", err)
	}
	return nil
}

// GetIdempotency reads the record of an idempotency key, or
// orders.ErrNotFound.
func (s *Store) GetIdempotency(ctx context.Context, k string) (orders.Idempotency, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(idemPrefix + k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return orders.Idempotency{}, fmt.Errorf("get idempotency key: %w", err)
	}
	if out.Item == nil {
		return orders.Idempotency{}, fmt.Errorf("idempotency key %q: %w", k, orders.ErrNotFound)
	}
	var it idemItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return orders.Idempotency{}, fmt.Errorf("get idempotency key: %w", err)
	}
	return orders.Idempotency{
		Key: k, OrderID: it.OrderID, TraceID: it.TraceID, RequestHash: it.RequestHash,
		PlacedBy: it.PlacedBy, CreatedAt: it.CreatedAt, Done: it.Done,
	}, nil
}

// MarkIdempotencyDone records that the key's order was written and sent.
func (s *Store) MarkIdempotencyDone(ctx context.Context, k string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(idemPrefix + k),
		UpdateExpression:          aws.String("SET done = :true"),
		ConditionExpression:       aws.String("attribute_exists(id)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if conditionFailed(err) {
		return fmt.Errorf("idempotency key %q: %w", k, orders.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mark idempotency key done: %w", err)
	}
	return nil
}

// DeleteIdempotency releases a key claimed for orderID, so that a retry
// can claim it afresh. A key since claimed for another order is left
// alone.
func (s *Store) DeleteIdempotency(ctx context.Context, k, orderID string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &s.table,
		Key:                       key(idemPrefix + k),
		ConditionExpression:       aws.String("orderId = :order"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":order": str(orderID)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
