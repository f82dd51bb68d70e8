package rundiff

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		old, new     string
		inOld, inNew bool
		want         Change
	}{
		{"pass", "pass", true, true, StillPass},
		{"fail", "pass", true, true, Fixed},
		{"error", "pass", true, true, Fixed},
		{"inconc", "pass", true, true, Fixed},
		{"pass", "fail", true, true, Regressed},
		{"pass", "error", true, true, Regressed},
		{"pass", "inconc", true, true, Regressed},
		{"none", "fail", true, true, NewFail},
		{"inconc", "fail", true, true, NewFail},
		{"", "fail", false, true, NewFail},
		{"", "error", false, true, NewFail},
		{"", "pass", false, true, NewRule},
		{"", "none", false, true, NewRule},
		{"pass", "", true, false, Removed},
		{"fail", "", true, false, Removed},
		{"fail", "fail", true, true, StillFail},
		{"fail", "error", true, true, StillFail},
		{"none", "none", true, true, Unchanged},
		{"inconc", "inconc", true, true, Unchanged},
		{"none", "pass", true, true, Changed},
		{"pass", "none", true, true, Changed},
		{"fail", "inconc", true, true, Changed},
		{"fail", "none", true, true, Changed},
	} {
		if got := classify(c.old, c.new, c.inOld, c.inNew); got != c.want {
			t.Errorf("%q (in old %v) → %q (in new %v): %q, want %q", c.old, c.inOld, c.new, c.inNew, got, c.want)
		}
	}
}

func report(profile string, rs ...Result) *Report {
	var texts []RuleText
	for _, r := range rs {
		texts = append(texts, RuleText{r.RuleID, r.Level, r.Statement})
	}
	return &Report{SchemaVersion: 1, Profile: profile, Results: rs, File: profile + "/report.json",
		Catalogue: &Catalogue{Scenario: "ts24206", Rules: len(rs), Fingerprint: Fingerprint(texts)}}
}

func r(id, level, verdict string) Result {
	return Result{RuleID: id, Table: strings.SplitN(id, "/", 2)[0], Level: level, Verdict: verdict, Statement: "statement of " + id}
}

func TestCompareNamesExactlyTheChangedRules(t *testing.T) {
	old := report("a322",
		r("A/1", "must", "pass"), r("A/2", "must", "fail"), r("A/3", "should", "pass"), r("A/4", "table", "pass"),
		r("A/5", "must", "none"), r("A/6", "must", "fail"), r("A/gone", "must", "pass"))
	nw := report("a322",
		r("A/1", "must", "pass"), r("A/2", "must", "pass"), r("A/3", "should", "fail"), r("A/4", "table", "fail"),
		r("A/5", "must", "fail"), r("A/6", "must", "fail"), r("A/new", "must", "fail"))
	d := Compare(old, nw)
	got := map[string]Change{}
	for _, row := range d.Rows {
		got[row.RuleID] = row.Change
	}
	want := map[string]Change{"A/1": StillPass, "A/2": Fixed, "A/3": Regressed, "A/4": Regressed, "A/5": NewFail, "A/6": StillFail, "A/new": NewFail, "A/gone": Removed}
	for id, c := range want {
		if got[id] != c {
			t.Errorf("%s: %q, want %q", id, got[id], c)
		}
	}
	if len(d.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(d.Rows), len(want))
	}
	ids := func(rows []Row) string {
		var s []string
		for _, r := range rows {
			s = append(s, r.RuleID)
		}
		return strings.Join(s, " ")
	}
	if got := ids(d.Failures("must")); got != "A/5 A/new" {
		t.Errorf("failures at must: %q", got)
	}
	if got := ids(d.Failures("should")); got != "A/3 A/5 A/new" {
		t.Errorf("failures at should: %q", got)
	}
	if got := ids(d.Failures("table")); got != "A/3 A/4 A/5 A/new" {
		t.Errorf("failures at table: %q", got)
	}
	if got := ids(d.Changes()); got != "A/3 A/4 A/5 A/new A/2 A/gone" {
		t.Errorf("changes: %q", got)
	}
	if !d.CatalogueChanged || !strings.Contains(d.CatalogueNote, "1 rule added, 1 removed, 0 restated") {
		t.Errorf("catalogue note %q", d.CatalogueNote)
	}
}

func TestCatalogueUnchangedAndLevelMoves(t *testing.T) {
	old := report("a322", r("A/1", "must", "fail"), r("A/2", "must", "pass"))
	d := Compare(old, report("a322", r("A/1", "must", "fail"), r("A/2", "must", "pass")))
	if d.CatalogueChanged || d.CatalogueNote != "" {
		t.Errorf("same catalogue reported as changed: %q", d.CatalogueNote)
	}
	nw := report("a322", r("A/1", "should", "fail"), r("A/2", "must", "pass"))
	d = Compare(old, nw)
	if !d.CatalogueChanged || !d.Rows[0].LevelMoved || d.Rows[0].Change != StillFail {
		t.Errorf("level move: changed %v, row %+v", d.CatalogueChanged, d.Rows[0])
	}
	// Reports from before catalogue fingerprints: judged by ids and statements.
	old.Catalogue, nw.Catalogue = nil, nil
	nw.Results[1].Statement = "restated"
	d = Compare(old, nw)
	if !d.CatalogueChanged || !d.Rows[1].Restated || !strings.Contains(d.CatalogueNote, "1 restated") {
		t.Errorf("restatement without fingerprints: %v %q", d.CatalogueChanged, d.CatalogueNote)
	}
}

func TestProfilesDiffer(t *testing.T) {
	d := Compare(report("a322", r("A/1", "must", "pass")), report("ts24229", r("A/1", "must", "pass")))
	if d.ProfileNote != "the two runs ran different profiles: a322 and ts24229" {
		t.Errorf("profile note %q", d.ProfileNote)
	}
}

func TestParseRefusesWhatIsNotAReport(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`{`, "does not decode"},
		{`{"schema_version": 2, "results": []}`, "schema_version 1, saw 2"},
		{`{"schema_version": 1}`, "expected a results list"},
		{`{"schema_version": 1, "results": [{"rule_id": ""}]}`, "results[0]: expected a rule_id"},
		{`{"schema_version": 1, "results": [{"rule_id": "a"}, {"rule_id": "a"}]}`, "results[1]: expected each rule once, saw a again"},
	} {
		if _, err := Parse("x.json", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.json: ") {
			t.Errorf("%s: error %v, want %q", c.src, err, c.want)
		}
	}
}
