package reports

import (
	"fmt"
	"strings"

	"imsconform/harness/check"
)

// Diagnostic is one finding of the run a lab engineer can act on (nothing
// listens at the P-CSCF, its name does not resolve, the SUT sent what does
// not parse, the keys do not match the HSS, …), shown first in every
// report.
type Diagnostic struct {
	Code    string // e.g. "pcscf-unreachable"
	Message string // one line
}

// Discovery is how a lab's P-CSCF was found (harness/discovery).
type Discovery struct {
	Input   string   // sut.pcscf as the lab gave it
	Method  string   // "literal", "A/AAAA" or "RFC 3263"
	Targets []string // addresses found, in order of preference; the run used the first
	Steps   []string // what was asked and answered, one line each
}

// Deregistration is the de-registration that ended the run (TS 24.229
// 5.1.1.6): not judged by any rule, shown so that a lab engineer sees the
// lab was left unregistered.
type Deregistration struct {
	Seqs   []int  // trace Seq of its messages: the UE's REGISTERs and their responses, then the S-CSCF's to the VCC Application
	Status int    // final status of the UE's REGISTER; 0 when none came
	Err    string // why it failed; "" after a 2xx
}

// notApplicable returns the steps that are not expected in this run: steps
// with at least one rule whose every rule is none (e.g. the Cx steps when
// the harness does not play the HSS). They are not "messages that never
// came".
func notApplicable(r *Run) map[string]bool {
	tableStep := map[string]string{}
	for _, t := range r.Tables {
		tableStep[t.ID] = t.Step
	}
	judged := map[string]bool{}
	seen := map[string]bool{}
	for _, res := range r.Results {
		s := tableStep[res.Table]
		if s == "" {
			s = res.Step
		}
		seen[s] = true
		if res.Verdict != check.None {
			judged[s] = true
		}
	}
	out := map[string]bool{}
	for s := range seen {
		if !judged[s] {
			out[s] = true
		}
	}
	return out
}

// deregLabels maps the trace Seq of each de-registration message to its
// ladder label.
func deregLabels(r *Run) map[int]string {
	if r.Deregistration == nil {
		return nil
	}
	m := map[int]string{}
	for _, s := range r.Deregistration.Seqs {
		m[s] = "de-registration (TS 24.229 5.1.1.6)"
	}
	return m
}

// deregLine is the one-line account of the de-registration; "" when the
// run did not de-register.
func deregLine(d *Deregistration) string {
	switch {
	case d == nil:
		return ""
	case d.Err != "":
		return "de-registration failed: " + d.Err
	case d.Status > 0:
		return fmt.Sprintf("de-registered (REGISTER expires 0): %d", d.Status)
	}
	return "de-registration: no final response"
}

// discoveryLine is the one-line account of how the P-CSCF was found; ""
// when nothing was resolved (an IP literal, or the embedded core).
func discoveryLine(d *Discovery) string {
	if d == nil || d.Method == "literal" || d.Method == "" {
		return ""
	}
	if len(d.Targets) == 0 {
		return fmt.Sprintf("P-CSCF %s (%s): not resolved", d.Input, d.Method)
	}
	more := ""
	if n := len(d.Targets) - 1; n > 0 {
		more = fmt.Sprintf(" (%d more: %s)", n, strings.Join(d.Targets[1:], ", "))
	}
	return fmt.Sprintf("P-CSCF %s (%s): %s%s", d.Input, d.Method, d.Targets[0], more)
}
