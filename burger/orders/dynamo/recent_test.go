package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/tools/emulators/emutest"
)

// TestRecentIDsReadTheIndexNewestFirst: the recent index lists orders,
// newest first, today's then yesterday's, and nothing else the table
// holds: not idempotency records, not withdrawn orders, not older days.
func TestRecentIDsReadTheIndexNewestFirst(t *testing.T) {
	s := emutest.Table(t)
	now := time.Date(2026, 12, 2, 0, 0, 30, 0, time.UTC)
	place := func(at time.Time) string {
		t.Helper()
		o := orders.New(orders.Request{Items: []orders.Line{{Item: "soda", Quantity: 1}}}, at)
		if err := s.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	older := place(now.Add(-49 * time.Hour)) // two days back: never listed
	yesterday := []string{place(now.Add(-2 * time.Minute)), place(now.Add(-time.Minute))}
	today := []string{place(now.Add(-20 * time.Second)), place(now.Add(-10 * time.Second)), place(now)}
	withdrawn := place(now.Add(-5 * time.Second))
	if err := s.Withdraw(ctx(t), withdrawn, now); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIdempotency(ctx(t), orders.Idempotency{Key: "k", OrderID: today[0], CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// An order in progress stays listed: stage writes leave the index alone.
	if _, err := s.StartStage(ctx(t), today[1], "payment", "", now); err != nil {
		t.Fatal(err)
	}

	newestFirst := func(ids ...string) []string {
		out := slices.Clone(ids)
		slices.Reverse(out)
		return out
	}
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{2, newestFirst(today[1], today[2])},
		{3, newestFirst(today...)},
		{4, append(newestFirst(today...), yesterday[1])},
		{10, append(newestFirst(today...), newestFirst(yesterday...)...)},
		{0, nil},
	} {
		got, err := s.RecentIDs(ctx(t), now, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("RecentIDs(%d) = %v, want %v", tc.n, got, tc.want)
		}
		if slices.Contains(got, older) || slices.Contains(got, withdrawn) {
			t.Errorf("RecentIDs(%d) = %v lists an order two days old or withdrawn", tc.n, got)
		}
	}

	got, err := s.GetManyEventually(ctx(t), append(today, withdrawn))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[today[1]].Status != orders.InProgress || got[today[2]].Status != orders.Accepted {
		t.Errorf("GetManyEventually = %v, want today's three orders, the second in progress", got)
	}
}
