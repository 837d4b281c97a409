package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/tools/emulators/emutest"
)

func TestMain(m *testing.M) { emutest.Main(m) }

func TestSetupCreatesThePipelineAndPrintsEachTasksEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	table := emutest.Name(t)
	var lines []string
	var err error
	for range 2 { // a second run finds everything in place
		if lines, err = setup(ctx, emutest.Config(t), table, "0.01", "linecookd"); err != nil {
			t.Fatal(err)
		}
	}
	var cmds []string
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) != 5 {
		t.Fatalf("got %d command lines, want the API and 4 stages:\n%s", len(cmds), strings.Join(lines, "\n"))
	}
	want := []struct{ suffix, has, hasNot string }{
		{"linecookd api", "/payment ", "LINECOOK_QUEUE_URL"},
		{"linecookd worker payment", "LINECOOK_NEXT_QUEUE_URL=http://", ""},
		{"linecookd worker grill", "LINECOOK_QUEUE_URL=http://", ""},
		{"linecookd worker fry", "LINECOOK_DLQ_URL=http://", ""},
		{"linecookd worker assemble", "LINECOOK_ORDER_TABLE=" + table, "LINECOOK_NEXT_QUEUE_URL"},
	}
	for i, w := range want {
		c := cmds[i]
		if !strings.HasSuffix(c, w.suffix) || !strings.Contains(c, w.has) || (w.hasNot != "" && strings.Contains(c, w.hasNot)) ||
			!strings.Contains(c, "LINECOOK_WORK_SCALE=0.01") {
			t.Errorf("line %d = %s\nwant it to end in %q, contain %q and the work scale, not %q", i, c, w.suffix, w.has, w.hasNot)
		}
	}
}
