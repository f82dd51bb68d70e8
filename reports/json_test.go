package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func decodeJSON(t *testing.T, r *Run) (map[string]any, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("report.json does not decode: %v\n%s", err, buf.Bytes())
	}
	return m, buf.Bytes()
}

func keys(t *testing.T, where string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: expected field %q, not present (have %v)", where, k, m)
		}
	}
}

func TestWriteJSONSchema(t *testing.T) {
	r := sampleRun()
	m, raw := decodeJSON(t, r)
	keys(t, "report", m, "schema_version", "tool", "profile", "target", "started", "finished",
		"duration_ms", "verdict", "counts", "errors", "diagnostics", "discovery", "deregistration", "lab", "tables", "steps", "results", "trace")
	if got := m["schema_version"]; got != float64(SchemaVersion) {
		t.Errorf("schema_version: expected %d, got %v", SchemaVersion, got)
	}
	if got := m["verdict"]; got != "error" {
		t.Errorf("verdict: expected the worst rule verdict \"error\", got %v", got)
	}
	if got := m["started"]; got != "2026-03-04T10:20:29.95Z" {
		t.Errorf("started: expected RFC 3339 UTC 2026-03-04T10:20:29.95Z, got %v", got)
	}
	if got := m["duration_ms"]; got != float64(2550) {
		t.Errorf("duration_ms: expected 2550, got %v", got)
	}
	counts := m["counts"].(map[string]any)
	for v, n := range map[string]float64{"pass": 3, "fail": 3, "inconc": 1, "none": 1, "error": 1} {
		if counts[v] != n {
			t.Errorf("counts.%s: expected %v, got %v", v, n, counts[v])
		}
	}

	results := m["results"].([]any)
	if len(results) != len(r.Results) {
		t.Fatalf("results: expected %d, got %d", len(r.Results), len(results))
	}
	for i, x := range results {
		res := x.(map[string]any)
		keys(t, "results[]", res, "rule_id", "table", "step", "verdict", "statement", "expected",
			"observed", "reason", "citation", "msg_seq")
		if res["rule_id"] != r.Results[i].RuleID {
			t.Errorf("results[%d].rule_id: expected %q (input order), got %v", i, r.Results[i].RuleID, res["rule_id"])
		}
	}
	sec := results[2].(map[string]any)
	if sec["observed"] != hostile1+"\n"+hostile2 {
		t.Errorf("results[2].observed: expected the SUT's value verbatim, got %q", sec["observed"])
	}

	var steps []string
	for _, x := range m["steps"].([]any) {
		s := x.(map[string]any)
		keys(t, "steps[]", s, "step", "seq", "received", "expected", "tables")
		steps = append(steps, s["step"].(string))
		wantRecv := s["step"] != "11" && s["step"] != "13"
		if s["received"] != wantRecv {
			t.Errorf("steps[%v].received: expected %v, got %v", s["step"], wantRecv, s["received"])
		}
	}
	if got := strings.Join(steps, ","); got != "2,5,7,10,11,13,14" {
		t.Errorf("steps: expected flow order 2,5,7,10,11,13,14, got %s", got)
	}

	tr := m["trace"].([]any)
	if len(tr) != 5 {
		t.Fatalf("trace: expected 5 messages, got %d", len(tr))
	}
	for _, x := range tr {
		msg := x.(map[string]any)
		keys(t, "trace[]", msg, "seq", "time", "proto", "transport", "dir", "role", "src", "dst",
			"note", "label", "parsed", "steps", "size", "encoding", "raw")
	}
	first := tr[0].(map[string]any)
	if first["encoding"] != "text" || first["raw"] != string(r.Trace[0].Raw) {
		t.Errorf("trace[0]: expected the REGISTER as text, got encoding %v raw %q", first["encoding"], first["raw"])
	}
	if first["label"] != "REGISTER sip:registrar.home1.net SIP/2.0" || first["src"] != "[::1]:40001" {
		t.Errorf("trace[0]: expected label of the start line and src [::1]:40001, got %v, %v", first["label"], first["src"])
	}
	bin := tr[3].(map[string]any)
	if bin["encoding"] != "base64" || bin["parsed"] != false {
		t.Errorf("trace[3]: expected base64 and parsed=false for the binary datagram, got %v, %v", bin["encoding"], bin["parsed"])
	}
	dec, err := base64.StdEncoding.DecodeString(bin["raw"].(string))
	if err != nil || !bytes.Equal(dec, r.Trace[3].Raw) {
		t.Errorf("trace[3].raw: expected base64 of the datagram's bytes, decodes to %x (err %v)", dec, err)
	}
	ok200 := tr[4].(map[string]any)
	if got := ok200["steps"].([]any); len(got) != 2 || got[0] != "10" || got[1] != "14" {
		t.Errorf("trace[4].steps: expected [10 14] (one message, two tables), got %v", got)
	}

	lab := m["lab"].(map[string]any)
	sub := lab["subscriber"].(map[string]any)
	if sub["k"] != "[redacted]" || sub["opc"] != "[redacted]" || sub["op"] != "" {
		t.Errorf("lab.subscriber: expected k and opc \"[redacted]\" and op \"\" (not given), got k=%v opc=%v op=%v", sub["k"], sub["opc"], sub["op"])
	}
	if sub["impi"] != "user1_private@home1.net" {
		t.Errorf("lab.subscriber.impi: expected user1_private@home1.net, got %v", sub["impi"])
	}
	for _, s := range []string{secretK, secretOPc, strings.ToUpper(secretK)} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("report.json contains the secret %s", s)
		}
	}
}

func TestWriteJSONDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 30; i++ { // map iteration order differs between runs
		var buf bytes.Buffer
		if err := WriteJSON(&buf, sampleRun()); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("WriteJSON: expected identical output for identical runs, got a difference on write %d", i+1)
		}
	}
}

func TestWriteJSONEmptyRun(t *testing.T) {
	m, _ := decodeJSON(t, &Run{})
	if m["verdict"] != "none" {
		t.Errorf("verdict of an empty run: expected none, got %v", m["verdict"])
	}
	if m["lab"] != nil {
		t.Errorf("lab of a run without one: expected null, got %v", m["lab"])
	}
	for _, k := range []string{"errors", "tables", "steps", "results", "trace"} {
		if a, ok := m[k].([]any); !ok || len(a) != 0 {
			t.Errorf("%s of an empty run: expected [], got %#v", k, m[k])
		}
	}
	if _, ok := m["started"]; ok {
		t.Errorf("started of a run with no start time: expected absent, got %v", m["started"])
	}

	m, _ = decodeJSON(t, &Run{Errors: []string{"could not bind [::1]:0"}})
	if m["verdict"] != "error" {
		t.Errorf("verdict of a run with a harness error: expected error, got %v", m["verdict"])
	}
}

func TestWritersRejectNil(t *testing.T) {
	var buf bytes.Buffer
	for name, err := range map[string]error{
		"WriteJSON": WriteJSON(&buf, nil), "WriteHTML": WriteHTML(&buf, nil), "WritePcap": WritePcap(&buf, nil),
		"WriteJSON(nil writer)": WriteJSON(nil, &Run{}), "WriteHTML(nil writer)": WriteHTML(nil, &Run{}),
	} {
		if err == nil || !strings.Contains(err.Error(), "expected") {
			t.Errorf("%s: expected an error saying what was expected, got %v", name, err)
		}
	}
}
