// Command burgerlocal sets up the burger pipeline's AWS resources on the
// local emulators (fauxqs and dynalite) and prints the environment for the
// order API and each stage's worker, exactly as the stack would give it to
// their ECS tasks. Then it keeps the emulators running until Ctrl-C.
//
//	go run ./examples/burgerlocal            # in one shell
//	# paste the printed lines into others
//
// It is the by-hand version of what `linecook local` automates.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/emulators"
)

func main() {
	dataDir := flag.String("data", "", "keep queues and messages in this directory across restarts")
	table := flag.String("table", "linecook-orders", "order table name")
	scale := flag.String("work-scale", "0.01", "LINECOOK_WORK_SCALE for the API and workers (1 is real time)")
	verbose := flag.Bool("v", false, "show the emulators' own output")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dataDir, *table, *scale, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "burgerlocal:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir, table, scale string, verbose bool) error {
	var log io.Writer = io.Discard
	if verbose {
		log = os.Stderr
	}
	fmt.Fprintln(os.Stderr, "starting the emulators (the first run installs them with npm)…")
	e, err := emulators.Start(ctx, emulators.Options{DataDir: dataDir, Log: log})
	if err != nil {
		return err
	}
	defer e.Stop()
	if err := e.Setenv(); err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	lines, err := setup(ctx, awsCfg, table, scale, "go run ./cmd/linecookd")
	if err != nil {
		return err
	}
	fmt.Println("# The emulators are up. In each shell, first:")
	fmt.Println("export " + strings.Join(e.Env(), " "))
	fmt.Println()
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Fprintln(os.Stderr, "\nCtrl-C stops the emulators.")
	select {
	case <-ctx.Done():
	case <-e.Done():
		return fmt.Errorf("the emulators exited")
	}
	return nil
}

// setup creates the order table and every stage's queue and DLQ, and
// returns a comment and a command line for the API and each worker.
func setup(ctx context.Context, awsCfg aws.Config, table, scale, linecookd string) ([]string, error) {
	cfg, err := pipeline.Parse(map[string]string{}, handlers.Pipeline())
	if err != nil {
		return nil, err
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), dynamo.Config{Table: table})
	if err := store.EnsureTable(ctx); err != nil {
		return nil, err
	}
	q := sqs.NewFromConfig(awsCfg)
	urls := make([]string, len(cfg.Stages))
	dlqs := make([]string, len(cfg.Stages))
	for i, st := range cfg.Stages {
		queues, err := emulators.CreateQueues(ctx, q, st.Name, emulators.QueueSettings{
			VisibilityTimeout: st.VisibilityTimeout, MaxReceiveCount: st.MaxReceiveCount,
		})
		if err != nil {
			return nil, err
		}
		urls[i], dlqs[i] = queues.URL, queues.DLQURL
	}

	extra := map[string]string{"LINECOOK_WORK_SCALE": scale}
	lines := []string{"# the order API"}
	lines = append(lines, command(cfg.API.APIEnv(urls[0], table), extra, linecookd, pipeline.APICommand()))
	for i, st := range cfg.Stages {
		next := ""
		if i+1 < len(cfg.Stages) {
			next = urls[i+1]
		}
		env := st.TaskEnv(pipeline.Queues{URL: urls[i], NextURL: next, DLQURL: dlqs[i], OrderTable: table})
		lines = append(lines, "", "# stage "+st.Name)
		lines = append(lines, command(env, extra, linecookd, st.Command()))
	}
	return lines, nil
}

// command renders env (plus extra) and the command as one shell line.
func command(env, extra map[string]string, linecookd string, args []string) string {
	all := map[string]string{}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = v
	}
	var b strings.Builder
	for _, kv := range pipeline.EnvList(all) {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			continue
		}
		fmt.Fprintf(&b, "%s=%s ", k, shellQuote(v))
	}
	b.WriteString(linecookd + " " + strings.Join(args, " "))
	return b.String()
}

func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
