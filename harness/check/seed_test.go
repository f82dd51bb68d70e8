package check

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
	"imsconform/scenarios"
)

// labVars are the seed's values as the lab gives them, the UE at [::1].
func labVars() map[string]string {
	return map[string]string{
		"impu": "sip:user1_public1@home1.net", "tel_impu": "tel:+1-212-555-1111",
		"impus": "sip:user1_public1@home1.net sip:user1_public2@home1.net sip:user1_public3@home1.net tel:+1-212-555-1111",
		"impi":  "user1_private@home1.net", "realm": "registrar.home1.net", "registrar": "sip:registrar.home1.net",
		"home_domain": "home1.net", "transport": "UDP", "ue_ip": "::1", "ue_host": "[::1]", "ue_port": "5060",
		"ue_port_c": "2468", "ue_port_s": "1357", "ue_spi_c": "23456789", "ue_spi_s": "12345678",
		"sigcomp": "true", "sec_agree": "true", "ipsec": "true", "pani": "3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11",
		"expires": "600000", "preference": "IMS", "pcscf_name": "pcscf1.visited1.net",
		"icscf_name": "icscf1_p.home1.net", "scscf_name": "scscf1.home1.net",
		"visited_network_id": `"Visited Network Number 1"`, "vccapp_uri": "sip:vccapp.home1.net",
		"vccapp_host": "[::1]:5070", "pcscf_entry": "[::1]:5060", "profile": "a322",
		"pcscf_names": "pcscf1.visited1.net", "icscf_names": "icscf1_p.home1.net", "scscf_names": "scscf1.home1.net",
		"pcscf_port_c": "8642", "pcscf_port_s": "7531", "pcscf_spi_c": "98765432", "pcscf_spi_s": "87654321",
		"sa_alg": "hmac-sha-1-96", "sa_ealg": "null",
	}
}

// The seed's security agreement (sut.ipsec): the SPIs of the SAs inbound to
// the P-CSCF's port-s and to the UE's port-c, and the ESP packets the UE
// received from the P-CSCF: the 200 OK of step 10 (SPI = the UE's spi-c,
// sequence number 1) and a second packet on the same SA.
const (
	seedSPIPcscfS = 87654321
	seedSPIUEC    = 23456789
)

func seedPackets() []trace.Packet {
	return []trace.Packet{
		{Seq: 1, Dir: trace.Sent, Src: ueC.Addr(), Dst: pcscfS.Addr(), SPI: seedSPIPcscfS, ESPSeq: 1, Raw: []byte("esp"), Proto: 17, SrcPort: ueC.Port(), DstPort: pcscfS.Port()},
		{Seq: 2, Dir: trace.Received, Src: pcscfS.Addr(), Dst: ueC.Addr(), SPI: seedSPIUEC, ESPSeq: 1, Raw: []byte("esp"), Proto: 17, SrcPort: pcscfS.Port(), DstPort: ueC.Port()},
		{Seq: 3, Dir: trace.Received, Src: pcscfS.Addr(), Dst: ueC.Addr(), SPI: seedSPIUEC, ESPSeq: 2, Raw: []byte("esp"), Proto: 17, SrcPort: pcscfS.Port(), DstPort: ueC.Port()},
	}
}

// nonce is base64 of RAND(16) ‖ AUTN(16) ‖ 8 bytes of server data.
var nonce = base64.StdEncoding.EncodeToString([]byte("RAND-0123456789aAUTN-0123456789aserver01"))

