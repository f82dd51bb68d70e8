// Package expect reads an expectations file — the known results of one SUT,
// reviewed like code — and classifies a run's verdicts against it, so that a
// release gate can wave through what is known and waived and still stop on
// everything else.
//
// An expectations file lists entries keyed by stable rule id (or a glob over
// ids, "A.3.2.2-11/Via/*"), each with the verdict the SUT is known to get, the
// reason, an optional ticket, an optional expiry date and an optional scope
// (profile, SUT name, SUT version). Applied to a run:
//
//   - a rule whose verdict equals its entry's is Expected: shown, not gating;
//   - a rule an entry covers whose verdict now differs is Differs: it gates
//     as any other rule would (a pass does not gate, of course);
//   - a rule whose entry has expired is Expired: the entry no longer waives;
//   - a rule an entry covers whose verdict is now neither the entry's nor
//     pass is a problem, and gates;
//   - an entry that waives nothing in the run (it matched no rule, or every
//     rule it matched now passes) is stale, and gates unless the caller only
//     warns;
//   - an entry may name the rule's level, and a rule whose level moved is a
//     problem (the waiver is reviewed);
//   - with Options.Strict the file is the whole truth: a rule no entry
//     covers must pass (a lab's known results);
//   - an entry that expires within a week is named in the warnings;
//   - rules_in_scope, when given, pins the number of rules the run judged,
//     so that a scenario change that silently drops rules gates.
//
// It decides what is waived, not what gates on its own: harness/run combines
// it with the rule levels (must, should, table) and the verdicts.
package expect

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"imsconform/harness/check"
	"imsconform/harness/yamldoc"
)

// ExpiryWarning is how long before its expiry an entry is named in the
// warnings.
const ExpiryWarning = 7 * 24 * time.Hour

// File is a loaded expectations file.
type File struct {
	Name string // the path it was read from
	// Scope limits the runs the whole file applies to; the zero Scope
	// applies to every run.
	Scope Scope
	// RulesInScope pins the number of rules the run judged; 0 means not
	// pinned.
	RulesInScope int
	Entries      []Entry
}

// Scope names runs: each field that is set must match (profile, SUT name
// and transport exactly, version as a glob, e.g. "5.6.*").
type Scope struct {
	Profile   string `yaml:"profile"`
	SUT       string `yaml:"sut"`
	Version   string `yaml:"version"`
	Transport string `yaml:"transport"` // udp or tcp
}

// Entry is one known result.
type Entry struct {
	Rule    string        // a rule id or a glob over rule ids (path.Match syntax: * does not cross "/")
	Verdict check.Verdict // the verdict the SUT is known to get
	// Level, when set, is the level the rule is known to have (must,
	// should, table): a rule whose level moved is a problem, so that a
	// waiver written for a should is reviewed when the rule becomes a must.
	Level   string
	Reason  string
	Ticket  string
	Expires time.Time // the last day the entry waives, in UTC; zero = no expiry
	Scope   Scope
	Line    int // where it is written
}

// Where is "file:line" of the entry.
func (e Entry) Where(f *File) string { return fmt.Sprintf("%s:%d", f.Name, e.Line) }

func (e Entry) glob() bool { return strings.ContainsAny(e.Rule, "*?[") }

type fileDoc struct {
	Scope        Scope      `yaml:"scope"`
	RulesInScope int        `yaml:"rules_in_scope"`
	Expectations []entryDoc `yaml:"expectations"`
}

type entryDoc struct {
	Rule    string `yaml:"rule"`
	Verdict string `yaml:"verdict"`
	Level   string `yaml:"level"`
	Reason  string `yaml:"reason"`
	Ticket  string `yaml:"ticket"`
	Expires string `yaml:"expires"`
	Scope   Scope  `yaml:"scope"`
}

// Load reads an expectations file.
func Load(name string) (*File, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%s: expected a readable expectations file, saw %v", name, err)
	}
	return Parse(name, data)
}

