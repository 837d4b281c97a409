package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/linecook/linecook/burger/handlers"
	"github.com/linecook/linecook/burger/orders"
	"github.com/linecook/linecook/burger/orders/dynamo"
	"github.com/linecook/linecook/pipeline"
	"github.com/linecook/linecook/tools/local"
)

// testTimeout bounds each test: generous, since the machine is shared and
// CI runs other packages beside this one. No test asserts on how fast
// anything happened.
const testTimeout = 6 * time.Minute

// spec describes a test pipeline.
type spec struct {
	// stages is `linecook:stages` (the burger stages, with test
	// timeouts); see burgerStages.
	stages string
	// scale is the time scale: ×10 runs the burger work (3 s payment)
	// ten times faster; timeouts keep their configured values.
	scale float64
	// taskCommand replaces linecookd (the poison test's fault injector).
	taskCommand []string
	// apiTasks is how many API tasks run (0: one); apiEnv is extra
	// environment for them (the API fault test's hook and bound).
	apiTasks int
	apiEnv   map[string]string
}

// stageOpts tunes one burger stage of a test pipeline.
type stageOpts struct {
	// tasks is the stage's fixed worker count: 2 unless set, 0 if idle.
	tasks int
	idle  bool
	// fields are extra JSON fields of the stage (`"stopTimeout":"8s"`).
	fields string
	// env are extra environment variables.
	env map[string]string
}

