package check

import (
	"testing"

	"imsconform/harness/trace"
)

// FuzzEvaluate feeds arbitrary bytes as the 200 OK of steps 10/14 and the
// REGISTER of step 7: every rule must still yield one verdict, never panic.
func FuzzEvaluate(f *testing.F) {
	in := seedInput("a322")
	f.Add(in.Messages["10"].Raw)
	f.Add(in.Messages["7"].Raw)
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1\r\nContact: <sip:@:>;expires=x\r\n\r\n"))
	s := loadTS24206(f)
	rules, _ := s.Rules("a322")
	plan := Compile(rules).Bind(in.Vars)
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := seedInput("a322")
		m := trace.Message{Seq: 9, Transport: "UDP", Raw: raw}
		in.Messages["10"], in.Messages["14"], in.Messages["7"] = m, m, m
		res := plan.Evaluate(in)
		if len(res) != len(rules) {
			t.Fatalf("%d results for %d rules", len(res), len(rules))
		}
		for _, r := range res {
			if r.Verdict.Severity() == 0 && r.Verdict != None {
				t.Fatalf("%s: no verdict", r.RuleID)
			}
		}
	})
}

// FuzzEvaluateDiameter feeds arbitrary bytes as the Cx requests of steps
// 3.MAR and 9.SAR: every Diameter rule must still yield one verdict, never
// panic.
func FuzzEvaluateDiameter(f *testing.F) {
	in := seedInput("a322")
	f.Add(in.Messages["3.MAR"].Raw)
	f.Add(in.Messages["9.SAR"].Raw)
	f.Add(in.Messages["3.UAR"].Raw[:24])
	rules := cxRules(f, "a322")
	plan := Compile(rules).Bind(in.Vars)
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := seedInput("a322")
		m := in.Messages["3.MAR"]
		m.Raw = raw
		in.Messages["3.MAR"], in.Messages["9.SAR"] = m, m
		res := plan.Evaluate(in)
		if len(res) != len(rules) {
			t.Fatalf("%d results for %d rules", len(res), len(rules))
		}
		for _, r := range res {
			if r.Verdict.Severity() == 0 && r.Verdict != None {
				t.Fatalf("%s: no verdict", r.RuleID)
			}
		}
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
