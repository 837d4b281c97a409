package pipeline

import (
	"slices"
	"strconv"
)

// The environment every linecook task gets, in ECS (the stack's task
// definitions) and on one machine (`linecook local`'s worker processes). The
// worker runtime and the API read these names through envconfig.
const (
	EnvWorker            = "LINECOOK_WORKER"
	EnvStage             = "LINECOOK_STAGE"
	EnvQueueURL          = "LINECOOK_QUEUE_URL"
	EnvNextQueueURL      = "LINECOOK_NEXT_QUEUE_URL"
	EnvDLQURL            = "LINECOOK_DLQ_URL"
	EnvOrderTable        = "LINECOOK_ORDER_TABLE"
	EnvConcurrency       = "LINECOOK_CONCURRENCY"
	EnvVisibilityTimeout = "LINECOOK_VISIBILITY_TIMEOUT"
	EnvDrainTimeout      = "LINECOOK_DRAIN_TIMEOUT"
	EnvMaxReceiveCount   = "LINECOOK_MAX_RECEIVE_COUNT"
	EnvPort              = "LINECOOK_PORT"
	EnvAPIKey            = "LINECOOK_API_KEY"
	EnvJWTIssuer         = "LINECOOK_JWT_ISSUER"
	EnvJWTAudience       = "LINECOOK_JWT_AUDIENCE"
	EnvJWTJWKSURL        = "LINECOOK_JWT_JWKS_URL"
	// EnvEventsTopicARN is the SNS topic of order events; unset, none are
	// published.
	EnvEventsTopicARN = "LINECOOK_EVENTS_TOPIC_ARN"
	// EnvScaleInProtection is set, to false, only for a stage whose
	// scaleInProtection is off: its workers then never call the ECS
	// agent's task protection endpoint (workers/protect).
	EnvScaleInProtection = "LINECOOK_SCALE_IN_PROTECTION"
	EnvSweepAfter        = "LINECOOK_SWEEP_AFTER"
)

// ReservedEnv lists the variables linecook sets; a stage's env may not.
var ReservedEnv = []string{
	EnvAPIKey, EnvConcurrency, EnvDLQURL, EnvDrainTimeout, EnvEventsTopicARN, EnvJWTAudience, EnvJWTIssuer, EnvJWTJWKSURL,
	EnvMaxReceiveCount, EnvNextQueueURL, EnvOrderTable, EnvPort, EnvQueueURL, EnvScaleInProtection, EnvStage, EnvSweepAfter,
	EnvVisibilityTimeout, EnvWorker,
}

// Queues are the resolved addresses a stage's task talks to.
type Queues struct {
	URL, NextURL, DLQURL string
	OrderTable           string
	// EventsTopic is the order-events topic's ARN, or empty for none.
	EventsTopic string
}

// TaskEnv is the environment of one of the stage's tasks: its own env
// first, then linecook's, which wins. NextURL is empty for the last stage.
func (s Stage) TaskEnv(q Queues) map[string]string {
	env := make(map[string]string, len(s.Env)+10)
	for k, v := range s.Env {
		env[k] = v
	}
	env[EnvStage] = s.Name
	if s.Worker != "" {
		env[EnvWorker] = s.Worker
	}
	env[EnvQueueURL] = q.URL
	env[EnvNextQueueURL] = q.NextURL
	env[EnvDLQURL] = q.DLQURL
	env[EnvOrderTable] = q.OrderTable
	if q.EventsTopic != "" {
		env[EnvEventsTopicARN] = q.EventsTopic
	}
	env[EnvConcurrency] = strconv.Itoa(s.Concurrency)
	env[EnvVisibilityTimeout] = s.VisibilityTimeout.String()
	env[EnvDrainTimeout] = s.DrainTimeout.String()
	env[EnvMaxReceiveCount] = strconv.Itoa(s.MaxReceiveCount)
	if s.DisableScaleInProtection {
		// Only when off: a stage with protection on (the default) keeps
		// the environment, and so the task definition, it always had.
		env[EnvScaleInProtection] = "false"
	}
	return env
}

// Command is the linecook image's arguments for the stage, or nil for a
// stage that brings its own image (which then runs its own entrypoint).
func (s Stage) Command() []string {
	if s.Image != "" {
		return nil
	}
	return []string{"worker", s.Worker}
}

// APIEnv is the order API task's environment: it writes orders to the
// table and sends them to the first stage's queue, and its sweeper sends
// again those left accepted past SweepAfter.
func (a API) APIEnv(firstQueueURL, orderTable string) map[string]string {
	env := map[string]string{
		EnvNextQueueURL: firstQueueURL,
		EnvOrderTable:   orderTable,
		EnvPort:         strconv.Itoa(a.Port),
	}
	// Not secrets: the issuer and its keys are public, the audience a name.
	if a.JWT.Enabled() {
		env[EnvJWTIssuer] = a.JWT.Issuer
		env[EnvJWTAudience] = a.JWT.Audience
		env[EnvJWTJWKSURL] = a.JWT.JWKSURL
	}
	if a.SweepAfter > 0 {
		env[EnvSweepAfter] = a.SweepAfter.String()
	}
	return env
}

// APICommand is the linecook image's arguments for the order API.
func APICommand() []string { return []string{"api"} }

// EnvList renders an environment map as KEY=VALUE pairs, sorted.
func EnvList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// The order table's schema, shared by the stack that creates it and the
// store that writes it (orders/dynamo tests that they agree).
const (
	// OrderTableKey is the table's hash key (a string).
	OrderTableKey = "id"
	// OrderTableTTL is the attribute DynamoDB's TTL reads (epoch seconds):
	// idempotency records expire through it.
	OrderTableTTL = "expiresAt"
	// OrderTableSweepIndex is a sparse global secondary index of the
	// orders no stage has started: an order carries its keys from its
	// write until its first stage starts, and nothing else ever does. The
	// order API's sweeper queries it, never scanning the table, for
	// orders left accepted too long (an API task died between writing an
	// order and sending it) and sends them again.
	OrderTableSweepIndex = "accepted"
	// OrderTableSweepShard is the index's hash key (a string): one of a
	// few shards, so that a busy API's index writes spread over several
	// partitions instead of throttling one.
	OrderTableSweepShard = "sweepShard"
	// OrderTableSweepAt is the index's range key (a number, epoch
	// milliseconds): when the order is next due for sending again.
	OrderTableSweepAt = "sweepAt"
)

// The order table's index of recent orders, which the order API's live
// page reads (burger/api's GET /orders/stream) instead of scanning the
// table.
const (
	// OrderTableRecentIndex is a global secondary index of the orders by
	// the UTC day they were placed, newest first within a day: its range
	// key is the table's own key, the order's ULID, which sorts by
	// creation time. It projects the keys only, so that only an order's
	// creation (and withdrawal) writes to it, not each stage's start and
	// end: the page reads the orders themselves by key.
	OrderTableRecentIndex = "recent"
	// OrderTableRecentDay is the index's hash key (a string, YYYY-MM-DD
	// in UTC): the day the order was placed. Only orders carry it;
	// idempotency records and withdrawn orders' tombstones stay out of
	// the index.
	OrderTableRecentDay = "createdDay"
)
