package bench

import (
	"encoding/json"
	"time"

	"github.com/linecook/linecook/tools/loadgen"
)

// Latency summarises a set of latencies in milliseconds.
type Latency struct {
	// N is how many latencies were measured.
	N     int     `json:"n"`
	P50ms float64 `json:"p50Ms"`
	P90ms float64 `json:"p90Ms"`
	P95ms float64 `json:"p95Ms"`
	P99ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

func summarize(l loadgen.Latencies) Latency {
	return Latency{
		N:     len(l),
		P50ms: millis(l.Percentile(50)),
		P90ms: millis(l.Percentile(90)),
		P95ms: millis(l.Percentile(95)),
		P99ms: millis(l.Percentile(99)),
		MaxMs: millis(l.Max()),
	}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// slope is the least-squares slope of ys over xs (units of y per unit of
// x); 0 with fewer than two points or no spread in x.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func mean(ys []float64) float64 {
	if len(ys) == 0 {
		return 0
	}
	var s float64
	for _, y := range ys {
		s += y
	}
	return s / float64(len(ys))
}

// emfCounts are the counts and processing times of one EMF line the
// worker runtime prints (workers/consumer's metrics).
type emfCounts struct {
	Succeeded, Failed int
	// ProcessingMs are the handler times the line carries.
	ProcessingMs []float64
}

// parseEMF reads the runtime's EMF line; ok is false for any other line.
func parseEMF(line []byte) (emfCounts, bool) {
	var v struct {
		AWS            *json.RawMessage `json:"_aws"`
		Succeeded      *int             `json:"Succeeded"`
		Failed         *int             `json:"Failed"`
		ProcessingTime []float64        `json:"ProcessingTime"`
	}
	if json.Unmarshal(line, &v) != nil || v.AWS == nil {
		return emfCounts{}, false
	}
	c := emfCounts{ProcessingMs: v.ProcessingTime}
	if v.Succeeded != nil {
		c.Succeeded = *v.Succeeded
	}
	if v.Failed != nil {
		c.Failed = *v.Failed
	}
	return c, true
}
