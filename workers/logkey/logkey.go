// Package logkey is the one vocabulary of attribute keys in what linecookd
// logs: the order API, the worker runtime, its middleware and the burger
// handlers. Following one order through the logs then takes one query on
// one key (trace_id) across the API's and the stages' log groups, and a
// concept has one key wherever it is logged. docs/workers.md ("Log keys")
// lists every key with its meaning; a test here fails on a key used by
// linecookd's code that is not one of these constants, and on a
// documented list that differs from them.
//
// It is a package of its own, importing nothing, so that every package
// that logs can import it: the runtime (workers/consumer), the contract
// package (workers, whose Logging middleware a third-party worker uses
// too), the API and the handlers, without any of them importing another
// only for its keys.
//
// Keys are snake_case. Durations a query computes with are in
// milliseconds as numbers (duration_ms); the others are Go duration
// strings ("1.5s"), as they always were. slog adds time, level and msg to
// every line itself.
package logkey

// Keys that tie a line to an order, a message and where it was handled.
const (
	// TraceID is the order's trace id: chosen by the API, carried from
	// stage to stage in the linecook-trace-id message attribute (a
	// message without one is traced by its own message id).
	TraceID = "trace_id"
	// OrderID is the order's id.
	OrderID = "order_id"
	// MessageID is the SQS message id, the same on every receive.
	MessageID = "message_id"
	// ReceiveCount is SQS's ApproximateReceiveCount: 1 on first delivery.
	ReceiveCount = "receive_count"
	// Stage is the pipeline stage's name (LINECOOK_STAGE).
	Stage = "stage"
	// Worker is the name of the worker (handler) the stage runs.
	Worker = "worker"
)

// Keys of a message's or a request's outcome.
const (
	// Error is the error's text.
	Error = "error"
	// Permanent is whether the failure is permanent (straight to the DLQ).
	Permanent = "permanent"
	// Stack is the stack of a panicking handler.
	Stack = "stack"
	// DurationMS is how long the handler took on the message, or the API
	// on the request, in milliseconds.
	DurationMS = "duration_ms"
	// RetryIn is how long a failed message stays invisible before its
	// retry, or how long the worker waits before it tries a failed
	// scale-in protection call again.
	RetryIn = "retry_in"
	// MaxReceiveCount is the receive after which SQS moves a failing
	// message to the DLQ.
	MaxReceiveCount = "max_receive_count"
	// VisibilityError is why the runtime could not set a failed
	// message's retry delay.
	VisibilityError = "visibility_error"
	// DeleteError is why the runtime could not delete a message it sent
	// to the DLQ.
	DeleteError = "delete_error"
	// Why is why a message was returned to the queue unhandled
	// ("draining", "drain timeout").
	Why = "why"
	// EndedAt is when an earlier delivery ended the stage.
	EndedAt = "ended_at"
	// Attempts is how many times the stage was started on the order.
	Attempts = "attempts"
)

// Keys of a worker's life: its start, its queues, SQS outages, its drain.
const (
	// Queue is the URL of the stage's queue.
	Queue = "queue"
	// NextQueue is the URL of the next stage's queue ("" for the last).
	NextQueue = "next_queue"
	// DLQ is the URL of the stage's dead-letter queue.
	DLQ = "dlq"
	// Last is whether the stage is the pipeline's last.
	Last = "last"
	// Concurrency is how many messages the worker handles at once.
	Concurrency = "concurrency"
	// Pollers is how many receive loops the worker runs.
	Pollers = "pollers"
	// VisibilityTimeout is the queue's visibility timeout.
	VisibilityTimeout = "visibility_timeout"
	// DrainTimeout is how long in-flight work (a worker's handlers, the
	// API's requests) gets to finish on shutdown.
	DrainTimeout = "drain_timeout"
	// Drain is how long the worker's drain took.
	Drain = "drain"
	// InFlight is how many messages were still being handled.
	InFlight = "in_flight"
	// Received, Succeeded, Failed, DeadLettered and ReturnedToQueue
	// count a worker's messages over its life: received; handled,
	// forwarded and deleted; failed attempts; sent to the DLQ by the
	// runtime; given back to the queue unhandled.
	Received        = "received"
	Succeeded       = "succeeded"
	Failed          = "failed"
	DeadLettered    = "dead_lettered"
	ReturnedToQueue = "returned_to_queue"
	// Failures is how many calls failed during an SQS outage.
	Failures = "failures"
	// Outage is how long an SQS outage lasted.
	Outage = "outage"
	// Protected is whether the worker's task is (or is to be) protected
	// from scale-in.
	Protected = "protected"
	// ProtectionExpiry is how long a task's scale-in protection lasts
	// unless the worker renews or releases it.
	ProtectionExpiry = "protection_expiry"
	// ReleaseDelay is how long a worker stays idle before it releases
	// its task's scale-in protection.
	ReleaseDelay = "release_delay"
)

// Keys of the order API.
const (
	// Method, Path, Status and Bytes are a request's HTTP method, URL
	// path, response status and response body size.
	Method = "method"
	Path   = "path"
	Status = "status"
	Bytes  = "bytes"
	// Client is the caller's address (the first X-Forwarded-For).
	Client = "client"
	// IdempotencyKey is whether the request had an Idempotency-Key (the
	// key itself is the client's and is not logged).
	IdempotencyKey = "idempotency_key"
	// Panic is what a request's handler panicked with.
	Panic = "panic"
	// Addr is the address the API listens on.
	Addr = "addr"
	// APIKey is whether order requests need the API key (never the key).
	APIKey = "api_key"
	// JWTIssuer is the issuer whose bearer tokens the API accepts ("" when
	// it accepts none).
	JWTIssuer = "jwt_issuer"
	// Principal is who made the request, as the API authenticated it:
	// its bearer token's subject, or "api-key" (orders.PlacedByAPIKey).
	// On a POST /orders line, who placed the order.
	Principal = "principal"
	// JWKSURL is where the token issuer publishes its keys.
	JWKSURL = "jwks_url"
	// KeyIDs are the ids of the issuer's keys the API verifies with.
	KeyIDs = "key_ids"
	// SkippedKeys counts the issuer's keys the API cannot verify with
	// (not RS256 or ES256, or not for signing).
	SkippedKeys = "skipped_keys"
)

// Keys of order events (burger/events).
const (
	// EventType is an order event's type: placed, started, finished,
	// completed, failed.
	EventType = "event_type"
	// Count is how many items a line is about (events in a batch).
	Count = "count"
)
