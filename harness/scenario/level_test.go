package scenario_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"imsconform/harness/scenario"
	"imsconform/scenarios"
)

// TestLoadRefusesARuleWithoutLevel: every rule states its level; a rule
// without one, or with another word, is refused at its file:line.
func TestLoadRefusesARuleWithoutLevel(t *testing.T) {
	for doc, want := range map[string]string{
		strings.Replace(table5, "    level: must\n", "", 1):                `t-5.yaml:6: rule "T-5/Status-Line/status": expected a level (must`,
		strings.Replace(table5, "level: must", "level: may", 1):            `t-5.yaml:6: rule "T-5/Status-Line/status": expected level must, should or table, saw "may"`,
		strings.Replace(table5, "level: must", "level: [must, should]", 1): "t-5.yaml:8",
	} {
		err := load(doc)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want one line containing %q", err, want)
		}
	}
	for _, l := range []string{"must", "should", "table"} {
		if err := load(strings.Replace(table5, "level: must", "level: "+l, 1)); err != nil {
			t.Errorf("level %s refused: %v", l, err)
		}
	}
}

// TestLoadNewRuleFields: the fields the equivalence rules use load, and
// misuse of them is refused with what was expected.
func TestLoadNewRuleFields(t *testing.T) {
	rule := "kind: start-line\n    status: \"401\""
	loadCases(t, map[string]struct{ doc, want string }{
		"index any":              {strings.Replace(table5, rule, "kind: one-of\n    index: any\n    values: [a]", 1), ""},
		"index any on same-as":   {strings.Replace(table5, rule, "kind: same-as\n    index: any\n    ref: {step: request}", 1), "expected index any (some value satisfies the rule) only on kinds"},
		"index binding":          {strings.Replace(strings.Replace(table5, rule, "kind: compare\n    index: binding\n    part: expiry\n    op: le\n    ref: {step: request, part: expiry}", 1), "header: Status-Line", "header: Contact", 1), ""},
		"binding not on Contact": {strings.Replace(table5, rule, "kind: present\n    index: binding", 1), "expected index binding only on the Contact of a response"},
		"mechanism":              {strings.Replace(table5, rule, "kind: present\n    index: all\n    mechanism: ipsec-3gpp\n    part: param:q", 1), ""},
		"ref self":               {strings.Replace(table5, rule, "kind: compare\n    part: param:port-c\n    op: ne\n    ref: {step: self, part: param:port-s}", 1), ""},
		"ref self with a header": {strings.Replace(table5, rule, "kind: compare\n    op: ne\n    ref: {step: self, header: Via, part: param:x}", 1), "expected only a part with ref step self"},
		"ref of":                 {strings.Replace(table5, rule, "kind: same-as\n    ref: {step: request, of: \"5\"}", 1), ""},
		"ref of a request":       {strings.Replace(table5, rule, "kind: same-as\n    ref: {step: request, of: \"2\"}", 1), `expected ref of to name a response step, saw "2"`},
		"of without request":     {strings.Replace(table5, rule, "kind: same-as\n    ref: {step: \"2\", of: \"5\"}", 1), "expected of only with ref step request"},
		"compare bounds only":    {strings.Replace(table5, rule, "kind: compare\n    min: 1\n    max: 65535", 1), ""},
		"compare op alone":       {strings.Replace(table5, rule, "kind: compare\n    op: le", 1), "expected value or ref with op le, saw none"},
		"compare nothing":        {strings.Replace(table5, rule, "kind: compare", 1), "expected value or ref (with op), or min or max"},
		"within":                 {strings.Replace(table5, rule, "kind: within\n    values: [\"{{impus}}\"]", 1), ""},
		"within without values":  {strings.Replace(table5, rule, "kind: within", 1), "expected values for kind within"},
		"after":                  {strings.Replace(table5, rule, "kind: after\n    ref: {step: \"2\"}", 1), ""},
		"after with a part":      {strings.Replace(table5, rule, "kind: after\n    ref: {step: \"2\", part: uri}", 1), "expected a ref that names only a step for kind after"},
		"differs":                {strings.Replace(table5, rule, "kind: differs\n    part: aka.rand\n    ref: {step: request, part: aka.rand}", 1), ""},
		"body-length":            {strings.Replace(strings.Replace(table5, rule, "kind: body-length", 1), "header: Status-Line", "header: l", 1), ""},
		"body-length elsewhere":  {strings.Replace(table5, rule, "kind: body-length", 1), `expected kind body-length on Content-Length, saw it on "Status-Line"`},
		"optional date":          {strings.Replace(table5, rule, "kind: date\n    optional: true", 1), ""},
		"unquoted part":          {strings.Replace(table5, rule, "kind: equals\n    part: unquoted\n    value: x", 1), ""},
	})
}

// loadCases loads each document: one with want "" must load, the others
// must be refused with an error containing want.
func loadCases(t *testing.T, cases map[string]struct{ doc, want string }) {
	t.Helper()
	for name, c := range cases {
		err := load(c.doc)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
}

// TestLoadSender: a step's sender is sut by default, harness when said, and
// the rules of a harness step are stimulus rules.
func TestLoadSender(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Steps {
		want := scenario.SenderSUT
		if st.ID == "2" || st.ID == "7" || st.ID == "13" {
			want = scenario.SenderHarness
		}
		if st.Sender != want {
			t.Errorf("step %s: sender %q, want %q", st.ID, st.Sender, want)
		}
	}
	for _, r := range s.AllRules() {
		if r.Stimulus != (r.Step == "2" || r.Step == "7" || r.Step == "13") {
			t.Errorf("%s: stimulus %v on step %s", r.ID, r.Stimulus, r.Step)
		}
	}
	bad := strings.Replace(flow, "table: T-2,", "table: T-2, sender: me,", 1)
	fsys := fstest.MapFS{
		"s/flow.yaml":       {Data: []byte(bad)},
		"s/tables/t-2.yaml": {Data: []byte("table: T-2\ntitle: REGISTER\nstep: \"2\"\nexample: REGISTER\nrules: []\n")},
		"s/tables/t-5.yaml": {Data: []byte(table5)},
	}
	if _, err := scenario.Load(fsys, "s"); err == nil || !strings.Contains(err.Error(), `flow.yaml:7: expected step 2 sender sut or harness, saw "me"`) {
		t.Errorf("bad sender: %v", err)
	}
}

// TestExpandList: a list variable alone stands for its members; anything
// else is one value.
func TestExpandList(t *testing.T) {
	vars := map[string]string{"scscf_names": "a.home1.net 192.0.2.4", "impu": "sip:u@h"}
	for tmpl, want := range map[string]string{"{{scscf_names}}": "a.home1.net|192.0.2.4", "{{ scscf_names }}": "a.home1.net|192.0.2.4",
		"x {{scscf_names}}": "x a.home1.net 192.0.2.4", "{{impu}}": "sip:u@h"} {
		got, err := scenario.ExpandList(tmpl, vars)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("ExpandList(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
}
