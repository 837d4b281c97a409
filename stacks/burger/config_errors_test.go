package burger

import (
	"strings"
	"testing"

	"github.com/linecook/linecook/components/awstest"
)

// TestConfigErrorsSurfaceBeforeAnyResource runs the stack's public Program
// as `pulumi up` does with a bad value: the program must fail with the
// parser's error (pipeline's bad-value table covers every key and field)
// before it registers a single resource. The two cases prove the stack's
// own part: it hands the parser the whole config (a misspelt key is
// caught) and the burger application's workers (an unknown one is named
// beside the ones that exist).
func TestConfigErrorsSurfaceBeforeAnyResource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"misspelt key", map[string]string{"linecook:scalling": `{"policy":"step"}`},
			[]string{"linecook:scalling", "unknown key", "linecook:scaling", "linecook:stages"}},
		{"unknown worker", map[string]string{"linecook:stages": `[{"name":"grill","worker":"grll"}]`},
			[]string{"linecook:stages[0].worker", `"grll"`, "assemble, fry, grill, payment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awstest.SetConfig(t, tc.values)
			m, err := awstest.Run(Program)
			if err == nil {
				t.Fatal("the stack accepted bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if rs := m.Resources(); len(rs) != 0 {
				t.Errorf("%d resources registered before the config error (first: %s %s)", len(rs), rs[0].Type, rs[0].Name)
			}
		})
	}
}
