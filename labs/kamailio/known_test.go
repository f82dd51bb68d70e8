package kamailio

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/run"
)

// TestKnownResults brings the lab up once per profile, runs the suite's flow
// against it and requires every rule's verdict to be the known one: a change
// in the harness or in the lab shows here.
func TestKnownResults(t *testing.T) {
	requireKamailio(t)
	for _, profile := range []string{"a322", "ts24229"} {
		t.Run(profile, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			l, err := Start(ctx, Config{Dir: dir, Logf: t.Logf})
			if err != nil {
				t.Fatalf("lab: %v", err)
			}
			defer l.Stop()
			plan, err := run.Prepare(run.Options{Overrides: l.Overrides(), Profile: profile})
			if err != nil {
				t.Fatal(err)
			}
			out := plan.Execute(ctx)
			if out.Flow.Err != nil {
				t.Fatalf("flow: %v", out.Flow.Err)
			}
			for _, r := range out.Results {
				if r.Verdict == check.Error {
					t.Errorf("%s: verdict error: %s", r.RuleID, r.Reason)
				}
			}
			diffs, err := Compare(profile, "udp", l.Version(), out.Results)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Errorf("the run against Kamailio differs from %s in %d rules:\n  %s", ExpectationsFile, len(diffs), strings.Join(diffs, "\n  "))
				for role, path := range l.Logs() {
					t.Logf("%s log tail:\n%s", role, logTail(path, 10))
				}
			}
			if err := l.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
			if left := processesIn(t, dir); len(left) > 0 {
				t.Errorf("processes of the lab left after Stop: %v", left)
			}
		})
	}
}

// TestKnownResultsAreInTheREADME keeps the README's section "Results against
// Kamailio 5.6.3" and the expectations file in step: every rule the file
// expects to fail is named there, and nothing else is. The rules are those of
// a run, judged offline from Kamailio's recorded messages (both profiles).
func TestKnownResultsAreInTheREADME(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Results against Kamailio 5.6.3")
	if start < 0 {
		t.Fatalf("README.md has no section %q", "## Results against Kamailio 5.6.3")
	}
	section := readme[start+3:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	failing := map[string]bool{}
	for _, profile := range []string{"a322", "ts24229"} {
		for _, r := range offlineResults(t, profile) {
			if r.Verdict == check.Fail {
				failing[r.RuleID] = true
			}
		}
	}
	if len(failing) == 0 {
		t.Fatal("no rule fails against Kamailio's recorded messages: the offline judgement is broken")
	}
	for id := range failing {
		if !strings.Contains(section, "`"+id+"`") {
			t.Errorf("README: the Kamailio section does not name %s, which fails against Kamailio", id)
		}
	}
	for _, f := range strings.Split(section, "`") {
		if strings.HasPrefix(f, "A.3.2.2-") || strings.HasPrefix(f, "Cx-") {
			if strings.Contains(f, "/") && !failing[f] {
				t.Errorf("README: the Kamailio section names %s, which does not fail against Kamailio", f)
			}
		}
	}
}
