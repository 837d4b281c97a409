package consumer

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// The CloudWatch metrics the runtime publishes, in Embedded Metric Format
// on its metrics writer (stdout by default, which ECS sends to CloudWatch
// Logs, where the lines become metrics). The stack's dashboard and alarms
// use these names.
const (
	MetricNamespace      = "linecook"
	MetricDimension      = "Stage"
	MetricProcessingTime = "ProcessingTime" // Milliseconds: the handler's time per message
	MetricSucceeded      = "Succeeded"      // Count: messages handled, forwarded and deleted
	MetricFailed         = "Failed"         // Count: failed attempts (retried or sent to the DLQ)
)

// metricsInterval is how often the aggregated metrics are written.
const metricsInterval = time.Second

// maxEMFValues is the most values one EMF metric may carry.
const maxEMFValues = 100

// emf aggregates the stage's metrics and writes them once per interval,
// rather than one line per message: at hundreds or thousands of messages a
// second a line each would cost more in CloudWatch Logs ingestion than the
// workers themselves, and flood the task's log. Nothing is lost by
// aggregating: ProcessingTime keeps every sample (as arrays of at most 100
// values, the EMF limit, over as many lines as needed), so averages and
// percentiles are exact; the counts are summed. An idle interval writes
// nothing.
type emf struct {
	w     io.Writer
	stage []byte // JSON-quoted

	mu        sync.Mutex
	times     []float64
	succeeded int
	failed    int

	spare []float64
	line  []byte
}

func newEMF(w io.Writer, stage string) *emf {
	q, _ := json.Marshal(stage) // a string always marshals
	return &emf{w: w, stage: q}
}

func (m *emf) record(took time.Duration, succeeded bool) {
	if m == nil {
		return
	}
	ms := durationMS(took)
	m.mu.Lock()
	m.times = append(m.times, ms)
	if succeeded {
		m.succeeded++
	} else {
		m.failed++
	}
	m.mu.Unlock()
}

// run writes the metrics every interval until ctx ends.
func (m *emf) run(ctx context.Context) {
	if m == nil {
		return
	}
	t := time.NewTicker(metricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.flush(now)
		}
	}
}

// flush writes what was recorded since the last flush. It is called from
// one goroutine at a time (run, then Run's final flush).
func (m *emf) flush(now time.Time) error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	times, succeeded, failed := m.times, m.succeeded, m.failed
	m.times, m.succeeded, m.failed = m.spare[:0], 0, 0
	m.mu.Unlock()
	defer func() { m.spare = times }()
	if succeeded+failed == 0 {
		return nil
	}
	ts := now.UnixMilli()
	for first := true; first || len(times) > 0; first = false {
		chunk := times[:min(len(times), maxEMFValues)]
		times = times[len(chunk):]
		b := m.line[:0]
		b = append(b, `{"_aws":{"Timestamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `,"CloudWatchMetrics":[{"Namespace":"`+MetricNamespace+`","Dimensions":[["`+MetricDimension+`"]],"Metrics":[{"Name":"`+MetricProcessingTime+`","Unit":"Milliseconds"}`...)
		if first {
			b = append(b, `,{"Name":"`+MetricSucceeded+`","Unit":"Count"},{"Name":"`+MetricFailed+`","Unit":"Count"}`...)
		}
		b = append(b, `]}]},"`+MetricDimension+`":`...)
		b = append(b, m.stage...)
		b = append(b, `,"`+MetricProcessingTime+`":[`...)
		for i, v := range chunk {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		}
		b = append(b, ']')
		if first {
			b = append(b, `,"`+MetricSucceeded+`":`...)
			b = strconv.AppendInt(b, int64(succeeded), 10)
			b = append(b, `,"`+MetricFailed+`":`...)
			b = strconv.AppendInt(b, int64(failed), 10)
		}
		b = append(b, "}\n"...)
		m.line = b
		// One Write per line, so lines from several writers never interleave.
		if _, err := m.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
