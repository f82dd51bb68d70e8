package reports

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
)

// diameter builds a Diameter header (RFC 6733 3) with no AVPs.
func diameter(code uint32, request bool) []byte {
	b := make([]byte, 20)
	b[0] = 1
	b[3] = 20
	binary.BigEndian.PutUint32(b[4:], code)
	if request {
		b[4] = 0x80
	}
	return b
}

// oddRuns are inputs a harness in trouble can produce.
func oddRuns() map[string]*Run {
	huge := strings.Repeat("A", 3<<20)
	garbage := make([]byte, 70000)
	for i := range garbage {
		garbage[i] = byte(i*131 + 7)
	}
	return map[string]*Run{
		"zero":                         {},
		"nil lab, nil slices, nil map": {Tool: "imsconform", Lab: nil, Results: nil, Trace: nil, Steps: nil, Tables: nil},
		"empty lab":                    {Lab: &lab.Profile{}},
		"only harness errors":          {Errors: []string{"", "interrupted\x00\x1b[2J"}},
		"steps without messages": {
			Steps:  map[string]int{"2": 0, "5": -3, "7": 99, "": 1, "x": 2},
			Tables: []TableInfo{{ID: "A.3.2.2-5", Step: "5", From: "SUT", To: "SUT"}, {ID: "A.3.2.2-5", Step: "5"}, {}},
		},
		"odd messages": {
			Started: time.Unix(1<<40, 0), // later than every message
			Trace: []trace.Message{
				{Seq: 1, Proto: trace.SIP, Raw: nil},
				{Seq: 1, Proto: trace.SIP, Raw: []byte("\r\n\r\n"), Role: "UE", Dir: trace.Sent},
				{Seq: -2, Proto: trace.Diameter, Raw: diameter(300, true), Role: "HSS", Dir: trace.Received},
				{Seq: 3, Time: time.Unix(1000, 0), Proto: trace.Diameter, Raw: diameter(303, false), Role: "HSS", Dir: trace.Sent},
				{Seq: 4, Proto: trace.Diameter, Raw: []byte{1, 0, 0}, Role: "HSS"},
				{Seq: 5, Proto: "", Raw: garbage, Role: "who?", Dir: "sideways", Transport: "TCP"},
				{Seq: 6, Proto: trace.SIP, Raw: []byte(huge), Role: "VCCApp", Dir: trace.Received},
				{Seq: 7, Proto: trace.SIP, Raw: []byte("SIP/2.0 200 OK" + huge), Role: "SUT"},
				{Seq: 8, Proto: trace.SIP, Raw: []byte("INVITE sip:x SIP/2.0\xff\r\n\r\n"), Role: "UE"},
				{Seq: 9, Proto: trace.SIP, Raw: append([]byte(strings.Repeat("é", 40000)), 0xc3)},
			},
			Steps:  map[string]int{"2": 1, "5": 3, "11": 6},
			Tables: []TableInfo{{ID: "A.3.2.2-11", Step: "11", From: "SUT", To: "VCC Application"}},
		},
		"odd results": {
			Results: []check.Result{
				{},
				{RuleID: "r", Verdict: "maybe", MsgSeq: -1},
				{RuleID: "x/" + huge, Table: "x", Verdict: check.Pass, Expected: huge, Observed: huge + "\xff\xfe", Reason: huge, MsgSeq: 1 << 40},
				{RuleID: "T/f", Table: "T", Verdict: check.Fail, Observed: string(garbage)},
			},
		},
	}
}

func TestWritersNeverPanic(t *testing.T) {
	for name, r := range oddRuns() {
		t.Run(name, func(t *testing.T) {
			var jb, hb, pb, sb bytes.Buffer
			if err := WriteJSON(&jb, r); err != nil {
				t.Errorf("WriteJSON: %v", err)
			} else if !json.Valid(jb.Bytes()) {
				t.Error("WriteJSON: expected valid JSON")
			}
			if err := WriteHTML(&hb, r); err != nil {
				t.Errorf("WriteHTML: %v", err)
			}
			assertNoActiveContent(t, hb.String())
			if hb.Len() > 12<<20 {
				t.Errorf("WriteHTML: expected the page bounded by the display limits, got %d bytes", hb.Len())
			}
			_ = WritePcap(&pb, r) // its errors are harness/trace's; it must not panic
			Summary(&sb, r)
			if strings.ContainsAny(sb.String(), "\x00\x1b") {
				t.Errorf("Summary: expected control characters escaped, got %q", sb.String())
			}
			if _, err := WriteAll(t.TempDir(), r); err != nil {
				t.Logf("WriteAll: %v", err)
			}
		})
	}
}

func TestOddRunsDetails(t *testing.T) {
	runs := oddRuns()
	var hb bytes.Buffer
	if err := WriteHTML(&hb, runs["odd messages"]); err != nil {
		t.Fatal(err)
	}
	out := hb.String()
	for _, want := range []string{
		">HSS</text>", "Diameter UAR (300)", "Diameter MAA (303)", "unparseable Diameter message (3 bytes)",
		"keep-alive (CRLF)", "unparseable message (70000 bytes)", "not valid UTF-8: shown as hex",
		"more bytes not shown", "INVITE", "−", // negative relative time
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML of odd messages: expected %q, not found", want)
		}
	}

	var jb bytes.Buffer
	WriteJSON(&jb, runs["odd results"])
	var m map[string]any
	json.Unmarshal(jb.Bytes(), &m)
	if m["verdict"] != "error" {
		t.Errorf("verdict with an unknown rule verdict: expected error, got %v", m["verdict"])
	}
	if c := m["counts"].(map[string]any); c["error"] != float64(2) || c["pass"] != float64(1) || c["fail"] != float64(1) {
		t.Errorf("counts with unknown verdicts: expected error 2 (\"\" and \"maybe\"), pass 1, fail 1, got %v", c)
	}
	if v := m["results"].([]any)[1].(map[string]any)["verdict"]; v != "maybe" {
		t.Errorf("results[1].verdict: expected the unknown verdict kept verbatim, got %v", v)
	}
}
