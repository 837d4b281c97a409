package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSIGTERMUnderLoad stops a busy worker the way ECS does on scale-in or
// a deployment: SIGTERM, then SIGKILL once the task's stopTimeout has
// passed. The worker must stop receiving, finish or give back what it
// holds and exit before the SIGKILL; what it gave back must be done by
// the stage's other worker, and nothing may be lost.
//
// Two stages are stopped. Payment's work (8 s an order here) outlasts the
// drain (5 s under a 10 s stopTimeout), so the worker cancels the orders
// it started last and returns their messages; the grill's work (a fraction
// of a second) all finishes within the drain.
func TestSIGTERMUnderLoad(t *testing.T) {
	const stopTimeout = 10 * time.Second
	p := startPipeline(t, spec{scale: 10, stages: burgerStages(map[string]stageOpts{
		"payment": {
			fields: fmt.Sprintf(`"concurrency":150,"visibilityTimeout":"5s","stopTimeout":%q`, stopTimeout),
			// ×10 time scale: 8 s, ±10%.
			env: map[string]string{"LINECOOK_PAYMENT_DELAY": "80s"},
		},
	})})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, st := range p.cfg.Stages {
		if st.StopTimeout != stopTimeout || st.DrainTimeout >= st.StopTimeout {
			t.Fatalf("stage %s: stop timeout %s, drain %s; the test wants %s and a shorter drain", st.Name, st.StopTimeout, st.DrainTimeout, stopTimeout)
		}
	}

	const n = 400
	placed := make(chan sent, 1)
	go func() { placed <- p.sendOrders(ctx, "sigterm", n, 30) }()

	type stopped struct {
		task         string
		took         time.Duration
		err          error
		inFlightSeen int
	}
	var stops []stopped
	for _, c := range []struct {
		stage    string
		inFlight int
	}{{"payment", 100}, {"grill", 5}} {
		waitFor(t, ctx, 2*time.Minute, fmt.Sprintf("%d messages in flight in %s", c.inFlight, c.stage),
			func() bool { return p.inFlight(c.stage) >= c.inFlight })
		seen := p.inFlight(c.stage)
		task := p.Supervisor().Tasks(c.stage)[0]
		began := time.Now()
		p.Supervisor().Terminate(task, stopTimeout)
		<-task.Done()
		stops = append(stops, stopped{task.Name, time.Since(began), task.Err(), seen})
	}

	s := <-placed
	o := p.checkCompleted(t, ctx, s, nil)
	a := p.auditOrders(t, ctx, s.IDs)

	logs := taskLogs(t, p.WorkDir())
	for _, st := range stops {
		if st.err != nil {
			t.Errorf("%s exited with %v after SIGTERM, want a clean exit before the SIGKILL due %s after it", st.task, st.err, stopTimeout)
		}
		var final logLine
		for _, l := range logs {
			if l.task == st.task && l.Msg == "consumer stopped" {
				final = l
			}
		}
		if final.Msg == "" {
			t.Errorf("%s never logged that it stopped", st.task)
			continue
		}
		returned := final.str("returned_to_queue")
		// Deliveries of this stage that other workers completed on a
		// second or later receive: where the given-back messages went.
		stage := final.Stage
		redone := 0
		for _, l := range logs {
			if l.Msg == "message completed" && l.Stage == stage && l.task != st.task && l.ReceiveCount > 1 {
				redone++
			}
		}
		var back int
		fmt.Sscan(returned, &back)
		if redone < back {
			t.Errorf("%s gave back %d messages but other workers completed only %d redeliveries", st.task, back, redone)
		}
		if stage == "payment" && back == 0 {
			t.Errorf("%s gave back no message: its work should have outlasted the drain, so the test proved nothing", st.task)
		}
		figures(t, "SIGTERM %s (%d in flight in the stage): exited in %.1fs (stopTimeout %s, drain %s logged by the worker); succeeded %s, returned %d to the queue, %d redeliveries completed by other workers",
			st.task, st.inFlightSeen, st.took.Seconds(), stopTimeout, final.str("drain"), final.str("succeeded"), back, redone)
	}
	figures(t, "SIGTERM: client: %s; outcome: %s; table and logs: %s", s, o, a)
}
