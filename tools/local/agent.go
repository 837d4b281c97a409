package local

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/linecook/linecook/workers/protect"
)

// agent stands in for the ECS agent's task scale-in protection endpoint:
// every worker gets ECS_AGENT_URI pointing at its own path here
// (http://127.0.0.1:<port>/api/<task>, as ECS gives each task
// http://169.254.170.2/api/<id>), and the runner's scale-in reads what
// each task set. Requests and answers have the agent's shapes
// (agent/handlers/agentapi/taskprotection in amazon-ecs-agent): a PUT of
// {"ProtectionEnabled", "ExpiresInMinutes"} answered
// {"protection":{"ExpirationDate","ProtectionEnabled","TaskArn"}}, or
// {"error":{"Code","Message"}} with ECS's status.
//
// Expiry runs on the wall clock, not the run's time scale: the worker
// renews its protection on its own clock, as it does in ECS.
type agent struct {
	stack string
	url   string // http://127.0.0.1:<port>/api

	mu    sync.Mutex
	tasks map[string]*protection
	calls int
}

// protection is one task's state.
type protection struct {
	enabled bool
	expires time.Time
}

// defaultProtection is what ECS applies when a PUT gives no expiry.
const defaultProtection = 2 * time.Hour

func newAgent(stack string) *agent {
	return &agent{stack: stack, tasks: map[string]*protection{}}
}

// uri is a task's ECS_AGENT_URI.
func (a *agent) uri(task string) string { return a.url + "/" + task }

func (a *agent) arn(task string) string {
	return "arn:aws:ecs:us-east-1:000000000000:task/" + a.stack + "/" + task
}

// track starts answering for a task (a started worker); forget stops (it
// exited). Requests for other tasks are answered 404, as the agent
// answers a task it does not know.
func (a *agent) track(task string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tasks[task] = &protection{}
}

func (a *agent) forget(task string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tasks, task)
}

// protected reports whether the task's protection holds at now.
func (a *agent) protected(task string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.tasks[task]
	return p != nil && p.enabled && now.Before(p.expires)
}

func (a *agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/{task}"+protect.Path, a.put)
	mux.HandleFunc("GET /api/{task}"+protect.Path, a.get)
	return mux
}

type agentError struct {
	Arn     string `json:"Arn,omitempty"`
	Code    string
	Message string
}

type protectedTask struct {
	ExpirationDate    *time.Time `json:",omitempty"`
	ProtectionEnabled bool
	TaskArn           string
}

func (a *agent) put(w http.ResponseWriter, r *http.Request) {
	task := r.PathValue("task")
	var req struct {
		ProtectionEnabled *bool
		ExpiresInMinutes  *int64
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		a.fail(w, http.StatusBadRequest, task, "InvalidParameterException", "UpdateTaskProtection: failed to decode request")
		return
	}
	if req.ProtectionEnabled == nil {
		a.fail(w, http.StatusBadRequest, task, "InvalidParameterException", "Invalid request: does not contain 'ProtectionEnabled' field")
		return
	}
	expiry := defaultProtection
	if req.ExpiresInMinutes != nil {
		if m := *req.ExpiresInMinutes; m < 1 || m > 2880 {
			a.fail(w, http.StatusBadRequest, task, "InvalidParameterException", "expiresInMinutes must be from 1 to 2880")
			return
		}
		expiry = time.Duration(*req.ExpiresInMinutes) * time.Minute
	}
	a.mu.Lock()
	p := a.tasks[task]
	if p != nil {
		a.calls++
		p.enabled, p.expires = *req.ProtectionEnabled, time.Time{}
		if p.enabled {
			p.expires = time.Now().Add(expiry)
		}
	}
	a.mu.Unlock()
	if p == nil {
		a.fail(w, http.StatusNotFound, "", "ResourceNotFoundException", "Invalid request: no task was found")
		return
	}
	a.answer(w, task)
}

func (a *agent) get(w http.ResponseWriter, r *http.Request) {
	task := r.PathValue("task")
	a.mu.Lock()
	_, ok := a.tasks[task]
	a.mu.Unlock()
	if !ok {
		a.fail(w, http.StatusNotFound, "", "ResourceNotFoundException", "Invalid request: no task was found")
		return
	}
	a.answer(w, task)
}

func (a *agent) answer(w http.ResponseWriter, task string) {
	pt := protectedTask{TaskArn: a.arn(task)}
	a.mu.Lock()
	if p := a.tasks[task]; p != nil && p.enabled && time.Now().Before(p.expires) {
		exp := p.expires.UTC()
		pt.ProtectionEnabled, pt.ExpirationDate = true, &exp
	}
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"protection": pt})
}

func (a *agent) fail(w http.ResponseWriter, status int, task, code, msg string) {
	e := agentError{Code: code, Message: msg}
	if task != "" {
		e.Arn = a.arn(task)
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// updates is how many protection updates the tasks made.
func (a *agent) updates() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// protectedCount is how many of tasks are protected at now.
func (a *agent) protectedCount(tasks []*Task, now time.Time) int {
	n := 0
	for _, t := range tasks {
		if a.protected(t.Name, now) {
			n++
		}
	}
	return n
}
