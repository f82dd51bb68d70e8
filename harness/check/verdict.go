package check

import "imsconform/harness/scenario"

// Verdict follows the conformance-testing convention (TTCN-3).
type Verdict string

const (
	Pass   Verdict = "pass"   // the field is as the rule says
	Fail   Verdict = "fail"   // the field breaks the rule, or its message never came
	Inconc Verdict = "inconc" // could not be judged: input unusable
	None   Verdict = "none"   // not applicable under this profile or lab (e.g. sigcomp off)
	Error  Verdict = "error"  // the harness itself failed
)

// Severity orders verdicts so that a run's verdict is the worst of its rules'.
func (v Verdict) Severity() int {
	switch v {
	case Pass:
		return 1
	case Inconc:
		return 2
	case Fail:
		return 3
	case Error:
		return 4
	}
	return 0 // None
}

// Worst returns the most severe of vs (None when vs is empty).
func Worst(vs ...Verdict) Verdict {
	w := None
	for _, v := range vs {
		if v.Severity() > w.Severity() {
			w = v
		}
	}
	return w
}

// Result is the verdict of one rule in one run.
type Result struct {
	RuleID    string `json:"rule_id"`   // stable id, e.g. "A.3.2.2-5/WWW-Authenticate/algorithm"
	Table     string `json:"table"`     // e.g. "A.3.2.2-5"
	Step      string `json:"step"`      // flow step of the message, e.g. "5"
	Citation  string `json:"citation"`  // table or clause the rule rests on
	Statement string `json:"statement"` // what must hold, one line
	// Level is the rule's level from its source: must, should or table.
	Level    scenario.Level `json:"level"`
	Verdict  Verdict        `json:"verdict"`
	Expected string         `json:"expected"`
	Observed string         `json:"observed"`
	Reason   string         `json:"reason,omitempty"`
	MsgSeq   int            `json:"msg_seq,omitempty"` // trace.Message.Seq of the message judged, 0 if none
	// CountedAs is the id of the rule this one judges the same field of the
	// same message as (scenario.Rule.CountedAs); the field counts once,
	// there. "" for most rules.
	CountedAs string `json:"counted_as,omitempty"`
}

// Gates reports whether the result counts in a gate at level gate (exit
// code, JUnit failure): a must rule at every gate, a should rule at a should
// or table gate, a table rule at a table gate (scenario.Level.Within). A
// result of no level (made outside a scenario) counts as must. Every result
// is reported whatever it says.
func (r Result) Gates(gate scenario.Level) bool { return r.Level.Within(gate) }
