package load

import (
	"fmt"
	"runtime"
	"time"
)

// progress writes a line of live progress every ProgressEvery until done,
// and keeps the series compact.
func (r *runner) progress(done <-chan struct{}) {
	t := time.NewTicker(r.o.ProgressEvery)
	defer t.Stop()
	began := time.Now()
	cpu0u, cpu0s := processCPU()
	lastCPU, lastAt := cpu0u+cpu0s, began
	var lastDone int64
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			r.series.compact(now)
			if r.o.Progress == nil {
				continue
			}
			r.pmu.Lock()
			att, ok, bad, judged := r.initial.Attempted, r.initial.Succeeded, r.initial.Ineffective, r.judged
			re, de := r.rereg.Succeeded+r.rereg.Ineffective, r.dereg.Succeeded+r.dereg.Ineffective
			r.pmu.Unlock()
			q := r.initial.RRD.Quantiles()
			u, s := processCPU()
			el := now.Sub(lastAt).Seconds()
			cpu := 0.0
			if el > 0 {
				cpu = 100 * (u + s - lastCPU).Seconds() / el
			}
			rate := float64(ok+bad-lastDone) / el
			lastCPU, lastAt, lastDone = u+s, now, ok+bad
			cur, _ := rss()
			fmt.Fprintf(r.o.Progress, "%6.1fs  started %d/%d  ok %d  ineffective %d (%.2f%%)  %.0f/s  RRD p50 %.2f ms p99 %.2f ms  judged %d  re-reg %d  de-reg %d  under way %d  slip p99 %.2f ms  CPU %.0f%% of %d  RSS %d MiB\n",
				now.Sub(began).Seconds(), att, r.hi-r.lo, ok, bad, pct(bad, ok+bad), rate, q.P50, q.P99, judged, re, de, r.busy.Load(),
				r.slip.Quantiles().P99, cpu, runtime.GOMAXPROCS(0), cur>>20)
		}
	}
}

func pct(a, n int64) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}

// Thresholds of the bottleneck warnings.
const (
	slipWarn = 10 * time.Millisecond // p99 start slip above which the schedule is the generator's
	cpuWarn  = 0.9                   // share of the generator's CPUs above which it was the bottleneck
)

// bottlenecks says where the generator, not the SUT, limited the run.
func (r *runner) bottlenecks(rep *Report) []string {
	var w []string
	interval := time.Duration(float64(time.Second) / r.rate)
	if q := rep.Slip.Quantiles(); q.Count > 0 && time.Duration(q.P99*float64(time.Millisecond)) > max(slipWarn, 2*interval) {
		w = append(w, fmt.Sprintf("the generator is the bottleneck: the initial registrations started late against their schedule (p99 %.1f ms, max %.1f ms, one due every %s): its delays are in the RRD too", q.P99, q.Max, interval))
	}
	if n := r.queueFull.Load(); n > 0 {
		w = append(w, fmt.Sprintf("the generator is the bottleneck: the check engine fell behind (%d registrations waited for a judge): lower the rate or judge a sample (-sample)", n))
	}
	if el := rep.Finished.Sub(rep.Started).Seconds(); el > 0 {
		if share := (rep.Generator.CPUUser + rep.Generator.CPUSystem) / el / float64(runtime.GOMAXPROCS(0)); share > cpuWarn {
			w = append(w, fmt.Sprintf("the generator is the bottleneck: it used %.0f%% of its %d CPUs over the run", 100*share, runtime.GOMAXPROCS(0)))
		}
	}
	return w
}
