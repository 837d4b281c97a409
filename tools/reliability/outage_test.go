package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// outage is how long SQS stays down.
const outage = 10 * time.Second

// TestSQSOutage stops the SQS emulator for ten seconds in the middle of a
// run and starts it again with its data (fauxqs persistence), as an SQS
// outage or a network partition would look to the tasks. DynamoDB keeps
// running.
//
// The workers must back off and resume without crashing (the same
// processes before and after); the API must answer 503 with Retry-After
// while SQS is down and leave no order behind for a request it answered
// 503; clients that retry must get their orders accepted once SQS is back,
// and every accepted order must complete.
func TestSQSOutage(t *testing.T) {
	p := startPipeline(t, spec{stages: burgerStages(nil), scale: 10})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	before := pids(p)

	const n = 400
	placed := make(chan sent, 1)
	go func() { placed <- p.sendOrders(ctx, "outage", n, 20) }()
	waitFor(t, ctx, 2*time.Minute, "the first orders to complete", func() bool { return p.succeeded("assemble") >= 40 })

	p.Emulators().StopSQS()
	down := time.Now()
	// While SQS is down, a request must be answered 503 with
	// Retry-After, naming the queue, and leave nothing in the table.
	var probes []probe
	for time.Since(down) < outage {
		probes = append(probes, p.probe(ctx))
		time.Sleep(time.Second)
	}
	if err := p.Emulators().StartSQS(ctx); err != nil {
		t.Fatalf("restarting SQS: %v", err)
	}
	t.Logf("SQS was down for %.1fs", time.Since(down).Seconds())

	for _, pr := range probes {
		if pr.status != http.StatusServiceUnavailable || pr.retryAfter == "" || !strings.Contains(pr.errMsg, "order queue") {
			t.Errorf("POST /orders with SQS down = %d (Retry-After %q) %q, want 503 with Retry-After naming the order queue",
				pr.status, pr.retryAfter, pr.errMsg)
		}
	}

	s := <-placed
	o := p.checkCompleted(t, ctx, s, nil)
	a := p.auditOrders(t, ctx, s.IDs)
	if s.Statuses["503"] == 0 {
		t.Error("no client request was answered 503: the outage missed the load, so the test proved nothing")
	}

	after := pids(p)
	if !slices.Equal(before, after) {
		t.Errorf("tasks before the outage %v, after %v: want the same processes (none crashed or replaced)", before, after)
	}
	// Every worker noticed the outage and recovered from it, backing off
	// meanwhile: its receive loops logged the failure once, and once the
	// recovery with the number of failed attempts.
	failing, recovered := map[string]bool{}, map[string]string{}
	for _, l := range taskLogs(t, p.WorkDir()) {
		if !strings.HasPrefix(l.Msg, "receiving from ") {
			continue
		}
		switch {
		case strings.HasSuffix(l.Msg, "failing; backing off and retrying"):
			failing[l.task] = true
		case strings.HasSuffix(l.Msg, "recovered"):
			recovered[l.task] = fmt.Sprintf("%s failed receives over %s", l.str("failures"), l.str("outage"))
			// Backing off from 100 ms to 10 s, a worker's few receive
			// loops fail a few times each in ten seconds; without the
			// backoff they would fail thousands of times.
			var failures int
			fmt.Sscan(l.str("failures"), &failures)
			if failures > 200 {
				t.Errorf("worker %s failed %d receives in a %s outage: it does not back off", l.task, failures, outage)
			}
		}
	}
	for _, task := range before {
		name, _, _ := strings.Cut(task, " ")
		if name == "api" {
			continue
		}
		if !failing[name] || recovered[name] == "" {
			t.Errorf("worker %s: failing logged %v, recovery %q; want both", name, failing[name], recovered[name])
		}
	}
	figures(t, "SQS outage %s: %d probes answered 503; receive backoff per worker %v", outage, len(probes), recovered)
	figures(t, "SQS outage: client: %s; outcome: %s; table and logs: %s", s, o, a)
}

// pids lists the running tasks as "name pid", sorted.
func pids(p *pipe) []string {
	var out []string
	for _, t := range p.Supervisor().Tasks("") {
		out = append(out, fmt.Sprintf("%s %d", t.Name, t.Pid()))
	}
	slices.Sort(out)
	return out
}

// probe is one order request's answer.
type probe struct {
	status     int
	retryAfter string
	errMsg     string
}

// probe posts one order, without an Idempotency-Key and without retrying.
func (p *pipe) probe(ctx context.Context) probe {
	body := []byte(`{"items":[{"item":"burger"}]}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.APIURL()+"/orders", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return probe{errMsg: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return probe{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), errMsg: e.Error}
}
