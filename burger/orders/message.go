package orders

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MessageVersion is the version of the stage message body this package
// writes and reads.
const MessageVersion = 1

// Message is the body every burger stage receives: enough to do the work
// (the items) and to record it (the order id) without reading the order
// first. Every stage forwards it unchanged.
type Message struct {
	V       int    `json:"v"`
	OrderID string `json:"orderId"`
	Items   []Line `json:"items"`
	// TraceID duplicates the trace-id message attribute, so that a body
	// read from a DLQ or a log still names its trace.
	TraceID string `json:"traceId,omitempty"`
}

// EncodeMessage returns the stage message body for o.
func EncodeMessage(o Order) []byte {
	b, err := json.Marshal(Message{V: MessageVersion, OrderID: o.ID, Items: o.Items, TraceID: o.TraceID})
	if err != nil {
		// Strings and ints only: marshalling cannot fail.
		panic(fmt.Sprintf("orders: marshal message: %v", err))
	}
	return b
}

// DecodeMessage reads a stage message body. Unknown fields are ignored, so
// that a newer API can add some while older workers drain the queues. A
// body that is not a valid version-1 message is an ErrInvalidMessage; what
// to do with it (the burger handlers dead-letter it at once) is the
// caller's decision, not the domain's.
func DecodeMessage(body []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, invalid(fmt.Errorf("order message: not valid JSON: %w", err))
	}
	if m.V != MessageVersion {
		return Message{}, invalid(fmt.Errorf("order message: version %d; this worker reads version %d", m.V, MessageVersion))
	}
	if !ValidID(m.OrderID) {
		return Message{}, invalid(fmt.Errorf("order message: orderId %s is not an order id", quote(m.OrderID)))
	}
	if err := (Request{Items: m.Items}).Validate(); err != nil {
		return Message{}, invalid(fmt.Errorf("order message %s: %w", m.OrderID, err))
	}
	return m, nil
}

// ErrInvalidMessage is in the chain of every error DecodeMessage returns
// (errors.Is), beside the reason.
var ErrInvalidMessage = errors.New("invalid order message")

// invalid marks err as an ErrInvalidMessage, keeping its text.
func invalid(err error) error { return invalidMessage{err} }

type invalidMessage struct{ err error }

func (e invalidMessage) Error() string   { return e.err.Error() }
func (e invalidMessage) Unwrap() []error { return []error{e.err, ErrInvalidMessage} }
