package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/linecook/linecook/tools/loadgen"
)

// Print writes the results as tables, each benchmark with its targets,
// met or not.
func (r *Results) Print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "linecook bench: %s; %d × %s, %s, %s; load average %s at the start, %s at the end\n",
		m.Date, m.CPUs, m.CPUModel, m.MemoryGB, m.Go, m.LoadBefore, m.LoadAfter)
	fmt.Fprintln(w, "CPU columns are percent of one core; \"other work\" is the machine's busy time no process of this run used")
	if r.Profiled {
		fmt.Fprintln(w, "PROFILED RUN: CPU profiles on, the API in this process; do not compare with normal runs")
	}
	if d := r.Drain; d != nil {
		fmt.Fprintf(w, "\n1. Worker throughput: no-op handler, %d-message backlog on the SQS emulator\n", d.Messages)
		t := table(w)
		fmt.Fprintln(t, "  drain\tseconds\tmsgs/s\truntime is\tCPU: client\tfauxqs\tother work\t")
		fmt.Fprintf(t, "  naive loop: receive 1, handle, delete 1\t%.2f\t%.0f\t%.1f×\t%s\t\n", d.Naive.Seconds, d.Naive.MsgsPerSec, d.VsNaive, drainCPU(d.Naive.CPU))
		fmt.Fprintf(t, "  raw batched: receive 10 + DeleteMessageBatch, %d goroutines, no handler\t%.2f\t%.0f\t%.0f %%\t%s\t\n",
			d.RawGoroutines, d.Raw.Seconds, d.Raw.MsgsPerSec, 100*d.VsRaw, drainCPU(d.Raw.CPU))
		fmt.Fprintf(t, "  linecook runtime, concurrency %d\t%.2f\t%.0f\t\t%s\t\n", d.Concurrency, d.Runtime.Seconds, d.Runtime.MsgsPerSec, drainCPU(d.Runtime.CPU))
		t.Flush()
		printTargets(w, d.Targets)
	}
	if s := r.Stage; s != nil {
		fmt.Fprintf(w, "\n2. I/O-bound stage: one linecookd payment worker process, %.0f ms handler, concurrency %d (slots allow %.0f/s)\n",
			s.WorkMs, s.Concurrency, s.CeilingPerSec)
		fmt.Fprintf(w, "   each rate fed for %.0f s to a fresh process with SendMessageBatch; judged over the second half\n", s.WindowSec)
		t := table(w)
		fmt.Fprintln(t, "  rate/s\tsent\tcompleted/s\tbacklog growth/s\tbacklog mean\tin flight\thandler p50\tpeak RSS\tCPU: worker\tfauxqs\tdynalite\tother work\tsustained\t")
		steps := slices.Clone(s.Steps)
		slices.SortStableFunc(steps, func(a, b StageStep) int { return int(a.Rate - b.Rate) })
		for _, st := range steps {
			ok := "yes"
			if !st.Sustained {
				ok = "NO: " + st.Why
			}
			fmt.Fprintf(t, "  %.0f\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f ms\t%.1f MB\t%.0f %%\t%.0f %%\t%.0f %%\t%.0f %%\t%s\t\n",
				st.Rate, st.Sent, st.ProcessedPerSec, st.BacklogSlope, st.BacklogMean, st.InFlightMean, st.HandlerP50ms, st.PeakRSSMB,
				st.CPU.Process, st.CPU.SQS, st.CPU.DynamoDB, st.CPU.Others, ok)
		}
		t.Flush()
		fmt.Fprintf(w, "  max sustained: %.0f orders/s from one process, peak RSS %.1f MB (the reference ran 182 single-order workers for 60/s)\n",
			s.MaxSustained, s.PeakRSSMB)
		if !s.LimitReached {
			fmt.Fprintln(w, "  note: every rate tried was sustained; the limit lies above --stage-max-rate")
		}
		fmt.Fprintf(w, "  rule: %s\n", s.Rule)
		printTargets(w, s.Targets)
	}
	if a := r.API; a != nil {
		where := "a linecookd api process"
		if a.InProcess {
			where = "the API in this process (profiling)"
		}
		fmt.Fprintf(w, "\n3. Order API: open loop at %.0f/s, %s; accept latency from each request's scheduled time\n", a.Rate, where)
		t := table(w)
		fmt.Fprintln(t, "  path\tsent\taccepted\tp50\tp90\tp99\tmax\terrors\tCPU: API\tclient\tfauxqs\tdynalite\tother work\t")
		for _, row := range []struct {
			name string
			l    APILoad
		}{
			{fmt.Sprintf("bare PutItem + SendMessage, %.0f s", a.DurationSec), a.Bare},
			{fmt.Sprintf("POST /orders (async), %.0f s", a.DurationSec), a.Async},
			{fmt.Sprintf("POST /orders/sync (%.0f ms payment inline)", a.PaymentDelayMs), a.Sync},
		} {
			c := row.l.CPU
			fmt.Fprintf(t, "  %s\t%d\t%d\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%s\t%.0f %%\t%.0f %%\t%.0f %%\t%.0f %%\t%.0f %%\t\n", row.name, row.l.Sent, row.l.Accepted,
				row.l.Accept.P50ms, row.l.Accept.P90ms, row.l.Accept.P99ms, row.l.Accept.MaxMs, errorCounts(row.l.Errors),
				c.Process, c.Bench, c.SQS, c.DynamoDB, c.Others)
		}
		t.Flush()
		fmt.Fprintf(w, "  API overhead over its bare calls: p50 %+.1f ms, p99 %+.1f ms\n", a.OverheadP50ms, a.OverheadP99ms)
		fmt.Fprintf(w, "  sync / async median: %.1f× (reference on AWS: %d ms / %d ms = %.1f×)\n",
			a.SyncOverAsync, ReferenceSyncMs, ReferenceAsyncMs, float64(ReferenceSyncMs)/ReferenceAsyncMs)
	}
	if p := r.Pipeline; p != nil {
		fmt.Fprintf(w, "\n4. End to end: API + payment, grill, fry, assemble; %d fixed worker(s) per stage, concurrency %d, time scale %g, no autoscaling\n",
			p.Workers, p.Concurrency, p.TimeScale)
		t := table(w)
		fmt.Fprintln(t, "  offered\tsent\taccepted\tcompleted\tlost\tdead-lettered\tthroughput\taccept p50/p99\tend-to-end p50/p95/p99\t")
		fmt.Fprintf(t, "  %.0f/s\t%d\t%d\t%d\t%d\t%d\t%.1f/s\t%.1f / %.1f ms\t%.2f / %.2f / %.2f s\t\n",
			p.Rate, p.Sent, p.Accepted, p.Completed, p.Lost, p.DeadLettered, p.ThroughputPerSec,
			p.Accept.P50ms, p.Accept.P99ms, p.EndToEnd.P50ms/1000, p.EndToEnd.P95ms/1000, p.EndToEnd.P99ms/1000)
		t.Flush()
		if len(p.Errors) > 0 {
			fmt.Fprintf(w, "  rejected by the API: %s\n", errorCounts(p.Errors))
		}
		if p.Completed < p.Sent {
			fmt.Fprintf(w, "  NOT CLEAN: %d of %d orders did not complete; the throughput is that of the orders that did, not a rate the pipeline sustains\n",
				p.Sent-p.Completed, p.Sent)
		}
		fmt.Fprintf(w, "  CPU (%% of one core): %s\n", p.CPU)
	}
	if ts := r.Targets(); len(ts) > 0 {
		missed := 0
		for _, t := range ts {
			if !t.Met {
				missed++
			}
		}
		fmt.Fprintf(w, "\ntargets: %d of %d met\n", len(ts)-missed, len(ts))
	}
}

func drainCPU(c CPU) string {
	return fmt.Sprintf("%.0f %%\t%.0f %%\t%.0f %%", c.Bench, c.SQS, c.Others)
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func printTargets(w io.Writer, ts []Target) {
	for _, t := range ts {
		verdict := "met"
		if !t.Met {
			verdict = "NOT MET"
		}
		fmt.Fprintf(w, "  target: %s %s: %s, %s\n", t.Name, t.Want, t.Got, verdict)
	}
}

func errorCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	return loadgen.FormatCounts(m)
}
