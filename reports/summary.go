package reports

import (
	"fmt"
	"io"
	"strings"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/trace"
)

// Console summary limits: it must fit one screen.
const (
	summaryWidth = 120 // characters of one line
	summaryList  = 15  // failed/error rules listed; the rest are counted
	summaryIDs   = 20  // inconc ids listed
)

// Summary writes a one-screen console summary of r to w: the diagnostics
// first; the overall verdict, whether the gate passed (at which level) and
// the count per verdict of the fields judged (each once: the 200 OK of
// steps 10 and 14 is one message); what the gate was given (expectations,
// baseline) and the problems it found; harness errors; how the P-CSCF was
// resolved; the de-registration; each gating failure or error with what was
// expected, what was observed and why; the ids of the rules that did not
// gate (below the gate's level, expected by the expectations, inconc); the
// steps whose message never came (not those whose every rule is none: not
// expected in this lab); and where Write put the reports (r.Reports). Every value is made
// printable (control characters escaped) and cut to one line. Write errors
// on w are ignored: a summary is best effort.
func Summary(w io.Writer, r *Run) {
	if w == nil {
		return
	}
	var b strings.Builder
	line := func(format string, a ...any) {
		b.WriteString(truncate(fmt.Sprintf(format, a...), summaryWidth))
		b.WriteByte('\n')
	}
	if r == nil {
		line("imsconform: no run to summarise (nil run)")
		io.WriteString(w, b.String())
		return
	}
	tool := r.Tool
	if tool == "" {
		tool = "imsconform"
	}
	head := printable(tool)
	if r.Profile != "" {
		head += " · profile " + printable(r.Profile)
	}
	if r.Target != "" {
		head += " · " + printable(r.Target)
	}
	line("%s", head)
	for _, d := range r.Diagnostics {
		line("  diagnostic %s: %s", printable(d.Code), printable(d.Message))
	}

	c := Fields(r.Results)
	quiet := map[check.Verdict]int{} // per verdict, the fields that do not gate
	for _, res := range r.Results {
		if res.CountedAs != "" {
			continue
		}
		if st, _ := r.Gate.Judge(res); st == Below || st == Waived || st == Inconc || st == Left {
			quiet[effective(res.Verdict)]++
		}
	}
	var parts []string
	for _, v := range verdictOrder {
		p := fmt.Sprintf("%d %s", c.Of(v), v)
		if n := quiet[v]; n > 0 && v != check.Inconc {
			p += fmt.Sprintf(" (%d not gating)", n)
		}
		parts = append(parts, p)
	}
	dur := ""
	if d := duration(r); d > 0 {
		dur = " · " + d.Round(time.Millisecond).String()
		if d < time.Millisecond {
			dur = " · " + d.Round(time.Microsecond).String()
		}
	}
	gate := "PASSED"
	if !Passed(r) {
		gate = "FAILED"
	}
	judged := fmt.Sprintf("%d rules", len(r.Results))
	if c.Total() != len(r.Results) {
		judged = fmt.Sprintf("%d fields", c.Total())
	}
	line("verdict %s · gate %s (%s) · %s: %s%s", strings.ToUpper(string(Overall(r))), gate, r.Gate.level(), judged, strings.Join(parts, ", "), dur)
	if n := len(r.Results) - c.Total(); n > 0 {
		line("  %d rules judged %d fields: %d judge a field of a message another table judges too (one 200 OK), counted once", len(r.Results), c.Total(), n)
	}
	if g := r.Gate; g != nil {
		var with []string
		if g.Expectations != "" {
			with = append(with, fmt.Sprintf("expectations %s (%d expected)", printable(g.Expectations), len(g.Waived)))
		}
		if g.Baseline != "" {
			with = append(with, "baseline "+printable(g.Baseline))
		}
		if g.FailOnInconc {
			with = append(with, "inconc gates")
		}
		if len(with) > 0 {
			line("  gate: %s", strings.Join(with, "; "))
		}
		for _, p := range g.Problems {
			line("  gate problem: %s", printable(p))
		}
		for _, w := range g.Warnings {
			line("  gate warning: %s", printable(w))
		}
	}

	for _, e := range r.Errors {
		line("  harness error: %s", printable(e))
	}
	if l := discoveryLine(r.Discovery); l != "" {
		line("  %s", printable(l))
	}
	if l := deregLine(r.Deregistration); l != "" {
		line("  %s", printable(l))
	}
	if _, sum := buildTallies(r.Tallies, time.Time{}); sum.Unrelated > 0 || sum.RelatedDropped > 0 {
		l := fmt.Sprintf("  unrelated traffic: %d messages from %d peers, %d kept", sum.Unrelated, sum.Peers, sum.Kept)
		if sum.RelatedDropped > 0 {
			l += fmt.Sprintf("; %d more past the trace's limits not kept", sum.RelatedDropped)
		}
		line("%s (busiest: %s)", l, busiest(r.Tallies))
	}

	var gating []check.Result
	groups := map[Standing][]string{}
	for _, res := range r.Results {
		switch st, _ := r.Gate.Judge(res); st {
		case Gating:
			gating = append(gating, res)
		case Quiet, Counted, Left:
		default:
			id := printable(res.RuleID)
			if st == Below {
				id += " (" + printable(string(res.Level)) + ")"
			}
			groups[st] = append(groups[st], id)
		}
	}
	for i, res := range gating {
		if i == summaryList {
			line("  … and %d more failed or error rules (see the HTML report)", len(gating)-summaryList)
			break
		}
		tag := string(res.Verdict)
		if !known(res.Verdict) {
			tag = fmt.Sprintf("error (unknown verdict %q)", printable(string(res.Verdict)))
		}
		l := fmt.Sprintf("  %-6s %s: expected %s, observed %s", tag, printable(res.RuleID), printable(quoteShort(res.Expected)), printable(quoteShort(res.Observed)))
		if res.Reason != "" {
			l += " — " + printable(res.Reason)
		}
		line("%s", l)
	}
	for _, g := range []struct {
		st   Standing
		what string
	}{{Below, "below the gate, not gating"}, {Waived, "expected (waived)"}, {Inconc, "inconc"}} {
		ids := groups[g.st]
		if len(ids) == 0 {
			continue
		}
		shown, first := ids, ""
		if len(shown) > summaryIDs {
			shown, first = shown[:summaryIDs], fmt.Sprintf(" (the first %d)", summaryIDs)
		}
		line("  %s: %d%s — %s", g.what, len(ids), first, strings.Join(shown, ", "))
	}

	seqs := seqSet(r.Trace)
	byStep := tablesByStep(r)
	var missing []string
	na := notApplicable(r)
	for _, s := range stepIDs(r) {
		if _, ok := received(r, seqs, s); !ok && !na[s] {
			m := "step " + printable(s)
			if n := tableNames(byStep[s], true); n != "" {
				m += " (" + printable(n) + ")"
			}
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		line("  not received: %s", strings.Join(missing, ", "))
	}

	p := r.Reports
	var files []string
	for _, f := range []string{p.HTML, p.JSON, p.Pcap, p.JUnit, p.DiffHTML, p.DiffJSON} {
		if f != "" {
			files = append(files, printable(f))
		}
	}
	if len(files) > 0 {
		b.WriteString("reports: " + strings.Join(files, "  ") + "\n")
	}
	io.WriteString(w, b.String())
}

// quoteShort quotes s, cut to keep the line readable.
func quoteShort(s string) string {
	return fmt.Sprintf("%q", truncate(s, 32))
}

// busiest names the peer of the tally with the most messages counted.
func busiest(ts []trace.Tally) string {
	best := -1
	for i, t := range ts {
		if best < 0 || t.Unrelated+t.Dropped > ts[best].Unrelated+ts[best].Dropped {
			best = i
		}
	}
	if best < 0 {
		return "none"
	}
	t := ts[best]
	peer := addr(t.Peer)
	if peer == "" {
		peer = "further peers"
	}
	return fmt.Sprintf("%s → %s, %d", peer, printable(t.Role), max(t.Unrelated, t.Dropped))
}
