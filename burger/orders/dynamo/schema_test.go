package dynamo

import (
	"reflect"
	"testing"

	"github.com/linecook/linecook/pipeline"
)

// TestSchemaMatchesTheStack: the stack creates the table from pipeline's
// constants; the items written here must use the same key, TTL and index
// key names.
func TestSchemaMatchesTheStack(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		field string
		want  string
	}{
		{reflect.TypeOf(orderItem{}), "ID", pipeline.OrderTableKey},
		{reflect.TypeOf(idemItem{}), "ID", pipeline.OrderTableKey},
		{reflect.TypeOf(idemItem{}), "ExpiresAt", pipeline.OrderTableTTL},
		{reflect.TypeOf(orderItem{}), "SweepShard", pipeline.OrderTableSweepShard + ",omitempty"},
		{reflect.TypeOf(orderItem{}), "SweepAt", pipeline.OrderTableSweepAt + ",omitempty"},
		{reflect.TypeOf(sweepKeys{}), "SweepAt", pipeline.OrderTableSweepAt},
		{reflect.TypeOf(orderItem{}), "CreatedDay", pipeline.OrderTableRecentDay + ",omitempty"},
	} {
		f, ok := tc.typ.FieldByName(tc.field)
		if got := f.Tag.Get("dynamodbav"); !ok || got != tc.want {
			t.Errorf("%s.%s is stored as %q, the stack's table expects %q", tc.typ.Name(), tc.field, got, tc.want)
		}
	}
}
