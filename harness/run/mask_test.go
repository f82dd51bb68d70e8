package run_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imsconform/harness/diameter"
	"imsconform/harness/run"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/trace/mask"
	"imsconform/reports"
)

// A subscriber that is not the default's, so that its keys are known to be
// this test's.
const (
	testK   = "fec86ba6eb707ed08905757b1bb44b8f"
	testOPc = "1006020f0a478bf6b699f15c062e42b3"
)

// vectorValues are the vector material of a run, taken from the messages as
// captured: RAND‖AUTN, XRES, CK, IK of every MAA, the nonce and response of
// every Digest header.
func vectorValues(t *testing.T, msgs []trace.Message) (bin [][]byte, text []string) {
	t.Helper()
	for _, m := range msgs {
		switch m.Proto {
		case trace.Diameter:
			d, err := diameter.Unmarshal(m.Raw)
			if err != nil || d.Code != diameter.CmdMultimediaAuth || d.IsRequest() {
				continue
			}
			for _, item := range d.FindAll(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP) {
				members, err := item.Group()
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range members {
					if mask.Vector(a.Code, a.Vendor()) {
						bin = append(bin, a.Data)
					}
				}
			}
		default:
			p, err := sipmsg.Parse(m.Raw)
			if err != nil {
				continue
			}
			for _, h := range []string{"WWW-Authenticate", "Authorization"} {
				for _, v := range p.Values(h) {
					dg, err := sipmsg.ParseDigest(v.Text)
					if err != nil {
						continue
					}
					for _, name := range []string{"nonce", "response"} {
						if s, ok := dg.Params.Get(name); ok && s != "" {
							text = append(text, s)
						}
					}
				}
			}
		}
	}
	if len(bin) < 4 || len(text) < 3 {
		t.Fatalf("found %d vector AVPs and %d Digest values in the trace; want an MAA's 4 and a nonce, its echo and a response", len(bin), len(text))
	}
	return bin, text
}

// forms are the ways a report may carry a binary value.
func forms(b []byte) []string {
	return []string{string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), base64.StdEncoding.EncodeToString(b)}
}

// TestMaskVectors runs the flow twice against the embedded core: without
// --mask-vectors the reports carry the vectors (as Cx and SIP do); with it,
// no report (report.json, report.html, trace.pcap, junit.xml, the summary)
// holds RAND, AUTN, XRES, CK, IK, the nonce or the response in any form. K
// and OPc are in none of them either way.
func TestMaskVectors(t *testing.T) {
	set := map[string]string{"subscriber.k": testK, "subscriber.opc": testOPc}
	for _, masked := range []bool{false, true} {
		plan, err := run.Prepare(run.Options{Overrides: set, MaskVectors: masked})
		if err != nil {
			t.Fatal(err)
		}
		out := plan.Execute(context.Background())
		if v := out.Verdict(); v != "pass" {
			t.Fatalf("masked %v: verdict %s; masking must not change a verdict", masked, v)
		}
		bin, text := vectorValues(t, out.Flow.Trace.Messages())
		dir := t.TempDir()
		var summary bytes.Buffer
		junit := func(path string) error {
			// What the suite puts in the JUnit: every rule's values.
			var b strings.Builder
			for _, r := range out.Results {
				b.WriteString(r.Expected + " " + r.Observed + " " + r.Reason + " " + run.Describe(r) + "\n")
			}
			return os.WriteFile(path, []byte(b.String()), 0o644)
		}
		if err := out.WriteReports(dir, &summary, reports.WriteOptions{JUnit: junit}); err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{"summary": summary.Bytes()}
		for _, f := range []string{"report.json", "report.html", "trace.pcap", "junit.xml"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			files[f] = b
		}
		// report.json carries binary messages as base64: check their bytes.
		var rep struct {
			Trace []struct {
				Encoding string `json:"encoding"`
				Raw      string `json:"raw"`
			} `json:"trace"`
		}
		if err := json.Unmarshal(files["report.json"], &rep); err != nil {
			t.Fatal(err)
		}
		for _, m := range rep.Trace {
			if m.Encoding == "base64" {
				b, err := base64.StdEncoding.DecodeString(m.Raw)
				if err != nil {
					t.Fatal(err)
				}
				files["report.json trace, decoded"] = append(files["report.json trace, decoded"], b...)
			}
		}
		var secrets []string
		for _, k := range []string{testK, testOPc} {
			secrets = append(secrets, forms(mustHex(k))...)
		}
		found := func(vals []string) (string, string) {
			for name, b := range files {
				for _, v := range vals {
					if len(v) >= 4 && bytes.Contains(b, []byte(v)) {
						return name, v
					}
				}
			}
			return "", ""
		}
		if f, v := found(secrets); f != "" {
			t.Errorf("masked %v: %s holds K or OPc (%q)", masked, f, v)
		}
		var vectors []string
		for _, b := range bin {
			vectors = append(vectors, forms(b)...)
		}
		vectors = append(vectors, text...)
		f, v := found(vectors)
		switch {
		case masked && f != "":
			t.Errorf("with --mask-vectors, %s still holds vector material %q", f, v)
		case !masked:
			// Unmasked, the JSON and the pcap carry the MAA as captured.
			for _, name := range []string{"report.json trace, decoded", "trace.pcap"} {
				if !bytes.Contains(files[name], bin[2]) {
					t.Errorf("without --mask-vectors, %s lacks the CK of the MAA: the test would be blind", name)
				}
			}
		}
		if masked && !bytes.Contains(files["trace.pcap"], bytes.Repeat([]byte{mask.Fill}, 16)) {
			t.Error("with --mask-vectors, trace.pcap carries no masked AVP")
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
