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

// Summary writes a one-screen console summary of r to w: the overall verdict
// and the count per verdict, each failed or error rule with a one-line
// reason, the inconc rule ids, harness errors, steps whose message never
// came (not those whose every rule is none: not expected in this lab), the
// diagnostics first, how the P-CSCF was resolved, the de-registration, and
// where WriteAll put the reports (r.Reports). Every value is made
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

	c := countResults(r.Results)
	var parts []string
	for _, v := range verdictOrder {
		parts = append(parts, fmt.Sprintf("%d %s", c.Of(v), v))
	}
	dur := ""
	if d := duration(r); d > 0 {
		dur = " · " + d.Round(time.Millisecond).String()
		if d < time.Millisecond {
			dur = " · " + d.Round(time.Microsecond).String()
		}
	}
	line("verdict %s · %d rules: %s%s", strings.ToUpper(string(Overall(r))), c.Total(), strings.Join(parts, ", "), dur)

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

	var bad []check.Result
	var inconc []string
	for _, res := range r.Results {
		switch v := effective(res.Verdict); v {
		case check.Fail, check.Error:
			bad = append(bad, res)
		case check.Inconc:
			inconc = append(inconc, printable(res.RuleID))
		}
	}
	for i, res := range bad {
		if i == summaryList {
			line("  … and %d more failed or error rules (see the HTML report)", len(bad)-summaryList)
			break
		}
		why := res.Reason
		if why == "" {
			why = fmt.Sprintf("expected %q, observed %q", res.Expected, res.Observed)
		}
		tag := string(res.Verdict)
		if !res.Gates(false) {
			tag += " (" + string(res.Level) + ", does not gate)"
		}
		if !known(res.Verdict) {
			tag = fmt.Sprintf("error (unknown verdict %q)", printable(string(res.Verdict)))
		}
		line("  %-6s %s: %s", tag, printable(res.RuleID), printable(why))
	}
	if len(inconc) > 0 {
		shown := inconc
		more := ""
		if len(shown) > summaryIDs {
			shown, more = shown[:summaryIDs], fmt.Sprintf(" … and %d more", len(inconc)-summaryIDs)
		}
		b.WriteString("  inconc " + strings.Join(shown, ", ") + more + "\n")
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
	for _, f := range []string{p.HTML, p.JSON, p.Pcap, p.JUnit} {
		if f != "" {
			files = append(files, printable(f))
		}
	}
	if len(files) > 0 {
		b.WriteString("reports: " + strings.Join(files, "  ") + "\n")
	}
	io.WriteString(w, b.String())
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