// burgerStages is the burger pipeline with test settings: a fixed number
// of tasks per stage, a 5 s visibility timeout so that a crashed worker's
// messages come back within seconds, a 10 s stop timeout (5 s drain), and
// debug logs.
func burgerStages(opts map[string]stageOpts) string {
	var parts []string
	for _, name := range handlers.Names {
		o := opts[name]
		switch {
		case o.idle:
			o.tasks = 0
		case o.tasks == 0:
			o.tasks = 2
		}
		env := map[string]string{"LINECOOK_LOG_LEVEL": "debug"}
		for k, v := range o.env {
			env[k] = v
		}
		envJSON, _ := json.Marshal(env)
		// Concurrency 40: the fixed worker counts drain 50 orders a
		// second with room to spare, and the emulators are not swamped
		// by pollers (ten per payment task at its default of 200).
		fields := `"concurrency":40,"visibilityTimeout":"5s","stopTimeout":"10s"`
		if o.fields != "" {
			fields = o.fields
		}
		parts = append(parts, fmt.Sprintf(`{"name":%q,"worker":%q,"scaling":{"policy":"fixed","desired":%d},%s,"env":%s}`,
			name, name, o.tasks, fields, envJSON))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// pipe is a running test pipeline.
type pipe struct {
	*local.Runner
	cfg   pipeline.Config
	store *dynamo.Store
	sqs   *sqs.Client
}

// startPipeline parses the spec with the stack's own parser and starts it
// with linecook local. The run stops when the test ends; its directory
// (task logs) is kept when the test failed, or LINECOOK_KEEP_LOGS is set.
func startPipeline(t *testing.T, s spec) *pipe {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole pipeline as processes; skipped with -short")
	}
	cfg, err := pipeline.Parse(map[string]string{"linecook:stages": s.stages}, handlers.Pipeline())
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	work, err := os.MkdirTemp("", "linecook-"+strings.ToLower(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.taskCommand
	if cmd == nil {
		cmd = []string{linecookd}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := local.Start(ctx, local.Options{
		Config: cfg, Stack: "rel", TaskCommand: cmd, TimeScale: s.scale, WorkDir: work, APITasks: s.apiTasks, APIEnv: s.apiEnv,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() || os.Getenv("LINECOOK_KEEP_LOGS") != "" {
			t.Logf("task logs kept in %s", work)
			return
		}
		os.RemoveAll(work)
	})
	awsCfg, err := r.Emulators().AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &pipe{
		Runner: r, cfg: cfg,
		store: dynamo.New(r.Emulators().DynamoDBClient(awsCfg), dynamo.Config{Table: r.Table()}),
		sqs:   r.Emulators().SQSClient(awsCfg),
	}
}

// testWriter sends the runner's warnings (a crashed worker, a failed
// replacement) to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond every 100 ms until it holds, failing the test when
// limit passes first.
func waitFor(t *testing.T, ctx context.Context, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stageIndex is the position of a stage in the pipeline.
func (p *pipe) stageIndex(name string) int {
	for i, st := range p.cfg.Stages {
		if st.Name == name {
			return i
		}
	}
	panic("no stage " + name)
}

// inFlight is a stage's in-flight count in the runner's latest sample.
func (p *pipe) inFlight(stage string) int {
	s, ok := p.Snapshot()
	if !ok {
		return 0
	}
	return s.Stages[p.stageIndex(stage)].InFlight
}

// succeeded is a stage's Succeeded metric in the runner's latest sample.
func (p *pipe) succeeded(stage string) int64 {
	s, ok := p.Snapshot()
	if !ok {
		return 0
	}
	return s.Stages[p.stageIndex(stage)].Succeeded
}

// queueDepth reads a queue's visible and in-flight counts.
func (p *pipe) queueDepth(ctx context.Context, url string) (int, error) {
	out, err := p.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		var v int
		fmt.Sscan(out.Attributes[string(k)], &v)
		n += v
	}
	return n, nil
}

// allOrders reads every order in the table.
func (p *pipe) allOrders(t *testing.T, ctx context.Context) []orders.Order {
	t.Helper()
	all, err := p.store.Recent(ctx, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// logLine is one JSON log line of a task, with the keys of package
// logkey: the runtime's and the burger handlers' lines name a message by
// stage, message_id and receive_count, and its order by trace_id; the
// handlers' by order_id too.
type logLine struct {
	task string
	raw  map[string]any

	Time         time.Time `json:"time"`
	Level        string    `json:"level"`
	Msg          string    `json:"msg"`
	Stage        string    `json:"stage"`
	MessageID    string    `json:"message_id"`
	ReceiveCount int       `json:"receive_count"`
	TraceID      string    `json:"trace_id"`
	OrderID      string    `json:"order_id"`
	RetryIn      string    `json:"retry_in"`
}

// str is a field of the line as a string ("" when absent).
func (l logLine) str(key string) string {
	switch v := l.raw[key].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// taskLogs reads every task's log in the run's directory, in time order.
// EMF metric lines are left out.
func taskLogs(t *testing.T, dir string) []logLine {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	for _, f := range files {
		task := strings.TrimSuffix(filepath.Base(f), ".log")
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			b := sc.Bytes()
			if len(b) == 0 || b[0] != '{' || strings.Contains(string(b), `"_aws"`) {
				continue
			}
			var l logLine
			if json.Unmarshal(b, &l) != nil || json.Unmarshal(b, &l.raw) != nil {
				continue
			}
			l.task = task
			out = append(out, l)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
	}
	slices.SortStableFunc(out, func(a, b logLine) int { return a.Time.Compare(b.Time) })
	return out
}

// The burger handlers' log messages for a delivery that did not do the
// work to its end (see workers/burger).
var absorbedMessages = []string{
	"stage already ended; not redoing the work",
	"a concurrent delivery ended the stage first",
	"order already completed; dropping the message",
	"another message of the order holds the stage; dropping this duplicate",
}

// delivery is one receive of one message by one stage, as the logs tell it.
type delivery struct {
	stage, messageID string
	receive          int
	trace            string
	completed        bool // the consumer settled it as a success
	absorbed         bool // ... without ending the stage: it was done already
}

// audit is what the table and the logs say became of a run's orders.
type audit struct {
	// Orders are the accepted orders checked; Completed of them completed.
	Orders, Completed int
	// Deliveries completed by the workers, all stages; Redelivered those
	// with a receive count above 1 (SQS delivered the message again).
	Deliveries, Redelivered int
	// Absorbed deliveries found their stage's work already done (a
	// redelivery, or a duplicate a crashed stage forwarded twice).
	Absorbed int
	// Redone counts stage attempts beyond the first: work started again
	// because an earlier attempt never finished (its worker died or was
	// stopped).
	Redone int
	// DoubleEnds counts (stage, order) pairs that more than one delivery
	// did to the end: a double completion. Must be 0.
	DoubleEnds int
	// Succeeded is each stage's Succeeded metric (EMF) as the runner saw
	// it: deliveries completed, absorbed ones included. A worker killed
	// with -9 takes its last second of metrics with it.
	Succeeded map[string]int64
}

func (a audit) String() string {
	return fmt.Sprintf("%d orders, %d completed, %d duplicated; %d deliveries, %d redelivered, %d absorbed, %d stage attempts redone",
		a.Orders, a.Completed, a.DoubleEnds, a.Deliveries, a.Redelivered, a.Absorbed, a.Redone)
}

// auditOrders checks that each completed order of ids completed exactly
// once: in the table, with every stage ended and the completion written
// with the last stage's end; in the logs, no stage did any order's work to
// the end twice. It reports what it counted. (checkCompleted accounts for
// the orders that did not complete.)
func (p *pipe) auditOrders(t *testing.T, ctx context.Context, ids []string) audit {
	t.Helper()
	got, err := p.store.GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	a := audit{Orders: len(ids), Succeeded: map[string]int64{}}
	last := p.cfg.Stages[len(p.cfg.Stages)-1].Name
	traces := map[string]string{} // trace id → order id
	bad := 0
	for _, id := range ids {
		o, ok := got[id]
		if !ok {
			t.Errorf("accepted order %s is not in the table", id)
			continue
		}
		traces[o.TraceID] = id
		if o.Status != orders.Completed {
			continue // dead-lettered or lost: checkCompleted says which
		}
		var problems []string
		if o.CompletedAt.IsZero() {
			problems = append(problems, "completed without a completion time")
		}
		for _, st := range p.cfg.Stages {
			s, ok := o.Stages[st.Name]
			switch {
			case !ok || !s.Ended():
				problems = append(problems, "stage "+st.Name+" not ended")
			case s.Attempts < 1:
				problems = append(problems, fmt.Sprintf("stage %s ended with %d attempts", st.Name, s.Attempts))
			default:
				a.Redone += s.Attempts - 1
			}
		}
		if s := o.Stages[last]; !o.CompletedAt.Equal(s.EndedAt) {
			problems = append(problems, fmt.Sprintf("completedAt %v is not the %s stage's end %v", o.CompletedAt, last, s.EndedAt))
		}
		if len(problems) > 0 {
			bad++
			if bad <= 10 {
				t.Errorf("completed order %s: %s", id, strings.Join(problems, "; "))
			}
			continue
		}
		a.Completed++
	}
	if bad > 10 {
		t.Errorf("... and %d more orders completed wrongly", bad-10)
	}

	ds := deliveries(taskLogs(t, p.WorkDir()))
	ended := map[[2]string]int{} // (stage, order) → deliveries that did the work to the end
	for _, d := range ds {
		if !d.completed {
			continue
		}
		order, ours := traces[d.trace]
		if !ours {
			continue
		}
		a.Deliveries++
		if d.receive > 1 {
			a.Redelivered++
		}
		if d.absorbed {
			a.Absorbed++
			continue
		}
		ended[[2]string{d.stage, order}]++
	}
	for k, n := range ended {
		if n > 1 {
			a.DoubleEnds++
			if a.DoubleEnds <= 10 {
				t.Errorf("stage %s did order %s's work to the end %d times: a double completion", k[0], k[1], n)
			}
		}
	}
	a.Succeeded = p.settledSucceeded(ctx)
	return a
}

// settledSucceeded is every stage's Succeeded metric once it has stopped
// moving: workers flush their metrics every second, and the runner
// samples them every second.
func (p *pipe) settledSucceeded(ctx context.Context) map[string]int64 {
	read := func() map[string]int64 {
		out := map[string]int64{}
		if s, ok := p.Snapshot(); ok {
			for _, st := range s.Stages {
				out[st.Name] = st.Succeeded
			}
		}
		return out
	}
	last := read()
	for range 10 {
		select {
		case <-ctx.Done():
			return last
		case <-time.After(2500 * time.Millisecond):
		}
		now := read()
		if maps.Equal(now, last) {
			return now
		}
		last = now
	}
	return last
}

// deliveries joins the consumer's and the handlers' log lines of each
// delivery.
func deliveries(lines []logLine) []*delivery {
	type key struct {
		stage, id string
		receive   int
	}
	byKey := map[key]*delivery{}
	var out []*delivery
	get := func(k key) *delivery {
		d := byKey[k]
		if d == nil {
			d = &delivery{stage: k.stage, messageID: k.id, receive: k.receive}
			byKey[k] = d
			out = append(out, d)
		}
		return d
	}
	for _, l := range lines {
		switch {
		case l.Msg == "message completed":
			d := get(key{l.Stage, l.MessageID, l.ReceiveCount})
			d.completed, d.trace = true, l.TraceID
		case slices.Contains(absorbedMessages, l.Msg):
			get(key{l.Stage, l.MessageID, l.ReceiveCount}).absorbed = true
		}
	}
	return out
}

// figures logs a line RELIABILITY.md quotes.
func figures(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figures: "+format, args...)
}
