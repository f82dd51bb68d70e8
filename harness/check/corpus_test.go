package check

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	sipgo "github.com/emiago/sipgo/sip"
	"gopkg.in/yaml.v3"

	"imsconform/harness/scenario"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// The corpus (testdata/corpus) holds SUT messages as files a reviewer can
// read, in the style of RFC 4475's torture tests: valid/<table>/ the
// conformant variants of a table's message, each of which must pass every
// rule of its table; invalid/<table>/ broken ones, each of which must fail
// the rules it names. A file opens with comment lines:
//
//	# varies: what the variant changes      (valid)
//	# allows: the clause that allows it       (valid)
//	# breaks: what is wrong                   (invalid)
//	# fails: RULE-ID (why)                    a rule that must fail: in valid/ only one of level should or table
//	# set: VAR=VALUE                          a lab value of this variant
//
// then the message, one header line a file line (lines starting with white
// space continue the one before), a blank line and the body if any. Line
// ends become CRLF. The message replaces the seed's message of the table's
// step in a conformant run (seedInput); table A.3.2.2-11's variants are the
// third-party REGISTER of TS 24.229 5.4.1.7 and are judged by profile
// ts24229's rules, the others by profile a322's.
//
// Kamailio's real messages are judged in labs/kamailio
// (TestKamailioMessagesOffline), against the lab's expectations.

type variant struct {
	path   string
	table  string
	fails  []string
	set    map[string]string
	allows string
	raw    []byte
}

// corpusTables maps a corpus table directory to its step and the profile
// whose rules judge it.
var corpusTables = map[string]struct{ step, profile string }{
	"A.3.2.2-5":  {"5", "a322"},
	"A.3.2.2-10": {"10", "a322"},
	"A.3.2.2-11": {"11", "ts24229"},
}

func readVariant(t *testing.T, path string) variant {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := variant{path: path, table: filepath.Base(filepath.Dir(path)), set: map[string]string{}}
	var msg []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	head := true
	for sc.Scan() {
		l := sc.Text()
		if head && strings.HasPrefix(l, "# ") {
			key, val, _ := strings.Cut(l[2:], ": ")
			switch key {
			case "fails":
				id, _, _ := strings.Cut(val, " ")
				v.fails = append(v.fails, id)
			case "set":
				k, x, _ := strings.Cut(val, "=")
				v.set[k] = x
			case "allows", "breaks":
				v.allows = val
			case "varies", "envelope", "seq", "captured":
			default:
				t.Fatalf("%s: unknown comment %q", path, l)
			}
			continue
		}
		head = false
		msg = append(msg, l)
	}
	if v.allows == "" {
		t.Fatalf("%s: expected a line \"# allows:\" or \"# breaks:\" naming the clause", path)
	}
	text := strings.Join(msg, "\r\n")
	if !strings.Contains(text, "\r\n\r\n") {
		text = strings.TrimRight(text, "\r\n") + "\r\n\r\n"
	} else {
		text += "\r\n"
	}
	v.raw = []byte(text)
	return v
}

func corpusFiles(t *testing.T, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", kind, "*", "*.sip"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files under testdata/corpus/%s: %v", kind, err)
	}
	return files
}

// withVariant is the run in with the variant's message as its table's
// step's, and the variant's lab values.
func withVariant(in Input, v variant) Input {
	ct := corpusTables[v.table]
	for k, x := range v.set {
		in.Vars[k] = x
	}
	m := in.Messages[ct.step]
	m.Raw = v.raw
	in.Messages[ct.step] = m
	if ct.step == "10" {
		in.Messages["14"] = m
	}
	return in
}

// judgeVariant puts the variant in a conformant run and judges the rules
// of its table (A.3.2.2-10's variants also by A.3.2.2-14's).
func judgeVariant(t *testing.T, s *scenario.Scenario, v variant) ([]scenario.Rule, []Result) {
	t.Helper()
	ct, ok := corpusTables[v.table]
	if !ok {
		t.Fatalf("%s: no table %s in the corpus map", v.path, v.table)
	}
	in := withVariant(seedInput(ct.profile), v)
	all, _ := s.Rules(ct.profile)
	var rules []scenario.Rule
	for _, r := range all {
		if r.Step == ct.step || (ct.step == "10" && r.Step == "14") {
			rules = append(rules, r)
		}
	}
	return rules, Evaluate(rules, in)
}

