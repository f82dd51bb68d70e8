package check

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// A run the differential test judges: its name and its input.
type diffRun struct {
	name string
	in   Input
}

// The ways the compiled engine is used: the one-shot Evaluate, a plan with
// the UE's identities and ports open and filled from the input, and an
// overlay of them.
var ways = []struct {
	name string
	eval func(prog *Program, rules []scenario.Rule, in Input) []Result
}{
	{"Evaluate", func(_ *Program, rules []scenario.Rule, in Input) []Result { return Evaluate(rules, in) }},
	{"per UE", func(prog *Program, _ []scenario.Rule, in Input) []Result {
		return prog.Bind(in.Vars, perUE...).Evaluate(in)
	}},
	{"overlay", func(prog *Program, _ []scenario.Rule, in Input) []Result {
		return prog.Bind(in.Vars, perUE...).Overlay(in.Vars).Evaluate(in)
	}},
}

// agree judges the rules against the run with the reference (refEvaluate,
// the engine before it compiled rules) and with the compiled engine, the
// ways named by their index in ways. It returns the differences, each with
// the rule and the field that differs.
func agree(prog *Program, rules []scenario.Rule, run diffRun, which ...int) []string {
	want := refEvaluate(rules, run.in)
	var diffs []string
	for _, w := range which {
		got := ways[w].eval(prog, rules, run.in)
		if len(got) != len(want) {
			diffs = append(diffs, fmt.Sprintf("%s: %s: %d results, the reference %d", run.name, ways[w].name, len(got), len(want)))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				diffs = append(diffs, fmt.Sprintf("%s: %s: %s:\n  compiled  %+v\n  reference %+v", run.name, ways[w].name, rules[i].ID, got[i], want[i]))
			}
		}
	}
	return diffs
}

// differentialRuns are the runs the compiled engine must judge as the
// reference does: the seed's conformant runs (both readings of step 11, a
// re-synchronisation), every conformant and broken variant of the corpus in
// its place, the real Kamailio runs, the RFC 4475 torture messages as the
// 200 OK and the REGISTER, and a run with every message missing.
func differentialRuns(t *testing.T) []diffRun {
	t.Helper()
	var runs []diffRun
	for _, p := range []string{"a322", "ts24229"} {
		runs = append(runs, diffRun{"seed " + p, seedInput(p)})
	}
	runs = append(runs, diffRun{"seed forwarded", seedForwarded()})
	resync := seedInput("a322")
	resync.Vars["resync"] = "true"
	resync.Messages["5.request"] = resync.Messages["2"]
	runs = append(runs, diffRun{"seed resync", resync})
	for _, kind := range []string{"valid", "invalid"} {
		for _, f := range corpusFiles(t, kind) {
			v := readVariant(t, f)
			for _, p := range []string{"a322", "ts24229"} {
				runs = append(runs, diffRun{kind + "/" + v.table + "/" + filepath.Base(f) + " " + p, withVariant(seedInput(p), v)})
			}
		}
	}
	for _, p := range []string{"a322", "ts24229"} {
		runs = append(runs, diffRun{"kamailio " + p, kamailioRun(t, p)})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "*", "*.dat"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in := seedInput("a322")
		m := trace.Message{Seq: 9, Transport: "UDP", Raw: raw}
		in.Messages["10"], in.Messages["14"], in.Messages["7"] = m, m, m
		runs = append(runs, diffRun{"rfc4475 " + filepath.Base(f), in})
	}
	none := seedInput("a322")
	for step := range none.Messages {
		delete(none.Messages, step)
		none.Missing[step] = "not received within 5s"
	}
	runs = append(runs, diffRun{"nothing captured", none})
	return runs
}

// TestCompiledAgreesWithReference: for every rule of both profiles, the
// compiled engine and the reference give the same result — verdict,
// expected, observed, reason, message — on every run of
// differentialRuns (each of the ways the engine is used) and on every
// deviated run that TestEveryRuleCanFail makes (each rule's message
// mutated: headers dropped, doubled, their tokens and parameters changed,
// the envelope and the Cx AVPs edited; the ways in turn).
func TestCompiledAgreesWithReference(t *testing.T) {
	s := loadTS24206(t)
	var diffs []string
	report := func(d []string) {
		diffs = append(diffs, d...)
		if len(diffs) > 20 {
			t.Fatalf("the compiled engine and the reference disagree:\n%s", strings.Join(diffs, "\n"))
		}
	}
	runs, deviated := 0, 0
	for _, profile := range s.Profiles() {
		rules, _ := s.Rules(profile)
		prog := Compile(rules)
		for _, run := range differentialRuns(t) {
			report(agree(prog, rules, run, 0, 1, 2))
			runs++
		}
		for _, r := range rules {
			in := seedInput(profile)
			if r.Level == scenario.LevelTable && r.Table == "A.3.2.2-11" {
				in = seedForwarded()
			}
			// the rules that can see the mutation: those that read the
			// mutated message or compare with it
			seeing := readers(rules, r.Step, r.SameMessage)
			sprog := Compile(seeing)
			mutate(r, in, func(in Input) bool {
				deviated++
				// each way in turn: every way meets thousands of deviated runs
				report(agree(sprog, seeing, diffRun{profile + " " + r.ID + fmt.Sprintf(" mutation %d", deviated), in}, deviated%len(ways)))
				return false // every mutation
			})
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("the compiled engine and the reference disagree:\n%s", strings.Join(diffs, "\n"))
	}
	if runs < 100 || deviated < 1000 {
		t.Fatalf("only %d runs and %d deviated runs judged", runs, deviated)
	}
	t.Logf("%d runs (every rule of both profiles) and %d deviated runs (the rules that read the deviated message) agree", runs, deviated)
}

// readers are the rules that read the message of one of steps, or compare
// with it.
func readers(rules []scenario.Rule, steps ...string) []scenario.Rule {
	reads := func(r scenario.Rule) bool {
		for _, s := range steps {
			if s == "" {
				continue
			}
			if r.Step == s || r.SameMessage == s || r.Request == s {
				return true
			}
			if r.Ref != nil && (r.Ref.Step == s || r.Ref.Request == s || r.Ref.Of == s) {
				return true
			}
		}
		return false
	}
	var out []scenario.Rule
	for _, r := range rules {
		if reads(r) {
			out = append(out, r)
		}
	}
	return out
}

// FuzzCompiledAgreesWithReference feeds arbitrary bytes as the 200 OK of
// steps 10/14 and the REGISTER of step 7, and as the MAR of step 3: the
// compiled engine and the reference agree on every rule.
func FuzzCompiledAgreesWithReference(f *testing.F) {
	in := seedInput("a322")
	for _, step := range []string{"10", "7", "11", "5", "3.MAR"} {
		f.Add(in.Messages[step].Raw)
	}
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1\r\nContact: <sip:@:>;expires=x\r\n\r\n"))
	rules, _ := loadTS24206(f).Rules("a322")
	prog := Compile(rules)
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := seedInput("a322")
		m := trace.Message{Seq: 9, Transport: "UDP", Raw: raw}
		in.Messages["10"], in.Messages["14"], in.Messages["7"] = m, m, m
		d := in.Messages["3.MAR"]
		d.Raw = append([]byte(nil), raw...) // its own bytes: no run files one message as SIP and Diameter
		in.Messages["3.MAR"] = d
		for _, diff := range agree(prog, rules, diffRun{"fuzz", in}, 0, 1, 2) {
			t.Error(diff)
		}
	})
}
