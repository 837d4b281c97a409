// Command linecook runs linecook pipelines without AWS: the whole pipeline on
// one machine (`linecook local`), scaling simulations and capacity plans
// (`linecook simulate`, `linecook plan`), load tests against any deployed
// API (`linecook load`) and benchmarks (`linecook bench`).
//
// Each subcommand lives in its own file and adds itself to root in init.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "linecook",
	Short:         "Queue-driven worker pipelines: run locally, simulate scaling, load-test",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "linecook:", err)
		os.Exit(1)
	}
}
