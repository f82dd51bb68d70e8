package scenario_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"imsconform/harness/scenario"
	"imsconform/scenarios"
)

const flow = `scenario: t
title: test
profiles:
  - {name: a322, default: true, description: d}
  - {name: ts24229, description: d}
steps:
  - {id: "2", title: REGISTER, from: UE, to: P, table: T-2, observable: true, why: sent}
  - {id: "5", title: "401", from: P, to: UE, table: T-5, answers: "2", observable: true, why: received}
`

const table5 = `table: T-5
title: 401 Unauthorized
step: "5"
example: "SIP/2.0 401 Unauthorized"
rules:
  - id: T-5/Status-Line/status
    header: Status-Line
    level: must
    citation: Table T-5
    statement: status is 401
    kind: start-line
    status: "401"
`

func load(t5 string) error {
	fsys := fstest.MapFS{
		"s/flow.yaml":       {Data: []byte(flow)},
		"s/tables/t-2.yaml": {Data: []byte("table: T-2\ntitle: REGISTER\nstep: \"2\"\nexample: REGISTER\nrules: []\n")},
		"s/tables/t-5.yaml": {Data: []byte(t5)},
	}
	_, err := scenario.Load(fsys, "s")
	return err
}

func TestLoadRefusesBrokenScenarios(t *testing.T) {
	if err := load(table5); err != nil {
		t.Fatalf("good scenario refused: %v", err)
	}
	add := func(extra string) string { return table5 + extra }
	cases := map[string]struct{ doc, want string }{
		"unknown field":     {add("    colour: red\n"), `t-5.yaml:13: expected a known field, saw unknown field "colour"`},
		"unknown kind":      {strings.Replace(table5, "kind: start-line", "kind: telepathy", 1), `t-5.yaml:6: rule "T-5/Status-Line/status": expected a rule kind`},
		"bad regexp":        {strings.Replace(table5, "kind: start-line\n    status: \"401\"", "kind: matches\n    pattern: \"([\"", 1), "expected a valid regular expression"},
		"unknown table ref": {strings.Replace(table5, "step: \"5\"", "step: \"9\"", 1), `t-5.yaml:1: expected step to name a step whose table is T-5, saw step "9"`},
		"unknown step ref":  {strings.Replace(table5, "kind: start-line\n    status: \"401\"", "kind: same-as\n    ref: {step: \"7\"}", 1), `expected ref step to be a step with a message`},
		"unknown part":      {strings.Replace(table5, "kind: start-line\n    status: \"401\"", "kind: present\n    part: colour", 1), `expected a part`},
		"unknown variable":  {strings.Replace(table5, `status: "401"`, `status: "{{nosuch}}"`, 1), "saw {{nosuch}}"},
		"duplicate id":      {table5 + strings.SplitN(table5, "rules:\n", 2)[1], `t-5.yaml:13: expected a unique rule id, saw "T-5/Status-Line/status" again`},
		"empty statement":   {strings.Replace(table5, "statement: status is 401", "statement: \"\"", 1), "expected a statement of what must hold, saw an empty one"},
		"unknown profile":   {add("    profiles: [nosuch]\n"), `expected profiles among a322, ts24229, saw "nosuch"`},
		"unknown condition": {add("    when: {colour: red}\n"), `expected a lab variable in when, saw "colour"`},
		"bad yaml":          {"table: [\n", "t-5.yaml"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := load(c.doc)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, c.want)
			}
		})
	}
}

func TestRulesAndProfiles(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Profiles(); len(p) != 2 || p[0] != "a322" {
		t.Fatalf("profiles %v", p)
	}
	if _, err := s.Rules("nosuch"); err == nil || !strings.Contains(err.Error(), "a322, ts24229") {
		t.Fatalf("unknown profile: %v", err)
	}
	a, _ := s.Rules("a322")
	b, _ := s.Rules("ts24229")
	inA := map[string]bool{}
	for _, r := range a {
		inA[r.ID] = true
	}
	for _, id := range []string{"A.3.2.2-11/Request-Line/request-uri", "A.3.2.2-14/Via/echo", "A.3.2.2-5/WWW-Authenticate/algorithm"} {
		if !inA[id] {
			t.Errorf("a322 lacks %s", id)
		}
	}
	for _, r := range b {
		if r.ID == "A.3.2.2-11/Request-Line/request-uri" {
			t.Error("ts24229 holds the a322 Request-URI rule")
		}
		if r.ID == "A.3.2.2-5/WWW-Authenticate/algorithm" {
			if got := r.SpecName(); got != "A.3.2.2-5 401 Unauthorized › WWW-Authenticate › algorithm is AKAv1-MD5" {
				t.Errorf("spec name %q", got)
			}
		}
	}
	if len(s.Steps) != 19 || len(s.Tables) != 11 {
		t.Errorf("%d steps, %d tables", len(s.Steps), len(s.Tables))
	}
	for _, st := range s.Steps {
		if !st.Observable && st.Table != "" {
			t.Errorf("step %s has a table but is not observable", st.ID)
		}
	}
}

// fuzzFlow is the smallest flow that makes Load read one table: the fuzzed
// one. (With the two-table flow of the tests above, two thirds of every
// execution parsed the same constant files.)
const fuzzFlow = "scenario: t\nprofiles:\n  - name: a322\n    default: true\nsteps:\n  - id: \"5\"\n    title: t\n    table: T-5\n    observable: true\n    why: w\n"

// maxFuzzDoc bounds the document FuzzLoad reads: the fuzzer minimises every
// new input in time quadratic in its length, and above a few hundred bytes
// of YAML it spent most of a run doing so (57,746 executions in 60 s).
const maxFuzzDoc = 256

// FuzzLoad: no table document makes Load panic; it loads or says why.
func FuzzLoad(f *testing.F) {
	f.Add(table5)
	f.Add(table5 + "    colour: red\n")
	table := &fstest.MapFile{Data: []byte(table5)}
	fsys := fstest.MapFS{"s/flow.yaml": {Data: []byte(fuzzFlow)}, "s/tables/t-5.yaml": table}
	if _, err := scenario.Load(fsys, "s"); err != nil {
		f.Fatalf("the fuzz flow does not load the seed table: %v", err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		table.Data = []byte(doc[:min(len(doc), maxFuzzDoc)])
		if _, err := scenario.Load(fsys, "s"); err != nil && err.Error() == "" {
			t.Fatal("Load failed with an empty error")
		}
	})
}
