package check

import (
	"maps"
	"slices"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// rulesReading returns the rules that read one of steps: on their own
// message, the request it answers, the step carrying the same message, or
// the one they compare with. A fuzz target judges only those: the other
// rules would judge the same seed messages in every execution.
func rulesReading(rules []scenario.Rule, steps ...string) []scenario.Rule {
	var out []scenario.Rule
	for _, r := range rules {
		if slices.Contains(steps, r.Step) || slices.Contains(steps, r.SameMessage) || slices.Contains(steps, r.Request) ||
			(r.Ref != nil && slices.Contains(steps, r.Ref.Step)) {
			out = append(out, r)
		}
	}
	return out
}

// fuzzEvaluate judges the rules of plan with raw as the message of steps
// (the rest of the seed run as it is) and fails unless every rule yields one
// verdict. The plan is compiled and bound once, outside the fuzz loop, as a
// run's is.
func fuzzEvaluate(t *testing.T, plan *Plan, rules []scenario.Rule, seed Input, m trace.Message, steps ...string) {
	in := seed
	in.Messages = maps.Clone(seed.Messages)
	for _, s := range steps {
		in.Messages[s] = m
	}
	res := plan.Evaluate(in)
	if len(res) != len(rules) {
		t.Fatalf("%d results for %d rules", len(res), len(rules))
	}
	for _, r := range res {
		if r.Verdict.Severity() == 0 && r.Verdict != None {
			t.Fatalf("%s: no verdict", r.RuleID)
		}
	}
}

// FuzzEvaluate feeds arbitrary bytes as the 200 OK of steps 10/14 and the
// REGISTER of step 7: every rule that reads them must still yield one
// verdict, never panic.
func FuzzEvaluate(f *testing.F) {
	seed := seedInput("a322")
	f.Add(seed.Messages["10"].Raw)
	f.Add(seed.Messages["7"].Raw)
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1\r\nContact: <sip:@:>;expires=x\r\n\r\n"))
	s := loadTS24206(f)
	all, _ := s.Rules("a322")
	steps := []string{"10", "14", "7"}
	rules := rulesReading(all, steps...)
	plan := Compile(rules).Bind(seed.Vars)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzEvaluate(t, plan, rules, seed, trace.Message{Seq: 9, Transport: "UDP", Raw: raw}, steps...)
	})
}

// FuzzEvaluateDiameter feeds arbitrary bytes as the Cx requests of steps
// 3.MAR and 9.SAR: every Diameter rule that reads them must still yield one
// verdict, never panic.
func FuzzEvaluateDiameter(f *testing.F) {
	seed := seedInput("a322")
	f.Add(seed.Messages["3.MAR"].Raw)
	f.Add(seed.Messages["9.SAR"].Raw)
	f.Add(seed.Messages["3.UAR"].Raw[:24])
	steps := []string{"3.MAR", "9.SAR"}
	rules := rulesReading(cxRules(f, "a322"), steps...)
	plan := Compile(rules).Bind(seed.Vars)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := seed.Messages["3.MAR"]
		m.Raw = raw
		fuzzEvaluate(t, plan, rules, seed, m, steps...)
	})
}

// BenchmarkTable judges the rules of one table against the seed's run,
// compiled when the scenario loads and bound once to the run's lab values,
// as a conformance or load run does.
func BenchmarkTable(b *testing.B) {
	s := loadTS24206(b)
	rules, _ := s.Rules("a322")
	for _, table := range benchTables {
		var rs = rules[:0:0]
		for _, r := range rules {
			if r.Table == table {
				rs = append(rs, r)
			}
		}
		in := seedInput("a322")
		plan := Compile(rs).Bind(in.Vars)
		b.Run(table, func(b *testing.B) {
			for b.Loop() {
				_ = plan.Evaluate(in)
			}
		})
	}
}
