package kamailio

// Run alone with: go test -run TestNetnsLabKnownResults ./labs/kamailio
// (root, Kamailio, iproute2). The UE, the VCC Application and the HSS bind the lab
// namespace's addresses.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
)

// reportResults reads the results of a report.json.
func reportResults(t *testing.T, path string) (results []check.Result, errs []string, diags []string, counts map[string]int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Errors      []string
		Diagnostics []struct{ Code, Message string }
		Counts      map[string]int
		Results     []struct {
			RuleID   string `json:"rule_id"`
			Level    string
			Verdict  string
			Observed string
			Reason   string
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, r := range rep.Results {
		results = append(results, check.Result{RuleID: r.RuleID, Level: scenario.Level(r.Level), Verdict: check.Verdict(r.Verdict), Observed: r.Observed, Reason: r.Reason})
	}
	for _, d := range rep.Diagnostics {
		diags = append(diags, d.Code+": "+d.Message)
	}
	return results, rep.Errors, diags, rep.Counts
}

// TestNetnsLabKnownResults runs the suite as a user does from the lab
// namespace (IMSCONFORM_LAB=... go tool ginkgo -r ./suites -- --set
// sut.pcscf=<the P-CSCF in the core namespace>) over IPv4 and IPv6, UDP and
// TCP, and requires each run to match the lab's expectations, as the loopback
// lab does.
func TestNetnsLabKnownResults(t *testing.T) {
	requireNetns(t)
	for _, fam := range []string{"4", "6"} {
		t.Run("IPv"+fam, func(t *testing.T) {
			dir := t.TempDir()
			began := time.Now()
			cmd, lines := script(t, "-f", fam, "-t", "udp,tcp", "-o", dir)
			var log []string
			for l := range lines {
				log = append(log, l)
			}
			err := cmd.Wait()
			took := time.Since(began)
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
				t.Fatalf("netns-lab.sh: %v\n%s", err, tail(strings.Join(log, "\n"), 40))
			}
			for _, tp := range []string{"udp", "tcp"} {
				results, errs, diags, counts := reportResults(t, filepath.Join(dir, tp, "report.json"))
				t.Logf("IPv%s %s: %v (from nothing to both reports: %s)", fam, tp, counts, took.Round(time.Millisecond))
				if len(errs) > 0 || len(diags) > 0 {
					t.Errorf("IPv%s %s: expected no harness error and no diagnostic, got %v %v", fam, tp, errs, diags)
				}
				diffs, err := Compare("a322", tp, Version("kamailio"), results)
				if err != nil {
					t.Fatal(err)
				}
				if len(diffs) > 0 {
					t.Errorf("IPv%s %s: the run differs from %s in %d rules:\n  %s", fam, tp, ExpectationsFile, len(diffs), strings.Join(diffs, "\n  "))
				}
			}
			if t.Failed() {
				t.Log(tail(strings.Join(log, "\n"), 30))
				for _, f := range []string{"P-CSCF", "I-CSCF", "S-CSCF"} {
					t.Logf("%s log tail:\n%s", f, logTail(filepath.Join(dir, "kamailio", f+".log"), 10))
				}
			}
		})
	}
}
