package local

import (
	"testing"

	"github.com/linecook/linecook/burger/orders"
)

func TestDeadOfCountsOnlyTheBatchsUnfinishedOrders(t *testing.T) {
	want := map[string]bool{"a": true, "b": true, "c": true}
	done := map[string]orders.Order{"c": {ID: "c"}}
	for _, tc := range []struct {
		name string
		dead map[string]bool
		n    int
	}{
		{"none", map[string]bool{}, 0},
		{"ours", map[string]bool{"a": true, "b": true}, 2},
		// An order the API rejected, whose late send reached a stage
		// that dead-lettered it: not one of the batch.
		{"a rejected order's message", map[string]bool{"x": true, "a": true}, 1},
		{"undecodable", map[string]bool{"": true}, 0},
		// Completed after all (a duplicate delivery dead-lettered).
		{"completed", map[string]bool{"c": true}, 0},
	} {
		if got := deadOf(want, done, tc.dead); got != tc.n {
			t.Errorf("%s: deadOf = %d, want %d", tc.name, got, tc.n)
		}
	}
}
