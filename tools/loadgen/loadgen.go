// Package loadgen is an open-loop load generator for linecook's order API,
// local or on AWS: the Go counterpart of the reference system's Locust runs.
//
// Open loop means requests leave on a fixed schedule (i ÷ rate after the
// start) whether or not earlier ones were answered, and accept latency is
// measured from the scheduled time, so a slow server cannot hide its
// slowness by slowing the client down (coordinated omission). After each
// accepted order, the generator polls GET /orders/{id} until the order
// completes and takes the end-to-end time from the server's own timestamps,
// so how often it polls does not change what it measures.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Options configures a run.
type Options struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Rate is orders per second.
	Rate float64
	// Duration is how long to send for. Count, when > 0, sends exactly
	// Count orders instead.
	Duration time.Duration
	Count    int
	// Sync posts to /orders/sync (pay inline, then answer) instead of
	// /orders, and does not poll for completion.
	Sync bool
	// APIKey is sent as X-Api-Key when set.
	APIKey string
	// Body returns the i-th request body; nil sends random burger orders.
	Body func(i int, r *rand.Rand) []byte
	// CompletionTimeout is how long to keep polling for completions after
	// the last order was sent; 0 skips polling.
	CompletionTimeout time.Duration
	// PollInterval is the first delay before polling an order (doubling
	// per poll up to 8×). Default 500ms.
	PollInterval time.Duration
	// RequestTimeout bounds each HTTP request. Default 10s.
	RequestTimeout time.Duration
	// Client is the HTTP client; nil builds one sized for the rate.
	Client *http.Client
	// Progress receives a progress bar; nil shows none.
	Progress io.Writer
	// Seed makes the random orders reproducible.
	Seed uint64
}

// Result is what a run measured.
type Result struct {
	// Sent counts requests made; Accepted those answered 2xx.
	Sent, Accepted int
	// Errors counts failed requests by cause: "HTTP 503", "timeout", …
	Errors map[string]int
	// Accept holds accept latencies of accepted requests, measured from
	// each request's scheduled send time.
	Accept Latencies
	// IDs are the accepted orders' ids, in send order.
	IDs []string
	// Completed counts accepted orders seen completed; Statuses counts
	// the final status of every polled order (completed, or whatever it
	// was when polling gave up).
	Completed int
	Statuses  map[string]int
	// EndToEnd holds completed orders' end-to-end times as the API
	// reports them (created → completed).
	EndToEnd Latencies
	// SendDuration is how long sending took; Elapsed the whole run.
	SendDuration, Elapsed time.Duration
	// MaxSendLag is the furthest any request left behind its schedule:
	// large values mean the client, not the server, was the bottleneck.
	MaxSendLag time.Duration
}

// AchievedRate is accepted orders per second of sending.
func (r *Result) AchievedRate() float64 {
	if r.SendDuration <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.SendDuration.Seconds()
}

// Run sends the load and, unless Sync or CompletionTimeout is 0, waits for
// completions. It returns early, with what it measured, when ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(o.URL, "/")
	total := o.Count
	if total == 0 {
		total = int(o.Rate * o.Duration.Seconds())
	}
	client := o.Client
	if client == nil {
		client = newClient(o.Rate, o.RequestTimeout)
	}
	body := o.Body
	if body == nil {
		body = RandomOrder
	}
	path := "/orders"
	if o.Sync {
		path = "/orders/sync"
	}
	poll := !o.Sync && o.CompletionTimeout > 0

	res := &Result{Errors: map[string]int{}, Statuses: map[string]int{}}
	var mu sync.Mutex
	bar := newBar(o.Progress, total, "sending")

	var tracker *tracker
	if poll {
		tracker = newTracker(client, base, o.APIKey, o.PollInterval)
		go tracker.run(ctx)
	}

	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.Rate)
	var wg sync.WaitGroup
send:
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				break send
			}
		}
		if lag := time.Since(due); lag > res.MaxSendLag {
			res.MaxSendLag = lag
		}
		b := body(i, rng)
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, cause := post(ctx, client, base+path, o.APIKey, b)
			lat := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if cause != "" {
				res.Errors[cause]++
				return
			}
			res.Accepted++
			res.Accept = append(res.Accept, lat)
			if id != "" {
				res.IDs = append(res.IDs, id)
				if tracker != nil {
					tracker.add(id)
				}
			}
		}()
		_ = bar.Add(1)
	}
	wg.Wait()
	res.SendDuration = time.Since(start)
	_ = bar.Finish()

	if tracker != nil {
		bar = newBar(o.Progress, res.Accepted, "completing")
		deadline := time.Now().Add(o.CompletionTimeout)
		tracker.waitAll(ctx, deadline, func(done int) { _ = bar.Set(done) })
		_ = bar.Finish()
		tracker.fill(res)
	}
	res.Elapsed = time.Since(start)
	return res, ctx.Err()
}

func (o *Options) validate() error {
	switch {
	case o.URL == "":
		return errors.New("loadgen: a URL is required (e.g. http://127.0.0.1:8080)")
	case o.Rate <= 0:
		return fmt.Errorf("loadgen: rate %g must be more than 0 orders per second", o.Rate)
	case o.Count < 0:
		return fmt.Errorf("loadgen: count %d must not be negative", o.Count)
	case o.Count == 0 && o.Duration <= 0:
		return errors.New("loadgen: give a duration (or a count of orders) greater than 0")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadgen: %q is not an http(s) URL", o.URL)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	return nil
}

// newClient keeps enough idle connections for the rate, so an open-loop
// run does not pay a TCP handshake per request.
func newClient(rate float64, timeout time.Duration) *http.Client {
	conns := max(64, int(rate))
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: timeout}
}

// post sends one order; it returns the order id, or the cause of failure.
func post(ctx context.Context, c *http.Client, url, key string, body []byte) (id, cause string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", transportCause(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return "", "bad response: no order id"
	}
	return out.ID, ""
}

func transportCause(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	}
	return "transport error"
}

func newBar(w io.Writer, total int, desc string) *progressbar.ProgressBar {
	if w == nil {
		return progressbar.NewOptions(total, progressbar.OptionSetVisibility(false))
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("orders"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// Latencies is a set of durations with percentile queries.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0–100), nearest rank; 0 when
// empty.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

// Max is the largest duration; 0 when empty.
func (l Latencies) Max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Max(l)
}
