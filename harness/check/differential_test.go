package check

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	// Under IPsec, the ESP rules on messages and packets: as captured, and
	// with the P-CSCF's packets refused, renumbered and from another SA.
	for _, c := range []struct {
		name string
		edit edit
	}{
		{"as captured", func(*testing.T, *Input) {}},
		{"bad icv", refuse(0, "icv")},
		{"replayed", seqOf(0, 7)},
		{"no packets", func(_ *testing.T, in *Input) { in.Packets = nil }},
		{"step 7 in clear", func(_ *testing.T, in *Input) { m := in.Messages["7"]; m.ESP = nil; in.Messages["7"] = m }},
	} {
		in := seedInput("a322")
		in.Vars["ipsec"] = "true"
		c.edit(t, &in)
		runs = append(runs, diffRun{"ipsec " + c.name, in})
	}
	// Step 7 never sent: the SUT's messages that answer it were not due.
	notDue := seedInput("a322")
	for _, step := range []string{"7", "10", "14", "11", "13", "8.UAR", "9.SAR"} {
		delete(notDue.Messages, step)
		notDue.Missing[step] = "not sent: AUTN of the 401 failed verification"
	}
	notDue.NotDue = map[string]string{}
	for _, step := range []string{"10", "14", "11", "12", "8.UAR", "9.SAR"} {
		notDue.NotDue[step] = "not due: no REGISTER with a challenge response was sent"
	}
	delete(notDue.Facts, "12.accepted")
	runs = append(runs, diffRun{"step 7 not sent", notDue})
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
// compiled engine (a plan bound once, evaluated per UE or through an
// overlay, as the input's first byte says) and the reference agree on every
// rule that reads these messages, a group of at most 8 rules of one table
// at a time, the group chosen by the input's last byte. (The whole
// catalogue at once, and Evaluate, which compiles at each call, are
// TestCompiledAgreesWithReference's: the fuzzer needs many executions.)
func FuzzCompiledAgreesWithReference(f *testing.F) {
	base := seedInput("a322")
	for _, step := range []string{"10", "7", "11", "5", "3.MAR"} {
		f.Add(base.Messages[step].Raw)
	}
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1\r\nContact: <sip:@:>;expires=x\r\n\r\n"))
	all, _ := loadTS24206(f).Rules("a322")
	type table struct {
		rules []scenario.Rule
		plan  *Plan
		ov    *Overlay
	}
	var tables []*table
	for _, r := range rulesReading(all, "10", "14", "7", "3.MAR") {
		if n := len(tables); n == 0 || len(tables[n-1].rules) == 8 || tables[n-1].rules[0].Table != r.Table {
			tables = append(tables, &table{})
		}
		tb := tables[len(tables)-1]
		tb.rules = append(tb.rules, r)
	}
	for _, tb := range tables {
		tb.plan = Compile(tb.rules).Bind(base.Vars, perUE...)
		tb.ov = tb.plan.Overlay(base.Vars)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := base
		in.Messages = make(map[string]trace.Message, len(base.Messages))
		for k, v := range base.Messages {
			in.Messages[k] = v
		}
		m := trace.Message{Seq: 9, Transport: "UDP", Raw: raw}
		in.Messages["10"], in.Messages["14"], in.Messages["7"] = m, m, m
		tb := tables[0]
		if len(raw) > 0 {
			tb = tables[int(raw[len(raw)-1])%len(tables)]
			// Its own bytes: no run files one message as SIP and as
			// Diameter. (The reference reads every empty message, of
			// any protocol, as one, with the decoder of whichever step
			// comes first; the compiled engine reads each with its own.)
			d := in.Messages["3.MAR"]
			d.Raw = append([]byte(nil), raw...)
			in.Messages["3.MAR"] = d
		}
		// The plan per UE, or through its overlay, as the first byte says.
		way, got := "per UE", []Result(nil)
		if len(raw) > 0 && raw[0]&1 == 1 {
			way, got = "overlay", tb.ov.Evaluate(in)
		} else {
			got = tb.plan.Evaluate(in)
		}
		want := refEvaluate(tb.rules, in)
		if len(got) != len(want) {
			t.Fatalf("%s: %d results, the reference %d", way, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: %s:\n  compiled  %+v\n  reference %+v", way, tb.rules[i].ID, got[i], want[i])
			}
		}
	})
}