// Parse reads an expectations file already in memory; name is used in errors.
func Parse(name string, data []byte) (*File, error) {
	var doc fileDoc
	root, err := yamldoc.Decode(name, "expectations", data, &doc)
	if err != nil {
		return nil, err
	}
	f := &File{Name: name, Scope: doc.Scope, RulesInScope: doc.RulesInScope}
	at := func(line int) string { return fmt.Sprintf("%s:%d", name, line) }
	if err := checkScope(doc.Scope); err != nil {
		return nil, fmt.Errorf("%s: scope: %v", at(lineOfKey(root, "scope")), err)
	}
	if doc.RulesInScope < 0 {
		return nil, fmt.Errorf("%s: rules_in_scope: expected a number of rules above 0, saw %d", at(lineOfKey(root, "rules_in_scope")), doc.RulesInScope)
	}
	items := yamldoc.Items(root, "expectations")
	if len(doc.Expectations) == 0 && doc.RulesInScope == 0 {
		return nil, fmt.Errorf("%s: expected a list of expectations (or rules_in_scope), saw none", at(root.Line))
	}
	for i, d := range doc.Expectations {
		line := yamldoc.Line(items, i, root)
		e, err := entry(d, line)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", at(line), err)
		}
		f.Entries = append(f.Entries, e)
	}
	return f, nil
}

func lineOfKey(m *yaml.Node, key string) int {
	if v := yamldoc.Value(m, key); v != nil {
		return v.Line
	}
	return m.Line
}

var verdicts = []check.Verdict{check.Fail, check.Inconc, check.None, check.Error}

func entry(d entryDoc, line int) (Entry, error) {
	e := Entry{Rule: strings.TrimSpace(d.Rule), Verdict: check.Verdict(d.Verdict), Level: d.Level, Reason: strings.TrimSpace(d.Reason),
		Ticket: strings.TrimSpace(d.Ticket), Scope: d.Scope, Line: line}
	if e.Rule == "" {
		return e, fmt.Errorf("expected a rule id or glob (rule:), saw none")
	}
	if _, err := path.Match(e.Rule, ""); err != nil {
		return e, fmt.Errorf("rule: expected a rule id or a glob such as A.3.2.2-11/Via/*, saw %q: %v", e.Rule, err)
	}
	known := false
	for _, v := range verdicts {
		known = known || e.Verdict == v
	}
	if !known {
		if e.Verdict == check.Pass {
			return e, fmt.Errorf("verdict: expected fail, inconc, none or error (a rule that passes needs no entry), saw pass")
		}
		return e, fmt.Errorf("verdict: expected fail, inconc, none or error, saw %q", d.Verdict)
	}
	switch e.Level {
	case "", "must", "should", "table":
	default:
		return e, fmt.Errorf("level: expected must, should or table, saw %q", d.Level)
	}
	if e.Reason == "" {
		return e, fmt.Errorf("reason: expected why %s gets %s (a waiver without a reason is not reviewable), saw none", e.Rule, e.Verdict)
	}
	if d.Expires != "" {
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(d.Expires))
		if err != nil {
			return e, fmt.Errorf("expires: expected a date YYYY-MM-DD, saw %q", d.Expires)
		}
		e.Expires = t
	}
	if err := checkScope(d.Scope); err != nil {
		return e, fmt.Errorf("scope: %v", err)
	}
	return e, nil
}

func checkScope(s Scope) error {
	switch s.Transport {
	case "", "udp", "tcp":
	default:
		return fmt.Errorf("transport: expected udp or tcp, saw %q", s.Transport)
	}
	if _, err := path.Match(s.Version, ""); err != nil {
		return fmt.Errorf("version: expected a version or a glob such as 5.6.*, saw %q", s.Version)
	}
	return nil
}

// Run is what the classification needs to know of a run.
type Run struct {
	Profile    string
	SUT        string // the lab's sut.name ("" when not given)
	SUTVersion string // the lab's sut.version
	Transport  string // udp or tcp
	Today      time.Time
}

func (s Scope) matches(r Run) bool {
	if s.Profile != "" && s.Profile != r.Profile {
		return false
	}
	if s.SUT != "" && !strings.EqualFold(s.SUT, r.SUT) {
		return false
	}
	if s.Version != "" {
		if ok, _ := path.Match(s.Version, r.SUTVersion); !ok {
			return false
		}
	}
	if s.Transport != "" && !strings.EqualFold(s.Transport, r.Transport) {
		return false
	}
	return true
}

func (s Scope) String() string {
	var p []string
	if s.Profile != "" {
		p = append(p, "profile "+s.Profile)
	}
	if s.SUT != "" {
		p = append(p, "sut "+s.SUT)
	}
	if s.Version != "" {
		p = append(p, "version "+s.Version)
	}
	if s.Transport != "" {
		p = append(p, "transport "+s.Transport)
	}
	if len(p) == 0 {
		return "every run"
	}
	return strings.Join(p, ", ")
}

