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
	"imsconform/harness/expect"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/rundiff"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
	"imsconform/harness/trace/mask"
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
	// MaskVectors overwrites the authentication vectors (RAND, AUTN,
	// XRES/RES, CK, IK, AUTS) in every report — the trace, the pcap, the
	// rules' values — for reports that leave the lab (harness/trace/mask).
	// The rules are judged on the messages as captured.
	MaskVectors bool
	// Gate says what fails the run (see reports.Gate).
	Gate   GateOptions
	Logger *slog.Logger
}

// GateOptions say what fails a run besides the rules at must level.
type GateOptions struct {
	// Level is the lowest rule level whose failures gate: must ("" too),
	// should or table.
	Level scenario.Level
	// FailOnInconc makes an inconc verdict gate.
	FailOnInconc bool
	// Expect is an expectations file (harness/expect): the results it
	// expects are shown and do not gate; a stale or differing entry gates.
	Expect string
	// StaleWarnOnly makes stale expectations warnings instead of problems.
	StaleWarnOnly bool
	// Baseline is the report.json of an earlier run: the run is compared
	// with it rule by rule (diff.json and diff.html beside the reports),
	// and a rule that regressed or newly fails at the gate's level gates.
	Baseline string
}

// Plan is a prepared run: the lab and the rules it will be judged by.
type Plan struct {
	Lab      *lab.Profile
	Profile  string
	Scenario *scenario.Scenario
	Rules    []scenario.Rule
	// Catalogue identifies the rules the run is judged by.
	Catalogue *rundiff.Catalogue
	// Program is the rules compiled (check.Compile), bound to the lab's
	// values when the flow has run.
	Program  *check.Program
	opts     Options
	expect   *expect.File    // Options.Gate.Expect, loaded
	baseline *rundiff.Report // Options.Gate.Baseline, read
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
	pl := &Plan{Lab: p, Profile: profile, Scenario: sc, Rules: rules, opts: opts, Catalogue: catalogue(sc.Name, rules), Program: check.Compile(rules)}
	g := opts.Gate
	if g.Level != "" {
		if _, err := scenario.ParseLevel(string(g.Level)); err != nil {
			return nil, fmt.Errorf("gate level: %w", err)
		}
	}
	if g.Expect != "" {
		if pl.expect, err = expect.Load(g.Expect); err != nil {
			return nil, err
		}
	}
	if g.Baseline != "" {
		if pl.baseline, err = rundiff.Read(g.Baseline); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	return pl, nil
}

// catalogue fingerprints the rules a run is judged by (rundiff.Fingerprint).
func catalogue(name string, rules []scenario.Rule) *rundiff.Catalogue {
	texts := make([]rundiff.RuleText, len(rules))
	for i, r := range rules {
		texts[i] = rundiff.RuleText{ID: r.ID, Level: string(r.Level), Statement: r.Statement}
	}
	return &rundiff.Catalogue{Scenario: name, Rules: len(rules), Fingerprint: rundiff.Fingerprint(texts)}
}

// Outcome is one executed run: every rule's result and everything captured.
type Outcome struct {
	Plan    *Plan
	Flow    *flow.Result
	Results []check.Result // masked with Options.MaskVectors
	// Errors are the run's harness errors: the flow's, and an interruption.
	Errors []string
	// Gate is what the run is gated on and what the gate found; Diff the
	// comparison with the baseline, when there is one.
	Gate   *reports.Gate
	Diff   *rundiff.Diff
	byID   map[string]int
	masker *mask.Masker // with Options.MaskVectors
}

// Execute runs the flow once and evaluates every rule of the plan.
//
// When ctx ends before the flow is done (a signal, a timeout: its cause says
// which), the run is the harness's error, never the SUT's failure: Errors
// says so, and every rule that failed or could not be judged because its
// message had not come yet gets the verdict error. Rules judged on messages
// that came before keep their verdicts.
func (pl *Plan) Execute(ctx context.Context) *Outcome {
	fr := flow.Run(ctx, flow.Options{Lab: pl.Lab, Deviations: pl.opts.Deviations, Logger: pl.opts.Logger})
	in := check.Input{Messages: fr.Messages, Missing: fr.Missing, NotDue: fr.NotDue, Facts: fr.Facts, Vars: fr.Vars, Deviated: map[string]bool{}, Packets: fr.Trace.Packets()}
	for _, d := range pl.opts.Deviations {
		in.Deviated[d.Step] = true // asked for: a broken stimulus there fails, it does not err
	}
	results := pl.Program.Bind(in.Vars).Evaluate(in)
	o := &Outcome{Plan: pl, Flow: fr, Results: results, byID: make(map[string]int, len(results))}
	if fr.Err != nil {
		o.Errors = append(o.Errors, fr.Err.Error())
		// The harness could not run the flow: no rule can be judged on its merits.
		for i := range results {
			if results[i].Verdict != check.None {
				results[i].Verdict = check.Error
				results[i].Reason = "harness error: " + fr.Err.Error()
			}
		}
	} else if ctx.Err() != nil {
		why := Interruption(ctx)
		o.Errors = append(o.Errors, why)
		for i := range results {
			r := &results[i]
			if _, missing := fr.Missing[r.Step]; !missing || (r.Verdict != check.Fail && r.Verdict != check.Inconc) {
				continue
			}
			r.Reason = fmt.Sprintf("not judged: %s before the message of step %s came (%s)", why, r.Step, r.Reason)
			r.Verdict = check.Error
		}
	}
	if pl.opts.MaskVectors {
		o.masker = mask.New()
		if fr.Trace != nil {
			o.masker.Messages(fr.Trace.Messages()) // learns the values
		}
		for _, m := range fr.Messages {
			o.masker.Message(m)
		}
		for i := range results {
			r := &results[i]
			r.Expected, r.Observed, r.Reason = o.masker.Text(r.Expected), o.masker.Text(r.Observed), o.masker.Text(r.Reason)
		}
		for i, e := range o.Errors {
			o.Errors[i] = o.masker.Text(e)
		}
	}
	for i, r := range results {
		o.byID[r.RuleID] = i
	}
	o.judgeGate()
	return o
}

// judgeGate applies the expectations and the baseline, and fills o.Gate.
func (o *Outcome) judgeGate() {
	pl, g := o.Plan, o.Plan.opts.Gate
	o.Gate = &reports.Gate{Level: g.Level, FailOnInconc: g.FailOnInconc}
	if f := pl.expect; f != nil {
		l := pl.Lab
		ex := expect.Apply(f, o.Results, expect.Run{Profile: pl.Profile, SUT: l.SUT.Name, SUTVersion: l.SUT.Version, Transport: l.SUT.Transport, Today: time.Now()},
			expect.Options{StaleWarnOnly: g.StaleWarnOnly})
		o.Gate.Expectations, o.Gate.Waived = f.Name, map[string]string{}
		for _, r := range ex.Rules {
			if r.Class == expect.Expected {
				o.Gate.Waived[r.RuleID] = r.Why
			}
		}
		o.Gate.Problems = append(o.Gate.Problems, ex.Problems...)
		o.Gate.Warnings = append(o.Gate.Warnings, ex.Warnings...)
	}
	if base := pl.baseline; base != nil {
		o.Gate.Baseline = base.File
		now := &rundiff.Report{SchemaVersion: 1, Profile: pl.Profile, Catalogue: pl.Catalogue, File: "this run"}
		if l := pl.Lab; l.SUT.Name != "" || l.SUT.Version != "" {
			now.Lab = &rundiff.LabInfo{SUTName: l.SUT.Name, SUTVersion: l.SUT.Version}
		}
		for _, r := range o.Results {
			now.Results = append(now.Results, rundiff.Result{RuleID: r.RuleID, Table: r.Table, Level: string(r.Level), Verdict: string(r.Verdict),
				Statement: r.Statement, Expected: r.Expected, Observed: r.Observed, Reason: r.Reason})
		}
		o.Diff = rundiff.Compare(base, now)
		level := string(g.Level)
		if level == "" {
			level = string(scenario.LevelMust)
		}
		for _, r := range o.Diff.Failures(level) {
			if o.Gate.Waived[r.RuleID] != "" {
				continue // expected by the expectations: known, waived
			}
			o.Gate.Problems = append(o.Gate.Problems, fmt.Sprintf("%s %s against the baseline %s: %s → %s", r.RuleID, r.Change, base.File, nz(r.Old), r.New))
		}
	}
}

func nz(s string) string {
	if s == "" {
		return "absent"
	}
	return s
}

// Interruption says why ctx ended, for a run's errors: "the run was
// interrupted: <cause>".
func Interruption(ctx context.Context) string {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return "the run was interrupted"
	case errors.Is(cause, context.Canceled):
		return "the run was interrupted (stopped by the test runner: a signal or its timeout)"
	case errors.Is(cause, context.DeadlineExceeded):
		return "the run was interrupted: it took longer than its time limit"
	}
	return "the run was interrupted: " + cause.Error()
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

// Verdict is the run's verdict: the worst of the verdicts that count at its
// gate (reports.Overall).
func (o *Outcome) Verdict() check.Verdict { return reports.Overall(o.gateRun()) }

// Passed reports whether the run passes its gate (reports.Passed): what
// the suite's exit status says.
func (o *Outcome) Passed() bool { return reports.Passed(o.gateRun()) }

// gateRun is the part of the report the gate reads.
func (o *Outcome) gateRun() *reports.Run {
	return &reports.Run{Results: o.Results, Errors: o.Errors, Gate: o.Gate}
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
		Tool:      "imsconform",
		Profile:   o.Plan.Profile,
		Lab:       o.Plan.Lab,
		Results:   o.Results,
		Steps:     map[string]int{},
		Errors:    append([]string(nil), o.Errors...),
		Gate:      o.Gate,
		Diff:      o.Diff,
		Catalogue: o.Plan.Catalogue,
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
			r.Trace, r.Tallies = f.Trace.Messages(), f.Trace.Tallies()
			if o.masker != nil {
				r.Trace = o.masker.Messages(r.Trace)
			}
			r.ESP = f.Trace.Packets()
		}
		for step, m := range f.Messages {
			r.Steps[step] = m.Seq
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

// WriteReports writes report.json, report.html, trace.pcap, junit.xml (and
// the diff with a baseline) into dir as one set (reports.Write) and a
// console summary to w. After an IPsec run (sut.ipsec) it writes beside the
// pcap the esp_sa file, Wireshark's table of the run's SAs with their keys
// (mode 0600: the one place the keys are written), with which Wireshark and
// tshark decrypt and authenticate the ESP packets (README); a run without
// SAs removes an esp_sa left there by an earlier one. It writes what it can
// even when one report fails; the error says which failed, or where the
// reports went instead.
func (o *Outcome) WriteReports(dir string, w io.Writer, opts reports.WriteOptions) error {
	var sa []esp.ESPSARecord
	if o.Flow != nil {
		sa = o.Flow.ESPSA
	}
	return writeReports(dir, w, o.Report(), opts, sa)
}

// WriteErrorReports writes the reports of a run that could not start (a
// broken lab file, a scenario that does not load): no rule, the verdict
// error, and err in the reports' errors.
func WriteErrorReports(dir string, w io.Writer, err error, opts reports.WriteOptions) error {
	r := &reports.Run{Tool: "imsconform", Started: opts.Started, Finished: time.Now(), Steps: map[string]int{}, Errors: []string{err.Error()}}
	return writeReports(dir, w, r, opts, nil)
}

func writeReports(dir string, w io.Writer, r *reports.Run, opts reports.WriteOptions, sa []esp.ESPSARecord) error {
	p, err := reports.Write(dir, r, opts)
	if p.Dir != "" {
		espSA := filepath.Join(p.Dir, ESPSAFile)
		if len(sa) > 0 {
			if werr := esp.WriteESPSAFile(espSA, sa); werr != nil {
				err = errors.Join(err, werr)
			} else if w != nil {
				fmt.Fprintf(w, "esp_sa: %s (the SAs' keys, for Wireshark beside trace.pcap: keep it secret)\n", espSA)
			}
		} else if rerr := os.Remove(espSA); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	if w != nil {
		reports.Summary(w, r)
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

// Describe gives an account of a result for a failing spec, one line per
// part. Every value is made printable (reports.Printable): the SUT's bytes
// never reach a terminal raw.
func Describe(r check.Result) string {
	p := reports.Printable
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n  expected: %s\n  observed: %s", p(string(r.Verdict)), p(r.Statement), p(r.Expected), p(r.Observed))
	if r.Reason != "" {
		fmt.Fprintf(&b, "\n  reason:   %s", p(r.Reason))
	}
	if r.Citation != "" {
		fmt.Fprintf(&b, "\n  citation: %s", p(r.Citation))
	}
	return b.String()
}
