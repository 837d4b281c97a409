package protect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Bounds of one call to the endpoint. The agent itself calls ECS's
// UpdateTaskProtection with the task role's credentials, so one attempt
// is an API round trip: 5 s is ample. Three attempts, 0.5 s then 1 s
// apart (jittered), keep a call under 17 s in the worst case.
const (
	attemptTimeout = 5 * time.Second
	attempts       = 3
	retryBase      = 500 * time.Millisecond
)

// maxBody bounds how much of an answer is read.
const maxBody = 64 << 10

// State is the task's protection as the agent reports it.
type State struct {
	// TaskARN is the task's ARN.
	TaskARN string
	// Enabled is whether the task is protected.
	Enabled bool
	// ExpiresAt is when the protection lapses (zero when disabled).
	ExpiresAt time.Time
}

// Error is a call the agent refused or that did not get through.
type Error struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Code is the agent's error code (ThrottlingException,
	// AccessDeniedException, …) or failure reason (MISSING, INVALID,
	// TASK_STOPPING_OR_STOPPED, DEPLOYMENT_BLOCKED), if it gave one.
	Code string
	// Message says more.
	Message string
	// Permanent is true when no retry can succeed: the task role may
	// not call the API, the task is not part of a service, or it is
	// stopping.
	Permanent bool
	// Err is the transport's error, when there was no answer.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return "task protection endpoint: " + e.Err.Error()
	case e.Code != "":
		return fmt.Sprintf("task protection endpoint: %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("task protection endpoint: %d: %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is an Error no retry can fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// Client calls the task scale-in protection endpoint of one task's agent.
type Client struct {
	url     string
	http    *http.Client
	timeout time.Duration
	tries   int
	base    time.Duration
}

// NewClient is a client of the endpoint under agentURI ($ECS_AGENT_URI).
// A nil hc uses a client of its own, not http.DefaultClient: the agent is
// on the task's link-local address and needs no proxy.
func NewClient(agentURI string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			MaxIdleConns: 1, IdleConnTimeout: 90 * time.Second,
			ResponseHeaderTimeout: attemptTimeout,
		}}
	}
	return &Client{
		url:  strings.TrimRight(agentURI, "/") + Path,
		http: hc, timeout: attemptTimeout, tries: attempts, base: retryBase,
	}
}

// request is the endpoint's PUT body.
type request struct {
	ProtectionEnabled bool `json:"ProtectionEnabled"`
	ExpiresInMinutes  *int `json:"ExpiresInMinutes,omitempty"`
}

// response is the agent's answer: one of protection, failure (ECS
// answered with a failure for the task) or error (the call failed).
type response struct {
	RequestID  string `json:"requestID"`
	Protection *struct {
		ExpirationDate    *time.Time
		ProtectionEnabled bool
		TaskArn           string
	} `json:"protection"`
	Failure *struct {
		Arn, Detail, Reason string
	} `json:"failure"`
	Error *struct {
		Arn, Code, Message string
	} `json:"error"`
}

// Set protects the task for expiry (rounded up to whole minutes) or, with
// enabled false, releases it. Transient failures are retried, each
// attempt bounded; the error after the last attempt is an *Error.
func (c *Client) Set(ctx context.Context, enabled bool, expiry time.Duration) (State, error) {
	req := request{ProtectionEnabled: enabled}
	if enabled {
		m := int((expiry + time.Minute - 1) / time.Minute)
		req.ExpiresInMinutes = &m
	}
	body, err := json.Marshal(req)
	if err != nil {
		return State{}, err
	}
	var last error
	for try := range c.tries {
		if try > 0 {
			d := c.base << (try - 1)
			t := time.NewTimer(d/2 + rand.N(d/2+1))
			select {
			case <-ctx.Done():
				t.Stop()
				return State{}, &Error{Err: ctx.Err(), Message: "cancelled"}
			case <-t.C:
			}
		}
		st, err := c.do(ctx, http.MethodPut, body)
		if err == nil {
			return st, nil
		}
		last = err
		if IsPermanent(err) || ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return State{}, last
}

// Get reads the task's protection, in one attempt.
func (c *Client) Get(ctx context.Context) (State, error) {
	return c.do(ctx, http.MethodGet, nil)
}

func (c *Client) do(ctx context.Context, method string, body []byte) (State, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, rd)
	if err != nil {
		return State{}, &Error{Err: err, Permanent: true}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return State{}, &Error{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return State{}, &Error{Status: resp.StatusCode, Err: err}
	}
	var r response
	decodeErr := json.Unmarshal(raw, &r)
	e := &Error{Status: resp.StatusCode}
	switch {
	case decodeErr == nil && r.Error != nil:
		e.Code, e.Message = r.Error.Code, r.Error.Message
	case decodeErr == nil && r.Failure != nil:
		e.Code, e.Message = r.Failure.Reason, r.Failure.Detail
	case resp.StatusCode == http.StatusOK && decodeErr == nil && r.Protection != nil:
		st := State{TaskARN: r.Protection.TaskArn, Enabled: r.Protection.ProtectionEnabled}
		if r.Protection.ExpirationDate != nil {
			st.ExpiresAt = *r.Protection.ExpirationDate
		}
		return st, nil
	default:
		e.Message = "unexpected answer: " + truncate(string(raw), 200)
	}
	e.Permanent = permanent(e)
	return State{}, e
}

// permanent: what the agent answers when no retry can help. 400 is a
// request ECS will never accept (throttling, though, is also a 400);
// 403, a task role without ecs:UpdateTaskProtection on the task; 404, a
// task ECS does not know; 409, a task that is no service's (INVALID) or
// that is stopping. A blocked deployment (409 DEPLOYMENT_BLOCKED) passes.
func permanent(e *Error) bool {
	switch e.Status {
	case http.StatusBadRequest:
		return !throttled(e)
	case http.StatusForbidden, http.StatusNotFound:
		return true
	case http.StatusConflict:
		return e.Code != "DEPLOYMENT_BLOCKED"
	}
	return false
}

// retryable: worth another attempt at once, after a short backoff.
func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Status == 0, e.Status >= 500, e.Status == http.StatusTooManyRequests:
		return true
	}
	return throttled(e)
}

func throttled(e *Error) bool {
	return strings.Contains(e.Code, "Throttl") || strings.Contains(e.Code, "RequestLimitExceeded")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
