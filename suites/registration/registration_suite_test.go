package registration_test

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/run"
	"imsconform/reports"
)

// Flags, passed after "--" to go tool ginkgo (or directly to go test).
var (
	labFile      = flag.String("lab", "", "lab profile YAML; none = the embedded reference core")
	profile      = flag.String("profile", "", "scenario profile: a322 (the tables as written) or ts24229; default: the lab's")
	reportDir    = flag.String("report-dir", "out", "where junit.xml, report.json, report.html and trace.pcap go; relative to the directory the command was started from")
	failOnInconc = flag.Bool("fail-on-inconc", false, "make an inconc verdict fail its spec (and the run)")
	gateLevel    = flag.String("gate", "must", "the lowest rule level whose failures fail the run: must, should (must and should) or table (all); every level is reported")
	expectFile   = flag.String("expect", "", "expectations file (YAML): known results of this SUT, shown and not gating; a stale, expired or differing entry gates")
	staleWarn    = flag.Bool("expect-stale-warn", false, "with --expect: a stale expectation only warns")
	baseline     = flag.String("baseline", "", "report.json of an earlier run: compare every rule (diff.json, diff.html beside the reports); a regression at the gate's level fails the run")
	maskVectors  = flag.Bool("mask-vectors", false, "overwrite the authentication vectors (RAND, AUTN, XRES/RES, CK, IK, AUTS) in every report, pcap and JUnit, for reports that leave the lab")
	sets         = &setsFlag{s: lab.Settings{}}
	deviations   deviation.Flag
)

// started is when this process started: a run of the suite that wrote the
// report directory after it ran at the same time as this one.
var started = time.Now()

func init() {
	flag.Var(sets, "set", "override a lab field, KEY=VALUE by its YAML path (e.g. sut.pcscf=127.0.0.1:5060); repeatable")
	flag.Var(&deviations, "deviate", "break the embedded reference core on purpose, STEP/ACTION[/HEADER[/PARAM]][=VALUE] (e.g. 5/set-param/WWW-Authenticate/algorithm=MD5); repeatable; not with a lab")
}

// setsFlag collects -set KEY=VALUE. Its String and errors never show a key
// (lab.Settings masks them), and Set never fails: the flag package would
// print the raw argument, K included; the problem fails a spec instead.
type setsFlag struct {
	s    lab.Settings
	errs []error
}

func (f *setsFlag) String() string {
	if f == nil {
		return ""
	}
	return f.s.String()
}

func (f *setsFlag) Set(v string) error {
	if err := f.s.Set(v); err != nil {
		f.errs = append(f.errs, err)
	}
	return nil
}

func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	prepare()
	RunSpecs(t, "TS 24.206 A.3.2.2 IMS registration conformance")
}

// outDir is where this run's reports go, resolved once.
func outDir() string { return run.ResolveDir(*reportDir) }

// The reports are written once, by Ginkgo's process 1, after every process
// has finished: with -p too, process 1 is the one that ran the flow (the
// container is Serial), so it holds the whole outcome. A report that cannot
// be written fails the suite and says which.
var _ = ReportAfterSuite("reports", func(report Report) {
	dir := outDir()
	opts := reports.WriteOptions{Started: started}
	fmt.Fprintln(os.Stdout) // after the progress dots
	var err error
	switch {
	case outcome != nil:
		if c := report.SuiteConfig; outcome.Gate != nil && (c.LabelFilter != "" || len(c.FocusStrings) > 0 || len(c.SkipStrings) > 0 || len(c.FocusFiles) > 0 || len(c.SkipFiles) > 0) {
			outcome.Gate.Only = selected // a filter chose the rules the run is about
		}
		err = outcome.WriteReports(dir, os.Stdout, opts)
	case planErr != nil:
		err = run.WriteErrorReports(dir, os.Stdout, planErr, opts)
	default:
		// No spec ran the flow (a filter matched none): the JUnit alone.
		_, err = reports.Write(dir, &reports.Run{Tool: "imsconform", Started: started, Errors: []string{"no spec ran: the flow did not run"}}, opts)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "imsconform: %s\n", reports.Printable(err.Error()))
		Expect(err).NotTo(HaveOccurred(), "writing the reports")
	}
})