func sip(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n") }

const (
	via2     = "Via: SIP/2.0/UDP [::1]:5060;comp=sigcomp;branch=z9hG4bKnashds7"
	via7     = "Via: SIP/2.0/UDP [::1]:1357;comp=sigcomp;branch=z9hG4bKnashds8"
	from     = "From: <sip:user1_public1@home1.net>;tag=4fa3"
	to       = "To: <sip:user1_public1@home1.net>"
	callID   = "Call-ID: apb03a0s09dkjdfglkj49111"
	secC     = "Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; spi-s=12345678; port-c=2468; port-s=1357"
	secS     = "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531"
	pani     = "P-Access-Network-Info: 3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11"
	auth7    = `Authorization: Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="` + "NONCE" + `", algorithm=AKAv1-MD5, uri="sip:registrar.home1.net", response="6629fae49393a05397450978507c4ef1"`
	contact7 = "Contact: <sip:[::1]:1357;comp=sigcomp>;expires=600000"
	date     = "Date: Wed, 11 Jul 2001 08:49:37 GMT"
	pau      = "P-Associated-URI: <sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>, <sip:user1_public3@home1.net>, <tel:+1-212-555-1111>"
)

var (
	ue     = netip.MustParseAddrPort("[::1]:5060")
	ueC    = netip.MustParseAddrPort("[::1]:2468")
	pcscf  = netip.MustParseAddrPort("[::1]:5062")
	pcscfS = netip.MustParseAddrPort("[::1]:7531")
	scscf  = netip.MustParseAddrPort("[::1]:5064")
	vccapp = netip.MustParseAddrPort("[::1]:5070")
)

func msg(seq int, src, dst netip.AddrPort, raw []byte) trace.Message {
	return trace.Message{Seq: seq, Proto: trace.SIP, Transport: "UDP", Src: src, Dst: dst, Raw: raw}
}

// seedInput is the seed's flow with lab values, blank fields filled as the
// tables mean them, from a conformant core: step 11 is the third-party
// REGISTER TS 24.229 5.4.1.7 has the S-CSCF originate, in both profiles;
// profile decides only the run's profile variable. The trace numbers follow
// the flow: 2, the Cx of step 3, 5, 7, the Cx of steps 8 and 9, 10, 11, 13.
func seedInput(profile string) Input {
	in := seedMessages(profile)
	v := "Via: SIP/2.0/UDP scscf1.home1.net;branch=z9hG4bKtp1"
	f := "From: <sip:scscf1.home1.net>;tag=s1"
	m11 := sip("REGISTER sip:vccapp.home1.net SIP/2.0", v, "Max-Forwards: 70", `P-Charging-Vector: icid-value="AyretyU0dm+6O2IrT5tAFrbHLso=023551025"`,
		f, to, "Contact: <sip:scscf1.home1.net>", "Call-ID: tp1", "CSeq: 1 REGISTER", "Expires: 600000", "Content-Length: 0")
	m13 := sip("SIP/2.0 200 OK", v, "Service-Route: <sip:orig@scscf1.home1.net;lr>", f, to+";tag=as1", "Call-ID: tp1",
		"Contact: <sip:scscf1.home1.net>;expires=600000", "CSeq: 1 REGISTER", date, pau, "Content-Length: 0")
	in.Messages["11"], in.Messages["13"] = msg(9, scscf, vccapp, m11), msg(10, vccapp, scscf, m13)
	// The challenge before a re-synchronisation, had there been one (var
	// resync is false): another RAND.
	first := strings.Replace(string(in.Messages["5"].Raw), nonce, base64.StdEncoding.EncodeToString([]byte("RAND-9876543210bAUTN-0123456789aserver01")), 1)
	in.Messages["5.resync"] = msg(3, pcscf, ue, []byte(first))
	in.Vars["resync"] = "false"
	return in
}

// seedForwarded is seedInput with step 11 read as table A.3.2.2-11 shows
// it: the REGISTER of step 7 as the P-CSCF and the I-CSCF pass it on (the
// P-CSCF's Path, P-Visited-Network-ID, P-Charging-Vector and
// integrity-protected added, sec-agree removed), and the 200 OK of step 13
// answering it as the seed shows.
func seedForwarded() Input {
	in := seedMessages("a322")
	a7 := strings.Replace(auth7, "NONCE", nonce, 1)
	via11 := "Via: SIP/2.0/UDP icscf1_p.home1.net;branch=z9hG4bK351g45.1, SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bK240f34.1, " + via7[len("Via: "):]
	m11 := sip("REGISTER sip:scscf1.home1.net SIP/2.0", via11, "Max-Forwards: 68", pani, "Path: <sip:term@pcscf1.visited1.net;lr>",
		"Require: path", `P-Visited-Network-ID: "Visited Network Number 1"`, `P-Charging-Vector: icid-value="AyretyU0dm+6O2IrT5tAFrbHLso=023551024"`,
		from, to, contact7, callID, a7+`, integrity-protected="yes"`, "CSeq: 2 REGISTER", "Supported: path", "Content-Length: 0")
	m13 := sip("SIP/2.0 200 OK", via11, "Path: <sip:term@pcscf1.visited1.net;lr>", "Service-Route: <sip:orig@scscf1.home1.net;lr>",
		from, to+";tag=as1", callID, contact7, "CSeq: 2 REGISTER", date, pau, "Content-Length: 0")
	in.Messages["11"], in.Messages["13"] = msg(9, scscf, vccapp, m11), msg(10, vccapp, scscf, m13)
	return in
}

// seedMessages holds the messages of steps 2 to 10/14 and the Cx requests.
func seedMessages(profile string) Input {
	a7 := strings.Replace(auth7, "NONCE", nonce, 1)
	m2 := sip("REGISTER sip:registrar.home1.net SIP/2.0", via2, "Max-Forwards: 70", pani, from, to,
		"Contact: <sip:[::1]:5060;comp=sigcomp>;expires=600000", callID,
		`Authorization: Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="", uri="sip:registrar.home1.net", response=""`,
		secC, "Require: sec-agree", "Proxy-Require: sec-agree ", "CSeq: 1 REGISTER", "Supported: path", "Content-Length: 0")
	m5 := sip("SIP/2.0 401 Unauthorized", via2, from, to+";tag=5ef4", callID,
		`WWW-Authenticate: Digest realm="registrar.home1.net", nonce="`+nonce+`", algorithm=AKAv1-MD5`,
		"Security-Server: "+secS, "CSeq: 1 REGISTER", "Content-Length: 0")
	m7 := sip("REGISTER sip:registrar.home1.net SIP/2.0", via7, "Max-Forwards: 70", pani, from, to, contact7, callID,
		a7, secC, "Security-Verify: "+secS, "Require: sec-agree", "Proxy-Require: sec-agree", "CSeq: 2 REGISTER",
		"Supported: path", "Content-Length: 0")
	m10 := sip("SIP/2.0 200 OK", via7, "Path: <sip:term@pcscf1.visited1.net;lr>", "Service-Route: <sip:orig@scscf1.home1.net;lr>",
		from, to+";tag=409sp3", callID, contact7, "CSeq: 2 REGISTER", date, pau, "Content-Length: 0")
	vars := labVars()
	vars["profile"] = profile
	ok := msg(8, pcscfS, ueC, m10)
	ok.ESP = &trace.ESP{SPI: seedSPIUEC, Seq: []uint32{1}, Packets: []int{2}}
	m7m := msg(5, ueC, pcscfS, m7)
	m7m.ESP = &trace.ESP{SPI: seedSPIPcscfS, Seq: []uint32{1}, Packets: []int{1}}
	in := Input{
		Messages: map[string]trace.Message{
			"2": msg(1, ue, pcscf, m2), "5": msg(4, pcscf, ue, m5), "7": m7m,
			"10": ok, "14": ok,
		},
		Packets: seedPackets(),
		Missing: map[string]string{},
		Facts: map[string]string{"5.autn": "valid", "7.response": "valid", "12.impu": "sip:user1_public1@home1.net", "12.status": "registered",
			"12.accepted": "true", "12.contact": "sip:[::1]:1357;comp=sigcomp", "12.expires": "600000"},
		Vars: vars,
	}
	addCx(in)
	return in
}

func loadTS24206(t testing.TB) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// TestSeedPasses: the seed's messages from a conformant core, with lab
// values, pass every rule of both profiles but the table-level rules of the
// forwarded reading of step 11 (a conformant core originates a third-party
// REGISTER); the only other rules that do not pass are "none" for a
// condition. Every result carries its rule's level.
func TestSeedPasses(t *testing.T) {
	s := loadTS24206(t)
	for _, profile := range s.Profiles() {
		rules, err := s.Rules(profile)
		if err != nil {
			t.Fatal(err)
		}
		res := Evaluate(rules, seedInput(profile))
		if len(res) != len(rules) {
			t.Fatalf("%s: %d results for %d rules", profile, len(res), len(rules))
		}
		passed := 0
		for i, r := range res {
			switch {
			case r.Verdict == Pass:
				passed++
			case r.Verdict == None && len(rules[i].When) > 0:
			case r.Verdict == Fail && rules[i].Level == scenario.LevelTable && rules[i].Table == "A.3.2.2-11":
			default:
				t.Errorf("%s: %s: %s (expected %q, observed %q, reason %q)", profile, r.RuleID, r.Verdict, r.Expected, r.Observed, r.Reason)
			}
			if r.RuleID != rules[i].ID {
				t.Errorf("result %d is for %s, want %s", i, r.RuleID, rules[i].ID)
			}
			if r.Level != rules[i].Level || r.Level == "" {
				t.Errorf("%s: result level %q, rule level %q", r.RuleID, r.Level, rules[i].Level)
			}
		}
		if passed < len(rules)*9/10 {
			t.Errorf("%s: only %d of %d rules passed", profile, passed, len(rules))
		}
	}
}

// TestSeedForwardedPassesTheTable: step 11 as the seed shows it (the
// REGISTER of step 7 passed on) passes every rule of table A.3.2.2-11's
// forwarded reading (level table), and so fails the TS 24.229 5.4.1.7 rules
// that contradict it; the other tables pass as with seedInput.
func TestSeedForwardedPassesTheTable(t *testing.T) {
	s := loadTS24206(t)
	rules, _ := s.Rules("a322")
	res := Evaluate(rules, seedForwarded())
	tableRules, failedMust := 0, 0
	for i, r := range res {
		rl := rules[i]
		switch {
		case r.Verdict == Pass || (r.Verdict == None && len(rl.When) > 0):
			if rl.Level == scenario.LevelTable && rl.Table == "A.3.2.2-11" {
				tableRules++
			}
		case rl.Table == "A.3.2.2-11" && rl.Level != scenario.LevelTable:
			failedMust++
		default:
			t.Errorf("%s (%s): %s (expected %q, observed %q, reason %q)", r.RuleID, rl.Level, r.Verdict, r.Expected, r.Observed, r.Reason)
		}
	}
	if tableRules < 20 || failedMust == 0 {
		t.Errorf("the forwarded step 11 passed %d table rules of A.3.2.2-11 and failed %d others: expected all of the first and some of the second", tableRules, failedMust)
	}
}

// TestEveryRuleCanFail mutates the passing messages until each rule fails; a
// rule that nothing makes fail is a defect and is listed.
func TestEveryRuleCanFail(t *testing.T) {
	s := loadTS24206(t)
	var defects []string
	for _, profile := range s.Profiles() {
		rules, _ := s.Rules(profile)
		for _, r := range rules {
			in := seedInput(profile)
			if r.Level == scenario.LevelTable && r.Table == "A.3.2.2-11" {
				in = seedForwarded() // where the forwarded reading passes
			}
			if !canFail(r, in) {
				defects = append(defects, profile+": "+r.ID)
			}
		}
	}
	if len(defects) > 0 {
		t.Errorf("rules no mutation makes fail:\n%s", strings.Join(defects, "\n"))
	}
}

// espMutations break the ESP of the seed's steps 7 and 10 and of the
// packets the UE received: a message in clear, another SPI, a packet with
// a bad ICV, one with an SPI nobody announced, a sequence number sent twice.
var espMutations = []func(in *Input){
	func(in *Input) {
		for _, s := range []string{"7", "10", "14"} {
			m := in.Messages[s]
			m.ESP = nil
			in.Messages[s] = m
		}
	},
	func(in *Input) {
		for _, s := range []string{"7", "10", "14"} {
			m := in.Messages[s]
			if m.ESP != nil {
				x := *m.ESP
				x.SPI++
				m.ESP = &x
			}
			in.Messages[s] = m
		}
	},
	func(in *Input) { in.Packets = mutatePacket(in.Packets, 1, func(p *trace.Packet) { p.Refusal = "icv" }) },
	func(in *Input) { in.Packets = mutatePacket(in.Packets, 1, func(p *trace.Packet) { p.SPI = 4242 }) },
	func(in *Input) { in.Packets = mutatePacket(in.Packets, 2, func(p *trace.Packet) { p.ESPSeq = 1 }) },
}

// mutatePacket returns a copy of pkts with pkts[i] changed.
func mutatePacket(pkts []trace.Packet, i int, f func(*trace.Packet)) []trace.Packet {
	out := append([]trace.Packet(nil), pkts...)
	f(&out[i])
	return out
}

func canFail(r scenario.Rule, in Input) bool {
	return mutate(r, in, func(in Input) bool { return Evaluate([]scenario.Rule{r}, in)[0].Verdict == Fail })
}

// mutate gives fails the input with the message of rule r's step mutated,
// one mutation after another, until fails says one makes r fail.
func mutate(r scenario.Rule, in Input, fails func(Input) bool) bool {
	for _, c := range r.When {
		in.Vars[c.Var] = c.Value
	}
	// The mutation is a deviation on purpose: on a step the harness sends,
	// it makes the rule fail, not err.
	in.Deviated = map[string]bool{r.Step: true}
	if r.Kind == scenario.KindFact {
		in.Facts[r.Fact] = "bogus"
		return fails(in)
	}
	base := in.Messages[r.Step]
	with := func(m trace.Message) Input {
		c := in
		c.Messages = map[string]trace.Message{}
		for k, v := range in.Messages {
			c.Messages[k] = v
		}
		c.Messages[r.Step] = m
		if r.SameMessage != "" {
			c.Messages[r.SameMessage] = m
		}
		return c
	}
	if r.Kind == scenario.KindAfter {
		m := base
		m.Seq = 0 // captured before everything else
		return fails(with(m))
	}
	if r.Kind == scenario.KindDiffers {
		// the message compared with, sent again: the same field
		ref := in.Messages[r.Ref.Step]
		ref.Seq = base.Seq
		return len(ref.Raw) > 0 && fails(with(ref))
	}
	if r.Kind == scenario.KindESP {
		for _, mut := range espMutations {
			c := with(base)
			mut(&c)
			if fails(c) {
				return true
			}
		}
		return false
	}
	if r.Kind == scenario.KindEnvelope {
		for _, mut := range []func(m *trace.Message){
			func(m *trace.Message) { m.Transport = "SCTP" },
			func(m *trace.Message) { m.Src = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), m.Src.Port()+1) },
			func(m *trace.Message) { m.Dst = netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), m.Dst.Port()+1) },
		} {
			m := base
			mut(&m)
			if fails(with(m)) {
				return true
			}
		}
		return false
	}
	if base.Proto == trace.Diameter {
		return canFailDiameter(r, base, func(raw []byte) bool {
			m := base
			m.Raw = raw
			return fails(with(m))
		})
	}
	lines := strings.Split(strings.TrimSuffix(string(base.Raw), "\r\n\r\n"), "\r\n")
	var targets []int
	for i, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		if (i == 0 && (r.Kind == scenario.KindStartLine)) || (i > 0 && strings.EqualFold(strings.TrimSpace(name), r.Header)) {
			targets = append(targets, i)
		}
	}
	try := func(ls []string) bool {
		m := base
		m.Raw = sip(ls...)
		return fails(with(m))
	}
	tok := func(s string) [][]int {
		var out [][]int
		start := -1
		for i := 0; i <= len(s); i++ {
			alnum := i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9')
			if alnum && start < 0 {
				start = i
			} else if !alnum && start >= 0 {
				out = append(out, []int{start, i})
				start = -1
			}
		}
		return out
	}
	if len(targets) == 0 && len(lines) > 1 {
		ins := append([]string{lines[0], r.Header + ": zz9"}, lines[1:]...)
		if try(ins) {
			return true
		}
		// an option tag where none may be, e.g. sec-agree passed on
		if r.Value != "" && !strings.Contains(r.Value, "{{") {
			if try(append([]string{lines[0], r.Header + ": " + r.Value}, lines[1:]...)) {
				return true
			}
		}
	}
	for _, i := range targets {
		suffixes := []string{";tag=zz9", ";comp=sigcomp", ", zz9"}
		if name, ok := strings.CutPrefix(r.Part, "param:"); ok {
			suffixes = append(suffixes, ";"+name+"=zz9")
		}
		if r.Value != "" && !strings.Contains(r.Value, "{{") {
			suffixes = append(suffixes, ", "+r.Value)
		}
		for _, suffix := range suffixes {
			ls := append([]string{}, lines...)
			ls[i] += suffix
			if try(ls) {
				return true
			}
		}
		// drop the line, duplicate it, then replace each token in turn.
		if try(append(append([]string{}, lines[:i]...), lines[i+1:]...)) {
			return true
		}
		dup := append(append(append([]string{}, lines[:i+1]...), lines[i]), lines[i+1:]...)
		if try(dup) {
			return true
		}
		if i == 0 && r.Kind == scenario.KindStartLine {
			// a status line without its reason phrase
			if f := strings.SplitN(lines[0], " ", 3); len(f) == 3 && try(append([]string{f[0] + " " + f[1] + " "}, lines[1:]...)) {
				return true
			}
		}
		for _, sp := range tok(lines[i]) {
			for _, repl := range []string{"zz9", "1"} {
				ls := append([]string{}, lines...)
				ls[i] = lines[i][:sp[0]] + repl + lines[i][sp[1]:]
				if try(ls) {
					return true
				}
			}
		}
	}
	return false
}