// Class is how a rule stands against the expectations.
type Class string

const (
	Unlisted Class = ""         // no entry covers it
	Expected Class = "expected" // its verdict is its entry's: shown, not gating
	Differs  Class = "differs"  // an entry covers it and the verdict differs from the entry's
	Expired  Class = "expired"  // its entry has expired and no longer waives
)

// RuleOutcome is one rule against the expectations.
type RuleOutcome struct {
	RuleID string
	Class  Class
	Entry  *Entry // the entry that covers it; nil when Unlisted
	Why    string // one line for people, e.g. "expected fail: <reason> (ticket)"
}

// EntryStatus is one entry against the run.
type EntryStatus struct {
	Entry
	InScope     bool // the entry's scope matches the run
	Matched     int  // rules it covers in the run
	Waived      int  // rules it waived (Expected)
	Differed    int  // rules it covers whose verdict is neither its own nor pass
	Stale       bool // in scope and waives nothing: it matched no rule, or none of them has its verdict any more
	Expired     bool
	ExpiresSoon bool // not expired, but within ExpiryWarning of its expiry
}

// Outcome is a run classified against an expectations file.
type Outcome struct {
	File    *File
	InScope bool // the file's scope matches the run
	Rules   []RuleOutcome
	Entries []EntryStatus
	// RulesJudged is the number of rules the run judged; RulesPinned the
	// file's rules_in_scope (0 when not pinned).
	RulesJudged, RulesPinned int
	// Problems gate the run on their own: the file does not apply to this
	// run, a stale entry, the number of rules differs from the pin. Each is
	// one line naming file:line.
	Problems []string
	// Warnings do not gate: entries that expire soon, stale entries when
	// the caller only warns about them.
	Warnings []string
	byID     map[string]int
}

// Options change how Apply judges.
type Options struct {
	// StaleWarnOnly turns stale entries from problems into warnings.
	StaleWarnOnly bool
	// Strict makes the file the whole truth: a rule no entry covers must
	// pass, or it is a problem (a lab's known results, compared exactly).
	Strict bool
}

