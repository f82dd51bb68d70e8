package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/check"
)

// The JUnit report (junit.xml) is written for the CI systems that read JUnit
// (GitLab, Jenkins, GitHub actions), which key a test's history on its name:
//
//   - one testsuite per table (its name the table and its title), one
//     testcase per rule: classname is the table id, name starts with the
//     stable rule id ("A.3.2.2-5/WWW-Authenticate/algorithm: algorithm is
//     AKAv1-MD5"), so editing a statement keeps the history;
//   - a rule's standing at the gate maps explicitly, never to a silent pass:
//     a gating fail is a <failure>, a gating error an <error>, an inconc a
//     <skipped> saying so (a <failure> with --fail-on-inconc), none, a
//     waived (expected) result, a result below the gate's level and the
//     second rule on one field of one message each a <skipped> whose message
//     says which;
//   - a last testsuite "imsconform" holds the run itself: the harness's
//     errors, the gate's problems (stale expectations, a missed
//     rules_in_scope pin, regressions against a baseline) and the number of
//     rules in scope, with the run's properties (profile, target, gate,
//     rules in scope) as plain text;
//   - every value from the SUT is made printable and cut (MaxJUnitText per
//     value), so that a file stays within GitLab's limits (30 MB a file,
//     500,000 test cases) whatever the SUT sends: a run of the 305 rules of
//     profile a322 writes under 1 MB.
//
// reports/junit.xsd is the schema the file follows (the common Ant/Jenkins
// form); a test validates each run's file against it with xmllint and reads
// it with python3-junitparser, as a CI system would.

// MaxJUnitText bounds one value (expected, observed, reason) in junit.xml.
const MaxJUnitText = 2048

