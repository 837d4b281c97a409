package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/linecook/linecook/tools/loadgen"
)

func init() { root.AddCommand(loadCmd()) }

func loadCmd() *cobra.Command {
	var o loadgen.Options
	var noProgress, strict bool
	cmd := &cobra.Command{
		Use:   "load --url URL [--rate R] [--duration D]",
		Short: "Open-loop load test of an order API, local or on AWS",
		Long: `Sends orders at a fixed rate whatever the API's answers (open loop), then
reports accept-latency percentiles measured from each request's scheduled time,
errors by status, and completion percentiles from polling GET /orders/{id}
(the API's own created/completed timestamps).

--sync posts to /orders/sync instead (the reference system's synchronous path,
which pays inline), so the sync-vs-async comparison is two commands.`,
		Example: `  linecook load --url http://127.0.0.1:8080 --rate 60 --duration 1m
  linecook load --url http://127.0.0.1:8080 --rate 20 --duration 30s --sync
  linecook load --url https://api.example.com --rate 200 --count 6000 --api-key $KEY`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.URL == "" {
				return errors.New("--url is required (the API's base URL, e.g. http://127.0.0.1:8080)")
			}
			if o.APIKey == "" {
				o.APIKey = os.Getenv("LINECOOK_API_KEY")
			}
			if o.Sync {
				o.CompletionTimeout = 0
			}
			if !noProgress {
				o.Progress = cmd.ErrOrStderr()
			}
			res, err := loadgen.Run(cmd.Context(), o)
			if res != nil {
				res.Print(cmd.OutOrStdout(), o.Sync)
			}
			if err != nil {
				return err
			}
			if strict && (res.Accepted < res.Sent || (!o.Sync && res.Completed < res.Accepted)) {
				return fmt.Errorf("--strict: %d of %d requests failed, %d of %d accepted orders did not complete",
					res.Sent-res.Accepted, res.Sent, res.Accepted-res.Completed, res.Accepted)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "base URL of the order API")
	f.Float64Var(&o.Rate, "rate", 10, "orders per second")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to send")
	f.IntVar(&o.Count, "count", 0, "send exactly this many orders instead of --duration")
	f.BoolVar(&o.Sync, "sync", false, "post to /orders/sync (pay inline) instead of /orders")
	f.StringVar(&o.APIKey, "api-key", "", "API key sent as X-Api-Key (default $LINECOOK_API_KEY)")
	f.DurationVar(&o.CompletionTimeout, "completion-timeout", 2*time.Minute, "how long to wait for orders to complete after the last send (0: do not poll)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "timeout of each request")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the random orders")
	f.BoolVar(&noProgress, "no-progress", false, "hide the progress bar")
	f.BoolVar(&strict, "strict", false, "exit non-zero if any request failed or any accepted order did not complete")
	return cmd
}
