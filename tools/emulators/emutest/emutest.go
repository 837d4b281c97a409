// Package emutest runs a test binary against the local emulators: Main
// starts one fauxqs + dynalite pair for the whole binary and points the AWS
// SDK's default configuration at it; Table and Queue give each test its own
// order table and queue, so tests never see each other's data.
package emutest

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/emulators"
)

// Main starts the emulators, runs the tests and stops them. Call it from
// TestMain: `func TestMain(m *testing.M) { emutest.Main(m) }`.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main returning the exit code, for a TestMain with cleanup of its
// own to do.
func Run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log io.Writer = io.Discard
	if os.Getenv("LINECOOK_EMULATOR_LOG") != "" {
		log = os.Stderr
	}
	// The emulators live as long as ctx: it must outlast m.Run.
	e, err := emulators.Start(ctx, emulators.Options{Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "emutest:", err)
		return 1
	}
	defer e.Stop()
	if err := e.Setenv(); err != nil {
		fmt.Fprintln(os.Stderr, "emutest:", err)
		return 1
	}
	return m.Run()
}

// Config is the SDK's default configuration, which Main pointed at the
// emulators.
func Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var seq atomic.Int64

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// Name returns a table or queue name unique in this test binary and
// recognisably the test's.
func Name(t testing.TB) string {
	n := unsafe.ReplaceAllString(t.Name(), "-")
	if len(n) > 60 {
		n = n[:60]
	}
	return fmt.Sprintf("%s-%d", n, seq.Add(1))
}

// Table creates an order table of its own for the test and returns a store
// on it.
func Table(t testing.TB) *dynamo.Store {
	t.Helper()
	s := dynamo.New(dynamodb.NewFromConfig(Config(t)), dynamo.Config{Table: Name(t)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// Queue creates a queue of its own for the test and returns its URL.
func Queue(t testing.TB, q *sqs.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, err := emulators.CreateQueue(ctx, q, Name(t))
	if err != nil {
		t.Fatal(err)
	}
	return url
}
