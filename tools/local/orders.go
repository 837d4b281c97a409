package local

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/emulators"
)

// tableTracker reads the order table for the dashboard and the summary.
type tableTracker struct {
	store *dynamo.Store
}

func newTableTracker(ctx context.Context, emu *emulators.Emulators, table string) (*tableTracker, error) {
	cfg, err := emu.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	store := dynamo.New(emu.DynamoDBClient(cfg), dynamo.Config{Table: table, Timeout: 10 * time.Second})
	if err := store.EnsureTable(ctx); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	return &tableTracker{store: store}, nil
}

// scan returns every order, newest first. It reads the whole table: fine
// for a local run's thousands of orders, which is all it is used for.
func (t *tableTracker) scan(ctx context.Context) ([]orders.Order, error) {
	return t.store.Recent(ctx, math.MaxInt)
}

// overview counts orders by status and renders the newest n for the page.
func overview(all []orders.Order, n int) (OrderCounts, []OrderView) {
	var c OrderCounts
	for _, o := range all {
		c.Placed++
		if o.Status == orders.Completed {
			c.Completed++
		} else {
			c.InProgress++
		}
	}
	views := make([]OrderView, 0, min(n, len(all)))
	for _, o := range all[:min(n, len(all))] {
		views = append(views, view(o))
	}
	return c, views
}

func view(o orders.Order) OrderView {
	tl := o.Timeline()
	v := OrderView{ID: o.ID, Status: string(o.Status), CreatedAt: o.CreatedAt, CompletedAt: tl.CompletedAt}
	if tl.EndToEndMs != nil {
		v.EndToEndMs = *tl.EndToEndMs
	}
	var items []string
	for _, l := range o.Items {
		items = append(items, fmt.Sprintf("%d× %s", l.Quantity, l.Item))
	}
	v.Items = strings.Join(items, ", ")
	for _, st := range tl.Stages {
		v.Stages = append(v.Stages, StageSpan{Name: st.Name, Start: st.StartedAt, End: st.EndedAt})
	}
	return v
}
