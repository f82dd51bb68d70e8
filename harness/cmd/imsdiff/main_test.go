package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name, "report.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const oldReport = `{"schema_version": 1, "profile": "a322", "results": [
 {"rule_id": "A.3.2.2-5/WWW-Authenticate/algorithm", "table": "A.3.2.2-5", "level": "must", "verdict": "pass"},
 {"rule_id": "A.3.2.2-10/Date/rfc1123", "table": "A.3.2.2-10", "level": "should", "verdict": "pass"}]}`

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	old := write(t, dir, "old", oldReport)
	same := write(t, dir, "same", oldReport)
	shouldRegressed := write(t, dir, "should", strings.Replace(oldReport, `"should", "verdict": "pass"`, `"should", "verdict": "fail"`, 1))
	mustRegressed := write(t, dir, "must", strings.Replace(oldReport, `"must", "verdict": "pass"`, `"must", "verdict": "fail"`, 1))
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{old, same}, exitOK, "no rule changed its verdict"},
		{[]string{old, shouldRegressed}, exitOK, "A.3.2.2-10/Date/rfc1123"},
		{[]string{"-gate", "should", old, shouldRegressed}, exitRegressed, "FAIL: 1 rule regressed"},
		{[]string{old, mustRegressed}, exitRegressed, "regressed"},
		{[]string{"-no-fail", old, mustRegressed}, exitOK, "regressed"},
		{[]string{old}, exitUsage, ""},
		{[]string{"-gate", "may", old, same}, exitUsage, ""},
		{[]string{old, filepath.Join(dir, "missing.json")}, exitUsage, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"-out", filepath.Join(dir, "diffs")}, c.args...), &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.out) {
			t.Errorf("imsdiff %v: exit %d (want %d)\nstdout: %s\nstderr: %s", c.args, code, c.code, stdout.String(), stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "diffs", "diff.html")); err != nil {
		t.Errorf("diff.html not written: %v", err)
	}
}
