package expect

import (
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
)

func res(id string, v check.Verdict) check.Result { return check.Result{RuleID: id, Verdict: v} }

var day = time.Date(2027, 3, 10, 15, 4, 5, 0, time.UTC)

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("exp.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseRefusesWithFileLine(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"empty", "", "exp.yaml:1: expected a YAML document, saw an empty file"},
		{"no entries", "scope: {sut: x}\n", "exp.yaml:1: expected a list of expectations"},
		{"unknown field", "expectations:\n  - rule: A\n    verdict: fail\n    reason: r\n    why: x\n", `exp.yaml:5: expected a known field, saw unknown field "why"`},
		{"no rule", "expectations:\n  - verdict: fail\n    reason: r\n", "exp.yaml:2: expected a rule id or glob"},
		{"bad glob", "expectations:\n  - rule: 'A.3.2.2-11/[Via'\n    verdict: fail\n    reason: r\n", "exp.yaml:2: rule: expected a rule id or a glob"},
		{"pass", "expectations:\n  - rule: A\n    verdict: pass\n    reason: r\n", "exp.yaml:2: verdict: expected fail, inconc, none or error (a rule that passes needs no entry), saw pass"},
		{"bad verdict", "expectations:\n  - rule: A\n    verdict: failed\n    reason: r\n", `exp.yaml:2: verdict: expected fail, inconc, none or error, saw "failed"`},
		{"no reason", "expectations:\n  - rule: A\n    verdict: fail\n", "exp.yaml:2: reason: expected why A gets fail"},
		{"bad date", "expectations:\n  - rule: A\n    verdict: fail\n    reason: r\n    expires: 30/06/2027\n", `exp.yaml:2: expires: expected a date YYYY-MM-DD, saw "30/06/2027"`},
		{"bad pin", "rules_in_scope: -3\nexpectations:\n  - {rule: A, verdict: fail, reason: r}\n", "exp.yaml:1: rules_in_scope: expected a number of rules above 0, saw -3"},
		{"not yaml", "expectations: [\n", "exp.yaml:"},
		{"wrong type", "expectations: {rule: A}\n", "exp.yaml:1: expected valid expectations YAML"},
	} {
		_, err := Parse("exp.yaml", []byte(c.src))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one starting %q", c.name, err, c.want)
		}
	}
}

func TestClassification(t *testing.T) {
	f := mustParse(t, `
expectations:
  - rule: A.3.2.2-10/Date/rfc1123
    verdict: fail
    reason: no Date in the 200 OK
    ticket: LAB-1
  - rule: A.3.2.2-11/Via/*
    verdict: fail
    reason: third-party REGISTER originated, not forwarded
  - rule: A.3.2.2-5/Security-Server/q
    verdict: fail
    reason: Security-Server without q
  - rule: A.3.2.2-13/Path/pcscf
    verdict: fail
    reason: echoes the S-CSCF's Path
  - rule: A.3.2.2-99/Gone/rule
    verdict: fail
    reason: a rule the catalogue no longer has
  - rule: A.3.2.2-7/CSeq/number
    verdict: fail
    reason: known and waived until the fix
    expires: 2027-03-01
  - rule: A.3.2.2-2/Via/comp
    verdict: none
    reason: sigcomp off
    expires: 2027-03-15
`)
	results := []check.Result{
		res("A.3.2.2-10/Date/rfc1123", check.Fail),     // expected
		res("A.3.2.2-11/Via/count", check.Fail),        // expected through the glob
		res("A.3.2.2-11/Via/ue", check.Pass),           // covered by the glob, passes: differs, does not make the glob stale
		res("A.3.2.2-5/Security-Server/q", check.Pass), // fixed: the entry is stale
		res("A.3.2.2-13/Path/pcscf", check.Error),      // differs: error where fail was expected
		res("A.3.2.2-7/CSeq/number", check.Fail),       // its waiver expired
		res("A.3.2.2-2/Via/comp", check.None),          // expected, expires soon
		res("A.3.2.2-5/Status-Line/status", check.Pass),
	}
	o := Apply(f, results, Run{Profile: "a322", Today: day}, Options{})
	want := map[string]Class{
		"A.3.2.2-10/Date/rfc1123":      Expected,
		"A.3.2.2-11/Via/count":         Expected,
		"A.3.2.2-11/Via/ue":            Differs,
		"A.3.2.2-5/Security-Server/q":  Differs,
		"A.3.2.2-13/Path/pcscf":        Differs,
		"A.3.2.2-7/CSeq/number":        Expired,
		"A.3.2.2-2/Via/comp":           Expected,
		"A.3.2.2-5/Status-Line/status": Unlisted,
	}
	for id, c := range want {
		if got := o.Rule(id).Class; got != c {
			t.Errorf("%s: class %q, want %q (%s)", id, got, c, o.Rule(id).Why)
		}
	}
	if !o.Waived("A.3.2.2-10/Date/rfc1123") || o.Waived("A.3.2.2-13/Path/pcscf") || o.Waived("A.3.2.2-7/CSeq/number") {
		t.Errorf("Waived: wrong for the expected, differing or expired rule")
	}
	if w := o.Rule("A.3.2.2-10/Date/rfc1123").Why; !strings.Contains(w, "LAB-1") || !strings.Contains(w, "no Date") {
		t.Errorf("the expected rule's why should carry the reason and the ticket, got %q", w)
	}
	var stale []string
	for _, st := range o.Stale() {
		stale = append(stale, st.Rule)
	}
	if got := strings.Join(stale, " "); got != "A.3.2.2-5/Security-Server/q A.3.2.2-99/Gone/rule" {
		t.Errorf("stale entries %q", got)
	}
	want3 := []string{
		`exp.yaml:13: A.3.2.2-13/Path/pcscf: the expectation exp.yaml:13 says fail, the run says error`,
		`exp.yaml:10: A.3.2.2-5/Security-Server/q is stale: it expects fail and none of the 1 rule it covers gets that any more`,
		`exp.yaml:16: A.3.2.2-99/Gone/rule is stale: no rule of this run matches it`,
	}
	if len(o.Problems) != len(want3) {
		t.Fatalf("problems: %q, want the rule that differs and the two stale entries", o.Problems)
	}
	for i, w := range want3 {
		if !strings.HasPrefix(o.Problems[i], w) {
			t.Errorf("problem %d: %q, want it to start %q", i, o.Problems[i], w)
		}
	}
	joined := strings.Join(o.Warnings, "\n")
	if !strings.Contains(joined, "A.3.2.2-7/CSeq/number expired on 2027-03-01") || !strings.Contains(joined, "A.3.2.2-2/Via/comp expires on 2027-03-15 — in 5 days") {
		t.Errorf("warnings: %q", o.Warnings)
	}
	c := o.Count()
	if c[Expected] != 3 || c[Differs] != 3 || c[Expired] != 1 || c[Unlisted] != 1 {
		t.Errorf("counts %v", c)
	}

	o = Apply(f, results, Run{Profile: "a322", Today: day}, Options{StaleWarnOnly: true})
	if len(o.Problems) != 1 || len(o.Warnings) != 4 {
		t.Errorf("stale as warnings: problems %q warnings %q", o.Problems, o.Warnings)
	}
}