// Apply classifies every result against f. A result's entry is the first
// entry in file order, in scope, whose rule is the result's id exactly; else
// the first whose glob matches.
func Apply(f *File, results []check.Result, run Run, opts Options) *Outcome {
	o := &Outcome{File: f, RulesJudged: len(results), byID: make(map[string]int, len(results))}
	if f == nil {
		for _, r := range results {
			o.add(RuleOutcome{RuleID: r.RuleID})
		}
		return o
	}
	o.RulesPinned = f.RulesInScope
	o.InScope = f.Scope.matches(run)
	if !o.InScope {
		o.Problems = append(o.Problems, fmt.Sprintf("%s: the expectations are for %s; this run is profile %s, sut %q version %q",
			f.Name, f.Scope, run.Profile, run.SUT, run.SUTVersion))
	}
	today := run.Today.UTC().Truncate(24 * time.Hour)
	o.Entries = make([]EntryStatus, len(f.Entries))
	for i, e := range f.Entries {
		st := EntryStatus{Entry: e, InScope: o.InScope && e.Scope.matches(run)}
		if !e.Expires.IsZero() {
			st.Expired = today.After(e.Expires)
			st.ExpiresSoon = !st.Expired && !today.Add(ExpiryWarning).Before(e.Expires)
		}
		o.Entries[i] = st
	}
	for _, r := range results {
		i := o.entryFor(r.RuleID)
		if i < 0 {
			o.add(RuleOutcome{RuleID: r.RuleID})
			if opts.Strict && r.Verdict != check.Pass {
				o.Problems = append(o.Problems, fmt.Sprintf("%s: %s gets %s and no expectation covers it, so it must pass (observed %q%s)", f.Name, r.RuleID, r.Verdict, r.Observed, because(r.Reason)))
			}
			continue
		}
		st := &o.Entries[i]
		st.Matched++
		ro := RuleOutcome{RuleID: r.RuleID, Entry: &f.Entries[i]}
		switch {
		case st.Expired:
			ro.Class = Expired
			ro.Why = fmt.Sprintf("the expectation %s (%s) expired on %s and no longer waives it", st.Where(f), st.Verdict, st.Expires.Format(time.DateOnly))
		case r.Verdict == st.Verdict:
			ro.Class = Expected
			st.Waived++
			ro.Why = "expected " + string(st.Verdict) + ": " + st.Reason
			if st.Ticket != "" {
				ro.Why += " (" + st.Ticket + ")"
			}
		default:
			ro.Class = Differs
			ro.Why = fmt.Sprintf("the expectation %s says %s, the run says %s", st.Where(f), st.Verdict, r.Verdict)
			if r.Verdict != check.Pass {
				st.Differed++
				o.Problems = append(o.Problems, fmt.Sprintf("%s: %s: %s (observed %q%s)", st.Where(f), r.RuleID, ro.Why, r.Observed, because(r.Reason)))
			}
		}
		if st.Level != "" && string(r.Level) != st.Level && r.Verdict != check.Pass {
			o.Problems = append(o.Problems, fmt.Sprintf("%s: %s: the expectation is for a rule of level %s, the rule's level is now %q: review it", st.Where(f), r.RuleID, st.Level, r.Level))
		}
		o.add(ro)
	}
	for i := range o.Entries {
		st := &o.Entries[i]
		if !st.InScope {
			continue
		}
		if st.Expired {
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s: %s expired on %s: it no longer waives", st.Where(f), st.Rule, st.Expires.Format(time.DateOnly)))
			continue
		}
		if st.ExpiresSoon {
			when := "today (the last day it waives)"
			if days := int(st.Expires.Sub(today).Hours() / 24); days > 0 {
				when = fmt.Sprintf("in %d day%s", days, plural(days))
			}
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s: %s expires on %s — %s: fix it or renew the waiver", st.Where(f), st.Rule, st.Expires.Format(time.DateOnly), when))
		}
		if st.Waived > 0 || st.Differed > 0 {
			continue // it waives something, or its rules' new verdicts are already problems
		}
		st.Stale = true
		why := fmt.Sprintf("%s: %s is stale: no rule of this run matches it", st.Where(f), st.Rule)
		if st.Matched > 0 {
			why = fmt.Sprintf("%s: %s is stale: it expects %s and none of the %d rule%s it covers gets that any more", st.Where(f), st.Rule, st.Verdict, st.Matched, plural(st.Matched))
		}
		if opts.StaleWarnOnly {
			o.Warnings = append(o.Warnings, why)
		} else {
			o.Problems = append(o.Problems, why)
		}
	}
	if f.RulesInScope > 0 && f.RulesInScope != len(results) {
		o.Problems = append(o.Problems, fmt.Sprintf("%s: rules_in_scope is %d, this run judged %d rules: the catalogue changed (review the scenario change, then the pin)",
			f.Name, f.RulesInScope, len(results)))
	}
	return o
}

func (o *Outcome) entryFor(id string) int {
	glob := -1
	for i, st := range o.Entries {
		if !st.InScope {
			continue
		}
		if st.Rule == id {
			return i
		}
		if glob < 0 && st.glob() {
			if ok, _ := path.Match(st.Rule, id); ok {
				glob = i
			}
		}
	}
	return glob
}

func (o *Outcome) add(r RuleOutcome) {
	o.byID[r.RuleID] = len(o.Rules)
	o.Rules = append(o.Rules, r)
}

// Rule returns the outcome of one rule (Unlisted when the run had no such
// rule).
func (o *Outcome) Rule(id string) RuleOutcome {
	if o == nil {
		return RuleOutcome{RuleID: id}
	}
	if i, ok := o.byID[id]; ok {
		return o.Rules[i]
	}
	return RuleOutcome{RuleID: id}
}

// Waived reports whether the rule's verdict is expected, so that it does not
// gate.
func (o *Outcome) Waived(id string) bool { return o.Rule(id).Class == Expected }

// Count returns how many rules are in each class.
func (o *Outcome) Count() map[Class]int {
	c := map[Class]int{}
	for _, r := range o.Rules {
		c[r.Class]++
	}
	return c
}

// Stale returns the stale entries, in file order.
func (o *Outcome) Stale() []EntryStatus {
	var out []EntryStatus
	for _, st := range o.Entries {
		if st.Stale {
			out = append(out, st)
		}
	}
	return out
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
