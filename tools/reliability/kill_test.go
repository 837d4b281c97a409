package reliability

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDashNine kills one worker of every stage with SIGKILL (a crash,
// an OOM kill, a Spot interruption past its warning) while hundreds of
// orders are in flight. The runner replaces each, as an ECS service does.
// The messages the dead workers held come back after their visibility
// timeout; work they had finished but not acknowledged comes back too, and
// must not be done twice.
func TestKillDashNine(t *testing.T) {
	p := startPipeline(t, spec{stages: burgerStages(nil), scale: 5})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	// 20 orders a second keep every stage busy without swamping the
	// emulators on a small, shared machine (then the API answers 503 and
	// workers time out, which other tests are about).
	const n = 500
	placed := make(chan sent, 1)
	go func() { placed <- p.sendOrders(ctx, "kill", n, 20) }()
	// Each stage loses a worker part-way through its share of the
	// orders, a later stage later, so that each kill lands mid-stream.
	var kills []string
	for i, st := range p.cfg.Stages {
		mark := int64((i + 1) * n / 6)
		waitFor(t, ctx, 2*time.Minute, fmt.Sprintf("%s to complete %d messages", st.Name, mark), func() bool { return p.succeeded(st.Name) >= mark })
		inFlight := p.inFlight(st.Name)
		victim := p.Supervisor().Tasks(st.Name)[0]
		// SIGKILL from outside, not Supervisor.Kill: the runner must see
		// a crash, and replace the task.
		if err := syscall.Kill(victim.Pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.Done()
		kills = append(kills, fmt.Sprintf("%s (%d in flight in the stage)", victim.Name, inFlight))
	}
	t.Logf("killed %s", strings.Join(kills, ", "))

	s := <-placed
	o := p.checkCompleted(t, ctx, s, nil)
	a := p.auditOrders(t, ctx, s.IDs)
	if a.Redelivered == 0 {
		t.Error("no message was delivered twice: the kills hit nothing in flight, so the test proved nothing")
	}
	for _, st := range p.cfg.Stages {
		if got := len(p.Supervisor().Tasks(st.Name)); got != 2 {
			t.Errorf("stage %s runs %d workers after the kills, want 2 (each killed one replaced)", st.Name, got)
		}
	}
	figures(t, "kill -9: client: %s; outcome: %s; table and logs: %s; Succeeded metric %v", s, o, a, a.Succeeded)
}
