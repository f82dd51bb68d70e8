// Package rundiff compares two conformance runs rule by rule — release N and
// release N+1 of a SUT, or one SUT under two profiles — from their
// report.json files, and classifies every rule: still pass, fixed, regressed,
// new fail, still fail, new rule, removed rule, or another change of verdict,
// with changes of rule level shown beside. It says when the rule catalogue
// changed between the two runs (rules are matched by their stable id across
// scenario versions), and renders the comparison as a table, diff.json and a
// self-contained diff.html.
//
// It reads reports only; it runs nothing and judges nothing anew.
package rundiff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Report is the part of a report.json (reports/SCHEMA.md) a comparison reads.
type Report struct {
	SchemaVersion int        `json:"schema_version"`
	Tool          string     `json:"tool"`
	Profile       string     `json:"profile"`
	Target        string     `json:"target"`
	Started       string     `json:"started"`
	Verdict       string     `json:"verdict"`
	Catalogue     *Catalogue `json:"catalogue"`
	Results       []Result   `json:"results"`
	Lab           *LabInfo   `json:"lab"`

	File string `json:"-"` // where it was read from
}

// LabInfo is what of a report's lab a comparison names.
type LabInfo struct {
	SUTName    string `json:"sut_name"`
	SUTVersion string `json:"sut_version"`
}

// Catalogue identifies the rule catalogue a run was judged by.
type Catalogue struct {
	Scenario    string `json:"scenario"`
	Rules       int    `json:"rules"`
	Fingerprint string `json:"fingerprint"`
}

// Result is one rule's result in a report.
type Result struct {
	RuleID    string `json:"rule_id"`
	Table     string `json:"table"`
	Level     string `json:"level"`
	Verdict   string `json:"verdict"`
	Statement string `json:"statement"`
	Expected  string `json:"expected"`
	Observed  string `json:"observed"`
	Reason    string `json:"reason"`
}

// MaxReport bounds the size of a report read (a flooded run's report is
// bounded by the writer; this is a safety net).
const MaxReport = 256 << 20

