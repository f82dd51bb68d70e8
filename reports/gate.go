package reports

import (
	"fmt"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
)

// Gate is what a run is gated on — the lowest rule level whose failures
// count, whether inconc counts, the expectations that waive known results,
// the baseline it was compared with — and what it found beyond the rules'
// verdicts. Every report shows it; the suite's exit status and the JUnit
// follow it.
type Gate struct {
	// Level is the lowest rule level whose failures gate: must (the
	// default, also for ""), should (must and should) or table (all).
	Level        scenario.Level
	FailOnInconc bool
	// Expectations is the expectations file applied, "" for none; Waived
	// holds, per rule id, why its verdict is expected (those rules do not
	// gate).
	Expectations string
	Waived       map[string]string
	// Baseline is the report.json the run was compared with, "" for none.
	Baseline string
	// Problems fail the gate on their own, one line each: an expectation
	// that is stale, a rule whose verdict differs from its expectation, the
	// number of rules missing the expectations' pin, a rule that regressed
	// against the baseline.
	Problems []string
	// Warnings do not: an expectation that expires within a week, a stale
	// one when only warned about.
	Warnings []string
	// Only, when not nil, holds the rules the run was asked about (the
	// suite's --label-filter or --focus selected their specs): the others
	// were judged and are reported, but do not gate and are left out of the
	// JUnit.
	Only map[string]bool
}

// level is the gate's level, must when unset.
func (g *Gate) level() scenario.Level {
	if g == nil || g.Level == "" {
		return scenario.LevelMust
	}
	return g.Level
}

// Standing is how one result stands at the gate.
type Standing string

const (
	Gating  Standing = "gating"  // its verdict gates: a fail or error (an inconc with FailOnInconc) of a level the gate judges
	Quiet   Standing = ""        // it passed, or was not applicable: nothing to say
	Below   Standing = "below"   // a fail or inconc of a level below the gate's: shown, not gating
	Waived  Standing = "waived"  // its verdict is the one the expectations give: shown, not gating
	Counted Standing = "counted" // the same field of the same message as another rule (CountedAs): counted there
	Inconc  Standing = "inconc"  // could not be judged, and inconc does not gate
	Left    Standing = "left"    // not among the rules the run was asked about (Gate.Only)
)

// Judge says how a result stands at the gate g (nil: the default gate) and,
// for people, why it does not gate when it does not.
func (g *Gate) Judge(res check.Result) (Standing, string) {
	if g != nil && g.Only != nil && !g.Only[res.RuleID] {
		return Left, "not selected in this run (a filter left its spec out)"
	}
	v := effective(res.Verdict)
	if v == check.Pass || v == check.None {
		return Quiet, ""
	}
	if g != nil {
		if why, ok := g.Waived[res.RuleID]; ok {
			return Waived, why
		}
	}
	if res.CountedAs != "" {
		return Counted, fmt.Sprintf("the same field of the same message as %s (the 200 OK of steps 10 and 14 is one message): counted once, there", res.CountedAs)
	}
	if !res.Gates(g.level()) {
		return Below, fmt.Sprintf("%s at level %s, below the gate's level %s: reported, not gating", v, res.Level, g.level())
	}
	if v == check.Inconc && (g == nil || !g.FailOnInconc) {
		return Inconc, "inconc: could not be judged (gates only with --fail-on-inconc)"
	}
	return Gating, ""
}

// Passed reports whether the run passes its gate: no result gates, the
// harness reported no error, the gate found no problem, and at least one
// rule was judged (a run that judged nothing passes nothing).
func Passed(r *Run) bool {
	if r == nil || len(r.Errors) > 0 || len(r.Results) == 0 {
		return false
	}
	if r.Gate != nil && len(r.Gate.Problems) > 0 {
		return false
	}
	for _, res := range r.Results {
		if s, _ := r.Gate.Judge(res); s == Gating {
			return false
		}
	}
	return true
}

// Fields counts the fields judged, per verdict, each once: a rule that
// judges the same field of the same message as another (CountedAs) is left
// out. It is what the gate and the summary count.
func Fields(rs []check.Result) Counts {
	var once []check.Result
	for _, r := range rs {
		if r.CountedAs == "" {
			once = append(once, r)
		}
	}
	return countResults(once)
}
