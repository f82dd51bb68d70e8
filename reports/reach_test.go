package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"imsconform/harness/check"
)

// reachRun is sampleRun against a lab: diagnostics, a discovered P-CSCF, a
// de-registration (messages 6 and 7), and a Cx table whose every rule is
// none because the harness does not play the HSS.
func reachRun() *Run {
	r := sampleRun()
	r.Diagnostics = []Diagnostic{
		{Code: "auth-keys-mismatch", Message: "the AUTN of the 401 failed verification (MAC-A wrong)"},
		{Code: "unparseable", Message: "the SUT sent 1 SIP message(s) that do not parse; the first is message #4 " + hostile1},
	}
	r.Discovery = &Discovery{Input: "ims.example.net", Method: "RFC 3263", Targets: []string{"[2001:db8::5]:5060", "192.0.2.5:5060"},
		Steps: []string{"NAPTR ims.example.net: SIP+D2U (order 10, pref 10, flags \"s\") -> _sip._udp.ims.example.net", "chose [2001:db8::5]:5060"}}
	dereg := sampleRun().Trace[0]
	dereg.Seq = 6
	ok := sampleRun().Trace[4]
	ok.Seq = 7
	r.Trace = append(r.Trace, dereg, ok)
	r.Deregistration = &Deregistration{Seqs: []int{6, 7}, Status: 200}
	r.Tables = append(r.Tables, TableInfo{ID: "Cx-3-UAR", Title: "Cx UAR (step 3)", Step: "3.UAR", From: "x-CSCF", To: "HSS"})
	r.Results = append(r.Results, check.Result{RuleID: "Cx-3-UAR/Session-Id/present", Table: "Cx-3-UAR", Step: "3.UAR",
		Verdict: check.None, Reason: "cx_observed is off in this lab"})
	return r
}

func TestReportsShowDiagnosticsFirstAndNoCxWhenNotPlayed(t *testing.T) {
	r := reachRun()
	var sum bytes.Buffer
	Summary(&sum, r)
	lines := strings.Split(sum.String(), "\n")
	if !strings.HasPrefix(lines[1], "  diagnostic auth-keys-mismatch: the AUTN") || !strings.HasPrefix(lines[2], "  diagnostic unparseable: ") {
		t.Errorf("summary: expected the diagnostics right after the first line, got:\n%s", sum.String())
	}
	if strings.Contains(sum.String(), "3.UAR") {
		t.Errorf("summary: a step whose every rule is none is not a message that never came:\n%s", sum.String())
	}
	for _, want := range []string{"not received: step 11", "P-CSCF ims.example.net (RFC 3263): [2001:db8::5]:5060 (1 more: 192.0.2.5:5060)", "de-registered (REGISTER expires 0): 200"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary: expected %q in:\n%s", want, sum.String())
		}
	}

	var h bytes.Buffer
	if err := WriteHTML(&h, r); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	di, mi := strings.Index(page, `id="diagnostics"`), strings.Index(page, `id="missing"`)
	if di < 0 || mi < 0 || di > mi || di > strings.Index(page, `id="ladder"`) {
		t.Errorf("HTML: expected the diagnostics at the top, before the missing messages and the ladder (at %d, %d)", di, mi)
	}
	missing := page[mi : strings.Index(page[mi:], "</div>")+mi]
	if strings.Contains(missing, "3.UAR") || !strings.Contains(missing, "step 11") {
		t.Errorf("HTML: \"Messages that never came\" must list step 11 and not the Cx step: %s", missing)
	}
	if strings.Contains(page, "step 3.UAR never came") {
		t.Error("HTML: the ladder shows the Cx step as never came")
	}
	if !strings.Contains(page, "de-registration (TS 24.229 5.1.1.6)") || !strings.Contains(page, `id="discovery"`) || !strings.Contains(page, "chose [2001:db8::5]:5060") {
		t.Error("HTML: expected the de-registration in the ladder and the discovery's steps")
	}
	if strings.Contains(page, hostile1) {
		t.Error("HTML: a diagnostic carries SUT text: it must be escaped")
	}

	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Diagnostics []struct{ Code, Message string }
		Discovery   struct {
			Input, Method  string
			Targets, Steps []string
		}
		Deregistration struct {
			Status int
			Error  string
			Seqs   []int
		}
		Steps []struct {
			Step     string
			Received bool
			Expected bool
		}
	}
	if err := json.Unmarshal(j.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Diagnostics) != 2 || m.Diagnostics[0].Code != "auth-keys-mismatch" || m.Discovery.Method != "RFC 3263" || len(m.Discovery.Targets) != 2 ||
		m.Deregistration.Status != 200 || len(m.Deregistration.Seqs) != 2 {
		t.Errorf("JSON: diagnostics %+v discovery %+v deregistration %+v", m.Diagnostics, m.Discovery, m.Deregistration)
	}
	for _, s := range m.Steps {
		if want := s.Step != "3.UAR"; s.Expected != want {
			t.Errorf("JSON steps[%s].expected = %v, want %v", s.Step, s.Expected, want)
		}
	}
}

func TestJSONWithoutReachParts(t *testing.T) {
	var j bytes.Buffer
	if err := WriteJSON(&j, sampleRun()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"diagnostics": []`, `"discovery": null`, `"deregistration": null`} {
		if !strings.Contains(j.String(), want) {
			t.Errorf("JSON: expected %s", want)
		}
	}
}