// TestConformantVariantsPass: every valid variant passes every rule of its
// table; the only others are none for a lab condition, and the should or
// table rules the file itself names with "# fails:". What sipgo's parser
// makes of the variant is logged and decides nothing: the check engine
// reads SIP with harness/sipmsg alone.
func TestConformantVariantsPass(t *testing.T) {
	s := loadTS24206(t)
	levels := map[string]scenario.Level{}
	for _, r := range s.AllRules() {
		levels[r.ID] = r.Level
	}
	for _, f := range corpusFiles(t, "valid") {
		v := readVariant(t, f)
		t.Run(v.table+"/"+strings.TrimSuffix(filepath.Base(f), ".sip"), func(t *testing.T) {
			if _, err := sipmsg.Parse(v.raw); err != nil {
				t.Fatalf("harness/sipmsg cannot read it: %v", err)
			}
			if _, err := sipgo.ParseMessage(v.raw); err != nil {
				t.Logf("sipgo refuses it (%v); the check engine judges it all the same", err)
			}
			for _, id := range v.fails {
				if l := levels[id]; l == scenario.LevelMust || l == "" {
					t.Fatalf("a conformant variant may only fail a should or table rule, but names %s (level %q)", id, l)
				}
			}
			rules, res := judgeVariant(t, s, v)
			passed := 0
			for i, r := range res {
				want := slices.Contains(v.fails, r.RuleID)
				switch {
				case want && r.Verdict == Fail:
				case want:
					t.Errorf("%s: %s, but the file says it fails", r.RuleID, r.Verdict)
				case r.Verdict == Pass:
					passed++
				case r.Verdict == None && len(rules[i].When) > 0:
				default:
					t.Errorf("%s (%s): %s: expected %q, observed %q: %s", r.RuleID, r.Level, r.Verdict, r.Expected, r.Observed, r.Reason)
				}
			}
			if passed < len(res)/2 {
				t.Errorf("only %d of %d rules passed", passed, len(res))
			}
		})
	}
}

// TestBrokenVariantsFail: every invalid variant fails each rule it names.
func TestBrokenVariantsFail(t *testing.T) {
	s := loadTS24206(t)
	for _, f := range corpusFiles(t, "invalid") {
		v := readVariant(t, f)
		t.Run(v.table+"/"+strings.TrimSuffix(filepath.Base(f), ".sip"), func(t *testing.T) {
			if len(v.fails) == 0 {
				t.Fatal("expected at least one \"# fails:\" line")
			}
			_, res := judgeVariant(t, s, v)
			for _, id := range v.fails {
				found := false
				for _, r := range res {
					if r.RuleID == id {
						found = true
						if r.Verdict != Fail || r.Reason == "" {
							t.Errorf("%s: %s (expected %q, observed %q, reason %q), want fail with a reason", id, r.Verdict, r.Expected, r.Observed, r.Reason)
						}
					}
				}
				if !found {
					t.Errorf("%s: no such rule on this table", id)
				}
			}
		})
	}
}

