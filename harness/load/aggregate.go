package load

import (
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
	"imsconform/reports"
)

// DefaultKeepFailures is how many failing UEs each rule keeps, the first
// ones.
const DefaultKeepFailures = 5

// maxFailureText bounds an expected, observed or reason text a failure
// keeps (the SUT's values can be long); the reports escape them.
const maxFailureText = 1024

// RuleTally is one rule's verdicts over the judged registrations, and the
// first UEs it failed for.
type RuleTally struct {
	RuleID    string         `json:"rule_id"`
	Table     string         `json:"table"`
	Step      string         `json:"step"`
	Statement string         `json:"statement"`
	Citation  string         `json:"citation"`
	Level     scenario.Level `json:"level"`
	CountedAs string         `json:"counted_as,omitempty"`

	Pass   int64 `json:"pass"`
	Fail   int64 `json:"fail"`
	Inconc int64 `json:"inconc"`
	None   int64 `json:"none"`
	Error  int64 `json:"error"`
	// Gating counts the results that gate at the run's gate (a fail or
	// error at its level; an inconc with fail-on-inconc); Expected those
	// whose verdict an expectations file expects (Options.Expected): known,
	// shown, not gating.
	Gating   int64 `json:"gating"`
	Expected int64 `json:"expected,omitempty"`
	// First are the first registrations the rule did not pass for (fail,
	// error or inconc), earliest first.
	First []Failure `json:"first_failures,omitempty"`
}

// Failure is one registration a rule did not pass for.
type Failure struct {
	UE       int           `json:"ue"` // the subscriber's number (in its identities)
	IMPI     string        `json:"impi"`
	At       time.Time     `json:"at"` // when the schedule started the registration
	Verdict  check.Verdict `json:"verdict"`
	Expected string        `json:"expected"`
	Observed string        `json:"observed"`
	Reason   string        `json:"reason,omitempty"`
}

// Judged is the number of registrations the rule was judged on.
func (r *RuleTally) Judged() int64 { return r.Pass + r.Fail + r.Inconc + r.None + r.Error }

// Verdict is the rule's verdict over the run: the worst any registration
// got (error, fail, inconc, pass, none in that order), as a conformance
// run's verdict is the worst of its rules'.
func (r *RuleTally) Verdict() check.Verdict {
	switch {
	case r.Error > 0:
		return check.Error
	case r.Fail > 0:
		return check.Fail
	case r.Inconc > 0:
		return check.Inconc
	case r.Pass > 0:
		return check.Pass
	}
	return check.None
}

// Result is the rule's result over the run as the conformance reports and
// the gate take it: its verdict, with the first failure's expected and
// observed and a reason that counts the registrations.
func (r *RuleTally) Result() check.Result {
	res := check.Result{RuleID: r.RuleID, Table: r.Table, Step: r.Step, Citation: r.Citation, Statement: r.Statement,
		Level: r.Level, CountedAs: r.CountedAs, Verdict: r.Verdict()}
	if len(r.First) > 0 {
		f := r.First[0]
		res.Expected, res.Observed = f.Expected, f.Observed
		res.Reason = fmt.Sprintf("%d of %d registrations did not pass (%d fail, %d error, %d inconc); the first, UE %s: %s",
			r.Fail+r.Error+r.Inconc, r.Judged(), r.Fail, r.Error, r.Inconc, f.IMPI, f.Reason)
	} else if r.Verdict() == check.Pass {
		res.Reason = fmt.Sprintf("%d of %d registrations passed", r.Pass, r.Judged())
	}
	return res
}

// tally is the RuleTally of every rule, updated by the judges.
type tally struct {
	mu       sync.Mutex
	rules    []RuleTally
	keep     int
	gate     *reports.Gate
	expected []check.Verdict // per rule, the verdict the expectations expect ("" for none)
}

func newTally(rules []scenario.Rule, keep int, gate *reports.Gate, expected map[string]check.Verdict) *tally {
	t := &tally{rules: make([]RuleTally, len(rules)), keep: keep, gate: gate, expected: make([]check.Verdict, len(rules))}
	for i, r := range rules {
		t.expected[i] = expected[r.ID]
	}
	for i, r := range rules {
		t.rules[i] = RuleTally{RuleID: r.ID, Table: r.Table, Step: r.Step, Statement: r.Statement, Citation: r.Citation, Level: r.Level, CountedAs: r.CountedAs}
	}
	return t
}

// add counts one registration's results (in the order of the rules) and
// reports whether any of them gates: the registration's fields fail.
func (t *tally) add(ue int, impi string, at time.Time, results []check.Result) (gating bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range results {
		if i >= len(t.rules) {
			break
		}
		res, r := &results[i], &t.rules[i]
		switch res.Verdict {
		case check.Pass:
			r.Pass++
			continue
		case check.None:
			r.None++
			continue
		case check.Fail:
			r.Fail++
		case check.Inconc:
			r.Inconc++
		default:
			r.Error++
		}
		if e := t.expected[i]; e != "" && e == res.Verdict {
			r.Expected++
		} else if st, _ := t.gate.Judge(*res); st == reports.Gating {
			r.Gating++
			gating = true
		}
		keepEarliest(&r.First, t.keep, at, func() Failure {
			return Failure{UE: ue, IMPI: impi, At: at, Verdict: res.Verdict, Expected: cut(res.Expected), Observed: cut(res.Observed), Reason: cut(res.Reason)}
		})
	}
	return gating
}

// snapshot copies the tallies.
func (t *tally) snapshot() []RuleTally {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RuleTally, len(t.rules))
	for i, r := range t.rules {
		out[i] = r
		out[i].First = append([]Failure(nil), r.First...)
	}
	return out
}

// mergeRules adds the tallies of b to a, rule by rule (matched by id; a
// rule only b has is added), keeping the first keep failures of both by
// time.
func mergeRules(a, b []RuleTally, keep int) []RuleTally {
	at := make(map[string]int, len(a))
	for i, r := range a {
		at[r.RuleID] = i
	}
	for _, r := range b {
		i, ok := at[r.RuleID]
		if !ok {
			at[r.RuleID] = len(a)
			a = append(a, r)
			continue
		}
		x := &a[i]
		x.Pass += r.Pass
		x.Fail += r.Fail
		x.Inconc += r.Inconc
		x.None += r.None
		x.Error += r.Error
		x.Gating += r.Gating
		x.Expected += r.Expected
		x.First = append(x.First, r.First...)
		sort.SliceStable(x.First, func(i, j int) bool { return x.First[i].At.Before(x.First[j].At) })
		if len(x.First) > keep {
			x.First = x.First[:keep]
		}
	}
	return a
}

// cut bounds a text a failure keeps.
func cut(s string) string {
	if len(s) <= maxFailureText {
		return s
	}
	s = s[:maxFailureText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// keepEarliest keeps in fs the keep failures of the earliest registrations
// (by their start), earliest first, whatever order they are judged in:
// make makes the one of a registration that started at at.
func keepEarliest(fs *[]Failure, keep int, at time.Time, make func() Failure) {
	f := *fs
	if len(f) >= keep && !at.Before(f[len(f)-1].At) {
		return
	}
	i := sort.Search(len(f), func(i int) bool { return at.Before(f[i].At) })
	if len(f) < keep {
		f = append(f, Failure{})
	}
	copy(f[i+1:], f[i:])
	f[i] = make()
	*fs = f
}
