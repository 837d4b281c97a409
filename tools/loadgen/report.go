package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Print writes a human-readable summary of r.
func (r *Result) Print(w io.Writer, sync bool) {
	kind := "async POST /orders"
	if sync {
		kind = "sync POST /orders/sync"
	}
	fmt.Fprintf(w, "%s: %d sent, %d accepted, %d failed in %s (%.1f accepted/s)\n",
		kind, r.Sent, r.Accepted, r.Sent-r.Accepted, r.SendDuration.Round(time.Millisecond), r.AchievedRate())
	if len(r.Accept) > 0 {
		fmt.Fprintf(w, "accept latency: p50 %s  p90 %s  p99 %s  max %s\n",
			ms(r.Accept.Percentile(50)), ms(r.Accept.Percentile(90)), ms(r.Accept.Percentile(99)), ms(r.Accept.Max()))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors: %s\n", FormatCounts(r.Errors))
	}
	if r.MaxSendLag > 50*time.Millisecond {
		fmt.Fprintf(w, "note: requests left up to %s behind schedule; the client was a bottleneck\n", ms(r.MaxSendLag))
	}
	if len(r.Statuses) > 0 {
		fmt.Fprintf(w, "orders: %d completed of %d accepted (%s)\n", r.Completed, r.Accepted, FormatCounts(r.Statuses))
	}
	if len(r.EndToEnd) > 0 {
		fmt.Fprintf(w, "end-to-end: p50 %s  p95 %s  p99 %s  max %s\n",
			secs(r.EndToEnd.Percentile(50)), secs(r.EndToEnd.Percentile(95)), secs(r.EndToEnd.Percentile(99)), secs(r.EndToEnd.Max()))
	}
}

// FormatCounts lists counts by key, sorted: "HTTP 503 12, timeout 1".
func FormatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func secs(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
