package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Load reads results that Run's caller saved as JSON (linecook bench
// --save).
func Load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not linecook bench results: %w", path, err)
	}
	return &r, nil
}

// PrintMedians writes the medians of several runs as Markdown tables,
// the form BENCHMARKS.md quotes: each number is the median over the runs
// that measured it, ratios are medians of each run's own ratio (so they
// compare numbers measured together), and the runs' machines and loads
// are listed.
func PrintMedians(w io.Writer, runs []*Results) {
	fmt.Fprintf(w, "%d runs:\n\n", len(runs))
	fmt.Fprintln(w, "| run | date | load average at start → end |")
	fmt.Fprintln(w, "|---|---|---|")
	for i, r := range runs {
		fmt.Fprintf(w, "| %d | %s | %s → %s |\n", i+1, r.Machine.Date, r.Machine.LoadBefore, r.Machine.LoadAfter)
	}

	var drains []*DrainResult
	var stages []*StageResult
	var apis []*APIResult
	var pipes []*PipelineResult
	for _, r := range runs {
		if r.Drain != nil {
			drains = append(drains, r.Drain)
		}
		if r.Stage != nil {
			stages = append(stages, r.Stage)
		}
		if r.API != nil {
			apis = append(apis, r.API)
		}
		if r.Pipeline != nil {
			pipes = append(pipes, r.Pipeline)
		}
	}
	if len(drains) > 0 {
		d := drains[0]
		fmt.Fprintf(w, "\n**Worker throughput** (%d-message backlog, no-op handler; medians of %d runs, min–max in brackets)\n\n", d.Messages, len(drains))
		fmt.Fprintln(w, "| drain | msgs/s | linecook runtime is | CPU: client / fauxqs / other work |")
		fmt.Fprintln(w, "|---|---|---|---|")
		rows := []struct {
			name  string
			rate  func(*DrainResult) DrainRate
			ratio func(*DrainResult) float64
			unit  string
		}{
			{"naive loop: receive 1, handle, delete 1", func(d *DrainResult) DrainRate { return d.Naive }, func(d *DrainResult) float64 { return d.VsNaive }, "×"},
			{fmt.Sprintf("raw batched client: receive 10 + DeleteMessageBatch, %d goroutines", d.RawGoroutines), func(d *DrainResult) DrainRate { return d.Raw }, func(d *DrainResult) float64 { return 100 * d.VsRaw }, " %"},
			{fmt.Sprintf("linecook runtime, concurrency %d", d.Concurrency), func(d *DrainResult) DrainRate { return d.Runtime }, nil, ""},
		}
		for _, row := range rows {
			rate := spread(drains, func(d *DrainResult) float64 { return row.rate(d).MsgsPerSec })
			ratio := ""
			if row.ratio != nil {
				ratio = spreadUnit(drains, row.ratio, row.unit)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.0f / %.0f / %.0f %% |\n", row.name, rate, ratio,
				median(drains, func(d *DrainResult) float64 { return row.rate(d).CPU.Bench }),
				median(drains, func(d *DrainResult) float64 { return row.rate(d).CPU.SQS }),
				median(drains, func(d *DrainResult) float64 { return row.rate(d).CPU.Others }))
		}
	}
	if len(stages) > 0 {
		s := stages[0]
		fmt.Fprintf(w, "\n**One payment worker process** (%.0f ms handler, concurrency %d: slots allow %.0f/s; %.0f s per rate)\n\n",
			s.WorkMs, s.Concurrency, s.CeilingPerSec, s.WindowSec)
		var best []string
		for _, st := range stages {
			best = append(best, fmt.Sprintf("%.0f", st.MaxSustained))
		}
		fmt.Fprintf(w, "Highest rate sustained: median **%.0f orders/s** (runs: %s), peak RSS of that process: median **%.1f MB**.\n\n",
			median(stages, func(s *StageResult) float64 { return s.MaxSustained }), strings.Join(best, ", "),
			median(stages, func(s *StageResult) float64 { return s.PeakRSSMB }))
		fmt.Fprintln(w, "| rate/s | sustained | completed/s | in flight | handler p50 | peak RSS | CPU: worker / fauxqs / dynalite / other work |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		byRate := map[float64][]StageStep{}
		for _, st := range stages {
			for _, step := range st.Steps {
				byRate[step.Rate] = append(byRate[step.Rate], step)
			}
		}
		var rates []float64
		for r := range byRate {
			rates = append(rates, r)
		}
		slices.Sort(rates)
		for _, r := range rates {
			steps := byRate[r]
			ok := 0
			for _, s := range steps {
				if s.Sustained {
					ok++
				}
			}
			fmt.Fprintf(w, "| %.0f | %d of %d | %.1f | %.0f | %.0f ms | %.1f MB | %.0f / %.0f / %.0f / %.0f %% |\n", r, ok, len(steps),
				median(steps, func(s StageStep) float64 { return s.ProcessedPerSec }),
				median(steps, func(s StageStep) float64 { return s.InFlightMean }),
				median(steps, func(s StageStep) float64 { return s.HandlerP50ms }),
				median(steps, func(s StageStep) float64 { return s.PeakRSSMB }),
				median(steps, func(s StageStep) float64 { return s.CPU.Process }),
				median(steps, func(s StageStep) float64 { return s.CPU.SQS }),
				median(steps, func(s StageStep) float64 { return s.CPU.DynamoDB }),
				median(steps, func(s StageStep) float64 { return s.CPU.Others }))
		}
	}
	if len(apis) > 0 {
		a := apis[0]
		fmt.Fprintf(w, "\n**Order API** (open loop at %.0f/s; accept latency from each request's scheduled time; medians of %d runs)\n\n", a.Rate, len(apis))
		fmt.Fprintln(w, "| path | p50 | p90 | p99 | failed | CPU: API / client / fauxqs / dynalite / other work |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, row := range []struct {
			name string
			load func(*APIResult) APILoad
		}{
			{fmt.Sprintf("bare PutItem + SendMessage, %.0f s", a.DurationSec), func(a *APIResult) APILoad { return a.Bare }},
			{fmt.Sprintf("POST /orders (async), %.0f s", a.DurationSec), func(a *APIResult) APILoad { return a.Async }},
			{fmt.Sprintf("POST /orders/sync (%.0f ms payment inline)", a.PaymentDelayMs), func(a *APIResult) APILoad { return a.Sync }},
		} {
			failed := 0
			for _, x := range apis {
				l := row.load(x)
				failed += l.Sent - l.Accepted
			}
			fmt.Fprintf(w, "| %s | %.1f ms | %.1f ms | %.1f ms | %d in all | %.0f / %.0f / %.0f / %.0f / %.0f %% |\n", row.name,
				median(apis, func(a *APIResult) float64 { return row.load(a).Accept.P50ms }),
				median(apis, func(a *APIResult) float64 { return row.load(a).Accept.P90ms }),
				median(apis, func(a *APIResult) float64 { return row.load(a).Accept.P99ms }),
				failed,
				median(apis, func(a *APIResult) float64 { return row.load(a).CPU.Process }),
				median(apis, func(a *APIResult) float64 { return row.load(a).CPU.Bench }),
				median(apis, func(a *APIResult) float64 { return row.load(a).CPU.SQS }),
				median(apis, func(a *APIResult) float64 { return row.load(a).CPU.DynamoDB }),
				median(apis, func(a *APIResult) float64 { return row.load(a).CPU.Others }))
		}
		fmt.Fprintf(w, "\nAPI overhead over its bare calls: p50 %s ms, p99 %s ms. Sync / async median: %s (reference: %d ms / %d ms = %.1f×).\n",
			spreadFmt(apis, func(a *APIResult) float64 { return a.OverheadP50ms }, "%+.1f"),
			spreadFmt(apis, func(a *APIResult) float64 { return a.OverheadP99ms }, "%+.1f"),
			spreadUnit(apis, func(a *APIResult) float64 { return a.SyncOverAsync }, "×"),
			ReferenceSyncMs, ReferenceAsyncMs, float64(ReferenceSyncMs)/ReferenceAsyncMs)
	}
	if len(pipes) > 0 {
		p := pipes[0]
		fmt.Fprintf(w, "\n**End to end** (%d orders at %.0f/s; %d fixed worker(s) per stage, concurrency %d, time scale %g; medians of %d runs)\n\n",
			p.Orders, p.Rate, p.Workers, p.Concurrency, p.TimeScale, len(pipes))
		fmt.Fprintln(w, "| throughput | end-to-end p50 / p95 / p99 | accept p50 / p99 | rejected / lost / dead-lettered (all runs) | CPU: linecookd / fauxqs / dynalite / other work |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		var rejected, lost, dead int
		for _, x := range pipes {
			rejected += x.Sent - x.Accepted
			lost += x.Lost
			dead += x.DeadLettered
		}
		fmt.Fprintf(w, "| %s orders/s | %.2f / %.2f / %.2f s | %.0f / %.0f ms | %d / %d / %d | %.0f / %.0f / %.0f / %.0f %% |\n",
			spreadFmt(pipes, func(p *PipelineResult) float64 { return p.ThroughputPerSec }, "%.1f"),
			median(pipes, func(p *PipelineResult) float64 { return p.EndToEnd.P50ms })/1000,
			median(pipes, func(p *PipelineResult) float64 { return p.EndToEnd.P95ms })/1000,
			median(pipes, func(p *PipelineResult) float64 { return p.EndToEnd.P99ms })/1000,
			median(pipes, func(p *PipelineResult) float64 { return p.Accept.P50ms }),
			median(pipes, func(p *PipelineResult) float64 { return p.Accept.P99ms }),
			rejected, lost, dead,
			median(pipes, func(p *PipelineResult) float64 { return p.CPU.Process }),
			median(pipes, func(p *PipelineResult) float64 { return p.CPU.SQS }),
			median(pipes, func(p *PipelineResult) float64 { return p.CPU.DynamoDB }),
			median(pipes, func(p *PipelineResult) float64 { return p.CPU.Others }))
	}
}

// median is the median of f over xs (the mean of the middle two for an
// even count); 0 for none.
func median[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// spreadFmt is "median (min–max)" in format.
func spreadFmt[T any](xs []T, f func(T) float64, format string) string {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	if len(v) == 0 {
		return "–"
	}
	m := median(v, func(x float64) float64 { return x })
	if len(v) == 1 {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", m, slices.Min(v), slices.Max(v))
}

func spread[T any](xs []T, f func(T) float64) string { return spreadFmt(xs, f, "%.0f") }

func spreadUnit[T any](xs []T, f func(T) float64, unit string) string {
	u := strings.ReplaceAll(unit, "%", "%%")
	return spreadFmt(xs, f, "%.1f"+u)
}
