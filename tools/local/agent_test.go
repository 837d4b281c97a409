package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linecook/linecook/workers/protect"
)

// The local agent and the worker's client agree: what the client sets,
// the agent records per task, and the agent refuses what ECS's refuses.
func TestLocalAgentServesTheWorkersClient(t *testing.T) {
	a := newAgent("kitchen")
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	a.url = srv.URL + "/api"
	a.track("grill-1")
	a.track("grill-2")
	ctx := context.Background()

	c := protect.NewClient(a.uri("grill-1"), nil)
	st, err := c.Set(ctx, true, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.TaskARN != "arn:aws:ecs:us-east-1:000000000000:task/kitchen/grill-1" || time.Until(st.ExpiresAt) < 9*time.Minute {
		t.Errorf("state = %+v, want grill-1 protected for 10 minutes", st)
	}
	now := time.Now()
	if !a.protected("grill-1", now) || a.protected("grill-2", now) {
		t.Errorf("protected: grill-1 %v, grill-2 %v; want only grill-1", a.protected("grill-1", now), a.protected("grill-2", now))
	}
	if a.protected("grill-1", now.Add(11*time.Minute)) {
		t.Error("grill-1 still protected after its expiry")
	}
	if got, err := c.Get(ctx); err != nil || !got.Enabled {
		t.Errorf("Get = %+v, %v; want enabled", got, err)
	}
	if st, err := c.Set(ctx, false, 10*time.Minute); err != nil || st.Enabled || a.protected("grill-1", time.Now()) {
		t.Errorf("release = %+v, %v; protected %v", st, err, a.protected("grill-1", time.Now()))
	}
	if n := a.updates(); n != 2 {
		t.Errorf("%d updates recorded, want 2", n)
	}

	// A task the agent does not know: 404, which no retry can fix.
	a.forget("grill-2")
	if _, err := protect.NewClient(a.uri("grill-2"), nil).Set(ctx, true, time.Minute); !protect.IsPermanent(err) || !strings.Contains(err.Error(), "404") {
		t.Errorf("a forgotten task: %v, want a permanent 404", err)
	}
	// ECS's bounds on the expiry, and the one required field.
	for _, body := range []string{`{"ProtectionEnabled":true,"ExpiresInMinutes":0}`, `{"ProtectionEnabled":true,"ExpiresInMinutes":2881}`, `{"ExpiresInMinutes":5}`, `{"ProtectionEnabled":true,"Extra":1}`} {
		req, _ := http.NewRequest(http.MethodPut, a.uri("grill-1")+protect.Path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", body, resp.StatusCode)
		}
	}
}
