package local

import (
	"strings"
	"testing"

	"github.com/linecook/linecook/pipeline"
)

// TestAgeScalingIsRefusedLocally: the oldest message's age is a
// CloudWatch metric SQS's API does not serve, so linecook local says so
// rather than scaling on a number it cannot read.
func TestAgeScalingIsRefusedLocally(t *testing.T) {
	cfg, err := pipeline.Parse(map[string]string{
		"linecook:stages":  `[{"name":"grill","worker":"grill"}]`,
		"linecook:scaling": `{"policy":"step","scaleOutOn":"age"}`,
	}, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Config: cfg, TaskCommand: []string{"linecookd"}, Autoscale: true}
	if err := o.defaults(); err == nil || !strings.Contains(err.Error(), "stage grill scales out on the oldest message's age") {
		t.Errorf("error = %v, want one naming the stage and the setting", err)
	}
}
