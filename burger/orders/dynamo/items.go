// The mapping between orders and DynamoDB items.

package dynamo

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/linecook/linecook/burger/orders"
)

type orderItem struct {
	ID          string               `dynamodbav:"id"`
	Kind        string               `dynamodbav:"kind"`
	Status      string               `dynamodbav:"status"`
	Items       []lineItem           `dynamodbav:"items"`
	TraceID     string               `dynamodbav:"traceId"`
	PlacedBy    string               `dynamodbav:"placedBy,omitempty"`
	CreatedDay  string               `dynamodbav:"createdDay,omitempty"`
	CreatedAt   time.Time            `dynamodbav:"createdAt"`
	CompletedAt *time.Time           `dynamodbav:"completedAt,omitempty"`
	Stages      map[string]stageItem `dynamodbav:"stages"`
	// The sweep index's keys (see sweep.go): set on an accepted order
	// only, removed when its first stage starts.
	SweepShard string `dynamodbav:"sweepShard,omitempty"`
	SweepAt    int64  `dynamodbav:"sweepAt,omitempty"`
	Resends    int    `dynamodbav:"resends,omitempty"`
}

type lineItem struct {
	Item     string `dynamodbav:"item"`
	Quantity int    `dynamodbav:"quantity"`
}

type stageItem struct {
	StartedAt time.Time  `dynamodbav:"startedAt"`
	EndedAt   *time.Time `dynamodbav:"endedAt,omitempty"`
	Attempts  int        `dynamodbav:"attempts"`
	MessageID string     `dynamodbav:"messageId,omitempty"`
}

type idemItem struct {
	ID          string    `dynamodbav:"id"`
	Kind        string    `dynamodbav:"kind"`
	OrderID     string    `dynamodbav:"orderId"`
	TraceID     string    `dynamodbav:"traceId"`
	RequestHash string    `dynamodbav:"requestHash"`
	PlacedBy    string    `dynamodbav:"placedBy,omitempty"`
	CreatedAt   time.Time `dynamodbav:"createdAt"`
	Done        bool      `dynamodbav:"done"`
	ExpiresAt   int64     `dynamodbav:"expiresAt"`
}

// tombstoneItem takes the place of a withdrawn order.
type tombstoneItem struct {
	ID          string    `dynamodbav:"id"`
	Kind        string    `dynamodbav:"kind"`
	WithdrawnAt time.Time `dynamodbav:"withdrawnAt"`
	ExpiresAt   int64     `dynamodbav:"expiresAt"`
}

func toItem(o orders.Order) orderItem {
	it := orderItem{
		ID: o.ID, Kind: kindOrder, Status: string(o.Status), TraceID: o.TraceID, PlacedBy: o.PlacedBy,
		CreatedAt: o.CreatedAt.UTC(), CreatedDay: day(o.CreatedAt),
		// Never nil: stage updates set paths inside this map, and
		// DynamoDB refuses a path whose parent does not exist.
		Stages: make(map[string]stageItem, len(o.Stages)),
	}
	for _, l := range o.Items {
		it.Items = append(it.Items, lineItem(l))
	}
	if !o.CompletedAt.IsZero() {
		at := o.CompletedAt.UTC()
		it.CompletedAt = &at
	}
	for name, st := range o.Stages {
		it.Stages[name] = toStageItem(st)
	}
	return it
}

func toStageItem(st orders.StageState) stageItem {
	si := stageItem{StartedAt: st.StartedAt.UTC(), Attempts: st.Attempts, MessageID: st.MessageID}
	if st.Ended() {
		end := st.EndedAt.UTC()
		si.EndedAt = &end
	}
	return si
}

func (it orderItem) order() orders.Order {
	o := orders.Order{
		ID: it.ID, Status: orders.Status(it.Status), TraceID: it.TraceID, PlacedBy: it.PlacedBy,
		CreatedAt: it.CreatedAt, Stages: make(map[string]orders.StageState, len(it.Stages)),
		Resends: it.Resends,
	}
	for _, l := range it.Items {
		o.Items = append(o.Items, orders.Line(l))
	}
	if it.CompletedAt != nil {
		o.CompletedAt = *it.CompletedAt
	}
	for name, si := range it.Stages {
		o.Stages[name] = si.state()
	}
	return o
}

func (si stageItem) state() orders.StageState {
	st := orders.StageState{StartedAt: si.StartedAt, Attempts: si.Attempts, MessageID: si.MessageID}
	if si.EndedAt != nil {
		st.EndedAt = *si.EndedAt
	}
	return st
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func timeValue(t time.Time) types.AttributeValue {
	// The same encoding attributevalue gives time.Time fields.
	return str(t.UTC().Format(time.RFC3339Nano))
}
