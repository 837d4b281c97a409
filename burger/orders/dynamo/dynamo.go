// Package dynamo keeps orders in a DynamoDB table: hash key "id" (a
// string), on-demand capacity, and two keys-only indexes: a sparse one of
// the orders no stage has started (sweep.go), and one of the orders by the
// day they were placed (recent.go). Orders are items keyed by their ULID;
// idempotency records share the table under "idem#<key>" and are told
// apart by their "kind" attribute.
//
// Every state change is a single conditional write on the state it
// changes, so at-least-once delivery cannot apply anything twice: a stage
// starts once (later deliveries count attempts), ends once, and an order
// completes once. There are no transactions, because DynamoDB's cost twice
// as much and the local emulator (dynalite) has none; where two writes
// must go together, the caller orders them so that a crash between them
// leaves a state the next retry repairs.
package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/pipeline"
)

// DefaultTimeout bounds each DynamoDB call, retries included.
const DefaultTimeout = 3 * time.Second

// IdempotencyTTL is how long an idempotency record is meant to live. Its
// expiry is written to the "expiresAt" attribute (epoch seconds): enable
// TTL on that attribute to have DynamoDB delete old records. Until then
// they are kept.
const IdempotencyTTL = 24 * time.Hour

// TombstoneTTL is how long the tombstone of a withdrawn order is meant to
// live (see Withdraw): SQS's longest message retention, so that it
// outlives any message of the order. Its expiry is written to
// "expiresAt", like an idempotency record's.
const TombstoneTTL = pipeline.MaxRetention

const (
	kindOrder       = "order"
	kindIdempotency = "idempotency"
	kindWithdrawn   = "withdrawn"
	idemPrefix      = "idem#"
)

// Config configures a Store.
type Config struct {
	// Table is the table's name.
	Table string
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// SweepAfter is how long a new order may stay accepted (no stage
	// started) before the sweep may send it again; 0 means
	// DefaultSweepAfter. Only the API, which writes orders and sweeps
	// them, needs to set it.
	SweepAfter time.Duration
}

// Store is the order store. It is safe for concurrent use.
type Store struct {
	db         *dynamodb.Client
	table      string
	timeout    time.Duration
	sweepAfter time.Duration
}

// New returns a store on cfg.Table through db.
func New(db *dynamodb.Client, cfg Config) *Store {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.SweepAfter <= 0 {
		cfg.SweepAfter = DefaultSweepAfter
	}
	return &Store{db: db, table: cfg.Table, timeout: cfg.Timeout, sweepAfter: cfg.SweepAfter}
}

// Table is the table's name.
func (s *Store) Table() string { return s.table }

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}
