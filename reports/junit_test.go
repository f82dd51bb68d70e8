package reports

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
	"imsconform/internal/tooltest"
)

// gateRun has one rule of each standing the gate knows.
func gateRun() *Run {
	res := func(id string, level scenario.Level, v check.Verdict, reason string) check.Result {
		return check.Result{RuleID: id, Table: strings.SplitN(id, "/", 2)[0], Statement: "statement of " + id, Level: level, Verdict: v,
			Expected: "x", Observed: "y", Reason: reason, Citation: "RFC 3261 20"}
	}
	dup := res("A.3.2.2-14/Date/rfc1123", scenario.LevelMust, check.Fail, "not RFC 1123")
	dup.CountedAs = "A.3.2.2-10/Date/rfc1123"
	return &Run{
		Tool: "imsconform", Profile: "a322", Target: "lab P-CSCF 192.0.2.5:5060",
		Started: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), Finished: time.Date(2027, 1, 2, 3, 4, 6, 0, time.UTC),
		Tables: []TableInfo{{ID: "A.3.2.2-5", Title: "401 Unauthorized"}, {ID: "A.3.2.2-10", Title: "200 OK"}, {ID: "A.3.2.2-14", Title: "200 OK"}},
		Results: []check.Result{
			res("A.3.2.2-5/Status-Line/status", scenario.LevelMust, check.Pass, ""),
			res("A.3.2.2-5/WWW-Authenticate/algorithm", scenario.LevelMust, check.Fail, "algorithm is MD5 \x1b[2J"),
			res("A.3.2.2-5/Security-Server/q", scenario.LevelMust, check.Error, "the harness failed"),
			res("A.3.2.2-5/Via/comp", scenario.LevelMust, check.None, "sigcomp is off in this lab"),
			res("A.3.2.2-5/CSeq/echo", scenario.LevelMust, check.Inconc, "cannot compare: step 2 is missing"),
			res("A.3.2.2-10/Date/present", scenario.LevelShould, check.Fail, "Date is missing"),
			res("A.3.2.2-10/Date/rfc1123", scenario.LevelMust, check.Fail, "not RFC 1123"),
			dup,
			res("A.3.2.2-10/Path/pcscf", scenario.LevelMust, check.Fail, "Path differs"),
		},
		Gate: &Gate{Expectations: "exp.yaml", Waived: map[string]string{"A.3.2.2-10/Path/pcscf": "expected fail: known (LAB-7)"},
			Problems: []string{"exp.yaml:9: A.3.2.2-5/Gone is stale: no rule of this run matches it", "exp.yaml: rules_in_scope is 300, this run judged 9 rules"},
			Warnings: []string{"exp.yaml:4: A.3.2.2-10/Path/pcscf expires on 2027-01-05 — in 3 days"}},
	}
}

type jDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Name  string `xml:"name,attr"`
		Props []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Skipped   *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitMapsEveryStanding(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, gateRun()); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(b.Bytes(), '\x1b') {
		t.Error("junit.xml carries a raw ESC from the SUT")
	}
	var d jDoc
	if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b.String())
	}
	got := map[string]string{}
	for _, s := range d.Suites {
		for _, c := range s.Cases {
			id, _, _ := strings.Cut(c.Name, ": ")
			if c.Classname != RunSuite && c.Classname != strings.SplitN(id, "/", 2)[0] {
				t.Errorf("%s: classname %q, want its table", c.Name, c.Classname)
			}
			switch {
			case c.Failure != nil:
				got[id] = "failure: " + c.Failure.Message
			case c.Error != nil:
				got[id] = "error: " + c.Error.Message
			case c.Skipped != nil:
				got[id] = "skipped: " + c.Skipped.Message
			default:
				got[id] = "pass"
			}
		}
	}
	for id, want := range map[string]string{
		"A.3.2.2-5/Status-Line/status":         "pass",
		"A.3.2.2-5/WWW-Authenticate/algorithm": `failure: fail: algorithm is MD5 \x1b[2J`,
		"A.3.2.2-5/Security-Server/q":          "error: error: the harness failed",
		"A.3.2.2-5/Via/comp":                   "skipped: none (not applicable): sigcomp is off in this lab",
		"A.3.2.2-5/CSeq/echo":                  "skipped: inconc (could not be judged; gates only with --fail-on-inconc)",
		"A.3.2.2-10/Date/present":              "skipped: fail at level should, below the gate's level must",
		"A.3.2.2-10/Date/rfc1123":              "failure: fail: not RFC 1123",
		"A.3.2.2-14/Date/rfc1123":              "skipped: the same field of the same message as A.3.2.2-10/Date/rfc1123",
		"A.3.2.2-10/Path/pcscf":                "skipped: expected fail (waived): expected fail: known (LAB-7)",
		"imsconform/run":                       "pass",
		"imsconform/rules-in-scope":            "failure: exp.yaml: rules_in_scope is 300, this run judged 9 rules",
		"imsconform/gate":                      "failure: 1 gate problem(s): exp.yaml:9: A.3.2.2-5/Gone is stale",
	} {
		if !strings.HasPrefix(got[id], want) {
			t.Errorf("%s: %q, want it to start %q", id, got[id], want)
		}
	}
	if d.Tests != 12 || d.Failures != 4 || d.Errors != 1 || d.Skipped != 5 {
		t.Errorf("totals: %d tests, %d failures, %d errors, %d skipped; want 12, 4, 1, 5", d.Tests, d.Failures, d.Errors, d.Skipped)
	}
	props := map[string]string{}
	for _, s := range d.Suites {
		for _, p := range s.Props {
			props[p.Name] = p.Value
		}
	}
	if props["rules_in_scope"] != "9" || props["fields_judged"] != "8" || props["gate_passed"] != "false" || props["expectations"] != "exp.yaml" || props["profile"] != "a322" {
		t.Errorf("properties are not the run's, as plain text: %v", props)
	}
}

// TestJUnitReadByRealConsumers validates a run's junit.xml against
// reports/junit.xsd with xmllint and reads it with python3-junitparser, as a
// CI system does: every testcase found, named by its rule id, with the
// totals the file states.
func TestJUnitReadByRealConsumers(t *testing.T) {
	xmllint := tooltest.Need(t, "xmllint", "libxml2-utils")
	python := tooltest.Python(t, "junitparser", "python3-junitparser")
	r := gateRun()
	hostile := "\x00\x1b]0;title\x07 <tag> & \"quotes\" \xff\xfe ]]>"
	r.Results[1].Observed, r.Results[1].Reason = hostile, hostile
	file := filepath.Join(t.TempDir(), "junit.xml")
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", "junit.xsd", file).CombinedOutput(); err != nil {
		t.Fatalf("xmllint --schema junit.xsd: %v\n%s", err, out)
	}
	script := `
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
n = f = e = s = 0
for suite in xml:
    for case in suite:
        n += 1
        kinds = [type(r).__name__ for r in case.result]
        f += kinds.count("Failure"); e += kinds.count("Error"); s += kinds.count("Skipped")
        print(case.classname + "|" + case.name + "|" + ",".join(kinds))
print("TOTAL %d %d %d %d" % (n, f, e, s))
`
	out, err := exec.Command(python, "-c", script, file).CombinedOutput()
	if err != nil {
		t.Fatalf("junitparser: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "TOTAL 12 4 1 5") {
		t.Errorf("junitparser read other totals than the file states:\n%s", text)
	}
	for _, want := range []string{
		"A.3.2.2-5|A.3.2.2-5/WWW-Authenticate/algorithm: statement of A.3.2.2-5/WWW-Authenticate/algorithm|Failure",
		"A.3.2.2-10|A.3.2.2-10/Path/pcscf: statement of A.3.2.2-10/Path/pcscf|Skipped",
		"imsconform|imsconform/gate: the expectations and the baseline hold|Failure",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("junitparser did not read %q:\n%s", want, text)
		}
	}
}
