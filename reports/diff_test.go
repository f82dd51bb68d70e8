package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imsconform/harness/rundiff"
)

func diffReport(profile string, rs ...rundiff.Result) *rundiff.Report {
	var texts []rundiff.RuleText
	for _, r := range rs {
		texts = append(texts, rundiff.RuleText{ID: r.RuleID, Level: r.Level, Statement: r.Statement})
	}
	return &rundiff.Report{SchemaVersion: 1, Profile: profile, Results: rs, File: profile + "/report.json",
		Catalogue: &rundiff.Catalogue{Scenario: "ts24206", Rules: len(rs), Fingerprint: rundiff.Fingerprint(texts)}}
}

func dres(id, level, verdict string) rundiff.Result {
	return rundiff.Result{RuleID: id, Table: strings.SplitN(id, "/", 2)[0], Level: level, Verdict: verdict, Statement: "statement of " + id}
}

func TestDiffTextNamesTheChangedRulesOnly(t *testing.T) {
	d := rundiff.Compare(
		diffReport("a322", dres("A/1", "must", "pass"), dres("A/2", "must", "fail"), dres("A/3", "should", "pass"), dres("A/6", "must", "fail"), dres("A/gone", "must", "pass"), dres("A/7", "must", "fail")),
		diffReport("a322", dres("A/1", "must", "pass"), dres("A/2", "must", "pass"), dres("A/3", "should", "fail"), dres("A/6", "must", "fail"), dres("A/new", "must", "fail"), dres("A/7", "should", "fail")))
	var text bytes.Buffer
	WriteDiffText(&text, d)
	for _, id := range []string{"A/2", "A/3", "A/new", "A/gone", "A/7"} {
		if !strings.Contains(text.String(), id) {
			t.Errorf("text table lacks %s:\n%s", id, text.String())
		}
	}
	for _, id := range []string{"A/1 ", "A/6 "} {
		if strings.Contains(text.String(), id) {
			t.Errorf("text table lists the unchanged %s:\n%s", id, text.String())
		}
	}
	if !strings.Contains(text.String(), "must→should") || !strings.Contains(text.String(), "note: the rule catalogue changed") {
		t.Errorf("the level move or the catalogue note is not shown:\n%s", text.String())
	}
}

func TestDiffHostileTextIsEscaped(t *testing.T) {
	bad := "\x1b]0;pwned\x07\x1b[2J<script>alert(1)</script>"
	nw := diffReport("a322", dres("A/1", "must", "fail"))
	nw.Results[0].Observed, nw.Results[0].Reason = bad, bad
	d := rundiff.Compare(diffReport("a322", dres("A/1", "must", "pass")), nw)
	var text, page bytes.Buffer
	WriteDiffText(&text, d)
	if strings.ContainsAny(text.String(), "\x1b\x07") {
		t.Errorf("terminal output carries control characters: %q", text.String())
	}
	if err := WriteDiffHTML(&page, d); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>") || !strings.Contains(page.String(), "&lt;script&gt;") {
		t.Errorf("HTML does not escape the SUT's text")
	}
}

func TestWriteDiffFiles(t *testing.T) {
	dir := t.TempDir()
	d := rundiff.Compare(diffReport("a322", dres("A/1", "must", "pass")), diffReport("a322", dres("A/1", "must", "fail")))
	jp, hp, err := WriteDiffFiles(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version int            `json:"diff_version"`
		Counts  map[string]int `json:"counts"`
		Rows    []rundiff.Row  `json:"rows"`
	}
	if err := json.Unmarshal(data, &got); err != nil || got.Version != DiffVersion || got.Counts["regressed"] != 1 || len(got.Rows) != 1 || got.Rows[0].Change != rundiff.Regressed {
		t.Errorf("diff.json: %v %+v", err, got)
	}
	if fi, err := os.Stat(hp); err != nil || fi.Size() == 0 {
		t.Errorf("diff.html: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
