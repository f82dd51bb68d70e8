package check

import (
	"testing"
)

// benchTables are the scenario's tables, SIP and Cx.
var benchTables = []string{"A.3.2.2-2", "A.3.2.2-5", "A.3.2.2-7", "A.3.2.2-10", "A.3.2.2-11", "A.3.2.2-13", "A.3.2.2-14",
	"Cx-3-UAR", "Cx-3-MAR", "Cx-8-UAR", "Cx-9-SAR"}

// perUE are the lab values that differ from one UE to the next in a load
// run: its identities and its ports.
var perUE = []string{"impu", "impus", "tel_impu", "impi", "ue_port", "ue_port_c", "ue_port_s", "ue_spi_c", "ue_spi_s"}

// BenchmarkRegistration judges every rule of profile a322 (every table of
// one registration, SIP and Cx) against the seed's run: what checking one
// registration costs a conformance run or a load run.
func BenchmarkRegistration(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	plan := Compile(rules).Bind(in.Vars)
	for b.Loop() {
		_ = plan.Evaluate(in)
	}
}

// BenchmarkRegistrationPerUE is BenchmarkRegistration with the UE's
// identities and ports open in the plan, as a load run binds them: each
// evaluation fills them from its Input.Vars.
func BenchmarkRegistrationPerUE(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	plan := Compile(rules).Bind(in.Vars, perUE...)
	for b.Loop() {
		_ = plan.Evaluate(in)
	}
}

// BenchmarkRegistrationOverlay is BenchmarkRegistrationPerUE with the
// UE's values bound once for the UE (an Overlay), as a load run holds
// them for a UE that re-registers.
func BenchmarkRegistrationOverlay(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	ov := Compile(rules).Bind(in.Vars, perUE...).Overlay(in.Vars)
	for b.Loop() {
		_ = ov.Evaluate(in)
	}
}

// BenchmarkEvaluate is the one-shot Evaluate(rules, in) of a whole
// registration: compile, bind and evaluate, as harness/run does once per
// run.
func BenchmarkEvaluate(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	for b.Loop() {
		_ = Evaluate(rules, in)
	}
}

// BenchmarkCompile compiles the rules of profile a322 and binds them to
// the seed's lab values: what a run does once before it evaluates.
func BenchmarkCompile(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	for b.Loop() {
		_ = Compile(rules).Bind(in.Vars)
	}
}

// BenchmarkOverlay binds the rules that read the UE's identities and ports
// to one UE's values: what a load run spends, once, on each UE it holds
// (B/op is what an overlay keeps).
func BenchmarkOverlay(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	plan := Compile(rules).Bind(in.Vars, perUE...)
	for b.Loop() {
		_ = plan.Overlay(in.Vars)
	}
}

// BenchmarkRegistrationReuse is BenchmarkRegistration with the results
// written into the same slice each time (AppendResults), as a load run that
// aggregates them per rule does.
func BenchmarkRegistrationReuse(b *testing.B) {
	rules, _ := loadTS24206(b).Rules("a322")
	in := seedInput("a322")
	plan := Compile(rules).Bind(in.Vars)
	var res []Result
	for b.Loop() {
		res = plan.AppendResults(res[:0], in)
	}
}