func TestExpiryEdges(t *testing.T) {
	f := mustParse(t, "expectations:\n  - {rule: R, verdict: fail, reason: r, expires: 2027-03-10}\n")
	rs := []check.Result{res("R", check.Fail)}
	for _, c := range []struct {
		today   time.Time
		class   Class
		warning string
	}{
		{time.Date(2027, 3, 10, 23, 59, 0, 0, time.UTC), Expected, "today"},   // the last day still waives
		{time.Date(2027, 3, 11, 0, 0, 0, 0, time.UTC), Expired, "expired on"}, // the day after does not
		{time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC), Expected, "in 7 days"},  // a week before: warned
		{time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC), Expected, ""},           // more than a week before: quiet
	} {
		o := Apply(f, rs, Run{Today: c.today}, Options{})
		if got := o.Rule("R").Class; got != c.class {
			t.Errorf("%s: class %q, want %q", c.today, got, c.class)
		}
		w := strings.Join(o.Warnings, "|")
		if (c.warning == "") != (w == "") || !strings.Contains(w, c.warning) {
			t.Errorf("%s: warnings %q, want %q", c.today, w, c.warning)
		}
	}
}

func TestScopes(t *testing.T) {
	f := mustParse(t, `
scope: {sut: Kamailio, version: "5.6.*"}
expectations:
  - rule: R
    verdict: fail
    reason: only under ts24229
    scope: {profile: ts24229}
  - rule: S
    verdict: fail
    reason: every profile
`)
	rs := []check.Result{res("R", check.Fail), res("S", check.Fail)}
	o := Apply(f, rs, Run{Profile: "a322", SUT: "kamailio", SUTVersion: "5.6.3", Today: day}, Options{})
	if o.Rule("R").Class != Unlisted || o.Rule("S").Class != Expected {
		t.Errorf("a322: R %q S %q, want R unlisted (out of its scope), S expected", o.Rule("R").Class, o.Rule("S").Class)
	}
	if len(o.Problems) != 0 {
		t.Errorf("an entry out of scope must not be stale: %q", o.Problems)
	}
	o = Apply(f, rs, Run{Profile: "ts24229", SUT: "kamailio", SUTVersion: "5.6.3", Today: day}, Options{})
	if o.Rule("R").Class != Expected {
		t.Errorf("ts24229: R %q, want expected", o.Rule("R").Class)
	}
	o = Apply(f, rs, Run{Profile: "a322", SUT: "kamailio", SUTVersion: "5.8.1", Today: day}, Options{})
	if o.InScope || len(o.Problems) != 1 || !strings.Contains(o.Problems[0], "sut Kamailio, version 5.6.*") || o.Rule("S").Class != Unlisted {
		t.Errorf("another version: in scope %v, problems %q, S %q", o.InScope, o.Problems, o.Rule("S").Class)
	}
}

