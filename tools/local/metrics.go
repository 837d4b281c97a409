package local

import (
	"encoding/json"
	"sync"
	"time"
)

// rateWindow is the span throughput and processing time are averaged over.
const rateWindow = 5 * time.Second

// emfRecord is the metadata part of a CloudWatch Embedded Metric Format
// line; the metric values are top-level members named by Metrics.
type emfRecord struct {
	AWS struct {
		CloudWatchMetrics []struct {
			Metrics []struct {
				Name string `json:"Name"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// workerMetrics aggregates the EMF lines workers print, per stage: the same
// numbers CloudWatch would chart from the awslogs stream.
type workerMetrics struct {
	mu     sync.Mutex
	stages map[string]*stageCounters
}

type stageCounters struct {
	succeeded, failed float64
	procSum, procN    float64
	history           []counterPoint
	// what measured last handed the scaler
	takenSum, takenN float64
}

type counterPoint struct {
	at                       time.Time
	succeeded, procSum, proN float64
}

func newWorkerMetrics() *workerMetrics {
	return &workerMetrics{stages: map[string]*stageCounters{}}
}

// record adds one EMF line from a task of stage.
func (m *workerMetrics) record(stage string, line []byte) {
	var rec emfRecord
	if json.Unmarshal(line, &rec) != nil {
		return
	}
	var values map[string]json.RawMessage
	if json.Unmarshal(line, &values) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counters(stage)
	for _, d := range rec.AWS.CloudWatchMetrics {
		for _, metric := range d.Metrics {
			sum, n := numbers(values[metric.Name])
			switch metric.Name {
			case "Succeeded":
				c.succeeded += sum
			case "Failed":
				c.failed += sum
			case "ProcessingTime":
				c.procSum += sum
				c.procN += n
			}
		}
	}
}

// counters returns stage's counters, creating them; m.mu is held.
func (m *workerMetrics) counters(stage string) *stageCounters {
	c := m.stages[stage]
	if c == nil {
		c = &stageCounters{}
		m.stages[stage] = c
	}
	return c
}

// numbers sums an EMF value, which is a number or an array of numbers,
// and counts its entries.
func numbers(raw json.RawMessage) (sum, n float64) {
	if len(raw) == 0 {
		return 0, 0
	}
	var one float64
	if json.Unmarshal(raw, &one) == nil {
		return one, 1
	}
	var many []float64
	if json.Unmarshal(raw, &many) == nil {
		for _, v := range many {
			sum += v
		}
		return sum, float64(len(many))
	}
	return 0, 0
}

// StageRates are a stage's worker-reported numbers at one instant.
type StageRates struct {
	Succeeded, Failed int64
	// Throughput is messages completed per second over the last few
	// seconds; ProcessingMs their mean processing time.
	Throughput, ProcessingMs float64
}

// rates samples a stage's counters at now, keeping a short history to
// compute rates over rateWindow.
func (m *workerMetrics) rates(stage string, now time.Time) StageRates {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counters(stage)
	c.history = append(c.history, counterPoint{at: now, succeeded: c.succeeded, procSum: c.procSum, proN: c.procN})
	for len(c.history) > 1 && now.Sub(c.history[1].at) >= rateWindow {
		c.history = c.history[1:]
	}
	r := StageRates{Succeeded: int64(c.succeeded), Failed: int64(c.failed)}
	first := c.history[0]
	if span := now.Sub(first.at).Seconds(); span > 0 {
		r.Throughput = (c.succeeded - first.succeeded) / span
	}
	if dn := c.procN - first.proN; dn > 0 {
		r.ProcessingMs = (c.procSum - first.procSum) / dn
	}
	return r
}

// measured is what the stage's workers reported since the last call: how
// many messages they timed and the sum of those times, in seconds (EMF
// ProcessingTime is milliseconds), for the scaler's Sample.
func (m *workerMetrics) measured(stage string) (n, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counters(stage)
	n, seconds = c.procN-c.takenN, (c.procSum-c.takenSum)/1000
	c.takenN, c.takenSum = c.procN, c.procSum
	return n, seconds
}
