package loadreport

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/load"
	"imsconform/harness/scenario"
	"imsconform/internal/tooltest"
	"imsconform/reports"
	"imsconform/scenarios"
)

// hostile is what a broken SUT puts in a header: markup, an attribute
// breakout and terminal escapes, which every report must show as text.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>` + "\x1b[2J"

var (
	fixtureOnce sync.Once
	fixture     *load.Report
	fixtureErr  string
)

// testReport is a real load run against the embedded core, broken on
// purpose: every 200 OK carries a hostile P-Associated-URI, so its rules
// fail for every UE with that value observed.
func testReport(t *testing.T) *load.Report {
	t.Helper()
	fixtureOnce.Do(func() {
		sc, err := scenario.Load(scenarios.FS, "ts24206")
		if err != nil {
			fixtureErr = err.Error()
			return
		}
		rules, _ := sc.Rules("a322")
		l := lab.DefaultFor("127.0.0.1")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		fixture = load.Run(ctx, load.Options{Lab: l, Rules: rules, Scenario: sc, Profile: "a322", Fingerprint: "test", UEs: 40, Rate: 200,
			Deviations: []deviation.Deviation{{Step: "10", Action: deviation.SetHeader, Header: "P-Associated-URI", Value: hostile}}})
	})
	if fixtureErr != "" {
		t.Fatal(fixtureErr)
	}
	if len(fixture.Errors) > 0 {
		t.Fatalf("the load run failed: %v", fixture.Errors)
	}
	return fixture
}

func writeSet(t *testing.T, rep *load.Report) (string, Options) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "load")
	o := Options{Gate: &reports.Gate{}, MaxIneffective: 1, Started: time.Now()}
	at, paths, err := Write(dir, rep, o)
	if err != nil || at != dir || len(paths) != 4 {
		t.Fatalf("Write: %s %v %v", at, paths, err)
	}
	return dir, o
}

func TestTheSetReadsBackAndGates(t *testing.T) {
	rep := testReport(t)
	dir, o := writeSet(t, rep)
	back, err := load.Read(filepath.Join(dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if back.Initial.Attempted != 40 || back.Initial.Causes[load.CauseFields] != 40 || back.Initial.RRD.Quantiles() != rep.Initial.RRD.Quantiles() || len(back.Rules) != len(rep.Rules) {
		t.Errorf("load.json read back: %+v", back.Initial)
	}
	if Passed(rep, o) {
		t.Error("a run whose every registration breaks a must rule: expected it to fail")
	}
	var sum bytes.Buffer
	Summary(&sum, rep, o)
	if bytes.ContainsRune(sum.Bytes(), '\x1b') || !strings.Contains(sum.String(), "FAIL") || !strings.Contains(sum.String(), "A.3.2.2-10/P-Associated-URI") {
		t.Errorf("summary:\n%s", sum.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, PcapFile)); len(b) < 24 || !bytes.Equal(b[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}) && !bytes.Equal(b[:4], []byte{0x4d, 0x3c, 0xb2, 0xa1}) {
		t.Errorf("load.pcap: expected a pcap file, got %d bytes", len(b))
	}
}

// The JUnit is the conformance run's writer's: one testcase per rule named
// by its id, classname its table, plus the load's own; xmllint validates it
// against reports/junit.xsd and python3-junitparser reads it, as CI does.
func TestJUnitReadByRealConsumers(t *testing.T) {
	xmllint := tooltest.Need(t, "xmllint", "libxml2-utils")
	python := tooltest.Python(t, "junitparser", "python3-junitparser")
	rep := testReport(t)
	dir, _ := writeSet(t, rep)
	file := filepath.Join(dir, JUnitFile)
	if out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("..", "junit.xsd"), file).CombinedOutput(); err != nil {
		t.Fatalf("xmllint --schema junit.xsd: %v\n%s", err, out)
	}
	script := `
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
n = 0
for suite in xml:
    for case in suite:
        n += 1
        kinds = [type(r).__name__ for r in case.result]
        print(case.classname + "|" + case.name.split(":")[0] + "|" + ",".join(kinds))
print("TOTAL %d" % n)
`
	out, err := exec.Command(python, "-c", script, file).CombinedOutput()
	if err != nil {
		t.Fatalf("junitparser: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "TOTAL "+strconv.Itoa(len(rep.Rules)+4)) {
		t.Errorf("junitparser: expected %d rule testcases and 4 of the run:\n%s", len(rep.Rules), lastLines(text))
	}
	for _, want := range []string{
		"A.3.2.2-10|A.3.2.2-10/P-Associated-URI/impus|Failure",
		"A.3.2.2-10|A.3.2.2-10/Status-Line/status|\n",
		"imsconform|imsconform/load/ineffective|Failure",
		"imsconform|imsconform/load/generator|",
		"Cx-9-SAR|Cx-9-SAR/User-Name/impi|\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("junitparser did not read %q", want)
		}
	}
	b, _ := os.ReadFile(file)
	if bytes.ContainsRune(b, '\x1b') || bytes.Contains(b, []byte("<script>")) {
		t.Error("junit.xml carries the SUT's markup or escapes raw")
	}
}

// load.html renders in a real browser: no console message, no script, the
// plots drawn, every rule listed, the hostile value as text.
func TestHTMLInChromium(t *testing.T) {
	bin := tooltest.Chromium(t)
	rep := testReport(t)
	dir, _ := writeSet(t, rep)
	dom, console := tooltest.LoadInChromium(t, bin, filepath.Join(dir, HTMLFile), 90*time.Second)
	if len(console) > 0 {
		t.Errorf("load.html: expected no console messages, got:\n%s", strings.Join(console, "\n"))
	}
	if !strings.Contains(dom, `id="overall"`) || strings.Count(dom, "<polyline") < 6 || !strings.Contains(dom, `id="r-A.3.2.2-10/P-Associated-URI/impus"`) {
		t.Errorf("dumped DOM: expected the verdict, both plots' six lines and the rules, got %d bytes", len(dom))
	}
	if n := strings.Count(strings.ToLower(dom), "<script"); n != 0 {
		t.Errorf("dumped DOM: %d script elements, want none", n)
	}
	if strings.Contains(dom, "<img") || !strings.Contains(dom, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("dumped DOM: expected the hostile P-Associated-URI as text, not markup")
	}
	for _, id := range []string{"phases", "plot-rate", "plot-latency", "generator", "repeats", "samples"} {
		if !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("dumped DOM: no section %s", id)
		}
	}
}

// A run of many seconds is drawn in buckets: a plot keeps at most
// maxPoints points, and its quantiles come from the merged seconds.
func TestLongRunsPlotInBuckets(t *testing.T) {
	var secs []load.Second
	for i := range 3000 {
		l := load.NewLatency()
		l.Record(time.Duration(i) * time.Millisecond)
		secs = append(secs, load.Second{T: int64(1_700_000_000 + i), Attempted: 10, Succeeded: 9, Ineffective: 1, RRD: l})
	}
	ps := plots(secs)
	for _, p := range ps {
		if p.Bucket != 5 {
			t.Errorf("%s: %d seconds a point, want 5", p.ID, p.Bucket)
		}
		for _, s := range p.Series {
			if n := len(strings.Fields(s.Points)); n != 600 {
				t.Errorf("%s %s: %d points, want 600", p.ID, s.Name, n)
			}
		}
	}
}

func lastLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-5):], "\n")
}
