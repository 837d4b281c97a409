// Package orders is the burger pipeline's domain: the menu and the work each
// item needs at each station, orders and their per-stage timeline, strict
// decoding of new-order requests, and the message body every stage receives.
//
// It imports no AWS package: the store (orders/dynamo), the stage handlers
// (workers/burger) and the API (api) all speak these types.
package orders

import (
	"cmp"
	"errors"
	"slices"
	"time"
)

// Status is where an order is in the pipeline. It only moves forward:
// accepted → in-progress → completed.
type Status string

// The statuses of an order.
const (
	// Accepted: written and sent to the first stage; no stage started yet.
	Accepted Status = "accepted"
	// InProgress: at least one stage has started.
	InProgress Status = "in-progress"
	// Completed: the last stage ended.
	Completed Status = "completed"
)

// Errors the order store returns; callers test them with errors.Is.
var (
	// ErrNotFound: no order (or idempotency record) has that id.
	ErrNotFound = errors.New("not found")
	// ErrExists: a conditional create found the id taken.
	ErrExists = errors.New("already exists")
	// ErrCompleted: the order is completed, so a stage that has not run
	// for it may no longer start.
	ErrCompleted = errors.New("order already completed")
	// ErrNotStarted: a stage was ended that never started.
	ErrNotStarted = errors.New("stage not started")
	// ErrStarted: the order is past accepted, so it may no longer be
	// withdrawn as a compensation.
	ErrStarted = errors.New("order already started")
	// ErrWithdrawn: the API withdrew the order because it could not tell
	// whether the order reached the first queue, and answered 503. A
	// message of it found in a queue is a ghost, to be dropped: the client
	// was told to retry. It is also ErrNotFound, since to anyone else the
	// order does not exist.
	ErrWithdrawn error = withdrawnError{}
)

type withdrawnError struct{}

func (withdrawnError) Error() string        { return "order withdrawn" }
func (withdrawnError) Is(target error) bool { return target == ErrNotFound }

// PlacedByAPIKey is the PlacedBy of an order placed with the API key: the
// key names no one.
const PlacedByAPIKey = "api-key"

// Line is one line of an order: an item from the menu and how many.
type Line struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// Order is an order as stored.
type Order struct {
	ID      string
	Items   []Line
	Status  Status
	TraceID string
	// PlacedBy is who placed the order, as the API authenticated the
	// request: the subject ("sub") of its bearer token, PlacedByAPIKey
	// for the API key, or empty when the API asks for no credential.
	PlacedBy string
	// CreatedAt is when the API accepted the order.
	CreatedAt time.Time
	// CompletedAt is zero until the last stage ends.
	CompletedAt time.Time
	// Stages maps a stage name to its progress on this order.
	Stages map[string]StageState
}

// StageState is one stage's progress on one order.
type StageState struct {
	// StartedAt is when the stage first started work on the order; a
	// redelivery after a failed attempt keeps it and counts an attempt.
	StartedAt time.Time
	// EndedAt is zero until the stage's work is done.
	EndedAt time.Time
	// Attempts counts the deliveries that started the work: 1 unless a
	// worker failed or was stopped mid-work.
	Attempts int
}

// Ended reports whether the stage's work on the order is done.
func (s StageState) Ended() bool { return !s.EndedAt.IsZero() }

// New returns a freshly accepted order for req, with a new id and trace id.
func New(req Request, now time.Time) Order {
	return Order{
		ID:        NewID(now),
		Items:     slices.Clone(req.Items),
		Status:    Accepted,
		TraceID:   NewTraceID(),
		CreatedAt: now.UTC(),
		Stages:    map[string]StageState{},
	}
}

// Timeline is an order as GET /orders/{id} shows it: its status and how
// long it spent waiting for and inside each stage. Durations are in
// milliseconds.
type Timeline struct {
	ID          string     `json:"id"`
	Status      Status     `json:"status"`
	TraceID     string     `json:"traceId"`
	PlacedBy    string     `json:"placedBy,omitempty"`
	Items       []Line     `json:"items"`
	CreatedAt   time.Time  `json:"createdAt"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// EndToEndMs is CompletedAt − CreatedAt, once completed.
	EndToEndMs *float64 `json:"endToEndMs,omitempty"`
	// Stages in the order they started.
	Stages []StageTimeline `json:"stages"`
}

// StageTimeline is one stage in a Timeline.
type StageTimeline struct {
	Name      string     `json:"name"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	Attempts  int        `json:"attempts"`
	// DurationMs is EndedAt − StartedAt, once ended: the work, retries
	// included.
	DurationMs *float64 `json:"durationMs,omitempty"`
	// WaitMs is the time between the previous stage ending (the order
	// being accepted, for the first stage) and this one starting: the
	// time the order sat in this stage's queue.
	WaitMs *float64 `json:"waitMs,omitempty"`
}

// Timeline returns the order's timeline view.
func (o Order) Timeline() Timeline {
	t := Timeline{
		ID:        o.ID,
		Status:    o.Status,
		TraceID:   o.TraceID,
		PlacedBy:  o.PlacedBy,
		Items:     o.Items,
		CreatedAt: o.CreatedAt,
		Stages:    make([]StageTimeline, 0, len(o.Stages)),
	}
	if t.Items == nil {
		t.Items = []Line{}
	}
	if !o.CompletedAt.IsZero() {
		at := o.CompletedAt
		t.CompletedAt = &at
		t.EndToEndMs = millis(at.Sub(o.CreatedAt))
	}
	for name, s := range o.Stages {
		st := StageTimeline{Name: name, StartedAt: s.StartedAt, Attempts: s.Attempts}
		if s.Ended() {
			end := s.EndedAt
			st.EndedAt = &end
			st.DurationMs = millis(end.Sub(s.StartedAt))
		}
		t.Stages = append(t.Stages, st)
	}
	slices.SortFunc(t.Stages, func(a, b StageTimeline) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	prevEnd := &t.CreatedAt
	for i := range t.Stages {
		if prevEnd != nil {
			t.Stages[i].WaitMs = millis(t.Stages[i].StartedAt.Sub(*prevEnd))
		}
		prevEnd = t.Stages[i].EndedAt
	}
	return t
}

func millis(d time.Duration) *float64 {
	// Microsecond resolution: finer is noise, coarser hides fast stages.
	ms := float64(d.Microseconds()) / 1000
	return &ms
}
