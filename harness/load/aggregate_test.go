package load

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
	"imsconform/reports"
)

var testRules = []scenario.Rule{
	{ID: "T-1/A/must", Table: "T-1", Level: scenario.LevelMust, Statement: "a must rule"},
	{ID: "T-1/B/should", Table: "T-1", Level: scenario.LevelShould, Statement: "a should rule"},
	{ID: "T-1/C/none", Table: "T-1", Level: scenario.LevelMust, Statement: "not in this lab"},
	{ID: "T-2/D/counted", Table: "T-2", Level: scenario.LevelMust, CountedAs: "T-1/A/must"},
}

func results(vs ...check.Verdict) []check.Result {
	out := make([]check.Result, len(vs))
	for i, v := range vs {
		r := testRules[i]
		out[i] = check.Result{RuleID: r.ID, Table: r.Table, Level: r.Level, CountedAs: r.CountedAs, Verdict: v,
			Expected: "want " + r.ID, Observed: fmt.Sprintf("saw %s", v), Reason: "because"}
	}
	return out
}

func TestTallyCountsEveryVerdictAndKeepsTheFirstFailures(t *testing.T) {
	tl := newTally(testRules, 3, &reports.Gate{}, nil)
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	P, F, N, E, I := check.Pass, check.Fail, check.None, check.Error, check.Inconc
	var gating []bool
	for i, vs := range [][]check.Verdict{{P, P, N, P}, {F, P, N, F}, {P, F, N, P}, {F, F, N, F}, {E, P, N, P}, {F, I, N, F}, {F, P, N, F}} {
		gating = append(gating, tl.add(i+1, fmt.Sprintf("ue%d", i+1), t0.Add(time.Duration(i)*time.Second), results(vs...)))
	}
	// The must rule's fail and error gate; a should rule's fail and the
	// counted copy do not.
	if want := []bool{false, true, false, true, true, true, true}; fmt.Sprint(gating) != fmt.Sprint(want) {
		t.Errorf("gating per registration %v, want %v", gating, want)
	}
	s := tl.snapshot()
	a := s[0]
	if a.Pass != 2 || a.Fail != 4 || a.Error != 1 || a.Gating != 5 || a.Judged() != 7 || a.Verdict() != check.Error {
		t.Errorf("must rule: %+v", a)
	}
	if len(a.First) != 3 || a.First[0].UE != 2 || a.First[2].UE != 5 || a.First[2].Verdict != check.Error || a.First[0].Expected != "want T-1/A/must" {
		t.Errorf("must rule's first failures: %+v; want UEs 2, 4, 5", a.First)
	}
	b := s[1]
	if b.Fail != 2 || b.Inconc != 1 || b.Gating != 0 || b.Verdict() != check.Fail {
		t.Errorf("should rule: %+v (a should rule's fail does not gate at must)", b)
	}
	if c := s[2]; c.None != 7 || c.Verdict() != check.None || c.First != nil {
		t.Errorf("none rule: %+v", c)
	}
	if d := s[3]; d.Fail != 4 || d.Gating != 0 {
		t.Errorf("counted copy: %+v (it counts once, under the rule it copies)", d)
	}
	res := a.Result()
	if res.Verdict != check.Error || !strings.Contains(res.Reason, "5 of 7 registrations did not pass (4 fail, 1 error, 0 inconc)") || !strings.Contains(res.Reason, "UE ue2") {
		t.Errorf("the rule's result over the run: %+v", res)
	}
	// A fail the expectations expect is counted, shown, and does not gate;
	// another verdict of that rule still gates.
	te := newTally(testRules, 3, &reports.Gate{}, map[string]check.Verdict{"T-1/A/must": check.Fail})
	if te.add(1, "ue1", t0, results(F, P, N, P)) || !te.add(2, "ue2", t0, results(E, P, N, P)) {
		t.Error("expected fail: expected not to gate, and an error of that rule to gate")
	}
	if x := te.snapshot()[0]; x.Expected != 1 || x.Gating != 1 || x.Fail != 1 || len(x.First) != 2 {
		t.Errorf("with expectations: %+v", x)
	}
	// At a should gate the should rule's fail gates too.
	ts := newTally(testRules, 3, &reports.Gate{Level: scenario.LevelShould}, nil)
	if !ts.add(1, "ue1", t0, results(P, F, N, P)) {
		t.Error("at a should gate, a should rule's fail gates")
	}
}

func TestMergeRulesAddsAndKeepsTheEarliest(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newTally(testRules, 3, &reports.Gate{}, nil)
	b := newTally(testRules, 3, &reports.Gate{}, nil)
	F, P, N := check.Fail, check.Pass, check.None
	for i := range 4 {
		a.add(10+i, "a", t0.Add(time.Duration(2*i)*time.Second), results(F, P, N, P))
		b.add(20+i, "b", t0.Add(time.Duration(2*i+1)*time.Second), results(F, P, N, P))
	}
	m := mergeRules(a.snapshot(), b.snapshot(), 3)
	if m[0].Fail != 8 || m[0].Gating != 8 || m[1].Pass != 8 {
		t.Fatalf("merged: %+v", m[0])
	}
	var ues []int
	for _, f := range m[0].First {
		ues = append(ues, f.UE)
	}
	if fmt.Sprint(ues) != "[10 20 11]" {
		t.Errorf("merged first failures %v, want the three earliest of both: [10 20 11]", ues)
	}
}
