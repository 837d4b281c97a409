package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/linecook/linecook/tools/local"
)

// linecookd is the binary every task runs, built once for the test binary
// from the checkout under test.
var linecookd string

func TestMain(m *testing.M) {
	// The poison test starts this test binary as its tasks (see
	// faultyTask): the linecook image's worker with a fault injector in
	// front of the handler.
	if len(os.Args) > 1 && os.Args[1] == faultyTaskArg {
		os.Exit(faultyTask(os.Args[2:]))
	}
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		return m.Run() // every test skips itself
	}
	dir, err := os.MkdirTemp("", "linecook-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if linecookd, err = local.Linecookd(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	return m.Run()
}