func TestGlobsAndPrecedence(t *testing.T) {
	f := mustParse(t, `
expectations:
  - {rule: "A.3.2.2-11/*/same", verdict: fail, reason: glob first in file}
  - {rule: "A.3.2.2-11/Call-ID/same", verdict: inconc, reason: exact id wins over an earlier glob}
  - {rule: "A.3.2.2-1?/Via/count", verdict: fail, reason: question mark}
`)
	rs := []check.Result{
		res("A.3.2.2-11/From/same", check.Fail),
		res("A.3.2.2-11/Call-ID/same", check.Inconc),
		res("A.3.2.2-11/Via/count", check.Fail),
		res("A.3.2.2-11/Via/icscf/same", check.Fail), // * does not cross "/"
	}
	o := Apply(f, rs, Run{Today: day}, Options{})
	if o.Rule("A.3.2.2-11/From/same").Class != Expected || o.Rule("A.3.2.2-11/Call-ID/same").Entry.Verdict != check.Inconc ||
		o.Rule("A.3.2.2-11/Call-ID/same").Class != Expected || o.Rule("A.3.2.2-11/Via/count").Class != Expected ||
		o.Rule("A.3.2.2-11/Via/icscf/same").Class != Unlisted {
		for _, r := range o.Rules {
			t.Logf("%s %q %s", r.RuleID, r.Class, r.Why)
		}
		t.Errorf("glob or precedence wrong")
	}
}

func TestRulesInScopePin(t *testing.T) {
	f := mustParse(t, "rules_in_scope: 3\n")
	if o := Apply(f, []check.Result{res("a", check.Pass), res("b", check.Pass), res("c", check.Pass)}, Run{Today: day}, Options{}); len(o.Problems) != 0 || o.RulesPinned != 3 || o.RulesJudged != 3 {
		t.Errorf("pin met: %+v", o.Problems)
	}
	o := Apply(f, []check.Result{res("a", check.Pass), res("b", check.Pass)}, Run{Today: day}, Options{})
	if len(o.Problems) != 1 || !strings.Contains(o.Problems[0], "rules_in_scope is 3, this run judged 2 rules") {
		t.Errorf("pin missed: %q", o.Problems)
	}
}

func TestNoFileClassifiesEverythingUnlisted(t *testing.T) {
	o := Apply(nil, []check.Result{res("a", check.Fail)}, Run{}, Options{})
	if o.Rule("a").Class != Unlisted || o.Waived("a") || len(o.Problems) != 0 {
		t.Errorf("nil file: %+v", o)
	}
}

func TestStrictLevelsAndTransport(t *testing.T) {
	f := mustParse(t, `
expectations:
  - {rule: "A.3.2.2-*/Content-Length/present.tcp", verdict: none, reason: the lab runs UDP, scope: {transport: udp}}
  - {rule: A.3.2.2-10/Date/present, verdict: fail, level: should, reason: no Date}
`)
	r := func(id string, lvl string, v check.Verdict) check.Result {
		return check.Result{RuleID: id, Level: scenario.Level(lvl), Verdict: v, Observed: "x"}
	}
	results := []check.Result{
		r("A.3.2.2-2/Content-Length/present.tcp", "must", check.None),
		r("A.3.2.2-10/Date/present", "should", check.Fail),
		r("A.3.2.2-5/Via/echo", "must", check.Pass),
	}
	if o := Apply(f, results, Run{Transport: "udp", Today: day}, Options{Strict: true}); len(o.Problems) != 0 {
		t.Errorf("strict, matching: %q", o.Problems)
	}
	// Over TCP the transport-scoped entry does not apply: strictly, the none
	// is then a problem, and the entry is not stale (out of scope).
	o := Apply(f, results, Run{Transport: "tcp", Today: day}, Options{Strict: true})
	if len(o.Problems) != 1 || !strings.Contains(o.Problems[0], "A.3.2.2-2/Content-Length/present.tcp gets none and no expectation covers it, so it must pass") {
		t.Errorf("strict over tcp: %q", o.Problems)
	}
	if o := Apply(f, results, Run{Transport: "tcp", Today: day}, Options{}); len(o.Problems) != 0 {
		t.Errorf("not strict: an unlisted none is no problem: %q", o.Problems)
	}
	results[1].Level = scenario.LevelMust
	o = Apply(f, results, Run{Transport: "udp", Today: day}, Options{})
	if len(o.Problems) != 1 || !strings.Contains(o.Problems[0], "the expectation is for a rule of level should, the rule's level is now \"must\"") {
		t.Errorf("level moved: %q", o.Problems)
	}
	if _, err := Parse("exp.yaml", []byte("expectations:\n  - {rule: A, verdict: fail, reason: r, level: may}\n")); err == nil || !strings.Contains(err.Error(), "level: expected must, should or table") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := Parse("exp.yaml", []byte("expectations:\n  - {rule: A, verdict: fail, reason: r, scope: {transport: sctp}}\n")); err == nil || !strings.Contains(err.Error(), "transport: expected udp or tcp") {
		t.Errorf("bad transport: %v", err)
	}
}
