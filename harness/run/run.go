// Package run owns the context of one conformance run: it resolves the
// lab (a file, environment and flag overrides, or the embedded reference core),
// loads the scenario's rules for the chosen profile, runs the registration flow
// once, evaluates every rule, and writes the reports.
//
// It is what the Ginkgo suites call; it knows nothing of Ginkgo. It is not the
// check engine (harness/check) nor the flow (harness/flow): it wires them.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
	"imsconform/reports"
	"imsconform/scenarios"
)

// ScenarioDir is the scenario the suite runs, inside scenarios.FS.
const ScenarioDir = "ts24206"

// Options select the lab and the profile of a run.
type Options struct {
	LabFile   string            // "" = $IMSCONFORM_LAB, else the embedded reference core
	Profile   string            // "" = the lab's profile (default a322)
	Overrides map[string]string // lab field overrides (YAML path -> value), e.g. from -set flags
	Environ   []string          // environment, read for IMSCONFORM_* overrides; nil = none
	// Deviations break the embedded reference core (or the harness's own
	// messages) on purpose, to watch rules fail; refused with a lab.
	Deviations []deviation.Deviation
	Logger     *slog.Logger
}

// Plan is a prepared run: the lab and the rules it will be judged by.
type Plan struct {
	Lab      *lab.Profile
	Profile  string
	Scenario *scenario.Scenario
	Rules    []scenario.Rule
	opts     Options
}

// Prepare resolves the lab and loads the rules. Its error says what is wrong
// and where (file:line), for the suite to report through a failing spec.
func Prepare(opts Options) (*Plan, error) {
	set := map[string]string{}
	for k, v := range opts.Overrides {
		set[k] = v
	}
	if opts.Profile != "" {
		set["profile"] = opts.Profile
	}
	file := opts.LabFile
	if file == "" {
		for _, kv := range opts.Environ {
			if v, ok := strings.CutPrefix(kv, lab.EnvLab+"="); ok {
				file = v
			}
		}
	}
	p, err := lab.Resolve(file, opts.Environ, set)
	if err != nil {
		return nil, err
	}
	if len(opts.Deviations) > 0 && p.SUT.PCSCF != "" {
		return nil, fmt.Errorf("deviations break the embedded reference core on purpose; the lab names a SUT (sut.pcscf %s), so they cannot apply", p.SUT.PCSCF)
	}
	for _, d := range opts.Deviations {
		if _, ok := deviation.ESPSteps[d.Action]; ok && !p.SUT.IPsec {
			return nil, fmt.Errorf("deviation %s breaks the IPsec security associations; the lab has none (sut.ipsec false): add --set sut.ipsec=true", d)
		}
	}
	sc, err := scenario.Load(scenarios.FS, ScenarioDir)
	if err != nil {
		return nil, err
	}
	profile := p.Profile
	if profile == "" {
		profile = "a322"
	}
	rules, err := sc.Rules(profile)
	if err != nil {
		return nil, err
	}
	return &Plan{Lab: p, Profile: profile, Scenario: sc, Rules: rules, opts: opts}, nil
}

// Outcome is one executed run: every rule's result and everything captured.
type Outcome struct {
	Plan    *Plan
	Flow    *flow.Result
	Results []check.Result
	byID    map[string]int
}

// Execute runs the flow once and evaluates every rule of the plan.
func (pl *Plan) Execute(ctx context.Context) *Outcome {
	fr := flow.Run(ctx, flow.Options{Lab: pl.Lab, Deviations: pl.opts.Deviations, Logger: pl.opts.Logger})
	in := check.Input{Messages: fr.Messages, Missing: fr.Missing, Facts: fr.Facts, Vars: fr.Vars, Deviated: map[string]bool{}, Packets: fr.Trace.Packets()}
	for _, d := range pl.opts.Deviations {
		in.Deviated[d.Step] = true // asked for: a broken stimulus there fails, it does not err
	}
	results := check.Evaluate(pl.Rules, in)
	if fr.Err != nil {
		// The harness could not run the flow: no rule can be judged on its merits.
		for i := range results {
			if results[i].Verdict != check.None {
				results[i].Verdict = check.Error
				results[i].Reason = "harness error: " + fr.Err.Error()
			}
		}
	}
	o := &Outcome{Plan: pl, Flow: fr, Results: results, byID: make(map[string]int, len(results))}
	for i, r := range results {
		o.byID[r.RuleID] = i
	}
	return o
}

// Result returns the result of one rule.
func (o *Outcome) Result(id string) (check.Result, bool) {
	if o == nil {
		return check.Result{}, false
	}
	i, ok := o.byID[id]
	if !ok {
		return check.Result{}, false
	}
	return o.Results[i], true
}

// Verdict is the run's verdict: the worst of its rules'.
func (o *Outcome) Verdict() check.Verdict {
	vs := make([]check.Verdict, len(o.Results))
	for i, r := range o.Results {
		vs[i] = r.Verdict
	}
	return check.Worst(vs...)
}

// Counts returns how many rules got each verdict.
func (o *Outcome) Counts() map[check.Verdict]int {
	c := map[check.Verdict]int{}
	for _, r := range o.Results {
		c[r.Verdict]++
	}
	return c
}