// TestRFC4475ValidMessagesAreRead: the valid messages of RFC 4475 3.1.1
// (testdata/rfc4475/valid) are all read by harness/sipmsg, the check
// engine's only reader; sipgo's opinion of each is logged. Where the
// message has them, the values the rules compare come out as RFC 3261
// means them.
func TestRFC4475ValidMessagesAreRead(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "valid", "*.dat"))
	if len(files) != 13 {
		t.Fatalf("expected the 13 valid messages of RFC 4475 3.1.1, found %d", len(files))
	}
	e := &evaluator{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sipmsg.Parse(raw)
		if err != nil {
			t.Errorf("%s: harness/sipmsg cannot read it: %v", name, err)
			continue
		}
		if _, gerr := sipgo.ParseMessage(raw); gerr != nil {
			t.Logf("%s: sipgo refuses it: %v", name, gerr)
		}
		for _, h := range []string{"From", "To"} {
			if vs := m.Values(h); len(vs) > 0 {
				if _, _, err := Part(h, vs[0].Text, "uri"); err != nil {
					t.Errorf("%s: %s %q: %v", name, h, vs[0].Text, err)
				}
			}
		}
		switch name {
		case "wsinv":
			// TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
			if tag, ok, _ := Part("To", m.Values("To")[0].Text, "param:tag"); !ok || tag != "1918181833n" {
				t.Errorf("wsinv: To tag %q, want 1918181833n", tag)
			}
			if tag, ok, _ := Part("From", m.Values("From")[0].Text, "param:tag"); !ok || tag != "98asjd8" {
				t.Errorf("wsinv: From tag %q, want 98asjd8", tag)
			}
			if n := len(m.Values("Via")); n != 3 {
				t.Errorf("wsinv: %d Via values, want 3", n)
			}
			if got, _, _ := Part("Via", m.Values("Via")[1].Text, "via.transport"); got != "TCP" {
				t.Errorf("wsinv: second Via transport %q, want TCP", got)
			}
			if !sameNumber(m.Values("Max-Forwards")[0].Text, "68") {
				t.Errorf("wsinv: Max-Forwards %q, want 68", m.Values("Max-Forwards")[0].Text)
			}
		case "esc01":
			to, _, _ := Part("To", m.Values("To")[0].Text, "uri")
			if !e.sameURI(to, "sip:user@example.com") {
				t.Errorf("esc01: To %q should equal sip:user@example.com (RFC 3261 19.1.4)", to)
			}
		case "semiuri":
			u, err := sipmsg.ParseURI(m.RequestURI)
			if err != nil || u.User != "user;par=u%40example.net" || u.Host != "example.com" {
				t.Errorf("semiuri: Request-URI user %q host %q (%v)", u.User, u.Host, err)
			}
		case "transports":
			if n := len(m.Values("Via")); n != 5 {
				t.Errorf("transports: %d Via values, want 5", n)
			}
		case "dblreq":
			if !bytes.Contains(m.Body, []byte("INVITE sip:joe@example.com SIP/2.0")) {
				t.Errorf("dblreq: the second request should follow the first as bytes beyond its Content-Length")
			}
		}
	}
}

// kamailioRun is the run against Kamailio 5.6.3 recorded in
// labs/kamailio/testdata/messages-5.6.3/<profile> (judged against the lab's
// expectations there): its messages with their envelopes and trace numbers,
// its lab values and facts.
func kamailioRun(t *testing.T, profile string) Input {
	t.Helper()
	dir := filepath.Join("..", "..", "labs", "kamailio", "testdata", "messages-5.6.3", profile)
	in := Input{Messages: map[string]trace.Message{}, Missing: map[string]string{}, Facts: map[string]string{}, Vars: map[string]string{}}
	for _, f := range []string{"vars.yaml", "facts.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		m := in.Vars
		if f == "facts.yaml" {
			m = in.Facts
		}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for _, step := range []string{"2", "5", "7", "10", "11", "13"} {
		b, err := os.ReadFile(filepath.Join(dir, step+".sip"))
		if err != nil {
			t.Fatal(err)
		}
		m := trace.Message{Proto: trace.SIP, Transport: "UDP"}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if env, ok := strings.CutPrefix(l, "# envelope: "); ok {
				f := strings.Fields(env) // UDP src -> dst
				m.Transport, m.Src, m.Dst = f[0], netip.MustParseAddrPort(f[1]), netip.MustParseAddrPort(f[3])
			} else if seq, ok := strings.CutPrefix(l, "# seq: "); ok {
				m.Seq, _ = strconv.Atoi(seq)
			} else if !strings.HasPrefix(l, "# ") {
				lines = append(lines, l)
			}
		}
		text := strings.Join(lines, "\r\n")
		if !strings.Contains(text, "\r\n\r\n") {
			text += "\r\n"
		}
		m.Raw = []byte(text + "\r\n")
		in.Messages[step] = m
	}
	in.Messages["14"] = in.Messages["10"]
	return in
}
