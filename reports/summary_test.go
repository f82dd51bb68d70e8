package reports

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"imsconform/harness/check"
)

func TestSummary(t *testing.T) {
	r := sampleRun()
	long := strings.Repeat("the Security-Server header lists no ipsec-3gpp mechanism ", 10)
	r.Results[1].Reason = long
	r.Reports = Paths{Dir: "out", JSON: filepath.Join("out", "report.json"), HTML: filepath.Join("out", "report.html")}
	var buf bytes.Buffer
	Summary(&buf, r)
	out := buf.String()
	for _, want := range []string{
		"imsconform v0.1.0 · profile a322 · embedded reference core (P-CSCF [::1]:40123)",
		"verdict ERROR · gate FAILED (must) · 9 rules: 3 pass, 3 fail, 1 inconc, 1 none, 1 error · 2.55s",
		"fail   A.3.2.2-5/WWW-Authenticate/algorithm: expected",
		"— the Security-Server header",
		"fail   A.3.2.2-11/Request-URI: expected",
		"— not received within 2 s",
		`— mock VCC App: \x1b[31mnothing to answer\x1b[0m`,
		"inconc: 1 — A.3.2.2-5/Security-Server/port-s",
		"not received: step 11 (A.3.2.2-11), step 13 (A.3.2.2-13)",
		"reports: " + filepath.Join("out", "report.html") + "  " + filepath.Join("out", "report.json"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary: expected %q, not found in\n%s", want, out)
		}
	}
	if strings.Contains(out, "A.3.2.2-2/Via/comp") {
		t.Errorf("Summary: expected passed rules not listed, found A.3.2.2-2/Via/comp in\n%s", out)
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Error("Summary: expected no raw ESC (terminal escape from the SUT), found one")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > summaryWidth {
			t.Errorf("Summary: expected lines of at most %d characters, got %d: %q", summaryWidth, n, l)
		}
	}
	if len(lines) > 25 {
		t.Errorf("Summary: expected one screen, got %d lines", len(lines))
	}
	for _, s := range []string{secretK, secretOPc} {
		if strings.Contains(out, s) {
			t.Errorf("Summary contains the secret %s", s)
		}
	}
}

func TestSummaryManyFailures(t *testing.T) {
	r := &Run{}
	for i := 0; i < 200; i++ {
		r.Results = append(r.Results, check.Result{RuleID: "A.3.2.2-5/X-" + strings.Repeat("y", i%7), Verdict: check.Fail, Expected: "a", Observed: "b\nc"})
		r.Results = append(r.Results, check.Result{RuleID: "A.3.2.2-10/Z", Verdict: check.Inconc})
	}
	var buf bytes.Buffer
	Summary(&buf, r)
	out := buf.String()
	if n := strings.Count(out, "\n"); n > 25 {
		t.Errorf("Summary of 400 bad rules: expected one screen, got %d lines", n)
	}
	for _, want := range []string{"… and 185 more failed or error rules", "inconc: 200 (the first 20) — ", `expected "a", observed "b\nc"`} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary: expected %q, not found in\n%s", want, out)
		}
	}
}

func TestSummaryNilAndEmpty(t *testing.T) {
	var buf bytes.Buffer
	Summary(&buf, nil)
	if !strings.Contains(buf.String(), "no run") {
		t.Errorf("Summary(nil): expected a line saying there is no run, got %q", buf.String())
	}
	Summary(nil, sampleRun()) // must not panic
	buf.Reset()
	Summary(&buf, &Run{})
	if !strings.Contains(buf.String(), "verdict NONE · gate FAILED (must) · 0 rules") {
		t.Errorf("Summary(empty run): expected verdict NONE and 0 rules, got %q", buf.String())
	}
}
