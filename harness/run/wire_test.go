package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"imsconform/harness/lab"
	"imsconform/internal/tooltest"
	"imsconform/reports"
)

// needRawESP skips without raw sockets (fails under IMSCONFORM_REQUIRE_TOOLS=1).
func needRawESP(t *testing.T, addr string) {
	t.Helper()
	tooltest.NeedRawESP(t, lab.RawESP(netip.MustParseAddr(addr)))
}

// wireRun is one run of the flow with its reports, console and debug log.
type wireRun struct {
	dir, console, log string
	report            struct {
		Trace []struct {
			Seq      int    `json:"seq"`
			Proto    string `json:"proto"`
			Role     string `json:"role"`
			Dir      string `json:"dir"`
			Encoding string `json:"encoding"`
			Raw      string `json:"raw"`
			ESP      *struct {
				SPI uint32 `json:"spi"`
			} `json:"esp"`
		} `json:"trace"`
	}
}

func runWith(t *testing.T, set map[string]string) *wireRun {
	t.Helper()
	var logBuf, console bytes.Buffer
	pl, err := Prepare(Options{Overrides: set, Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pl.Timeout())
	defer cancel()
	o := pl.Execute(ctx)
	if o.Flow.Err != nil {
		t.Fatalf("%v: %v", set, o.Flow.Err)
	}
	w := &wireRun{dir: t.TempDir()}
	if err := o.WriteReports(w.dir, &console, reports.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.console, w.log = console.String(), logBuf.String()
	raw, err := os.ReadFile(filepath.Join(w.dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &w.report); err != nil {
		t.Fatal(err)
	}
	for _, r := range o.Results {
		if r.Verdict == "fail" && r.Level == "must" || r.Verdict == "error" {
			t.Errorf("%v: %s is %s: %s", set, r.RuleID, r.Verdict, r.Reason)
		}
	}
	return w
}

// frame is one frame as tshark dissects it.
type frame struct {
	protocols, spi, icvGood, icvBad string
}

func (f frame) has(proto string) bool {
	return strings.Contains(":"+f.protocols+":", ":"+proto+":")
}

// dissect runs tshark over the run's pcap with no setting of the user's
// but, for ESP, the two decode preferences and the esp_sa lines as -o.
func dissect(t *testing.T, tshark string, w *wireRun) []frame {
	t.Helper()
	args := []string{"-n", "-r", filepath.Join(w.dir, "trace.pcap")}
	if lines := espSALines(t, w.dir); len(lines) > 0 {
		args = append(args, "-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE")
		for _, l := range lines {
			args = append(args, "-o", "uat:esp_sa:"+l)
		}
	}
	args = append(args, "-T", "fields", "-E", "separator=|", "-e", "frame.protocols", "-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad")
	cmd := exec.Command(tshark, args...)
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+t.TempDir()) // no user profile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var fs []frame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 4 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		fs = append(fs, frame{f[0], f[1], f[2], f[3]})
	}
	return fs
}

func espSALines(t *testing.T, dir string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, ESPSAFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// Every pcap a run writes dissects with no user setting: every SIP message
// of the trace is a SIP frame (Wireshark's heuristics find SIP on the
// ephemeral ports), every Diameter message a Diameter frame (the HSS's end
// is written on port 3868). Under sut.ipsec the run writes esp_sa beside the
// pcap (mode 0600), and with it tshark decrypts every ESP packet, finds its
// ICV good, and finds inside each the SIP message the trace says it carried
// — over UDP and TCP, IPv6 and IPv4, null, AES-CBC and 3DES-CBC. Without
// sut.ipsec there is no esp_sa and no ESP.
func TestRunPcapDissects(t *testing.T) {
	tshark := tooltest.Need(t, "tshark", "tshark")
	for _, c := range []struct {
		host, transport string
		ipsec           bool
		algs            string
	}{
		{"::1", "udp", false, ""},
		{"127.0.0.1", "tcp", false, ""},
		{"::1", "udp", true, "hmac-sha-1-96"},
		{"::1", "tcp", true, "hmac-md5-96/aes-cbc"},
		{"127.0.0.1", "udp", true, "hmac-sha-1-96/des-ede3-cbc"},
		{"127.0.0.1", "tcp", true, "hmac-sha-1-96/aes-cbc"},
	} {
		name := fmt.Sprintf("%s/%s/ipsec=%v/%s", c.transport, c.host, c.ipsec, c.algs)
		t.Run(name, func(t *testing.T) {
			set := map[string]string{"ue.address": c.host, "sut.transport": c.transport, "vcc_app.listen": net.JoinHostPort(c.host, "0")}
			if c.ipsec {
				needRawESP(t, c.host)
				set["sut.ipsec"], set["ue.sec_algorithms"] = "true", c.algs
			}
			w := runWith(t, set)
			var sip, dia, protected int
			for _, m := range w.report.Trace {
				switch m.Proto {
				case "SIP":
					sip++
					if m.ESP != nil {
						protected++
					}
				case "Diameter":
					dia++
				}
			}
			frames := dissect(t, tshark, w)
			var gotSIP, gotDia, espFrames, espSIP int
			for _, f := range frames {
				if f.has("sip") {
					gotSIP++
				}
				if f.has("diameter") {
					gotDia++
				}
				if f.has("esp") {
					espFrames++
					if f.icvGood != "1" || f.icvBad == "1" {
						t.Errorf("ESP SPI %s: ICV good %q bad %q", f.spi, f.icvGood, f.icvBad)
					}
					if !f.has("udp") && !f.has("tcp") {
						t.Errorf("ESP SPI %s not decrypted (protocols %s)", f.spi, f.protocols)
					}
					if f.has("sip") {
						espSIP++
					}
				}
			}
			if gotSIP != sip || gotDia != dia || sip == 0 || dia == 0 {
				t.Errorf("tshark found %d SIP and %d Diameter frames; the trace holds %d SIP and %d Diameter messages", gotSIP, gotDia, sip, dia)
			}
			fi, err := os.Stat(filepath.Join(w.dir, ESPSAFile))
			switch {
			case c.ipsec && err != nil:
				t.Errorf("no esp_sa beside the pcap: %v", err)
			case c.ipsec && fi.Mode().Perm() != 0o600:
				t.Errorf("esp_sa mode %v, want 0600", fi.Mode().Perm())
			case !c.ipsec && err == nil:
				t.Errorf("an esp_sa without IPsec")
			}
			if c.ipsec && (protected < 3 || espSIP != protected) {
				t.Errorf("%d SIP messages travelled in ESP by the trace, tshark found SIP inside %d ESP frames", protected, espSIP)
			}
			if !c.ipsec && espFrames > 0 {
				t.Errorf("%d ESP frames without IPsec", espFrames)
			}
			t.Logf("tshark: %d frames, %d SIP, %d Diameter, %d ESP (every ICV good), %d of them with SIP inside", len(frames), gotSIP, gotDia, espFrames, espSIP)
		})
	}
}

// The keys of the SAs — IK and CK, and IK_ESP and CK_ESP expanded from
// them — are in the esp_sa file and nowhere else as text: not in
// report.json, report.html, the console or the debug log, in hex or base64;
// as bytes, only in the Cx answer (MAA) the harness's HSS sends, which
// carries them by protocol (TS 29.229 6.3). K and OP appear nowhere, the
// esp_sa file and the pcap included.
func TestKeysOnlyInESPSA(t *testing.T) {
	needRawESP(t, lab.Loopback())
	w := runWith(t, map[string]string{"sut.ipsec": "true", "ue.sec_algorithms": "hmac-sha-1-96/aes-cbc"})
	lines := espSALines(t, w.dir)
	if len(lines) != 4 {
		t.Fatalf("esp_sa has %d SAs, want 4", len(lines))
	}
	// "IPv6","::1","::1","0x…","AES-CBC [RFC3602]","0xCK","HMAC-SHA-1-96 [RFC2404]","0xIK‖0³²"
	f := strings.Split(lines[0], ",")
	ck, err1 := hex.DecodeString(strings.TrimPrefix(strings.Trim(f[5], `"`), "0x"))
	ikESP, err2 := hex.DecodeString(strings.Trim(f[7], `"`)[2:])
	if err1 != nil || err2 != nil || len(ck) != 16 || len(ikESP) != 20 {
		t.Fatalf("esp_sa line %q: CK %x (%v), IK_ESP %x (%v)", lines[0], ck, err1, ikESP, err2)
	}
	ik := ikESP[:16]
	secrets := map[string][]byte{"CK": ck, "IK": ik, "IK_ESP": ikESP}
	texts := map[string]string{"console": w.console, "debug log": w.log}
	b, err := os.ReadFile(filepath.Join(w.dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	texts["report.html"] = string(b)
	// report.json, but for the raw bytes of the HSS's answers, which carry
	// CK and IK (judged below as bytes).
	var rep map[string]any
	b, _ = os.ReadFile(filepath.Join(w.dir, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, m := range rep["trace"].([]any) {
		if m := m.(map[string]any); m["proto"] == "Diameter" && m["role"] == "HSS" && m["dir"] == "sent" {
			m["raw"] = ""
		}
	}
	b, _ = json.Marshal(rep)
	texts["report.json"] = string(b)
	for what, key := range secrets {
		for _, form := range []string{hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)), base64.StdEncoding.EncodeToString(key)} {
			for name, text := range texts {
				if strings.Contains(text, form) {
					t.Errorf("%s holds %s (%s)", name, what, form)
				}
			}
		}
		for _, m := range w.report.Trace {
			raw := []byte(m.Raw)
			if m.Encoding == "base64" {
				raw, _ = base64.StdEncoding.DecodeString(m.Raw)
			}
			if bytes.Contains(raw, key[:16]) && !(m.Proto == "Diameter" && m.Role == "HSS" && m.Dir == "sent") {
				t.Errorf("message %d (%s %s %s) holds %s", m.Seq, m.Proto, m.Role, m.Dir, what)
			}
		}
	}
	d := lab.DefaultFor(lab.Loopback())
	files, _ := filepath.Glob(filepath.Join(w.dir, "*"))
	for _, s := range []string{d.Subscriber.K.Reveal(), d.Subscriber.OP.Reveal()} {
		kb, _ := hex.DecodeString(s)
		for _, p := range files {
			b, _ := os.ReadFile(p)
			if bytes.Contains(bytes.ToLower(b), []byte(s)) || bytes.Contains(b, kb) {
				t.Errorf("%s holds K or OP", filepath.Base(p))
			}
		}
		if strings.Contains(w.console+w.log, s) {
			t.Error("the console or the log holds K or OP")
		}
	}
}
