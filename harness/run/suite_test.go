package run_test

// These tests run the Ginkgo conformance suite as a user does, in a child
// process, and judge what the user sees: the exit code, the JUnit, the reports.

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imsconform/harness/scenario"
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

type junitSuites struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitSuites {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JUnit not written: %v", err)
	}
	var j junitSuites
	if err := xml.Unmarshal(b, &j); err != nil {
		t.Fatalf("JUnit %s does not parse: %v", path, err)
	}
	if len(j.Suites) != 1 {
		t.Fatalf("JUnit: expected 1 testsuite, saw %d", len(j.Suites))
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
		s := j.Suites[0]
		if len(s.Cases) != len(rules) || s.Failures != 0 || s.Errors != 0 {
			t.Errorf("JUnit: %d testcases (want %d, one per rule), %d failures, %d errors", len(s.Cases), len(rules), s.Failures, s.Errors)
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
			if j.Suites[0].Failures != len(c.want) {
				t.Errorf("JUnit failures = %d, want %d", j.Suites[0].Failures, len(c.want))
			}
		})
	}

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
		if j.Suites[0].Failures != 1 || !strings.Contains(out, "lab.yaml:3") {
			t.Errorf("want one failing spec naming lab.yaml:3; JUnit failures %d\n%s", j.Suites[0].Failures, tail(out))
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
		if len(j.Suites[0].Cases) == 0 {
			t.Errorf("JUnit written with no testcase after an interrupt")
		}
		for _, f := range []string{"report.html", "report.json", "trace.pcap"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s not written after an interrupt: %v\n%s", f, err, tail(buf.String()))
			}
		}
	})
}

// checkInChromium loads the report in headless Chromium and fails on console
// errors or when the hostile value became markup.
func checkInChromium(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("IMSCONFORM_REQUIRE_TOOLS") == "1" {
			t.Fatalf("chromium not installed (apt-get install chromium) and IMSCONFORM_REQUIRE_TOOLS=1")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+path)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console error in the report: %s", line)
		}
	}
	dom := stdout.String()
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
