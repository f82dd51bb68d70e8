package run_test

// These tests run the Ginkgo conformance suite as a user does, in a child
// process, and judge what the user sees: the exit code, the JUnit, the reports.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imsconform/harness/scenario"
	"imsconform/internal/tooltest"
	"imsconform/reports"
	"imsconform/scenarios"
)

// suiteBinary builds the conformance suite's test binary once per test run.
func suiteBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "conformance.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "imsconform/suites/registration")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the suite: %v\n%s", err, out)
	}
	return bin
}

// runSuite runs the suite binary with args, reports into a fresh dir, and
// returns the dir, the exit code and the output.
func runSuite(t *testing.T, bin string, args ...string) (string, int, string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"-report-dir", dir, "-ginkgo.no-color"}, args...)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the suite: %v", err)
	}
	return dir, code, string(out)
}

// junitReport is a junit.xml as a CI system reads it: the totals, the rules'
// testcases (one suite per table) and the run's own (classname imsconform).
type junitReport struct {
	Tests, Failures, Errors, Skipped int
	Rules, Run                       []junitCase
}

type junitCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Failure   *junitMsg `xml:"failure"`
	Error     *junitMsg `xml:"error"`
	Skipped   *junitMsg `xml:"skipped"`
}

type junitMsg struct {
	Message string `xml:"message,attr"`
}

func readJUnit(t *testing.T, path string) junitReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JUnit not written: %v", err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Cases []junitCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit %s does not parse: %v", path, err)
	}
	j := junitReport{Tests: doc.Tests, Failures: doc.Failures, Errors: doc.Errors, Skipped: doc.Skipped}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Classname == reports.RunSuite {
				j.Run = append(j.Run, c)
			} else {
				j.Rules = append(j.Rules, c)
			}
		}
	}
	if len(j.Run) == 0 {
		t.Fatalf("JUnit %s: no testcase of the run itself (classname %s)", path, reports.RunSuite)
	}
	return j
}

