// Package loadreport writes the reports of a load run (harness/load): load.json
// (the Report as it is, the form imsload merge reads back), load.html (one
// self-contained page: the numbers a capacity engineer reads, rate and
// latency over time as inline SVG plots, every rule's tally with its first
// failing UEs, the sampled registrations' messages), junit.xml (one
// testcase per rule, by the conformance run's writer, reports.WriteJUnit,
// and testcases of the load itself), load.pcap (the sampled registrations,
// for Wireshark) and a console summary.
//
// Every value from the SUT is escaped: html/template on the page,
// reports.Printable on the terminal and in the JUnit. The page has no
// script and fetches nothing (a Content-Security-Policy forbids both).
//
// It measures nothing and judges nothing: harness/load does.
package loadreport

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"imsconform/harness/load"
	"imsconform/harness/rundiff"
	"imsconform/harness/trace"
	"imsconform/reports"
)

// File names in a report directory.
const (
	JSONFile  = "load.json"
	HTMLFile  = "load.html"
	JUnitFile = "junit.xml"
	PcapFile  = "load.pcap"
)

// Options say how a load run is gated.
type Options struct {
	// Gate is the rules' gate (level, fail-on-inconc); nil is the default.
	Gate *reports.Gate
	// MaxIneffective is the share of ineffective initial registration
	// attempts, in percent, above which the run fails.
	MaxIneffective float64
	// Started is when the process began, for the report directory's lock.
	Started time.Time
}

// WriteJSON writes load.json.
func WriteJSON(w io.Writer, rep *load.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("loadreport: writing load.json: %w", err)
	}
	return nil
}

// Run is the load run as the conformance reports take it: one result per
// rule (its verdict over every registration, the first failure's expected
// and observed), the run's errors, the gate, and the load's own checks and
// properties, for reports.WriteJUnit.
func Run(rep *load.Report, o Options) *reports.Run {
	r := &reports.Run{Tool: rep.Tool, Started: rep.Started, Finished: rep.Finished, Profile: rep.Profile, Target: rep.Target,
		Errors: append([]string(nil), rep.Errors...), Gate: o.Gate, Steps: map[string]int{}}
	if rep.Fingerprint != "" {
		r.Catalogue = &rundiff.Catalogue{Scenario: rep.Scenario, Rules: len(rep.Rules), Fingerprint: rep.Fingerprint}
	}
	for _, t := range rep.Tables {
		r.Tables = append(r.Tables, reports.TableInfo{ID: t.ID, Title: t.Title, Step: t.Step})
	}
	for i := range rep.Rules {
		r.Results = append(r.Results, rep.Rules[i].Result())
	}
	in := rep.Initial
	q := in.RRD.Quantiles()
	r.Properties = []reports.Property{
		{Name: "load_ues", Value: fmt.Sprint(rep.Config.UEs)},
		{Name: "load_rate", Value: fmt.Sprintf("%g/s", rep.Config.Rate)},
		{Name: "load_shards", Value: shardList(rep)},
		{Name: "load_attempted", Value: fmt.Sprint(in.Attempted)},
		{Name: "load_succeeded", Value: fmt.Sprint(in.Succeeded)},
		{Name: "load_ineffective", Value: fmt.Sprintf("%d (%.2f %%)", in.Ineffective, in.IneffectivePercent())},
		{Name: "load_judged", Value: fmt.Sprint(rep.Judged)},
		{Name: "load_rrd_p50_ms", Value: fmt.Sprintf("%.3f", q.P50)},
		{Name: "load_rrd_p99_ms", Value: fmt.Sprintf("%.3f", q.P99)},
		{Name: "load_generator_cpu_per_registration_us", Value: fmt.Sprintf("%.1f", rep.Generator.CPUPerRegistration)},
		{Name: "load_generator_max_rss_bytes", Value: fmt.Sprint(rep.Generator.RSS)},
	}
	ira := reports.RunCheck{Name: fmt.Sprintf("imsconform/load/ineffective: at most %g %% ineffective registration attempts (RFC 6076 4.2)", o.MaxIneffective),
		Detail: causes(in)}
	if in.Succeeded+in.Ineffective == 0 {
		ira.Failure = "no initial registration ended"
	} else if p := in.IneffectivePercent(); p > o.MaxIneffective {
		ira.Failure = fmt.Sprintf("%.2f %% of the initial registrations were ineffective (%d of %d): %s", p, in.Ineffective, in.Succeeded+in.Ineffective, causes(in))
	}
	r.Checks = append(r.Checks, ira)
	gen := reports.RunCheck{Name: "imsconform/load/generator: the generator was not the bottleneck", Detail: strings.Join(rep.Warnings, "\n")}
	for _, w := range rep.Warnings {
		if strings.Contains(w, "bottleneck") {
			gen.Failure = w
			break
		}
	}
	r.Checks = append(r.Checks, gen)
	return r
}

func shardList(rep *load.Report) string {
	var s []string
	for _, sh := range rep.Shards {
		s = append(s, sh.Shard)
	}
	return strings.Join(s, " ")
}

