package protect

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linecook/linecook/pipeline"
)

// agent is an httptest stand-in for the ECS agent's endpoint: it records
// every request and answers each with what answer says for its number
// (0-based), by default as the agent answers a success.
type agent struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []call
	answer func(n int, c call) (status int, body string)
}

// call is one request the agent received.
type call struct {
	Method, Path, ContentType string
	Body                      map[string]any
	At                        time.Time
}

const taskARN = "arn:aws:ecs:us-east-1:123456789012:task/kitchen/0123456789abcdef"

func newAgent(t *testing.T) *agent {
	a := &agent{t: t}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

// uri is the ECS_AGENT_URI of the agent's task: a path on its server, as
// ECS gives one ($ECS_AGENT_URI is http://169.254.170.2/api/<id>).
func (a *agent) uri() string { return a.srv.URL + "/api/task-1" }

func (a *agent) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c := call{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), At: time.Now()}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.Body); err != nil {
			a.t.Errorf("request body %q is not JSON: %v", raw, err)
		}
	}
	a.mu.Lock()
	n := len(a.calls)
	a.calls = append(a.calls, c)
	answer := a.answer
	a.mu.Unlock()
	status, body := http.StatusOK, ""
	if answer != nil {
		status, body = answer(n, c)
	}
	if body == "" && status == http.StatusOK {
		enabled, _ := c.Body["ProtectionEnabled"].(bool)
		p := map[string]any{"ProtectionEnabled": enabled, "TaskArn": taskARN, "ExpirationDate": nil}
		if m, ok := c.Body["ExpiresInMinutes"].(float64); ok && enabled {
			p["ExpirationDate"] = time.Now().Add(time.Duration(m) * time.Minute).UTC().Format(time.RFC3339Nano)
		}
		b, _ := json.Marshal(map[string]any{"protection": p})
		body = string(b)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (a *agent) recorded() []call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]call(nil), a.calls...)
}

// fast is a client of a with test-sized timeouts and backoff.
func fast(a *agent) *Client {
	c := NewClient(a.uri(), nil)
	c.timeout, c.base = 200*time.Millisecond, 10*time.Millisecond
	return c
}