// failedRules reads report.json and returns the ids of the gating (must)
// rules that are not pass or none, sorted; a should or table rule that fails
// does not gate.
func failedRules(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("report.json not written: %v", err)
	}
	var rep struct {
		Results []struct {
			RuleID  string `json:"rule_id"`
			Verdict string `json:"verdict"`
			Level   string `json:"level"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	var ids []string
	for _, r := range rep.Results {
		if r.Verdict != "pass" && r.Verdict != "none" && r.Level == "must" {
			ids = append(ids, r.RuleID+" "+r.Verdict)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the suite in a child process; not in -short")
	}
	sc, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := sc.Rules("a322")
	if err != nil {
		t.Fatal(err)
	}
	bin := suiteBinary(t)

	t.Run("clean run: exit 0, one testcase per rule, four reports", func(t *testing.T) {
		dir, code, out := runSuite(t, bin)
		if code != 0 {
			t.Fatalf("exit code %d, want 0\n%s", code, tail(out))
		}
		j := readJUnit(t, filepath.Join(dir, "junit.xml"))
		if len(j.Rules) != len(rules) || j.Failures != 0 || j.Errors != 0 {
			t.Errorf("JUnit: %d testcases (want %d, one per rule), %d failures, %d errors", len(j.Rules), len(rules), j.Failures, j.Errors)
		}
		for i, c := range j.Rules {
			if !strings.HasPrefix(c.Name, rules[i].ID+": ") || c.Classname != rules[i].Table {
				t.Errorf("JUnit testcase %d: name %q classname %q, want the name to start with the rule id %s and the table %s as classname", i, c.Name, c.Classname, rules[i].ID, rules[i].Table)
				break
			}
		}
		for _, f := range []string{"report.html", "report.json", "trace.pcap"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s not written: %v", f, err)
			}
		}
		if !strings.Contains(out, "verdict PASS") {
			t.Errorf("console summary missing:\n%s", tail(out))
		}
	})

	// One deviation: exactly the rules on that field fail, and the exit code says so.
	for _, c := range []struct {
		deviate string
		want    []string
	}{
		{"5/set-param/Security-Server/q=7", []string{"A.3.2.2-5/Security-Server/q fail"}},
		{"10/drop-header/P-Associated-URI", []string{"A.3.2.2-10/P-Associated-URI/first fail", "A.3.2.2-10/P-Associated-URI/impus fail",
			"A.3.2.2-14/P-Associated-URI/first fail", "A.3.2.2-14/P-Associated-URI/impus fail"}},
		{"13/set-header/Date=Wed, 11 July 2001 08:49:37 GMT", []string{"A.3.2.2-13/Date/rfc1123 fail"}},
	} {
		t.Run("deviation "+c.deviate, func(t *testing.T) {
			dir, code, out := runSuite(t, bin, "-deviate", c.deviate)
			if code == 0 {
				t.Errorf("exit code 0 with a failing rule\n%s", tail(out))
			}
			if got := failedRules(t, dir); !slices.Equal(got, c.want) {
				t.Errorf("failed rules:\n  got  %v\n  want %v", got, c.want)
			}
			j := readJUnit(t, filepath.Join(dir, "junit.xml"))
			// One fault on the wire counts once: the A.3.2.2-14 copy of an
			// A.3.2.2-10 rule is a skipped testcase that says so.
			fields := 0
			for _, w := range c.want {
				if !strings.HasPrefix(w, "A.3.2.2-14/") {
					fields++
				}
			}
			if j.Failures != fields {
				t.Errorf("JUnit failures = %d, want %d (each field once)", j.Failures, fields)
			}
		})
	}

	t.Run("release gate: a waived fault passes, a stale waiver fails, the diff names the changed rules", func(t *testing.T) {
		exp := filepath.Join(t.TempDir(), "exp.yaml")
		if err := os.WriteFile(exp, []byte(`scope: {profile: a322}
expectations:
  - rule: A.3.2.2-5/Security-Server/q
    verdict: fail
    level: must
    reason: the P-CSCF of this release writes q=7
    ticket: LAB-1
`), 0o644); err != nil {
			t.Fatal(err)
		}
		// The known fault, waived: exit 0, the waiver shown.
		waived, code, out := runSuite(t, bin, "-deviate", "5/set-param/Security-Server/q=7", "-expect", exp)
		if code != 0 || !strings.Contains(out, "expected (waived): 1 — A.3.2.2-5/Security-Server/q") {
			t.Fatalf("a waived fault: exit %d, want 0 with the waiver shown\n%s", code, tail(out))
		}
		j := readJUnit(t, filepath.Join(waived, "junit.xml"))
		found := false
		for _, c := range j.Rules {
			if strings.HasPrefix(c.Name, "A.3.2.2-5/Security-Server/q: ") {
				found = c.Skipped != nil && strings.HasPrefix(c.Skipped.Message, "expected fail (waived): expected fail: the P-CSCF of this release writes q=7 (LAB-1)")
			}
		}
		if !found || j.Failures != 0 {
			t.Errorf("JUnit: the waived rule is not a skipped testcase saying so (%d failures)", j.Failures)
		}
		// The fault fixed: the waiver is stale and gates; compared with the
		// waived run, exactly that rule changed (fixed).
		fixed, code, out := runSuite(t, bin, "-expect", exp, "-baseline", filepath.Join(waived, "report.json"))
		if code == 0 || !strings.Contains(out, "A.3.2.2-5/Security-Server/q is stale") {
			t.Errorf("a stale waiver: exit %d, want non-zero naming it\n%s", code, tail(out))
		}
		var diff struct {
			Rows []struct {
				RuleID string `json:"rule_id"`
				Change string `json:"change"`
			} `json:"rows"`
		}
		b, err := os.ReadFile(filepath.Join(fixed, "diff.json"))
		if err != nil {
			t.Fatalf("diff.json beside the reports: %v", err)
		}
		if err := json.Unmarshal(b, &diff); err != nil {
			t.Fatal(err)
		}
		var changed []string
		for _, r := range diff.Rows {
			if r.Change != "still pass" && r.Change != "unchanged" && r.Change != "still fail" {
				changed = append(changed, r.RuleID+" "+r.Change)
			}
		}
		if !slices.Equal(changed, []string{"A.3.2.2-5/Security-Server/q fixed"}) {
			t.Errorf("the diff names %v, want exactly the rule that changed", changed)
		}
		if _, err := os.Stat(filepath.Join(fixed, "diff.html")); err != nil {
			t.Errorf("diff.html beside the reports: %v", err)
		}
		// Only warned about, the stale waiver does not gate.
		if _, code, out := runSuite(t, bin, "-expect", exp, "-expect-stale-warn"); code != 0 || !strings.Contains(out, "gate warning:") {
			t.Errorf("-expect-stale-warn: exit %d, want 0 with a warning\n%s", code, tail(out))
		}
		// A regression against the baseline gates.
		if _, code, out := runSuite(t, bin, "-deviate", "10/drop-header/P-Associated-URI", "-baseline", filepath.Join(fixed, "report.json")); code == 0 ||
			!strings.Contains(out, "A.3.2.2-10/P-Associated-URI/first regressed against the baseline") {
			t.Errorf("a regression: exit %d, want non-zero naming it\n%s", code, tail(out))
		}
		// A broken expectations file is one error naming file:line.
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(bad, []byte("expectations:\n  - rule: X\n    verdict: failed\n    reason: r\n"), 0o644)
		if _, code, out := runSuite(t, bin, "-expect", bad); code == 0 || !strings.Contains(out, bad+":2: verdict: expected fail, inconc, none or error") {
			t.Errorf("a broken expectations file: exit %d\n%s", code, tail(out))
		}
	})

	t.Run("an SQN re-synchronisation is conformant: every rule passes", func(t *testing.T) {
		// The HSS's SQN behind the USIM's: the UE answers with AUTS (RFC 3310
		// 3.4), the core re-challenges, step 5 is the second 401.
		dir, code, out := runSuite(t, bin, "-deviate", "5/stale-sqn")
		if got := failedRules(t, dir); code != 0 || len(got) != 0 {
			t.Errorf("exit code %d, rules not passing %v\n%s", code, got, tail(out))
		}
	})

	t.Run("a broken lab file fails a spec with file:line, not an empty JUnit", func(t *testing.T) {
		labFile := filepath.Join(t.TempDir(), "lab.yaml")
		if err := os.WriteFile(labFile, []byte("profile: a322\nsut:\n  transport: carrier-pigeon\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		dir, code, out := runSuite(t, bin, "-lab", labFile)
		if code == 0 {
			t.Errorf("exit code 0 with a broken lab")
		}
		j := readJUnit(t, filepath.Join(dir, "junit.xml"))
		if j.Failures+j.Errors != 1 || len(j.Run) == 0 || j.Run[0].Error == nil || !strings.Contains(j.Run[0].Error.Message, "lab.yaml:3") || !strings.Contains(out, "lab.yaml:3") {
			t.Errorf("want one harness error naming lab.yaml:3; JUnit failures %d, errors %d, run %+v\n%s", j.Failures, j.Errors, j.Run, tail(out))
		}
	})

	t.Run("a hostile header from the SUT is text in the HTML report", func(t *testing.T) {
		dir, code, out := runSuite(t, bin, "-deviate", "5/add-header/X-Hostile=<script>alert(1)</script>")
		if code != 0 {
			t.Fatalf("exit code %d: an extra header breaks no rule\n%s", code, tail(out))
		}
		html, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(html), "<script>alert(1)") || !strings.Contains(string(html), "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("the hostile value is not escaped in report.html")
		}
		checkInChromium(t, filepath.Join(dir, "report.html"))
	})

	t.Run("an interrupted run still writes JUnit and reports", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("signals as on Linux")
		}
		dir := t.TempDir()
		cmd := exec.Command(bin, "-report-dir", dir, "-ginkgo.no-color", "-deviate", "5/no-answer", "-set", "timeouts.step=60s")
		cmd.Dir = t.TempDir()
		var buf syncBuilder
		started := make(chan struct{})
		cmd.Stdout, cmd.Stderr = &buf, &markWriter{w: &buf, mark: "imsconform: running the flow", seen: started}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-started: // the flow is under way, waiting for the 401 that never comes
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("the suite never started the flow\n%s", tail(buf.String()))
		}
		time.Sleep(200 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("exit code 0 after an interrupt")
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("the suite did not stop within 30s of SIGINT\n%s", tail(buf.String()))
		}
		j := readJUnit(t, filepath.Join(dir, "junit.xml"))
		if len(j.Rules) == 0 {
			t.Errorf("JUnit written with no testcase after an interrupt")
		}
		for _, f := range []string{"report.html", "report.json", "trace.pcap"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s not written after an interrupt: %v\n%s", f, err, tail(buf.String()))
			}
		}
		// The interruption is the harness's error, never the SUT's fail,
		// and the report says it (reports/SCHEMA.md).
		rep := readReport(t, dir)
		if rep.Verdict != "error" || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], "the run was interrupted") {
			t.Errorf("report.json after SIGINT: verdict %q, errors %q; want error and an error saying the run was interrupted by SIGINT", rep.Verdict, rep.Errors)
		}
		for _, r := range rep.Results {
			if r.Verdict == "fail" {
				t.Errorf("report.json after SIGINT: %s is fail (%s); a rule whose message had not come yet is the harness's error", r.RuleID, r.Reason)
			}
		}
		if !strings.Contains(buf.String(), "harness error: the run was interrupted") {
			t.Errorf("the console summary does not say the run was interrupted\n%s", tail(buf.String()))
		}
	})

	t.Run("a report directory that is a file: exit non-zero, says so, the reports go elsewhere", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := runSuiteIn(t, bin, file)
		if code == 0 {
			t.Errorf("exit code 0 with a report directory that is a file\n%s", tail(out))
		}
		m := regexp.MustCompile(`cannot write into (\S+) \((\S+) is not a directory\): this run's reports are in (\S+) instead`).FindStringSubmatch(out)
		if m == nil || m[1] != file {
			t.Fatalf("expected one line saying %s is not a directory and where the reports went\n%s", file, tail(out))
		}
		t.Cleanup(func() { os.RemoveAll(m[3]) })
		for _, f := range []string{"junit.xml", "report.html", "report.json", "trace.pcap"} {
			if st, err := os.Stat(filepath.Join(m[3], f)); err != nil || st.Size() == 0 {
				t.Errorf("%s not in %s: %v", f, m[3], err)
			}
		}
	})

	t.Run("a report that cannot be written: exit non-zero, names it", func(t *testing.T) {
		dir := t.TempDir()
		// report.html is a non-empty directory: it cannot be replaced,
		// whoever runs the test (root included).
		if err := os.MkdirAll(filepath.Join(dir, "report.html", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, code := runSuiteIn(t, bin, dir)
		if code == 0 || !strings.Contains(out, "imsconform: reports: "+filepath.Join(dir, "report.html")) {
			t.Errorf("exit code %d; want non-zero and a line naming %s\n%s", code, filepath.Join(dir, "report.html"), tail(out))
		}
		for _, f := range []string{"junit.xml", "report.json", "trace.pcap"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s not written beside the report that failed: %v", f, err)
			}
		}
	})

	t.Run("two runs writing one report directory at once: one run's reports, whole; the other says so", func(t *testing.T) {
		dir := t.TempDir()
		type result struct {
			out  string
			code int
		}
		res := make(chan result, 2)
		for i := range 2 {
			go func() {
				// Both wait 1 s for a 401 that never comes, so that their
				// lifetimes overlap; the second rule set differs (profile).
				prof := []string{"a322", "ts24229"}[i]
				out, code := runSuiteIn(t, bin, dir, "-profile", prof, "-deviate", "5/no-answer", "-set", "timeouts.step=1s")
				res <- result{out, code}
			}()
		}
		r1, r2 := <-res, <-res
		loser := r1
		if !strings.Contains(r1.out, "was written by another run") {
			loser = r2
		}
		m := regexp.MustCompile(`was written by another run \(pid \d+ on [^)]*\) while this run was under way: it keeps that run's reports whole, and this run's reports are in (\S+)`).FindStringSubmatch(loser.out)
		if m == nil || loser.code == 0 {
			t.Fatalf("expected one run to say the directory was written by the other and exit non-zero:\n--- first\n%s\n--- second\n%s", tail(r1.out), tail(r2.out))
		}
		t.Cleanup(func() { os.RemoveAll(m[1]) })
		for _, d := range []string{dir, m[1]} {
			rep := readReport(t, d)
			j := readJUnit(t, filepath.Join(d, "junit.xml"))
			html, _ := os.ReadFile(filepath.Join(d, "report.html"))
			if !strings.Contains(string(html), "<title>imsconform report: fail · "+rep.Profile+"</title>") || len(j.Rules) != len(rep.Results) {
				t.Errorf("%s: report.json of profile %s (%d rules), report.html or junit.xml (%d testcases) of another run", d, rep.Profile, len(rep.Results), len(j.Rules))
			}
		}
		if readReport(t, dir).Profile == readReport(t, m[1]).Profile {
			t.Errorf("both directories hold the reports of one run")
		}
	})

	t.Run("SUT text reaches the terminal escaped", func(t *testing.T) {
		// A realm with ANSI sequences (clear the screen, set the window
		// title), quoted so that the deviation sends the bytes as they are:
		// the realm rule fails and prints what it observed.
		hostile := "\"\x1b[2J\x1b]0;owned\x07realm\""
		dir, code, out := runSuite(t, bin, "-deviate", "5/set-param/WWW-Authenticate/realm="+hostile, "-set", "timeouts.step=500ms", "-ginkgo.v")
		if code == 0 {
			t.Errorf("exit code 0: the realm rule must fail\n%s", tail(out))
		}
		if i := strings.IndexAny(out, "\x1b\x07"); i >= 0 {
			t.Errorf("raw control characters from the SUT reached the terminal at byte %d: %q", i, out[max(0, i-80):min(len(out), i+40)])
		}
		if !strings.Contains(out, "observed: \\x1b[2J\\x1b]0;owned\\arealm") {
			t.Errorf("expected the hostile realm shown escaped (\\x1b[2J…), not found\n%s", tail(out))
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "junit.xml")); bytes.ContainsAny(b, "\x1b\x07") {
			t.Error("junit.xml holds raw control characters")
		}
	})
}

