package orders

import (
	"fmt"
	"time"
)

// MaxIdempotencyKeyLen bounds an Idempotency-Key: long enough for a UUID or
// a client's own composite key, short enough to keep records small.
const MaxIdempotencyKeyLen = 128

// Idempotency binds a client's Idempotency-Key to the order its first
// request created, so that a retry gets the same order instead of a second
// one.
type Idempotency struct {
	Key string
	// OrderID and TraceID are chosen before the order is written, so a
	// request that finds the key taken knows which order it refers to.
	OrderID, TraceID string
	// RequestHash is Request.Hash of the first request: the same key with
	// a different order is a client bug, not a retry.
	RequestHash string
	// PlacedBy is who claimed the key (Order.PlacedBy): the key is theirs,
	// and another client's request with it is refused rather than
	// answered with their order.
	PlacedBy  string
	CreatedAt time.Time
	// Done is set once the order is written and sent to the first stage.
	Done bool
}

// ValidateIdempotencyKey checks a client-supplied key: 1 to
// MaxIdempotencyKeyLen visible ASCII characters.
func ValidateIdempotencyKey(key string) error {
	const field = "Idempotency-Key"
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be 1 to %d characters, got %d", MaxIdempotencyKeyLen, len(key))}
	}
	for i := range len(key) {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return &FieldError{Field: field, Reason: fmt.Sprintf("must be visible ASCII characters (a UUID is a good key); byte %d is %q", i, c)}
		}
	}
	return nil
}