func TestSetSendsWhatTheEndpointTakes(t *testing.T) {
	a := newAgent(t)
	c := fast(a)
	st, err := c.Set(context.Background(), true, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.TaskARN != taskARN || time.Until(st.ExpiresAt) < 9*time.Minute {
		t.Errorf("state = %+v, want enabled for 10 minutes", st)
	}
	// A part of a minute is a whole one: protection never shorter than asked.
	if _, err := c.Set(context.Background(), true, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = c.Set(context.Background(), false, 10*time.Minute)
	if err != nil || st.Enabled {
		t.Fatalf("release = %+v, %v", st, err)
	}
	calls := a.recorded()
	want := []map[string]any{
		{"ProtectionEnabled": true, "ExpiresInMinutes": 10.0},
		{"ProtectionEnabled": true, "ExpiresInMinutes": 2.0},
		{"ProtectionEnabled": false},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d", len(calls), len(want))
	}
	for i, c := range calls {
		if c.Method != http.MethodPut || c.Path != "/api/task-1/task-protection/v1/state" || c.ContentType != "application/json" {
			t.Errorf("call %d: %s %s (%s), want PUT /api/task-1/task-protection/v1/state (application/json)", i, c.Method, c.Path, c.ContentType)
		}
		if !equalJSON(c.Body, want[i]) {
			t.Errorf("call %d body = %v, want %v", i, c.Body, want[i])
		}
	}
}

func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestExpiryFor(t *testing.T) {
	for _, tc := range []struct{ visibility, want time.Duration }{
		{30 * time.Second, 10 * time.Minute},
		{5 * time.Minute, 10 * time.Minute},
		{6*time.Minute + 10*time.Second, 13 * time.Minute}, // 12m20s rounded up
		{2 * time.Hour, 4 * time.Hour},
		{12 * time.Hour, 24 * time.Hour}, // SQS's longest visibility timeout
		{30 * time.Hour, 48 * time.Hour}, // capped at ECS's 48 hours
	} {
		got := ExpiryFor(tc.visibility)
		if got != tc.want {
			t.Errorf("ExpiryFor(%s) = %s, want %s", tc.visibility, got, tc.want)
		}
		if got <= tc.visibility && tc.visibility < 24*time.Hour {
			t.Errorf("ExpiryFor(%s) = %s: not longer than the visibility timeout", tc.visibility, got)
		}
	}
}

// agentError is the agent's answer when the call failed: its own error
// or ECS's, passed through with ECS's status.
func agentError(code, msg string) string {
	b, _ := json.Marshal(map[string]any{"requestID": "req-1", "error": map[string]string{"Arn": taskARN, "Code": code, "Message": msg}})
	return string(b)
}

// agentFailure is the agent's answer when ECS reported a failure for the
// task.
func agentFailure(reason, detail string) string {
	b, _ := json.Marshal(map[string]any{"failure": map[string]string{"Arn": taskARN, "Reason": reason, "Detail": detail}})
	return string(b)
}

func TestSetRetriesWhatMayPassAndNothingElse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		failFirst int // answers that fail before a success; -1: all fail
		calls     int
		permanent bool
	}{
		{"5xx then success", 500, agentError("ServerException", "boom"), 2, 3, false},
		{"throttled then success", 400, agentError("ThrottlingException", "Rate exceeded"), 1, 2, false},
		{"429 then success", 429, "", 1, 2, false},
		{"5xx every time", 503, "", -1, 3, false},
		{"a request ECS refuses", 400, agentError("InvalidParameterException", "bad"), -1, 1, true},
		{"no permission", 403, agentError("AccessDeniedException", "not authorized to perform: ecs:UpdateTaskProtection"), -1, 1, true},
		{"not a service's task", 409, agentFailure("INVALID", "task not managed by a service"), -1, 1, true},
		{"task stopping", 409, agentFailure("TASK_STOPPING_OR_STOPPED", ""), -1, 1, true},
		{"task unknown", 404, agentFailure("MISSING", ""), -1, 1, true},
		{"deployment blocked: not now, later", 409, agentFailure("DEPLOYMENT_BLOCKED", ""), -1, 1, false},
		{"not JSON", 200, "<html>", -1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAgent(t)
			a.answer = func(n int, _ call) (int, string) {
				if tc.failFirst < 0 || n < tc.failFirst {
					return tc.status, tc.body
				}
				return http.StatusOK, ""
			}
			_, err := fast(a).Set(context.Background(), true, 10*time.Minute)
			if got := len(a.recorded()); got != tc.calls {
				t.Errorf("%d calls, want %d", got, tc.calls)
			}
			if succeeds := tc.failFirst >= 0; succeeds != (err == nil) {
				t.Errorf("error = %v, want success %v", err, succeeds)
			}
			if IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.permanent)
			}
			if err != nil && tc.body != "" && strings.Contains(tc.body, "Code") && !strings.Contains(err.Error(), "Exception") {
				t.Errorf("error %q does not carry the agent's code", err)
			}
		})
	}
}

func TestSetBoundsEachAttempt(t *testing.T) {
	a := newAgent(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a.answer = func(int, call) (int, string) {
		<-release // an agent that never answers
		return http.StatusOK, ""
	}
	c := fast(a)
	began := time.Now()
	_, err := c.Set(context.Background(), true, 10*time.Minute)
	took := time.Since(began)
	if err == nil || IsPermanent(err) {
		t.Fatalf("error = %v, want a transient one", err)
	}
	// Three attempts of 200 ms, 5–10 ms and 10–20 ms apart.
	if took < 3*c.timeout || took > 3*c.timeout+time.Second {
		t.Errorf("Set took %s, want three bounded attempts (%s each)", took, c.timeout)
	}
	if n := len(a.recorded()); n != attempts {
		t.Errorf("%d attempts, want %d", n, attempts)
	}
}

func TestSetStopsWithItsContext(t *testing.T) {
	a := newAgent(t)
	a.answer = func(int, call) (int, string) { return 503, "" }
	c := fast(a)
	c.base = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := c.Set(ctx, true, 10*time.Minute); err == nil {
		t.Fatal("Set succeeded against a failing agent")
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Set took %s after its context ended", took)
	}
}

// TestEnvEnabledIsTheStacksName: the stack writes the switch under
// pipeline's name; the runtime reads it under its own.
func TestEnvEnabledIsTheStacksName(t *testing.T) {
	if EnvEnabled != pipeline.EnvScaleInProtection {
		t.Errorf("protect reads %s, the stack writes %s", EnvEnabled, pipeline.EnvScaleInProtection)
	}
}
