package kamailio

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
	"imsconform/scenarios"
)

// recordedMessages is where the SIP messages of a real run against Kamailio
// 5.6.3 in this lab are kept, one directory per profile: <step>.sip as
// captured (comment lines "# envelope: UDP src -> dst", "# seq: N",
// "# captured: ..." first), and the run's lab values (vars.yaml) and facts
// (facts.yaml).
var recordedMessages = filepath.Join("testdata", "messages-5.6.3")

// readRecorded reads one recorded message: its comment lines, then the
// message, line ends made CRLF.
func readRecorded(t *testing.T, path string) trace.Message {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := trace.Message{Proto: trace.SIP, Transport: "UDP"}
	var lines []string
	head := true
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if head && strings.HasPrefix(l, "# ") {
			key, val, _ := strings.Cut(l[2:], ": ")
			switch key {
			case "envelope": // UDP src -> dst
				f := strings.Fields(val)
				if len(f) != 4 {
					t.Fatalf("%s: expected \"# envelope: UDP src -> dst\", saw %q", path, l)
				}
				m.Transport, m.Src, m.Dst = f[0], netip.MustParseAddrPort(f[1]), netip.MustParseAddrPort(f[3])
			case "seq":
				m.Seq, _ = strconv.Atoi(val)
			case "captured":
			default:
				t.Fatalf("%s: unknown comment %q", path, l)
			}
			continue
		}
		head = false
		lines = append(lines, strings.TrimSuffix(l, "\r"))
	}
	text := strings.Join(lines, "\r\n")
	if !strings.Contains(text, "\r\n\r\n") {
		text += "\r\n"
	}
	m.Raw = []byte(text + "\r\n")
	return m
}

// offlineResults judges the recorded messages of a profile with the rules of
// that profile on the SIP messages (the Cx messages are not kept, so the
// rules on them and the rules that compare with them are left out).
func offlineResults(t *testing.T, profile string) []check.Result {
	t.Helper()
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(recordedMessages, profile)
	in := check.Input{Messages: map[string]trace.Message{}, Missing: map[string]string{}, Facts: map[string]string{}, Vars: map[string]string{}}
	for f, m := range map[string]map[string]string{"vars.yaml": in.Vars, "facts.yaml": in.Facts} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for _, step := range []string{"2", "5", "7", "10", "11", "13"} {
		in.Messages[step] = readRecorded(t, filepath.Join(dir, step+".sip"))
	}
	in.Messages["14"] = in.Messages["10"]
	rules, err := s.Rules(profile)
	if err != nil {
		t.Fatal(err)
	}
	var out []check.Result
	for i, r := range check.Evaluate(rules, in) {
		cx := rules[i].Protocol == scenario.ProtoDiameter
		for _, c := range rules[i].When {
			cx = cx || c.Var == "cx_observed" // the order rules compare with the Cx messages
		}
		if !cx {
			out = append(out, r)
		}
	}
	if len(out) < 150 {
		t.Fatalf("only %d SIP rules judged", len(out))
	}
	return out
}

// TestKamailioMessagesOffline: Kamailio 5.6.3's real messages, judged now
// with no lab running, get exactly what the lab's expectations say (applied
// strictly, as the live lab's test does). A rule change that would change a
// verdict against Kamailio shows here even where Kamailio cannot run.
func TestKamailioMessagesOffline(t *testing.T) {
	for _, profile := range []string{"a322", "ts24229"} {
		t.Run(profile, func(t *testing.T) {
			diffs, err := Compare(profile, "udp", "5.6.3", offlineResults(t, profile))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) > 0 {
				t.Errorf("Kamailio's recorded messages differ from %s in %d rules:\n  %s", ExpectationsFile, len(diffs), strings.Join(diffs, "\n  "))
			}
		})
	}
}