// Read reads a report.json.
func Read(file string) (*Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("expected a readable report.json, saw %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxReport+1))
	if err != nil {
		return nil, fmt.Errorf("%s: expected a readable report.json, saw %v", file, err)
	}
	return Parse(file, data)
}

// Parse reads a report.json already in memory; name is used in errors.
func Parse(name string, data []byte) (*Report, error) {
	if len(data) > MaxReport {
		return nil, fmt.Errorf("%s: expected a report of at most %d bytes, saw more", name, MaxReport)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: expected an imsconform report.json, saw JSON that does not decode: %v", name, err)
	}
	if r.SchemaVersion != 1 {
		return nil, fmt.Errorf("%s: expected report schema_version 1, saw %d", name, r.SchemaVersion)
	}
	if r.Results == nil {
		return nil, fmt.Errorf("%s: expected a results list, saw none", name)
	}
	seen := make(map[string]bool, len(r.Results))
	for i, res := range r.Results {
		if res.RuleID == "" {
			return nil, fmt.Errorf("%s: results[%d]: expected a rule_id, saw none", name, i)
		}
		if seen[res.RuleID] {
			return nil, fmt.Errorf("%s: results[%d]: expected each rule once, saw %s again", name, i, res.RuleID)
		}
		seen[res.RuleID] = true
	}
	r.File = name
	return &r, nil
}

// Fingerprint is the catalogue fingerprint of a list of rules: a hash over
// each rule's id, level and statement, in id order. Reports carry it so that
// a comparison can tell whether the catalogue changed.
func Fingerprint(rules []RuleText) string {
	rs := append([]RuleText(nil), rules...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	h := sha256.New()
	for _, r := range rs {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", r.ID, r.Level, r.Statement)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// RuleText is what of a rule the fingerprint covers.
type RuleText struct{ ID, Level, Statement string }

// Change is the class of one rule's change between two runs.
type Change string

const (
	StillPass Change = "still pass"
	Fixed     Change = "fixed"      // fail, error or inconc → pass
	Regressed Change = "regressed"  // pass → fail, error or inconc
	NewFail   Change = "new fail"   // absent, none or inconc → fail or error
	StillFail Change = "still fail" // fail or error → fail or error
	NewRule   Change = "new rule"   // absent → not failing
	Removed   Change = "removed"    // present → absent
	Changed   Change = "changed"    // any other change of verdict (none ↔ pass, fail → inconc, …)
	Unchanged Change = "unchanged"  // the same verdict that is neither pass nor a failure (none, inconc)
)

// Order is the order classes are listed in: what needs attention first.
var Order = []Change{Regressed, NewFail, Fixed, Changed, StillFail, NewRule, Removed, Unchanged, StillPass}

// Row is one rule in a comparison.
type Row struct {
	RuleID     string `json:"rule_id"`
	Table      string `json:"table"`
	Change     Change `json:"change"`
	Old        string `json:"old"` // the verdict in the old run, "" when absent
	New        string `json:"new"`
	OldLevel   string `json:"old_level"`
	NewLevel   string `json:"new_level"`
	Level      string `json:"level"`       // the level that judges the change: the new one, else the old
	Restated   bool   `json:"restated"`    // the statement of the rule changed between the two runs
	Statement  string `json:"statement"`   // the new statement, else the old
	Observed   string `json:"observed"`    // what the new run observed ("" when absent)
	Reason     string `json:"reason"`      // the new run's reason
	OldReason  string `json:"old_reason"`  // the old run's reason
	LevelMoved bool   `json:"level_moved"` // the rule's level changed
}

// Diff is the comparison of two runs.
type Diff struct {
	Old, New *Report `json:"-"`
	OldFile  string  `json:"old"`
	NewFile  string  `json:"new"`
	// CatalogueChanged says the two runs were judged by different rule
	// catalogues; CatalogueNote says how (rules added, removed, restated).
	CatalogueChanged bool           `json:"catalogue_changed"`
	CatalogueNote    string         `json:"catalogue_note"`
	ProfileNote      string         `json:"profile_note"` // set when the two runs ran different profiles
	Counts           map[Change]int `json:"counts"`
	Rows             []Row          `json:"rows"`
}

func failing(v string) bool { return v == "fail" || v == "error" }

func classify(old, new string, inOld, inNew bool) Change {
	switch {
	case !inOld && failing(new):
		return NewFail
	case !inOld:
		return NewRule
	case !inNew:
		return Removed
	case old == new && old == "pass":
		return StillPass
	case old == new && failing(old):
		return StillFail
	case old == new:
		return Unchanged
	case new == "pass" && (failing(old) || old == "inconc"):
		return Fixed
	case old == "pass" && (failing(new) || new == "inconc"):
		return Regressed
	case failing(new) && (old == "none" || old == "inconc"):
		return NewFail
	case failing(new) && failing(old):
		return StillFail
	}
	return Changed
}

// Compare compares two runs.
func Compare(old, new *Report) *Diff {
	d := &Diff{Old: old, New: new, OldFile: old.File, NewFile: new.File, Counts: map[Change]int{}}
	oldBy := make(map[string]Result, len(old.Results))
	for _, r := range old.Results {
		oldBy[r.RuleID] = r
	}
	newBy := make(map[string]Result, len(new.Results))
	for _, r := range new.Results {
		newBy[r.RuleID] = r
	}
	var added, removed, restated int
	add := func(o, n Result, inOld, inNew bool) {
		row := Row{RuleID: n.RuleID, Table: n.Table, Old: o.Verdict, New: n.Verdict, OldLevel: o.Level, NewLevel: n.Level,
			Statement: n.Statement, Observed: n.Observed, Reason: n.Reason, OldReason: o.Reason}
		if !inNew {
			row.RuleID, row.Table, row.Statement, row.New = o.RuleID, o.Table, o.Statement, ""
		}
		if !inOld {
			row.Old = ""
			added++
		}
		if !inNew {
			removed++
		}
		row.Level = row.NewLevel
		if row.Level == "" {
			row.Level = row.OldLevel
		}
		row.LevelMoved = inOld && inNew && o.Level != n.Level && o.Level != "" && n.Level != ""
		row.Restated = inOld && inNew && o.Statement != n.Statement
		if row.Restated {
			restated++
		}
		row.Change = classify(o.Verdict, n.Verdict, inOld, inNew)
		d.Counts[row.Change]++
		d.Rows = append(d.Rows, row)
	}
	// New run's order first, then the rules only the old run had.
	for _, n := range new.Results {
		o, ok := oldBy[n.RuleID]
		add(o, n, ok, true)
	}
	for _, o := range old.Results {
		if _, ok := newBy[o.RuleID]; !ok {
			add(o, Result{}, true, false)
		}
	}
	switch {
	case old.Catalogue != nil && new.Catalogue != nil:
		d.CatalogueChanged = old.Catalogue.Fingerprint != new.Catalogue.Fingerprint
	default:
		d.CatalogueChanged = added+removed+restated > 0
	}
	if d.CatalogueChanged {
		d.CatalogueNote = fmt.Sprintf("the rule catalogue changed between the two runs: %d rule%s added, %d removed, %d restated; rules are compared by their stable id",
			added, plural(added), removed, restated)
		if added+removed+restated == 0 {
			d.CatalogueNote = "the rule catalogue changed between the two runs (a rule's level or statement moved); rules are compared by their stable id"
		}
	}
	if old.Profile != new.Profile {
		d.ProfileNote = fmt.Sprintf("the two runs ran different profiles: %s and %s", nz(old.Profile), nz(new.Profile))
	}
	return d
}

func nz(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Levels that gate, in order; a gate at a level includes the ones before it.
var levels = []string{"must", "should", "table"}

// Gates reports whether the row's level is judged at gate level gate
// ("must", "should" or "table"); a row of unknown level (a report from
// before levels) is judged as must.
func Gates(level, gate string) bool {
	if level == "" {
		level = "must"
	}
	li, gi := -1, -1
	for i, l := range levels {
		if l == level {
			li = i
		}
		if l == gate {
			gi = i
		}
	}
	return li >= 0 && gi >= 0 && li <= gi
}

// Failures returns the rows that fail the comparison: regressions and new
// failures of rules judged at gate level.
func (d *Diff) Failures(gate string) []Row {
	var out []Row
	for _, r := range d.Rows {
		if (r.Change == Regressed || r.Change == NewFail) && Gates(r.Level, gate) {
			out = append(out, r)
		}
	}
	return out
}

// Changes returns the rows whose verdict changed, in Order's class order
// and, within a class, in rule order.
func (d *Diff) Changes() []Row {
	var out []Row
	for _, c := range Order {
		if c == StillPass || c == Unchanged || c == StillFail {
			continue
		}
		for _, r := range d.Rows {
			if r.Change == c {
				out = append(out, r)
			}
		}
	}
	for _, r := range d.Rows {
		if r.Change == StillFail && r.Old != r.New {
			out = append(out, r)
		}
	}
	return out
}
