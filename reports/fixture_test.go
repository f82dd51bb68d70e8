package reports

import (
	"net/netip"
	"strings"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
)

// Values the tests look for.
const (
	secretK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	secretOPc = "cd63cb71954a9f4e48a5994e37a02baf"
	hostile1  = `<script>alert(1)</script>`
	hostile2  = `"><img src=x onerror=alert(1)>`
)

func crlf(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// sampleRun is a run of the flow against a SUT that answers steps 5 and
// 10/14, sends one datagram that does not parse, never sends step 11 (so the
// mock VCC App never answers 13), and puts hostile text in a header.
func sampleRun() *Run {
	t0 := time.Date(2026, 3, 4, 10, 20, 30, 0, time.UTC)
	ue := netip.MustParseAddrPort("[::1]:40001")
	pcscf := netip.MustParseAddrPort("[::1]:40123")
	msg := func(seq int, ms int, dir trace.Direction, raw []byte, note string) trace.Message {
		m := trace.Message{Seq: seq, Time: t0.Add(time.Duration(ms) * time.Millisecond), Proto: trace.SIP,
			Transport: "UDP", Dir: dir, Role: "UE", Raw: raw, Note: note}
		if dir == trace.Sent {
			m.Src, m.Dst = ue, pcscf
		} else {
			m.Src, m.Dst = pcscf, ue
		}
		return m
	}
	p := &lab.Profile{Profile: "a322", HomeDomain: "home1.net", Realm: "registrar.home1.net",
		Registrar: "sip:registrar.home1.net"}
	p.SUT.PCSCF, p.SUT.Transport = "[::1]:40123", "udp"
	p.Subscriber.IMPI = "user1_private@home1.net"
	p.Subscriber.IMPUs = []string{"sip:user1_public1@home1.net", "tel:+1-212-555-1111"}
	p.Subscriber.K = lab.NewSecret(secretK)
	p.Subscriber.OPc = lab.NewSecret(secretOPc)
	p.Subscriber.AMF = "8000"
	p.UE.Address, p.UE.Sigcomp, p.UE.Expires = "::1", true, 600000
	p.VCCApp.URI, p.VCCApp.Listen = "sip:vccapp.home1.net", "[::1]:0"
	p.Core.PCSCFName, p.Core.ICSCFName, p.Core.SCSCFName = "pcscf1.visited1.net", "icscf1_p.home1.net", "scscf1.home1.net"
	p.Timeouts.Step = 2 * time.Second

	reg1 := crlf("REGISTER sip:registrar.home1.net SIP/2.0",
		"Via: SIP/2.0/UDP [::1]:40001;comp=sigcomp;branch=z9hG4bKnashds7",
		"Max-Forwards: 70",
		"From: <sip:user1_public1@home1.net>;tag=4fa3",
		"To: <sip:user1_public1@home1.net>",
		"Call-ID: apb03a0s09dkjdfglkj49111",
		"CSeq: 1 REGISTER",
		"Content-Length: 0")
	r401 := crlf("SIP/2.0 401 Unauthorized",
		"Via: SIP/2.0/UDP [::1]:40001;comp=sigcomp;branch=z9hG4bKnashds7",
		"From: <sip:user1_public1@home1.net>;tag=4fa3",
		"To: <sip:user1_public1@home1.net>;tag=5ef4",
		"Call-ID: apb03a0s09dkjdfglkj49111",
		`WWW-Authenticate: Digest realm="registrar.home1.net", nonce="A34Cm+Fva37UYWpGNB34JP", algorithm=MD5`,
		"Security-Server: "+hostile1,
		"X-Evil: "+hostile2,
		"CSeq: 1 REGISTER",
		"Content-Length: 0")
	reg2 := crlf("REGISTER sip:registrar.home1.net SIP/2.0",
		"Via: SIP/2.0/UDP [::1]:40002;comp=sigcomp;branch=z9hG4bKnashds8",
		"CSeq: 2 REGISTER",
		"Content-Length: 0")
	ok200 := crlf("SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP [::1]:40002;comp=sigcomp;branch=z9hG4bKnashds8",
		"Path: <sip:term@pcscf1.visited1.net;lr>",
		"Service-Route: <sip:orig@scscf1.home1.net;lr>",
		"CSeq: 2 REGISTER",
		"Content-Length: 0")
	garbage := []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, '<', 's', 'c', 'r', 'i', 'p', 't', '>', 0x80, 0x81}

	tables := []TableInfo{
		{ID: "A.3.2.2-2", Title: "REGISTER", Step: "2", From: "UE", To: "x-CSCF", Example: "REGISTER sip:registrar.home1.net SIP/2.0\nVia: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd];comp=sigcomp;branch=z9hG4bKnashds7"},
		{ID: "A.3.2.2-5", Title: "401 Unauthorized", Step: "5", From: "x-CSCF", To: "UE", Example: "SIP/2.0 401 Unauthorized\nWWW-Authenticate: Digest realm=\"registrar.home1.net\", nonce=base64(RAND + AUTN + server specific data), algorithm=AKAv1-MD5"},
		{ID: "A.3.2.2-7", Title: "REGISTER with response", Step: "7", From: "UE", To: "x-CSCF"},
		{ID: "A.3.2.2-10", Title: "200 OK", Step: "10", From: "x-CSCF", To: "UE"},
		{ID: "A.3.2.2-11", Title: "REGISTER to the VCC Application", Step: "11", From: "x-CSCF", To: "VCCApp"},
		{ID: "A.3.2.2-13", Title: "200 OK from the VCC Application", Step: "13", From: "VCCApp", To: "x-CSCF"},
		{ID: "A.3.2.2-14", Title: "200 OK", Step: "14", From: "x-CSCF", To: "UE"},
	}
	results := []check.Result{
		{RuleID: "A.3.2.2-2/Via/comp", Table: "A.3.2.2-2", Step: "2", Citation: "Table A.3.2.2-2",
			Statement: "Via carries comp=sigcomp", Verdict: check.Pass, Expected: "comp=sigcomp", Observed: "comp=sigcomp", MsgSeq: 1},
		{RuleID: "A.3.2.2-5/WWW-Authenticate/algorithm", Table: "A.3.2.2-5", Step: "5", Citation: "Table A.3.2.2-5; TS 24.229 5.4.1.2.1",
			Statement: "algorithm is AKAv1-MD5", Verdict: check.Fail, Expected: "AKAv1-MD5", Observed: "MD5",
			Reason: "algorithm is MD5, expected AKAv1-MD5", MsgSeq: 2},
		{RuleID: "A.3.2.2-5/Security-Server", Table: "A.3.2.2-5", Step: "5", Citation: "Table A.3.2.2-5; RFC 3329",
			Statement: "Security-Server offers ipsec-3gpp", Verdict: check.Fail, Expected: "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96",
			Observed: hostile1 + "\n" + hostile2, Reason: "mechanism is " + hostile2 + ", expected ipsec-3gpp", MsgSeq: 2},
		{RuleID: "A.3.2.2-5/Security-Server/port-s", Table: "A.3.2.2-5", Step: "5", Citation: "Table A.3.2.2-5",
			Statement: "port-s is a port", Verdict: check.Inconc, Expected: "a port number", Observed: "", Reason: "no Security-Server to read", MsgSeq: 2},
		{RuleID: "A.3.2.2-7/Via/comp", Table: "A.3.2.2-7", Step: "7", Citation: "Table A.3.2.2-7",
			Statement: "Via carries comp=sigcomp", Verdict: check.Pass, Expected: "comp=sigcomp", Observed: "comp=sigcomp", MsgSeq: 3},
		{RuleID: "A.3.2.2-10/Path", Table: "A.3.2.2-10", Step: "10", Citation: "Table A.3.2.2-10",
			Statement: "Path names the P-CSCF", Verdict: check.Pass, Expected: "<sip:term@pcscf1.visited1.net;lr>", Observed: "<sip:term@pcscf1.visited1.net;lr>", MsgSeq: 5},
		{RuleID: "A.3.2.2-11/Request-URI", Table: "A.3.2.2-11", Step: "11", Citation: "Table A.3.2.2-11",
			Statement: "Request-URI is the VCC Application", Verdict: check.Fail, Expected: "sip:vccapp.home1.net", Reason: "not received within 2 s"},
		{RuleID: "A.3.2.2-13/Status", Table: "A.3.2.2-13", Step: "13", Citation: "Table A.3.2.2-13",
			Statement: "the VCC App answers 200", Verdict: check.Error, Expected: "200", Reason: "mock VCC App: \x1b[31mnothing to answer\x1b[0m"},
		{RuleID: "A.3.2.2-11/sigcomp", Table: "A.3.2.2-11", Step: "11", Citation: "Table A.3.2.2-11",
			Statement: "comp=sigcomp in Via", Verdict: check.None, Reason: "sigcomp off in this lab"},
	}
	return &Run{
		Tool: "imsconform v0.1.0", Started: t0.Add(-50 * time.Millisecond), Finished: t0.Add(2500 * time.Millisecond),
		Profile: "a322", Target: "embedded reference core (P-CSCF [::1]:40123)", Lab: p,
		Results: results,
		Trace: []trace.Message{
			msg(1, 0, trace.Sent, reg1, ""),
			msg(2, 12, trace.Received, r401, ""),
			msg(3, 20, trace.Sent, reg2, ""),
			msg(4, 25, trace.Received, garbage, "does not parse as SIP: no start line"),
			msg(5, 31, trace.Received, ok200, ""),
		},
		Steps:  map[string]int{"2": 1, "5": 2, "7": 3, "10": 5, "14": 5, "11": 0},
		Tables: tables,
	}
}
