package orders

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIDsSortByTimeAndValidate(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	if !ValidID(a) || !ValidID(b) {
		t.Fatalf("NewID gave invalid ids %q, %q", a, b)
	}
	if a >= b {
		t.Errorf("ids do not sort by time: %q then %q", a, b)
	}
	if got := IDTime(a); !got.Equal(t0) {
		t.Errorf("IDTime(%q) = %v, want %v", a, got, t0)
	}
	if NewID(t0) == a {
		t.Error("two ids in the same millisecond are equal")
	}
	for _, bad := range []string{"", "idem#key", strings.Repeat("0", 25), "8" + strings.Repeat("0", 25), strings.Repeat("I", 26), strings.ToLower(a)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
	if tr := NewTraceID(); len(tr) != 32 || tr == NewTraceID() {
		t.Errorf("trace id %q: want 32 hex digits, unique", tr)
	}
}

func TestWorkGrowsWithItemsInBatches(t *testing.T) {
	tests := []struct {
		station Station
		items   []Line
		want    time.Duration
	}{
		{Grill, []Line{{"burger", 1}, {"fries", 1}, {"soda", 1}}, 2 * time.Second},
		{Fry, []Line{{"burger", 1}, {"fries", 1}, {"soda", 1}}, 1500 * time.Millisecond},
		{Assemble, []Line{{"burger", 1}, {"fries", 1}, {"soda", 1}}, 900 * time.Millisecond},
		// Four patties fit on the grill at once; the fifth needs a second batch.
		{Grill, []Line{{"burger", 4}}, 2 * time.Second},
		{Grill, []Line{{"burger", 5}}, 4 * time.Second},
		// A batch takes as long as its slowest patty; longest are batched first.
		{Grill, []Line{{"burger", 3}, {"double-burger", 2}}, 3*time.Second + 2*time.Second},
		{Fry, []Line{{"salad", 3}}, 0},
	}
	for _, tt := range tests {
		if got := Work(tt.station, tt.items); got != tt.want {
			t.Errorf("Work(%s, %v) = %v, want %v", tt.station, tt.items, got, tt.want)
		}
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := Order{
		ID: NewID(t0), Status: Completed, CreatedAt: t0, CompletedAt: at(9000), Items: []Line{{"burger", 1}}, PlacedBy: "user-42",
		Stages: map[string]StageState{
			"grill":   {StartedAt: at(3500), EndedAt: at(5500), Attempts: 1},
			"payment": {StartedAt: at(40), EndedAt: at(3040), Attempts: 2},
			"fry":     {StartedAt: at(6000), Attempts: 1},
		},
	}
	tl := o.Timeline()
	var names []string
	for _, s := range tl.Stages {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "payment,grill,fry" {
		t.Fatalf("stages in order %s, want payment,grill,fry", got)
	}
	checks := []struct {
		what string
		got  *float64
		want float64
	}{
		{"payment wait", tl.Stages[0].WaitMs, 40},
		{"payment duration", tl.Stages[0].DurationMs, 3000},
		{"grill wait", tl.Stages[1].WaitMs, 460},
		{"grill duration", tl.Stages[1].DurationMs, 2000},
		{"fry wait", tl.Stages[2].WaitMs, 500},
		{"end to end", tl.EndToEndMs, 9000},
	}
	for _, c := range checks {
		if c.got == nil || *c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if tl.Stages[2].DurationMs != nil || tl.Stages[2].EndedAt != nil {
		t.Errorf("fry has not ended but shows duration %v", tl.Stages[2].DurationMs)
	}
	if tl.Stages[0].Attempts != 2 {
		t.Errorf("payment attempts = %d, want 2", tl.Stages[0].Attempts)
	}
	if tl.PlacedBy != "user-42" {
		t.Errorf("timeline placedBy = %q, want the order's user-42", tl.PlacedBy)
	}
}

func TestMessageRoundTripAndInvalidMessages(t *testing.T) {
	o := New(Request{Items: []Line{{"burger", 2}}}, time.Now())
	m, err := DecodeMessage(EncodeMessage(o))
	if err != nil {
		t.Fatal(err)
	}
	if m.OrderID != o.ID || m.TraceID != o.TraceID || len(m.Items) != 1 || m.Items[0] != (Line{"burger", 2}) {
		t.Errorf("round trip = %+v, want order %s", m, o.ID)
	}
	if _, err := DecodeMessage([]byte(`{"v":1,"orderId":"` + o.ID + `","items":[{"item":"soda","quantity":1}],"future":true}`)); err != nil {
		t.Errorf("unknown fields must be ignored, got %v", err)
	}
	for _, body := range []string{
		``, `not json`, `{}`, `{"v":2,"orderId":"` + o.ID + `","items":[{"item":"soda","quantity":1}]}`,
		`{"v":1,"orderId":"idem#x","items":[{"item":"soda","quantity":1}]}`,
		`{"v":1,"orderId":"` + o.ID + `","items":[{"item":"pizza","quantity":1}]}`,
		`{"v":1,"orderId":"` + o.ID + `","items":[]}`,
	} {
		_, err := DecodeMessage([]byte(body))
		if err == nil || !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("DecodeMessage(%q) = %v, want an ErrInvalidMessage", body, err)
		}
		if err != nil && errors.Is(err, ErrNotFound) {
			t.Errorf("DecodeMessage(%q) wrapped ErrNotFound", body)
		}
	}
}