// causes lists a phase's ineffective attempts by cause, most first.
func causes(p *load.Phase) string {
	if p.Ineffective == 0 {
		return "none ineffective"
	}
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range p.Causes {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var s []string
	for _, c := range all {
		s = append(s, fmt.Sprintf("%s %d", c.k, c.n))
	}
	return strings.Join(s, ", ")
}

// Passed reports whether the run passes: the JUnit's testcases that fail
// are the ones that make it fail (a rule that gates, a harness error, the
// ineffective share above the maximum); a bottleneck warning is reported,
// and does not fail it.
func Passed(rep *load.Report, o Options) bool {
	r := Run(rep, o)
	if !reports.Passed(r) {
		return false
	}
	return r.Checks[0].Failure == ""
}

// Samples are the sampled registrations' messages in one list, for the
// pcap.
func samples(rep *load.Report) []trace.Message {
	var out []trace.Message
	for _, s := range rep.Samples {
		out = append(out, s.Messages...)
	}
	for i := range out {
		out[i].Seq = i + 1
	}
	return out
}

// Write writes load.json, load.html, junit.xml and load.pcap into dir as
// one set (reports.WriteSet) and returns where they went.
func Write(dir string, rep *load.Report, o Options) (string, map[string]string, error) {
	files := []reports.File{
		{Name: JSONFile, Write: func(w io.Writer) error { return WriteJSON(w, rep) }},
		{Name: HTMLFile, Write: func(w io.Writer) error { return WriteHTML(w, rep, o) }},
		{Name: JUnitFile, Write: func(w io.Writer) error { return reports.WriteJUnit(w, Run(rep, o)) }},
		{Name: PcapFile, Write: func(w io.Writer) error { return reports.WritePcap(w, &reports.Run{Trace: samples(rep)}) }},
	}
	return reports.WriteSet(dir, files, o.Started)
}

// Summary writes a console summary: the target, the counts, RRD, the
// causes, the generator, the warnings and errors, the rules that did not
// pass. Every value is made printable.
func Summary(w io.Writer, rep *load.Report, o Options) {
	p := reports.Printable
	in := rep.Initial
	q := in.RRD.Quantiles()
	fmt.Fprintf(w, "imsconform load · %s · %s · %d UEs at %g/s (shards %s)\n", p(rep.Profile), p(rep.Target), rep.Config.UEs, rep.Config.Rate, p(shardList(rep)))
	fmt.Fprintf(w, "  initial registrations: %d attempted, %d succeeded, %d ineffective (%.2f %%: %s), %d unfinished; %d judged field by field\n",
		in.Attempted, in.Succeeded, in.Ineffective, in.IneffectivePercent(), p(causes(in)), in.Unfinished, rep.Judged)
	fmt.Fprintf(w, "  RRD (RFC 6076): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", q.P50, q.P90, q.P99, q.P999, q.Max)
	for _, ph := range []struct {
		name string
		p    *load.Phase
	}{{"re-registrations", rep.Reregister}, {"de-registrations", rep.Deregister}} {
		if ph.p.Attempted > 0 {
			pq := ph.p.RRD.Quantiles()
			fmt.Fprintf(w, "  %s: %d attempted, %d succeeded, %d ineffective (%s); RRD p50 %.2f ms, p99 %.2f ms\n", ph.name, ph.p.Attempted, ph.p.Succeeded, ph.p.Ineffective, p(causes(ph.p)), pq.P50, pq.P99)
		}
	}
	g := rep.Generator
	fmt.Fprintf(w, "  generator: %.1f µs CPU per registration (check engine %.1f µs per judged registration, %.0f %% of the CPU), max RSS %d MiB, %d CPUs\n",
		g.CPUPerRegistration, g.EnginePerRegistration, 100*g.EngineShare, g.RSS>>20, g.Procs)
	for _, x := range rep.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", p(x))
	}
	for _, x := range rep.Errors {
		fmt.Fprintf(w, "  error: %s\n", p(x))
	}
	if g := o.Gate; g != nil {
		if g.Expectations != "" {
			fmt.Fprintf(w, "  expectations %s: %d rules' results expected\n", p(g.Expectations), len(g.Waived))
		}
		for _, x := range g.Problems {
			fmt.Fprintf(w, "  gate problem: %s\n", p(x))
		}
		for _, x := range g.Warnings {
			fmt.Fprintf(w, "  gate warning: %s\n", p(x))
		}
	}
	r := Run(rep, o)
	shown := 0
	for _, res := range r.Results {
		if st, _ := r.Gate.Judge(res); st == reports.Gating {
			if shown < 15 {
				fmt.Fprintf(w, "  %s %s: %s\n", res.Verdict, p(res.RuleID), p(res.Reason))
			}
			shown++
		}
	}
	if shown > 15 {
		fmt.Fprintf(w, "  … and %d more rules that gate\n", shown-15)
	}
	verdict := "PASS"
	if !Passed(rep, o) {
		verdict = "FAIL"
	}
	problems := 0
	if o.Gate != nil {
		problems = len(o.Gate.Problems)
	}
	fmt.Fprintf(w, "  %s: %d rules gate, %d gate problems, %d harness errors, %.2f %% ineffective (at most %g %%)\n", verdict, shown, problems, len(rep.Errors), in.IneffectivePercent(), o.MaxIneffective)
}