// Report builds the reports' input from the outcome.
func (o *Outcome) Report() *reports.Run {
	r := &reports.Run{
		Tool:    "imsconform",
		Profile: o.Plan.Profile,
		Lab:     o.Plan.Lab,
		Results: o.Results,
		Steps:   map[string]int{},
	}
	for _, t := range o.Plan.Scenario.Tables {
		info := reports.TableInfo{ID: t.ID, Title: t.Title, Step: t.Step, Example: t.Example}
		if st, ok := o.Plan.Scenario.Step(t.Step); ok {
			info.From, info.To = st.From, st.To
		}
		r.Tables = append(r.Tables, info)
	}
	if f := o.Flow; f != nil {
		r.Started, r.Finished, r.Target = f.Started, f.Finished, f.Target
		if f.Trace != nil {
			r.Trace = f.Trace.Messages()
			r.ESP = f.Trace.Packets()
		}
		for step, m := range f.Messages {
			r.Steps[step] = m.Seq
		}
		if f.Err != nil {
			r.Errors = append(r.Errors, f.Err.Error())
		}
		for _, d := range f.Diagnostics {
			r.Diagnostics = append(r.Diagnostics, reports.Diagnostic{Code: d.Code, Message: d.Message})
		}
		if d := f.Discovery; d != nil {
			rd := &reports.Discovery{Input: d.Input, Method: d.Method, Steps: d.Steps}
			for _, t := range d.Targets {
				rd.Targets = append(rd.Targets, t.String())
			}
			r.Discovery = rd
		}
		if d := f.Deregistration; d != nil {
			rd := &reports.Deregistration{Status: d.Status, Err: d.Err}
			for _, m := range append(append([]trace.Message{}, d.Messages...), d.ThirdParty...) {
				rd.Seqs = append(rd.Seqs, m.Seq)
			}
			r.Deregistration = rd
		}
		// Missing steps are not harness errors: the reports show them from
		// Steps (never came), and the rules on them carry the reason.
	}
	return r
}

// ESPSAFile is the name of the esp_sa file beside trace.pcap.
const ESPSAFile = "esp_sa"

// WriteReports writes report.json, report.html and trace.pcap into dir and a
// console summary to w. After an IPsec run (sut.ipsec) it writes beside the
// pcap the esp_sa file, Wireshark's table of the run's SAs with their keys
// (mode 0600: the one place the keys are written), with which Wireshark and
// tshark decrypt and authenticate the ESP packets (README); a run without
// SAs removes an esp_sa left in dir by an earlier one. It writes what it can
// even when one report fails.
func (o *Outcome) WriteReports(dir string, w io.Writer) error {
	run := o.Report()
	_, err := reports.WriteAll(dir, run)
	espSA := filepath.Join(dir, ESPSAFile)
	if o.Flow != nil && len(o.Flow.ESPSA) > 0 {
		if werr := esp.WriteESPSAFile(espSA, o.Flow.ESPSA); werr != nil {
			err = errors.Join(err, werr)
		} else if w != nil {
			fmt.Fprintf(w, "esp_sa: %s (the SAs' keys, for Wireshark beside trace.pcap: keep it secret)\n", espSA)
		}
	} else if rerr := os.Remove(espSA); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if w != nil {
		reports.Summary(w, run)
	}
	return err
}

// ResolveDir resolves a report directory the way a user means it: a relative
// path is taken from the directory the command was started from, not from the
// package directory the test binary runs in.
func ResolveDir(dir string) string {
	if dir == "" {
		dir = "out"
	}
	if filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join(StartDir(), dir)
}

// StartDir is the directory the user started the command from: the working
// directory of the process that launched this one (go test or ginkgo), which
// differs from ours because test binaries run in their package directory.
// IMSCONFORM_START_DIR wins when set.
func StartDir() string {
	if d := os.Getenv("IMSCONFORM_START_DIR"); d != "" {
		return d
	}
	if d, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", os.Getppid())); err == nil && d != "" {
		return d
	}
	if d, err := os.Getwd(); err == nil {
		return d
	}
	return "."
}

// Timeout is the longest a run may take: every waited step's timeout (the
// registration's, then the de-registration's), the wait for the HSS's
// peers when the harness plays the HSS for a lab, and slack (P-CSCF
// discovery included).
func (pl *Plan) Timeout() time.Duration {
	step := pl.Lab.Timeouts.Step
	if step <= 0 {
		step = 5 * time.Second
	}
	d := 9*step + 20*time.Second
	if pl.Lab.SUT.PCSCF != "" && pl.Lab.HSS.Plays() {
		d += pl.Lab.HSS.PeerTimeout
	}
	return d
}

// ErrNoResult is returned when a rule has no result in an outcome.
var ErrNoResult = errors.New("no result for rule")

// Describe gives a one-line account of a result for a failing spec.
func Describe(r check.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n  expected: %s\n  observed: %s", r.Verdict, r.Statement, r.Expected, r.Observed)
	if r.Reason != "" {
		fmt.Fprintf(&b, "\n  reason:   %s", r.Reason)
	}
	if r.Citation != "" {
		fmt.Fprintf(&b, "\n  citation: %s", r.Citation)
	}
	return b.String()
}