// RunSuite names the testsuite of the run itself.
const RunSuite = "imsconform"

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties *junitProps     `xml:"properties"`
	Cases      []junitTestCase `xml:"testcase"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// jtext makes s printable for XML (control characters escaped, which XML
// 1.0 could not carry even as references) and cuts it to MaxJUnitText.
func jtext(s string) string { return truncate(printable(s), MaxJUnitText) }

// WriteJUnit writes the JUnit report of r (see the comment above).
func WriteJUnit(w io.Writer, r *Run) error {
	if r == nil {
		return errNilRun
	}
	tables := map[string]TableInfo{}
	for _, t := range r.Tables {
		tables[t.ID] = t
	}
	stamp := ""
	if !r.Started.IsZero() {
		stamp = r.Started.UTC().Format(time.RFC3339)
	}
	var order []string
	byTable := map[string][]check.Result{}
	for _, res := range r.Results {
		if _, seen := byTable[res.Table]; !seen {
			order = append(order, res.Table)
		}
		byTable[res.Table] = append(byTable[res.Table], res)
	}
	doc := junitSuites{Name: "imsconform " + jtext(r.Profile), Time: seconds(duration(r))}
	for _, id := range order {
		s := junitSuite{Name: jtext(strings.TrimSpace(id + " " + tables[id].Title)), Time: "0", Timestamp: stamp}
		for _, res := range byTable[id] {
			if st, _ := r.Gate.Judge(res); st != Left {
				s.add(ruleCase(r, res))
			}
		}
		if s.Tests > 0 {
			doc.Suites = append(doc.Suites, s)
		}
	}
	doc.Suites = append(doc.Suites, runSuite(r, stamp))
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("reports: writing the JUnit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: writing the JUnit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (s *junitSuite) add(c junitTestCase) {
	s.Tests++
	switch {
	case c.Failure != nil:
		s.Failures++
	case c.Error != nil:
		s.Errors++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// ruleCase is the testcase of one rule.
func ruleCase(r *Run, res check.Result) junitTestCase {
	c := junitTestCase{Name: jtext(res.RuleID + ": " + res.Statement), Classname: jtext(res.Table), Time: "0"}
	detail := fmt.Sprintf("verdict: %s\nlevel: %s\nexpected: %s\nobserved: %s", jtext(string(res.Verdict)), jtext(string(res.Level)), jtext(res.Expected), jtext(res.Observed))
	if res.Reason != "" {
		detail += "\nreason: " + jtext(res.Reason)
	}
	if res.Citation != "" {
		detail += "\ncitation: " + jtext(res.Citation)
	}
	c.SystemOut = detail
	v := effective(res.Verdict)
	st, why := r.Gate.Judge(res)
	reason := res.Reason
	if reason == "" {
		reason = fmt.Sprintf("expected %s, observed %s", res.Expected, res.Observed)
	}
	switch st {
	case Quiet:
		if v == check.None {
			c.Skipped = &junitMessage{Message: jtext("none (not applicable): " + res.Reason)}
		}
	case Gating:
		msg := &junitMessage{Message: jtext(string(v) + ": " + reason), Type: string(v), Text: detail}
		if v == check.Error {
			c.Error = msg
		} else {
			c.Failure = msg
		}
	case Inconc:
		c.Skipped = &junitMessage{Message: jtext("inconc (could not be judged; gates only with --fail-on-inconc): " + reason)}
	case Waived:
		c.Skipped = &junitMessage{Message: jtext("expected " + string(v) + " (waived): " + why)}
	default: // Below, Counted
		c.Skipped = &junitMessage{Message: jtext(why + " — " + string(v) + ": " + reason)}
	}
	return c
}

// runSuite is the testsuite of the run itself.
func runSuite(r *Run, stamp string) junitSuite {
	s := junitSuite{Name: RunSuite, Time: seconds(duration(r)), Timestamp: stamp}
	g := r.Gate
	level := g.level()
	props := []junitProp{
		{"tool", jtext(r.Tool)}, {"profile", jtext(r.Profile)}, {"target", jtext(r.Target)},
		{"verdict", string(Overall(r))}, {"gate_passed", strconv.FormatBool(Passed(r))},
		{"gate_level", string(level)}, {"rules_in_scope", strconv.Itoa(len(r.Results))},
		{"fields_judged", strconv.Itoa(Fields(r.Results).Total())},
	}
	if r.Catalogue != nil {
		props = append(props, junitProp{"catalogue", jtext(r.Catalogue.Scenario + " " + r.Catalogue.Fingerprint)})
	}
	if g != nil && g.Expectations != "" {
		props = append(props, junitProp{"expectations", jtext(g.Expectations)}, junitProp{"expected", strconv.Itoa(len(g.Waived))})
	}
	if g != nil && g.Baseline != "" {
		props = append(props, junitProp{"baseline", jtext(g.Baseline)})
	}
	for _, p := range r.Properties {
		props = append(props, junitProp{jtext(p.Name), jtext(p.Value)})
	}
	s.Properties = &junitProps{Props: props}

	flow := junitTestCase{Name: "imsconform/run: the flow ran and every rule was judged", Classname: RunSuite, Time: seconds(duration(r))}
	if len(r.Errors) > 0 {
		var lines []string
		for _, e := range r.Errors {
			lines = append(lines, jtext(e))
		}
		flow.Error = &junitMessage{Message: jtext("harness error: " + r.Errors[0]), Type: "error", Text: strings.Join(lines, "\n")}
	} else if len(r.Results) == 0 {
		flow.Error = &junitMessage{Message: "no rule was judged", Type: "error"}
	}
	s.add(flow)

	scope := junitTestCase{Name: "imsconform/rules-in-scope: " + strconv.Itoa(len(r.Results)) + " rules judged", Classname: RunSuite, Time: "0"}
	var pin, other []string
	if g != nil {
		for _, p := range g.Problems {
			if strings.Contains(p, "rules_in_scope") {
				pin = append(pin, jtext(p))
			} else {
				other = append(other, jtext(p))
			}
		}
	}
	if len(pin) > 0 {
		scope.Failure = &junitMessage{Message: pin[0], Type: "gate", Text: strings.Join(pin, "\n")}
	}
	s.add(scope)
	for _, c := range r.Checks {
		tc := junitTestCase{Name: jtext(c.Name), Classname: RunSuite, Time: "0", SystemOut: jtext(c.Detail)}
		if c.Failure != "" {
			tc.Failure = &junitMessage{Message: jtext(c.Failure), Type: "load", Text: jtext(c.Detail)}
		}
		s.add(tc)
	}

	if g != nil && (g.Expectations != "" || g.Baseline != "" || len(other) > 0) {
		gc := junitTestCase{Name: "imsconform/gate: the expectations and the baseline hold", Classname: RunSuite, Time: "0"}
		if len(other) > 0 {
			gc.Failure = &junitMessage{Message: jtext(fmt.Sprintf("%d gate problem(s): %s", len(other), other[0])), Type: "gate", Text: strings.Join(other, "\n")}
		}
		if len(g.Warnings) > 0 {
			ws := append([]string(nil), g.Warnings...)
			sort.Strings(ws)
			for i := range ws {
				ws[i] = jtext(ws[i])
			}
			gc.SystemOut = "warnings:\n" + strings.Join(ws, "\n")
		}
		s.add(gc)
	}
	return s
}