// TestSuiteSecrets: K and OPc never appear in anything the suite writes or
// prints; with --mask-vectors neither does a nonce the SUT sent (here one
// of the test's, set by a deviation, so that it is known), while without it
// the nonce is shown (the check is not blind).
func TestSuiteSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the suite in a child process; not in -short")
	}
	bin := suiteBinary(t)
	const k, opc = "fec86ba6eb707ed08905757b1bb44b8f", "1006020f0a478bf6b699f15c062e42b3"
	const nonce = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	for _, masked := range []bool{false, true} {
		args := []string{"-set", "subscriber.k=" + k, "-set", "subscriber.opc=" + opc, "-set", "timeouts.step=500ms",
			"-deviate", "5/set-param/WWW-Authenticate/nonce=" + nonce, "-ginkgo.v"}
		if masked {
			args = append(args, "-mask-vectors")
		}
		dir, code, out := runSuite(t, bin, args...)
		if code == 0 {
			t.Fatalf("masked %v: exit 0, but the nonce's AUTN does not verify\n%s", masked, tail(out))
		}
		texts := map[string]string{"console": out}
		for _, f := range []string{"junit.xml", "report.html", "report.json", "trace.pcap"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			texts[f] = string(b)
		}
		for name, s := range texts {
			for _, secret := range []string{k, strings.ToUpper(k), opc, strings.ToUpper(opc), string(mustHex(k)), string(mustHex(opc))} {
				if strings.Contains(s, secret) {
					t.Errorf("masked %v: %s holds K or OPc", masked, name)
				}
			}
			if masked && strings.Contains(s, nonce) {
				t.Errorf("with --mask-vectors, %s holds the nonce", name)
			}
		}
		if !masked && (!strings.Contains(out, nonce) || !strings.Contains(texts["report.json"], nonce)) {
			t.Errorf("without --mask-vectors the console and report.json show the nonce: the check above would be blind")
		}
	}
}

