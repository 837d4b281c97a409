package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/tools/local"
)

// TestScaleInSparesWorkersMidMessage scales two stages in from 3 workers
// to 1 under a stream of messages that each take longer than the stage's
// stop timeout: 5 s of work (300 s at ×60), a 4 s stopTimeout (2 s
// drain). The first stage protects its tasks from scale-in, as the stack
// deploys it; the second turns protection off, and shows what the first
// is spared. Through the local agent (ECS_AGENT_URI per worker), the
// runner's scale-in stops only unprotected workers, as ECS does, and
// waits for the others.
//
// Counted, per stage, from the workers' own logs and the order table:
// messages cut (given back to the queue by a stopping worker, their work
// abandoned), messages redelivered, and stage attempts beyond the first.
// The protected stage must show none of each and still reach its one
// worker once the stream has drained.
func TestScaleInSparesWorkersMidMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline of worker processes for half a minute")
	}
	began := time.Now()
	// A worker releases its protection after 2 s idle (2 minutes of
	// cloud time, the default 30 s would be half a second): at 1 message
	// a second per worker, one that goes 7 s without a message mid-stream
	// is rare, so every scale-in under the stream meets busy workers. One
	// stopped while idle mid-stream may find a message in the long poll it
	// lets finish, and gives it back unstarted (RELIABILITY.md's limits).
	stage := func(name string, protect bool) string {
		return `{"name":"` + name + `","worker":"payment","concurrency":20,"processingTime":"300s","visibilityTimeout":"10s","stopTimeout":"4s",` +
			`"scaleInProtection":` + map[bool]string{true: "true", false: "false"}[protect] + `,` +
			`"env":{"LINECOOK_PAYMENT_DELAY":"300s","LINECOOK_LOG_LEVEL":"debug","LINECOOK_PROTECTION_RELEASE_DELAY":"2s"},` +
			`"scaling":{"policy":"step","min":1,"max":3,"desired":3,"scaleInAfter":"12m","scaleInCooldown":"60s"}}`
	}
	cfg := config(t, map[string]string{"linecook:stages": "[" + stage("guarded", true) + "," + stage("unguarded", false) + "]"})
	r := start(t, local.Options{Config: cfg, TimeScale: 60, Autoscale: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// 45 orders over 15 s: 15 messages in flight per stage, 5 per worker,
	// half its concurrency or less. The scale-in alarm goes off 12 s (12
	// minutes) into the run, when both stages' workers hold messages (the
	// second's from 5 s after the first's), and takes each stage to 2
	// workers, then a second later to 1.
	const n = 45
	sum, err := r.PlaceOrders(ctx, n, 3, 2*time.Minute, nil)
	if err != nil || !sum.OK() {
		t.Fatalf("orders: %v %q", err, sum.Line())
	}
	streamed := time.Since(began)

	// Once drained, each stage comes down to its one worker.
	deadline := time.Now().Add(time.Minute)
	for {
		s, _ := r.Snapshot()
		if s.Stages[0].Tasks == 1 && s.Stages[1].Tasks == 1 && len(r.Supervisor().Tasks("")) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers: guarded %d (desired %d, protected %d), unguarded %d, a minute after the stream",
				s.Stages[0].Tasks, s.Stages[0].Desired, s.Stages[0].Protected, s.Stages[1].Tasks)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Let the stopped workers' last lines reach their logs.
	time.Sleep(time.Second)

	// How long the protected stage had fewer workers wanted than running,
	// every one of them protected: scale-in waiting on protection.
	var waited, wantedFewer int
	for _, s := range r.History() {
		g := s.Stages[0]
		if g.Desired < g.Tasks {
			wantedFewer++
			if g.Protected == g.Tasks {
				waited++
			}
		}
		if u := s.Stages[1]; u.Protected != 0 {
			t.Errorf("unguarded stage shows %d protected workers", u.Protected)
		}
	}
	if waited == 0 {
		t.Errorf("no snapshot with scale-in waiting on protected workers (%d wanted fewer): the test did not scale in under load", wantedFewer)
	}

	counts := countDeliveries(t, r.WorkDir())
	attempts, lastEnd := redoneAttempts(t, ctx, r)
	// When the protected stage came down to one worker, after its last
	// message was done.
	var down time.Time
	for _, s := range r.History() {
		if s.Stages[0].Tasks == 1 && s.Time.After(lastEnd) {
			down = s.Time
			break
		}
	}
	g, u := counts["guarded"], counts["unguarded"]
	if g.cut != 0 || g.unstarted != 0 || g.redelivered != 0 || attempts["guarded"] != 0 {
		t.Errorf("protected stage: %d messages cut, %d given back unstarted, %d redelivered, %d stage attempts redone; want none",
			g.cut, g.unstarted, g.redelivered, attempts["guarded"])
	}
	if g.completed != n {
		t.Errorf("protected stage completed %d messages, want %d", g.completed, n)
	}
	if u.cut == 0 {
		t.Errorf("the unprotected stage had no message cut: the scale-in hit no busy worker, and the test proved nothing")
	}
	t.Logf("FIGURES scale-in 3→1 under %d orders at 3/s, 5 s of work, 4 s stopTimeout: "+
		"protected: %d cut, %d given back unstarted, %d redelivered, %d attempts redone, %d workers stopped, scale-in waited on protection for %d of %d snapshots (1/s) it wanted fewer workers, "+
		"at one worker %.1fs after its last message was done, %d protection updates; "+
		"unprotected: %d cut, %d given back unstarted, %d redelivered, %d attempts redone, %d workers stopped; orders done at %.0fs, test %.0fs",
		n, g.cut, g.unstarted, g.redelivered, attempts["guarded"], g.stopped, waited, wantedFewer, down.Sub(lastEnd).Seconds(), r.ProtectionUpdates(),
		u.cut, u.unstarted, u.redelivered, attempts["unguarded"], u.stopped, streamed.Seconds(), time.Since(began).Seconds())
}

// deliveries are one stage's counts from its workers' logs.
type deliveries struct {
	completed   int // "message completed" lines
	redelivered int // … of a message on its second or later receive
	cut         int // messages whose work a stopping worker abandoned at its drain timeout
	unstarted   int // messages a stopping worker gave back before starting them
	stopped     int // workers that stopped
}

func countDeliveries(t *testing.T, dir string) map[string]*deliveries {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*deliveries{"guarded": {}, "unguarded": {}}
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Msg          string `json:"msg"`
				Stage        string `json:"stage"`
				ReceiveCount int    `json:"receive_count"`
				Returned     int    `json:"returned_to_queue"`
				InFlight     int    `json:"in_flight"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || out[l.Stage] == nil {
				continue
			}
			d := out[l.Stage]
			switch {
			case l.Msg == "message completed":
				d.completed++
				if l.ReceiveCount > 1 {
					d.redelivered++
				}
			case l.Msg == "consumer stopped":
				d.stopped++
				d.unstarted += l.Returned // less the cut ones, below
			case strings.HasPrefix(l.Msg, "drain timeout"):
				d.cut += l.InFlight
			}
		}
		f.Close()
	}
	for _, d := range out {
		d.unstarted -= d.cut
	}
	return out
}

// redoneAttempts counts, per stage, the order table's stage starts beyond
// the first: each is work begun again after a delivery was cut. It also
// returns when the first stage last ended an order.
func redoneAttempts(t *testing.T, ctx context.Context, r *local.Runner) (map[string]int, time.Time) {
	t.Helper()
	cfg, err := r.Emulators().AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := dynamo.New(r.Emulators().DynamoDBClient(cfg), dynamo.Config{Table: r.Table()}).Recent(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var last time.Time
	for _, o := range all {
		for name, st := range o.Stages {
			if st.Attempts > 1 {
				out[name] += st.Attempts - 1
			}
			if name == "guarded" && st.EndedAt.After(last) {
				last = st.EndedAt
			}
		}
	}
	return out, last
}
