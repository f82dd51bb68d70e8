package reports

import (
	"time"

	"imsconform/harness/check"
	"imsconform/harness/lab"
	"imsconform/harness/rundiff"
	"imsconform/harness/trace"
)

// Run is everything a report is made of. Any field may be empty; a nil Lab,
// nil slices and a nil map are fine.
type Run struct {
	Tool              string // "imsconform" + version
	Started, Finished time.Time
	Profile           string // scenario profile: "a322" or "ts24229"
	Target            string // e.g. "embedded reference core (P-CSCF [::1]:40123)"
	// Lab is the lab profile. It is always written redacted: an allow-list of
	// fields, and K, OP, OPc only as "[redacted]".
	Lab     *lab.Profile
	Results []check.Result  // one per rule, in the scenario's rule order
	Trace   []trace.Message // every captured message, in capture order
	// ESP are the ESP packets of an IPsec run (sut.ipsec), in capture
	// order: the pcap holds them as on the wire, in place of the messages
	// they carried.
	ESP []trace.Packet
	// Steps maps a step id ("2", "5", "7", "10", "14", "11", "13") to the
	// trace Seq of its message; 0 or missing means the message never came.
	Steps  map[string]int
	Tables []TableInfo // the scenario's tables, in flow order
	Errors []string    // harness-level errors (could not start, interrupted)
	// Diagnostics are the run's findings a lab engineer can act on, one
	// line each; every report shows them first.
	Diagnostics []Diagnostic
	// Discovery is how a lab's P-CSCF was resolved; nil with the embedded
	// core.
	Discovery *Discovery
	// Deregistration is the de-registration that ended the run; nil when
	// the run did not register.
	Deregistration *Deregistration
	// Tallies count, per harness role and peer, the messages recorded as
	// unrelated to the run and those the trace did not keep
	// (trace.Trace.Tallies); reports summarise them.
	Tallies []trace.Tally
	// Gate is what the run is gated on and what it found beyond the
	// verdicts (expectations, baseline); nil means the default gate: must
	// rules, inconc not gating, no expectations.
	Gate *Gate
	// Catalogue identifies the rule catalogue the run was judged by, so that
	// two runs' reports can be compared knowing whether it changed.
	Catalogue *rundiff.Catalogue
	// Diff is the comparison with a baseline run, when one was given:
	// Write writes it beside the reports as diff.json and diff.html.
	Diff *rundiff.Diff

	// Reports says where Write wrote the files; Write sets it and
	// Summary prints it. It is not part of the JSON report.
	Reports Paths

	// Properties and Checks are more of the run for its JUnit: properties
	// of the run's testsuite, and testcases of its own beside the rules'
	// (a load run's ineffective share, its generator). Other reports do
	// not show them.
	Properties []Property
	Checks     []RunCheck
}

// Property is a name and a value, as plain text.
type Property struct{ Name, Value string }

// RunCheck is a check of the run itself: a testcase of the run's testsuite
// in the JUnit, failing when Failure is not "".
type RunCheck struct {
	Name    string // e.g. "imsconform/load/ineffective: at most 1 % ineffective registration attempts"
	Failure string // why it fails; "" when it passes
	Detail  string // its system-out
}

// TableInfo describes one table of the scenario.
type TableInfo struct {
	ID      string // e.g. "A.3.2.2-5"
	Title   string // e.g. "401 Unauthorized"
	Step    string // flow step of its message, e.g. "5"
	From    string // sending role: "UE", "SUT" (or "x-CSCF", "P-CSCF"...), "VCCApp"
	To      string // receiving role, as From
	Example string // the seed's example message, as printed in the spec
}

// Paths are the files Write wrote. A path is empty when its file could
// not be written.
type Paths struct {
	Dir   string
	JSON  string
	HTML  string
	Pcap  string
	JUnit string
	// DiffJSON and DiffHTML are the comparison with the baseline, when the
	// run had one.
	DiffJSON, DiffHTML string
}
