package reports

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
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

// floodedRun is sampleRun after 100,000 unrelated datagrams from four peers
// reached the UE and the VCC App, recorded through a real trace.
func floodedRun() *Run {
	r := sampleRun()
	tr := trace.New()
	for _, m := range r.Trace {
		tr.Add(m)
	}
	ue := netip.MustParseAddrPort("[::1]:40001")
	for i := range 100000 {
		src := netip.AddrPortFrom(netip.MustParseAddr("::1"), uint16(50000+i%4))
		raw := []byte("OPTIONS sip:flood SIP/2.0\r\nX-N: " + strings.Repeat("<\"", i%50) + "\r\n\r\n")
		if i%3 == 0 {
			raw = []byte{0xde, 0xad, byte(i), byte(i >> 8)}
		}
		role := "UE"
		if i/4%2 == 1 {
			role = "VCCApp"
		}
		tr.AddUnrelated(trace.Message{Proto: trace.SIP, Transport: "UDP", Dir: trace.Received, Role: role,
			Src: src, Dst: ue, Raw: raw, Time: r.Started.Add(time.Duration(i) * time.Microsecond)})
	}
	r.Trace, r.Tallies = tr.Messages(), tr.Tallies()
	return r
}

func TestFloodedRunIsSummarisedAndBounded(t *testing.T) {
	r := floodedRun()
	var jb, hb, sb bytes.Buffer
	if err := WriteJSON(&jb, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&hb, r); err != nil {
		t.Fatal(err)
	}
	Summary(&sb, r)
	if jb.Len() > 1<<20 || hb.Len() > 1<<20 {
		t.Errorf("after 100,000 unrelated datagrams: report.json %d bytes, report.html %d bytes; want each under 1 MiB", jb.Len(), hb.Len())
	}
	var rep struct {
		Trace []struct {
			Unrelated bool `json:"unrelated"`
		} `json:"trace"`
		Tallies []struct {
			Role      string `json:"role"`
			Peer      string `json:"peer"`
			Unrelated int    `json:"unrelated"`
			Kept      int    `json:"kept"`
			Dropped   int    `json:"dropped"`
			First     string `json:"first"`
		} `json:"tallies"`
	}
	if err := json.Unmarshal(jb.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	sum, kept := 0, 0
	for _, tl := range rep.Tallies {
		sum += tl.Unrelated
		kept += tl.Kept
		if tl.Kept+tl.Dropped != tl.Unrelated || tl.First == "" || tl.Peer == "" {
			t.Errorf("tally %+v: want kept + dropped = unrelated, a first time and a peer", tl)
		}
	}
	unrelated := 0
	for _, m := range rep.Trace {
		if m.Unrelated {
			unrelated++
		}
	}
	if len(rep.Tallies) != 8 || sum != 100000 || kept != unrelated || unrelated != 4*2*10 {
		t.Errorf("report.json: %d tallies counting %d unrelated, %d kept, %d unrelated messages in the trace; want 8 (4 peers × 2 roles), 100000, 80, 80", len(rep.Tallies), sum, kept, unrelated)
	}
	html := hb.String()
	assertNoActiveContent(t, html)
	for _, want := range []string{`id="traffic"`, "100000 messages from 4 peers", `id="unrelated"`,
		`<g class="unrelated">`, `<g class="folded">`, "… 77 more unrelated messages from 4 peers", "(unrelated to the run)",
		">[::1]:50000</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html after a flood: expected %q, not found", want)
		}
	}
	if !strings.Contains(sb.String(), "unrelated traffic: 100000 messages from 4 peers, 80 kept") {
		t.Errorf("summary after a flood: expected the unrelated traffic counted, got\n%s", sb.String())
	}
}

// worstRun is as much as a hostile SUT can put into a run, past the trace's
// own limits: the reports must bound themselves.
func worstRun() *Run {
	r := sampleRun()
	hostile := strings.Repeat(`"<&'`, 16<<10) // 64 KiB, each byte escaped as an entity
	bin := bytes.Repeat([]byte{0x80, '<'}, 32<<10)
	r.Trace = r.Trace[:0]
	for i := range 5000 {
		raw := []byte("SIP/2.0 200 OK\r\nX: " + hostile)
		if i%2 == 1 {
			raw = bin
		}
		r.Trace = append(r.Trace, trace.Message{Seq: i + 1, Proto: trace.SIP, Transport: "UDP", Role: "UE",
			Dir: trace.Received, Raw: raw[:64<<10], Unrelated: i%3 == 0, Note: hostile})
	}
	r.Steps = map[string]int{"2": 1, "5": 2, "7": 3, "10": 4, "14": 4, "11": 5, "13": 6}
	for i := range 300 {
		r.Results = append(r.Results, check.Result{RuleID: fmt.Sprintf("A.3.2.2-5/X/%d", i), Table: "A.3.2.2-5",
			Verdict: check.Fail, Expected: hostile, Observed: hostile, Reason: hostile, Statement: hostile, MsgSeq: 2})
	}
	for i := range 200 {
		r.Tallies = append(r.Tallies, trace.Tally{Role: hostile[:100], Peer: netip.AddrPortFrom(netip.IPv6Loopback(), uint16(i)), Unrelated: 1})
	}
	return r
}

// HTMLBound is the most report.html may weigh, whatever the SUT sends
// (README and SCHEMA.md state it).
const HTMLBound = 12 << 20

func TestHTMLIsBoundedWhateverTheSUTSends(t *testing.T) {
	var hb bytes.Buffer
	if err := WriteHTML(&hb, worstRun()); err != nil {
		t.Fatal(err)
	}
	if hb.Len() > HTMLBound {
		t.Errorf("report.html of the worst run: %d bytes, want at most %d", hb.Len(), HTMLBound)
	}
	t.Logf("report.html of the worst run: %d bytes", hb.Len())
	out := hb.String()
	for _, want := range []string{"… 4400 more messages not drawn", "body not shown", "more messages not listed here"} {
		if !strings.Contains(out, want) {
			t.Errorf("report.html of the worst run: expected %q, not found", want)
		}
	}
}