// report is what the tests read of report.json.
type report struct {
	Profile string   `json:"profile"`
	Verdict string   `json:"verdict"`
	Errors  []string `json:"errors"`
	Results []struct {
		RuleID  string `json:"rule_id"`
		Verdict string `json:"verdict"`
		Reason  string `json:"reason"`
	} `json:"results"`
}

func readReport(t *testing.T, dir string) report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("report.json not written: %v", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return r
}

// runSuiteIn runs the suite binary with its reports in dir and returns its
// output and exit code.
func runSuiteIn(t *testing.T, bin, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-report-dir", dir, "-ginkgo.no-color"}, args...)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Errorf("running the suite: %v", err)
	}
	return string(out), 0
}

// checkInChromium loads the report in headless Chromium and fails on console
// errors or when the hostile value became markup.
func checkInChromium(t *testing.T, path string) {
	t.Helper()
	dom, console := tooltest.LoadInChromium(t, tooltest.Chromium(t), path, 90*time.Second)
	for _, line := range console {
		t.Errorf("console error in the report: %s", line)
	}
	if !strings.Contains(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(dom, "<script>alert(1)") {
		t.Errorf("in the rendered DOM the hostile value is not plain text")
	}
}

// syncBuilder is a strings.Builder safe for the two output streams of a child.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// markWriter passes writes on and closes seen once mark has been written.
type markWriter struct {
	w    *syncBuilder
	mark string
	seen chan struct{}
	once sync.Once
	acc  strings.Builder
}

func (m *markWriter) Write(p []byte) (int, error) {
	if m.acc.Len() < 1<<20 {
		m.acc.Write(p)
		if strings.Contains(m.acc.String(), m.mark) {
			m.once.Do(func() { close(m.seen) })
		}
	}
	return m.w.Write(p)
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

// TestSuiteInParallel runs the suite as `ginkgo -p` and `ginkgo -procs=4`
// do, many times: every run writes all four reports and the summary. (The
// flow's container is Serial, so Ginkgo runs it on process 1, the process
// that writes the reports: this is by Ginkgo's contract, not by luck; the
// runs check that contract against the Ginkgo in go.mod.)
// IMSCONFORM_PARALLEL_RUNS sets the number of runs of each (default 10).
func TestSuiteInParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Ginkgo's CLI and runs the suite in child processes; not in -short")
	}
	runs := tooltest.Count(t, "IMSCONFORM_PARALLEL_RUNS", 10)
	bin := suiteBinary(t)
	ginkgo := filepath.Join(t.TempDir(), "ginkgo")
	if out, err := exec.Command("go", "build", "-o", ginkgo, "github.com/onsi/ginkgo/v2/ginkgo").CombinedOutput(); err != nil {
		t.Fatalf("building the Ginkgo CLI: %v\n%s", err, out)
	}
	for _, procs := range []string{"-p", "-procs=4"} {
		for i := range runs {
			dir := t.TempDir()
			cmd := exec.Command(ginkgo, procs, "--no-color", bin, "--", "-report-dir", dir)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("ginkgo %s, run %d: %v\n%s", procs, i+1, err, tail(string(out)))
			}
			if procs == "-procs=4" && !strings.Contains(string(out), "Running in parallel across 4 processes") {
				t.Fatalf("ginkgo %s did not run 4 processes:\n%s", procs, tail(string(out)))
			}
			for _, f := range []string{"junit.xml", "report.html", "report.json", "trace.pcap"} {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("ginkgo %s, run %d: %s not written (%v)\n%s", procs, i+1, f, err, tail(string(out)))
				}
			}
			if rep := readReport(t, dir); rep.Verdict != "pass" || !strings.Contains(string(out), "verdict PASS") {
				t.Errorf("ginkgo %s, run %d: report.json verdict %q; want pass and the summary\n%s", procs, i+1, rep.Verdict, tail(string(out)))
			}
		}
	}
}