// ueRun is the seed's run as UE n of a load run sees it: its own
// identities (user%06d_...) and protected ports in the messages and the lab
// values, the rest of the run's values shared.
func ueRun(profile string, n int) Input {
	in := seedInput(profile)
	id := fmt.Sprintf("ue%06d_", n)
	portC, portS := strconv.Itoa(20000+2*n), strconv.Itoa(20001+2*n)
	edit := func(s string) string {
		s = strings.ReplaceAll(s, "user1_", id)
		s = strings.ReplaceAll(s, "port-c=2468", "port-c="+portC)
		s = strings.ReplaceAll(s, "port-s=1357", "port-s="+portS)
		return strings.ReplaceAll(s, "]:1357", "]:"+portS)
	}
	for step, m := range in.Messages {
		if m.Proto == trace.SIP {
			m.Raw = []byte(edit(string(m.Raw)))
			in.Messages[step] = m
		}
	}
	in.Messages["14"] = in.Messages["10"]
	for k, v := range in.Vars {
		in.Vars[k] = edit(v)
	}
	for k, v := range in.Facts {
		in.Facts[k] = edit(v)
	}
	in.Vars["ue_port_c"], in.Vars["ue_port_s"] = portC, portS
	return in
}

// TestPerUEValues: a plan bound once to the run's lab values, with the
// UE's identities and ports open, judges each UE's run — its own IMPU,
// IMPI and ports in the messages and in Input.Vars — exactly as the
// reference judges that run with that UE's values, through Evaluate and
// through an Overlay; and a plan that binds the run's values for every
// variable judges the UE's run against the run's, as it must.
func TestPerUEValues(t *testing.T) {
	rules, _ := loadTS24206(t).Rules("a322")
	run := seedInput("a322")
	plan := Compile(rules).Bind(run.Vars, perUE...)
	fixed := Compile(rules).Bind(run.Vars)
	for _, n := range []int{1, 42, 4711} {
		in := ueRun("a322", n)
		want := refEvaluate(rules, in)
		for how, got := range map[string][]Result{"Evaluate": plan.Evaluate(in), "Overlay": plan.Overlay(in.Vars).Evaluate(in)} {
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("UE %d, %s: %s:\n  plan      %+v\n  reference %+v", n, how, rules[i].ID, got[i], want[i])
				}
			}
		}
		passed, other := 0, 0
		for i, r := range fixed.Evaluate(in) {
			if want[i].Verdict == Pass {
				passed++
				if r.Verdict != Pass {
					other++
				}
			}
		}
		t.Logf("UE %d: %d rules pass; %d of them fail against the run's identities", n, passed, other)
		if other < 10 {
			t.Errorf("UE %d: judged with the run's identities for every variable, only %d of the %d rules that pass fail: the UE's values are not what the rules read", n, other, passed)
		}
	}
}

// TestPlanConcurrent: one plan judges many UEs' runs at once, as a load
// run does, each result what the same UE's run gets alone (run with -race
// to see that nothing is shared that should not be).
func TestPlanConcurrent(t *testing.T) {
	rules, _ := loadTS24206(t).Rules("a322")
	plan := Compile(rules).Bind(seedInput("a322").Vars, perUE...)
	const ues = 8
	want := make([][]Result, ues)
	for n := range want {
		want[n] = plan.Evaluate(ueRun("a322", n))
	}
	errs := make(chan string, ues)
	for n := 0; n < ues; n++ {
		go func() {
			in := ueRun("a322", n)
			ov := plan.Overlay(in.Vars)
			var res []Result
			for i := 0; i < 20; i++ {
				if i%2 == 0 {
					res = plan.AppendResults(res[:0], in)
				} else {
					res = ov.AppendResults(res[:0], in)
				}
				for j := range res {
					if res[j] != want[n][j] {
						errs <- fmt.Sprintf("UE %d, evaluation %d: %s: %+v, alone %+v", n, i, rules[j].ID, res[j], want[n][j])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for n := 0; n < ues; n++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
