package check

import (
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// edit is a change to the seed's input for one case.
type edit func(t *testing.T, in *Input)

// replace edits the raw message of a step (and of the step that is the same
// message on the wire); the old text must be there.
func replace(step, old, new string) edit {
	return func(t *testing.T, in *Input) {
		t.Helper()
		m, ok := in.Messages[step]
		if !ok || !strings.Contains(string(m.Raw), old) {
			t.Fatalf("step %s lacks %q", step, old)
		}
		m.Raw = []byte(strings.Replace(string(m.Raw), old, new, 1))
		in.Messages[step] = m
		if step == "10" {
			in.Messages["14"] = m
		}
	}
}

func setVar(k, v string) edit {
	return func(_ *testing.T, in *Input) { in.Vars[k] = v }
}

func setSeq(step string, seq int) edit {
	return func(_ *testing.T, in *Input) {
		m := in.Messages[step]
		m.Seq = seq
		in.Messages[step] = m
	}
}

func drop(step string) edit {
	return func(_ *testing.T, in *Input) {
		delete(in.Messages, step)
		in.Missing[step] = "not sent: the SUT failed earlier"
	}
}

// inClear makes the message of step (and its twin) one that travelled in
// clear.
func inClear(step string) edit {
	return func(_ *testing.T, in *Input) {
		for _, st := range []string{step, twin(step)} {
			if m, ok := in.Messages[st]; ok {
				m.ESP = nil
				in.Messages[st] = m
			}
		}
	}
}

func twin(step string) string {
	if step == "10" {
		return "14"
	}
	return step
}

// espSPI gives the message of step another SPI.
func espSPI(step string, spi uint32) edit {
	return func(_ *testing.T, in *Input) {
		m := in.Messages[step]
		x := *m.ESP
		x.SPI = spi
		m.ESP = &x
		in.Messages[step] = m
	}
}

// refuse marks the received packet i (0-based in seedPackets) refused.
func refuse(i int, refusal string) edit {
	return func(_ *testing.T, in *Input) {
		in.Packets = mutatePacket(in.Packets, i, func(p *trace.Packet) { p.Refusal, p.Err = refusal, refusal+" (test)" })
	}
}

// seqOf gives packet i another sequence number.
func seqOf(i int, seq uint32) edit {
	return func(_ *testing.T, in *Input) {
		in.Packets = mutatePacket(in.Packets, i, func(p *trace.Packet) { p.ESPSeq = seq })
	}
}

func addPacket(p trace.Packet) edit {
	return func(_ *testing.T, in *Input) {
		p.Seq = len(in.Packets) + 1
		in.Packets = append(append([]trace.Packet(nil), in.Packets...), p)
	}
}

func deviated(step string) edit {
	return func(_ *testing.T, in *Input) { in.Deviated = map[string]bool{step: true} }
}

// TestRules: every new or changed rule, on the scenario as loaded, passes
// on a conformant variant of its message and gets the verdict given on a
// broken one. Each case names the clause that makes its variant conformant
// or broken.
func TestRules(t *testing.T) {
	s := loadTS24206(t)
	byID := map[string]scenario.Rule{}
	for _, r := range s.AllRules() {
		byID[r.ID] = r
	}
	const secC2 = "Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; spi-s=12345678; port-c=2468; port-s=1357"
	cases := []struct {
		name, rule string
		forwarded  bool // start from seedForwarded (step 11 as the table shows it)
		edits      []edit
		want       Verdict
	}{
		// 401: sec-agree and AKA
		{"ck leaked", "A.3.2.2-5/WWW-Authenticate/no-ck", false, []edit{replace("5", "algorithm=AKAv1-MD5", `algorithm=AKAv1-MD5, ck="00112233445566778899aabbccddeeff"`)}, Fail},
		{"ck absent", "A.3.2.2-5/WWW-Authenticate/no-ck", false, nil, Pass},
		{"ik leaked, second challenge", "A.3.2.2-5/WWW-Authenticate/no-ik", false, []edit{replace("5", "Security-Server:", `WWW-Authenticate: Digest realm="x", nonce="y", ik="00112233445566778899aabbccddeeff"`+"\r\nSecurity-Server:")}, Fail},
		{"ik absent", "A.3.2.2-5/WWW-Authenticate/no-ik", false, nil, Pass},
		{"scheme in lower case (RFC 2617 1.2)", "A.3.2.2-5/WWW-Authenticate/scheme", false, []edit{replace("5", "Digest realm", "digest realm")}, Pass},
		{"scheme Basic", "A.3.2.2-5/WWW-Authenticate/scheme", false, []edit{replace("5", "Digest realm", "Basic realm")}, Fail},
		{"fresh RAND after resync", "A.3.2.2-5/WWW-Authenticate/fresh-rand", false, []edit{setVar("resync", "true")}, Pass},
		{"replayed RAND after resync", "A.3.2.2-5/WWW-Authenticate/fresh-rand", false, []edit{setVar("resync", "true"), func(_ *testing.T, in *Input) {
			m := in.Messages["5.resync"]
			m.Raw = in.Messages["5"].Raw
			in.Messages["5.resync"] = m
		}}, Fail},
		{"no resync", "A.3.2.2-5/WWW-Authenticate/fresh-rand", false, nil, None},
		{"mechanisms listed, ipsec-3gpp second (RFC 3329 2.2)", "A.3.2.2-5/Security-Server/mechanism", false, []edit{replace("5", "Security-Server: ipsec-3gpp", "Security-Server: tls;q=0.2, ipsec-3gpp")}, Pass},
		{"no ipsec-3gpp", "A.3.2.2-5/Security-Server/mechanism", false, []edit{replace("5", "Security-Server: ipsec-3gpp", "Security-Server: tls")}, Fail},
		{"q absent (RFC 3329 2.2)", "A.3.2.2-5/Security-Server/q", false, []edit{replace("5", "q=0.1; ", "")}, Pass},
		{"q out of range", "A.3.2.2-5/Security-Server/q", false, []edit{replace("5", "q=0.1", "q=2")}, Fail},
		{"q absent is a table difference", "A.3.2.2-5/Security-Server/q-present", false, []edit{replace("5", "q=0.1; ", "")}, Fail},
		{"alg the UE offered", "A.3.2.2-5/Security-Server/alg", false, nil, Pass},
		{"alg the UE did not offer", "A.3.2.2-5/Security-Server/alg", false, []edit{replace("5", "alg=hmac-sha-1-96", "alg=hmac-md5-96")}, Fail},
		{"second mechanism's alg not offered", "A.3.2.2-5/Security-Server/alg", false, []edit{replace("5", "port-s=7531", "port-s=7531, ipsec-3gpp; alg=hmac-md5-96; spi-c=1000; spi-s=1001; port-c=1; port-s=2")}, Fail},
		{"alg offered among two", "A.3.2.2-5/Security-Server/alg", false, []edit{replace("2", secC2, secC2+", ipsec-3gpp; alg=hmac-md5-96; spi-c=23456789; spi-s=12345678; port-c=2468; port-s=1357"), replace("5", "alg=hmac-sha-1-96", "alg=hmac-md5-96")}, Pass},
		{"ealg absent", "A.3.2.2-5/Security-Server/ealg", false, nil, Pass},
		{"ealg null", "A.3.2.2-5/Security-Server/ealg", false, []edit{replace("5", "alg=hmac-sha-1-96;", "alg=hmac-sha-1-96; ealg=null;")}, Pass},
		{"ealg not offered", "A.3.2.2-5/Security-Server/ealg", false, []edit{replace("5", "alg=hmac-sha-1-96;", "alg=hmac-sha-1-96; ealg=aes-cbc;")}, Fail},
		{"ealg offered", "A.3.2.2-5/Security-Server/ealg", false, []edit{replace("2", "alg=hmac-sha-1-96;", "alg=hmac-sha-1-96; ealg=aes-cbc;"), replace("5", "alg=hmac-sha-1-96;", "alg=hmac-sha-1-96; ealg=aes-cbc;")}, Pass},
		{"spi 256 (RFC 4303 2.1)", "A.3.2.2-5/Security-Server/spi-c", false, []edit{replace("5", "spi-c=98765432", "spi-c=256")}, Pass},
		{"spi reserved", "A.3.2.2-5/Security-Server/spi-c", false, []edit{replace("5", "spi-c=98765432", "spi-c=255")}, Fail},
		{"spi over 32 bits", "A.3.2.2-5/Security-Server/spi-s", false, []edit{replace("5", "spi-s=87654321", "spi-s=4294967296")}, Fail},
		{"spi not a number", "A.3.2.2-5/Security-Server/spi-s", false, []edit{replace("5", "spi-s=87654321", "spi-s=-5")}, Fail},
		{"port 0", "A.3.2.2-5/Security-Server/port-c", false, []edit{replace("5", "port-c=8642", "port-c=0")}, Fail},
		{"port 65536", "A.3.2.2-5/Security-Server/port-s", false, []edit{replace("5", "port-s=7531", "port-s=65536")}, Fail},
		{"port-c = port-s", "A.3.2.2-5/Security-Server/ports-distinct", false, []edit{replace("5", "port-c=8642", "port-c=7531")}, Fail},
		{"ports distinct", "A.3.2.2-5/Security-Server/ports-distinct", false, nil, Pass},
		{"sec-agree off", "A.3.2.2-5/Security-Server/alg", false, []edit{setVar("sec_agree", "false")}, None},
		{"401 after the MAR", "A.3.2.2-5/Order/after-mar", false, nil, Pass},
		{"401 before the MAR", "A.3.2.2-5/Order/after-mar", false, []edit{setSeq("3.MAR", 40)}, Fail},
		{"MAR not observed", "A.3.2.2-5/Order/after-mar", false, []edit{setVar("cx_observed", "false")}, None},
		{"MAR missing", "A.3.2.2-5/Order/after-mar", false, []edit{drop("3.MAR")}, Inconc},

		// echoes: SIP equivalence, not bytes
		{"Via with received and rport (RFC 3581)", "A.3.2.2-5/Via/echo", false, []edit{replace("5", "branch=z9hG4bKnashds7", "branch=z9hG4bKnashds7;received=::1;rport=5060")}, Pass},
		{"Via with a new branch", "A.3.2.2-5/Via/echo", false, []edit{replace("5", "branch=z9hG4bKnashds7", "branch=z9hG4bKother")}, Fail},
		{"Via with another parameter", "A.3.2.2-5/Via/echo", false, []edit{replace("5", "branch=z9hG4bKnashds7", "branch=z9hG4bKnashds7;maddr=192.0.2.1")}, Fail},
		{"Via sent-by in other case and spacing", "A.3.2.2-10/Via/echo", false, []edit{replace("10", "Via: SIP/2.0/UDP [::1]:1357;comp=sigcomp", "Via: sip / 2.0 / udp [0:0::1]:1357 ; COMP=SigComp")}, Pass},
		{"From with a display name, no brackets kept", "A.3.2.2-5/From/echo", false, []edit{replace("5", "From: <sip:user1_public1@home1.net>;tag=4fa3", `From: "User One" <sip:user1_public1@HOME1.net>;tag=4fa3`)}, Pass},
		{"From without brackets (RFC 3261 20.20)", "A.3.2.2-5/From/echo", false, []edit{replace("5", "From: <sip:user1_public1@home1.net>;tag=4fa3", "f: sip:user1_public1@home1.net;tag=4fa3")}, Pass},
		{"From with another tag", "A.3.2.2-5/From/echo", false, []edit{replace("5", "tag=4fa3", "tag=4fa4")}, Fail},
		{"From without its tag", "A.3.2.2-5/From/echo", false, []edit{replace("5", ";tag=4fa3", "")}, Fail},
		{"To with an escaped user (RFC 3261 19.1.4)", "A.3.2.2-5/To/uri", false, []edit{replace("5", "To: <sip:user1_public1@home1.net>", "To: <sip:%75ser1_public1@home1.net>")}, Pass},
		{"To with a user in other case", "A.3.2.2-5/To/uri", false, []edit{replace("5", "To: <sip:user1_public1@home1.net>", "To: <sip:User1_public1@home1.net>")}, Fail},
		{"To with a port", "A.3.2.2-5/To/uri", false, []edit{replace("5", "To: <sip:user1_public1@home1.net>", "To: <sip:user1_public1@home1.net:5060>")}, Fail},
		{"Call-ID in other case (RFC 3261 20.8)", "A.3.2.2-5/Call-ID/echo", false, []edit{replace("5", "apb03a0s09dkjdfglkj49111", "APB03A0S09DKJDFGLKJ49111")}, Fail},
		{"two Call-IDs, the matching one first", "A.3.2.2-5/Call-ID/echo", false, []edit{replace("5", "Call-ID: apb03a0s09dkjdfglkj49111", "Call-ID: apb03a0s09dkjdfglkj49111\r\ni: other")}, Fail},
		{"two CSeqs, the matching one first", "A.3.2.2-5/CSeq/echo", false, []edit{replace("5", "CSeq: 1 REGISTER", "CSeq: 1 REGISTER\r\nCSeq: 7 REGISTER")}, Fail},
		{"CSeq with leading zero and spacing", "A.3.2.2-5/CSeq/echo", false, []edit{replace("5", "CSeq: 1 REGISTER", "CSeq:  01   REGISTER")}, Pass},
		{"CSeq method in lower case (RFC 3261 7.1)", "A.3.2.2-5/CSeq/echo", false, []edit{replace("5", "CSeq: 1 REGISTER", "CSeq: 1 register")}, Fail},
		{"Content-Length absent over UDP", "A.3.2.2-5/Content-Length/value", false, []edit{replace("5", "Content-Length: 0\r\n", "")}, Pass},
		{"Content-Length absent is a should", "A.3.2.2-5/Content-Length/present", false, []edit{replace("5", "Content-Length: 0\r\n", "")}, Fail},
		{"Content-Length over TCP", "A.3.2.2-5/Content-Length/present", false, []edit{setVar("transport", "TCP")}, None},
		{"Content-Length longer than the body", "A.3.2.2-5/Content-Length/value", false, []edit{replace("5", "Content-Length: 0", "Content-Length: 12")}, Fail},
		{"compact Content-Length", "A.3.2.2-5/Content-Length/value", false, []edit{replace("5", "Content-Length: 0", "l: 0")}, Pass},

		// 200 OK: lists as sets, the UE's binding, identities
		{"Path with an entry before the P-CSCF's", "A.3.2.2-10/Path/pcscf", false, []edit{replace("10", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:ibcf.home1.net;lr>, <sip:term@PCSCF1.visited1.net;lr>")}, Pass},
		{"Path on two lines", "A.3.2.2-10/Path/pcscf", false, []edit{replace("10", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:ibcf.home1.net;lr>\r\nPath: <sip:term@pcscf1.visited1.net;lr>")}, Pass},
		{"Path without the P-CSCF", "A.3.2.2-10/Path/pcscf", false, []edit{replace("10", "pcscf1.visited1.net", "other.visited1.net")}, Fail},
		{"Path by another name of the P-CSCF", "A.3.2.2-10/Path/pcscf", false, []edit{replace("10", "pcscf1.visited1.net", "192.0.2.7"), setVar("pcscf_names", "pcscf1.visited1.net 192.0.2.7")}, Pass},
		{"second Path entry without lr", "A.3.2.2-10/Path/lr", false, []edit{replace("10", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:term@pcscf1.visited1.net;lr>, <sip:x.home1.net>")}, Fail},
		{"Service-Route with an IBCF first", "A.3.2.2-10/Service-Route/scscf", false, []edit{replace("10", "Service-Route: <sip:orig@scscf1.home1.net;lr>", "Service-Route: <sip:ibcf.home1.net;lr>,<sip:orig@scscf1.home1.net;lr>")}, Pass},
		{"binding second among Contacts", "A.3.2.2-10/Contact/binding", false, []edit{replace("10", contact7, "m: <sip:other@[::1]:9999>;expires=30, <sip:[::1]:1357;comp=sigcomp>;expires=3600")}, Pass},
		{"binding missing", "A.3.2.2-10/Contact/binding", false, []edit{replace("10", contact7, "Contact: <sip:other@[::1]:9999>;expires=30")}, Fail},
		{"binding's own expiry, second Contact", "A.3.2.2-10/Contact/expires", false, []edit{replace("10", contact7, "Contact: <sip:other@[::1]:9999>;expires=900000, <sip:[::1]:1357;comp=sigcomp>;expires=3600")}, Pass},
		{"binding expires 0", "A.3.2.2-10/Contact/expires", false, []edit{replace("10", "expires=600000", "expires=0")}, Fail},
		{"binding expires longer than asked", "A.3.2.2-10/Contact/expires", false, []edit{replace("10", "expires=600000", "expires=600001")}, Fail},
		{"binding expiry from the Expires header", "A.3.2.2-10/Contact/expires", false, []edit{replace("10", ";expires=600000", ""), replace("10", "CSeq: 2 REGISTER", "CSeq: 2 REGISTER\r\nExpires: 3600")}, Pass},
		{"another Contact's expires 0", "A.3.2.2-10/Contact/expires", false, []edit{replace("10", contact7, "Contact: <sip:old@[::1]:9999>;expires=0, <sip:[::1]:1357;comp=sigcomp>;expires=3600")}, Pass},
		{"no Date is a should", "A.3.2.2-10/Date/present", false, []edit{replace("10", date+"\r\n", "")}, Fail},
		{"no Date passes the format rule", "A.3.2.2-10/Date/rfc1123", false, []edit{replace("10", date+"\r\n", "")}, Pass},
		{"Date not GMT", "A.3.2.2-10/Date/rfc1123", false, []edit{replace("10", "08:49:37 GMT", "08:49:37 UTC")}, Fail},
		{"tel IMPU without separators (RFC 3966 5.1.1)", "A.3.2.2-10/P-Associated-URI/impus", false, []edit{replace("10", "<tel:+1-212-555-1111>", "<tel:+12125551111>")}, Pass},
		{"P-Associated-URI over two lines", "A.3.2.2-10/P-Associated-URI/impus", false, []edit{replace("10", ", <sip:user1_public3@home1.net>", "\r\nP-Associated-URI: <sip:user1_public3@home1.net>")}, Pass},
		{"registered IMPU first", "A.3.2.2-10/P-Associated-URI/first", false, nil, Pass},
		{"registered IMPU not first", "A.3.2.2-10/P-Associated-URI/first", false, []edit{replace("10", "P-Associated-URI: <sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>", "P-Associated-URI: <sip:user1_public2@home1.net>, <sip:user1_public1@home1.net>")}, Fail},
		{"a URI outside the implicit set", "A.3.2.2-10/P-Associated-URI/within", false, []edit{replace("10", "<tel:+1-212-555-1111>", "<tel:+1-212-555-1111>, <sip:someone.else@home1.net>")}, Fail},
		{"no P-Associated-URI is nothing outside", "A.3.2.2-10/P-Associated-URI/within", false, []edit{replace("10", pau+"\r\n", "")}, Pass},
		{"the implicit set, tel in other form", "A.3.2.2-10/P-Associated-URI/within", false, []edit{replace("10", "<tel:+1-212-555-1111>", "<tel:+1.212.555.1111>")}, Pass},
		{"200 OK after the SAR", "A.3.2.2-14/Order/after-sar", false, nil, Pass},
		{"200 OK before the SAR", "A.3.2.2-14/Order/after-sar", false, []edit{setSeq("9.SAR", 40)}, Fail},
		{"empty reason phrase (RFC 3261 25)", "A.3.2.2-10/Status-Line/reason", false, []edit{replace("10", "SIP/2.0 200 OK", "SIP/2.0 200 ")}, Fail},

		// 11: hop by hop, names as sets, the third-party REGISTER
		{"Security-Client passed on", "A.3.2.2-11/Security-Client/absent", false, []edit{replace("11", "Expires: 600000", "Expires: 600000\r\n"+secC2)}, Fail},
		{"Security-Verify passed on", "A.3.2.2-11/Security-Verify/absent", false, []edit{replace("11", "Expires: 600000", "Expires: 600000\r\nSecurity-Verify: "+secS)}, Fail},
		{"no Security-Verify", "A.3.2.2-11/Security-Verify/absent", false, nil, Pass},
		{"S-CSCF Via by address, From by name", "A.3.2.2-11/Via/scscf.ts24229", false, []edit{replace("11", "Via: SIP/2.0/UDP scscf1.home1.net", "Via: SIP/2.0/UDP 192.0.2.4"), setVar("scscf_names", "scscf1.home1.net 192.0.2.4")}, Pass},
		{"Via of another node", "A.3.2.2-11/Via/scscf.ts24229", false, []edit{replace("11", "Via: SIP/2.0/UDP scscf1.home1.net", "Via: SIP/2.0/UDP 192.0.2.4")}, Fail},
		{"To an implicitly registered IMPU (TS 24.229 5.4.1.7)", "A.3.2.2-11/To/impu.ts24229", false, []edit{replace("11", "To: <sip:user1_public1@home1.net>", "To: <tel:+1-212-555-1111>")}, Pass},
		{"To another subscriber", "A.3.2.2-11/To/impu.ts24229", false, []edit{replace("11", "To: <sip:user1_public1@home1.net>", "To: <sip:other@home1.net>")}, Fail},
		{"Max-Forwards 10 is a should", "A.3.2.2-11/Max-Forwards/value.ts24229", false, []edit{replace("11", "Max-Forwards: 70", "Max-Forwards: 10")}, Fail},
		{"Max-Forwards 10 is present", "A.3.2.2-11/Max-Forwards/present.ts24229", false, []edit{replace("11", "Max-Forwards: 70", "Max-Forwards: 10")}, Pass},
		{"granted expiry, binding second", "A.3.2.2-11/Expires/granted.ts24229", false, []edit{replace("10", contact7, "Contact: <sip:other@[::1]:9999>;expires=30, <sip:[::1]:1357;comp=sigcomp>;expires=600000")}, Pass},
		{"requested expiry plus grace", "A.3.2.2-11/Expires/granted.ts24229", false, []edit{replace("11", "Expires: 600000", "Expires: 600120")}, Fail},
		{"forwarded credentials with integrity-protected", "A.3.2.2-11/Authorization/response", true, nil, Pass},
		{"forwarded credentials, integrity-protected", "A.3.2.2-11/Authorization/integrity-protected", true, nil, Pass},
		{"forwarded credentials without integrity-protected", "A.3.2.2-11/Authorization/integrity-protected", true, []edit{replace("11", `, integrity-protected="yes"`, "")}, Fail},
		{"forwarded credentials, other response", "A.3.2.2-11/Authorization/response", true, []edit{replace("11", "6629fae4", "0629fae4")}, Fail},
		{"forwarded credentials reordered", "A.3.2.2-11/Authorization/nonce", true, []edit{replace("11", `realm="registrar.home1.net", nonce=`, `nonce=`), replace("11", `algorithm=AKAv1-MD5,`, `algorithm=AKAv1-MD5, realm="registrar.home1.net",`)}, Pass},
		{"visited network as a token (RFC 3455 4.3)", "A.3.2.2-11/P-Visited-Network-ID/value", true, []edit{replace("11", `"Visited Network Number 1"`, "visited1.net"), setVar("visited_network_id", "visited1.net")}, Pass},
		{"visited network quoted, lab value a token", "A.3.2.2-11/P-Visited-Network-ID/value", true, []edit{replace("11", `"Visited Network Number 1"`, `"visited1.net"`), setVar("visited_network_id", "visited1.net")}, Pass},
		{"the UE's Via with received", "A.3.2.2-11/Via/ue", true, []edit{replace("11", "branch=z9hG4bKnashds8", "branch=z9hG4bKnashds8;received=::1")}, Pass},
		{"Path prepended by the S-CSCF", "A.3.2.2-11/Path/pcscf", true, []edit{replace("11", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:scscf1.home1.net;lr>,<sip:term@pcscf1.visited1.net;lr>")}, Pass},

		{"Content-Length over TCP", "A.3.2.2-5/Content-Length/present.tcp", false, []edit{setVar("transport", "TCP")}, Pass},
		{"no Content-Length over TCP", "A.3.2.2-5/Content-Length/present.tcp", false, []edit{setVar("transport", "TCP"), replace("5", "Content-Length: 0\r\n", "")}, Fail},
		{"q present as the table shows", "A.3.2.2-5/Security-Server/q-present", false, nil, Pass},
		{"Max-Forwards 70", "A.3.2.2-11/Max-Forwards/value.ts24229", false, nil, Pass},
		{"no Max-Forwards", "A.3.2.2-11/Max-Forwards/present.ts24229", false, []edit{replace("11", "Max-Forwards: 70\r\n", "")}, Fail},
		{"no Security-Client", "A.3.2.2-11/Security-Client/absent", false, nil, Pass},
		{"From by another name of the S-CSCF", "A.3.2.2-11/From/scscf.ts24229", false, []edit{replace("11", "From: <sip:scscf1.home1.net>", "From: <sip:SCSCF.home1.net>"), setVar("scscf_names", "scscf1.home1.net scscf.home1.net")}, Pass},
		{"From of another node", "A.3.2.2-11/From/scscf.ts24229", false, []edit{replace("11", "From: <sip:scscf1.home1.net>", "From: <sip:icscf1_p.home1.net>")}, Fail},
		{"Contact of another node", "A.3.2.2-11/Contact/scscf.ts24229", false, []edit{replace("11", "Contact: <sip:scscf1.home1.net>", "Contact: <sip:icscf1_p.home1.net>")}, Fail},
		{"Service-Route without the S-CSCF", "A.3.2.2-10/Service-Route/scscf", false, []edit{replace("10", "orig@scscf1.home1.net", "orig@other.home1.net")}, Fail},
		{"forwarded: I-CSCF Via by another name", "A.3.2.2-11/Via/icscf", true, []edit{replace("11", "UDP icscf1_p.home1.net", "UDP 192.0.2.3"), setVar("icscf_names", "icscf1_p.home1.net 192.0.2.3")}, Pass},
		{"forwarded: top Via not the I-CSCF's", "A.3.2.2-11/Via/icscf", true, []edit{replace("11", "UDP icscf1_p.home1.net", "UDP 192.0.2.3")}, Fail},
		{"forwarded: second Via the P-CSCF's", "A.3.2.2-11/Via/pcscf", true, nil, Pass},
		{"forwarded: second Via not the P-CSCF's", "A.3.2.2-11/Via/pcscf", true, []edit{replace("11", "UDP pcscf1.visited1.net", "UDP other.visited1.net")}, Fail},
		{"forwarded: the UE's Via changed", "A.3.2.2-11/Via/ue", true, []edit{replace("11", "branch=z9hG4bKnashds8", "branch=z9hG4bKother")}, Fail},
		{"forwarded: Path without the P-CSCF", "A.3.2.2-11/Path/pcscf", true, []edit{replace("11", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:scscf1.home1.net;lr>")}, Fail},
		{"forwarded: another visited network", "A.3.2.2-11/P-Visited-Network-ID/value", true, []edit{replace("11", `"Visited Network Number 1"`, "visited2.net")}, Fail},
		{"forwarded: another username", "A.3.2.2-11/Authorization/username", true, []edit{replace("11", `username="user1_private@home1.net"`, `username="other@home1.net"`)}, Fail},
		{"forwarded: another realm", "A.3.2.2-11/Authorization/realm", true, []edit{replace("11", `realm="registrar.home1.net"`, `realm="other.home1.net"`)}, Fail},
		{"forwarded: another uri", "A.3.2.2-11/Authorization/uri", true, []edit{replace("11", `uri="sip:registrar.home1.net"`, `uri="sip:other.home1.net"`)}, Fail},
		{"forwarded: username as sent", "A.3.2.2-11/Authorization/username", true, nil, Pass},
		{"forwarded: integrity-protected no", "A.3.2.2-11/Authorization/integrity-protected", true, []edit{replace("11", `integrity-protected="yes"`, `integrity-protected="no"`)}, Pass},
		{"forwarded: integrity-protected unknown", "A.3.2.2-11/Authorization/integrity-protected", true, []edit{replace("11", `integrity-protected="yes"`, `integrity-protected="maybe"`)}, Fail},
		{"13 without Date, on purpose", "A.3.2.2-13/Date/present", false, []edit{replace("13", date+"\r\n", ""), deviated("13")}, Fail},
		{"13 with Date", "A.3.2.2-13/Date/present", false, nil, Pass},
		{"Security-Verify not the Security-Server", "A.3.2.2-7/Security-Verify/same", false, []edit{replace("7", "Security-Verify: ipsec-3gpp; q=0.1", "Security-Verify: ipsec-3gpp; q=0.2"), deviated("7")}, Fail},

		// the harness's own messages
		{"13 echoes step 11's Path", "A.3.2.2-13/Path/echo", true, nil, Pass},
		{"13 changes the Path", "A.3.2.2-13/Path/echo", true, []edit{replace("13", "Path: <sip:term@pcscf1.visited1.net;lr>", "Path: <sip:term@other.visited1.net;lr>"), deviated("13")}, Fail},
		{"11 has no Path, nor 13", "A.3.2.2-13/Path/echo", false, nil, Pass},
		{"11 has no Path, 13 has one", "A.3.2.2-13/Path/echo", false, []edit{replace("13", "Service-Route:", "Path: <sip:x.home1.net;lr>\r\nService-Route:"), deviated("13")}, Fail},
		{"13 echoes Kamailio's two entries", "A.3.2.2-13/Path/echo", false, []edit{
			replace("11", "Expires: 600000", "Expires: 600000\r\nPath: <sip:127.0.0.4:5060;lr>,<sip:term@127.0.0.2;lr>"),
			replace("13", "Service-Route:", "Path: <sip:127.0.0.4:5060;lr>,<sip:term@127.0.0.2;lr>\r\nService-Route:")}, Pass},
		{"a wrong CSeq in the 401 is not the UE's", "A.3.2.2-7/CSeq/number", false, []edit{replace("5", "CSeq: 1 REGISTER", "CSeq: 5 REGISTER")}, Pass},
		{"the UE's CSeq not incremented", "A.3.2.2-7/CSeq/number", false, []edit{replace("7", "CSeq: 2 REGISTER", "CSeq: 1 REGISTER"), deviated("7")}, Fail},
		{"the harness's own message broken", "A.3.2.2-7/CSeq/number", false, []edit{replace("7", "CSeq: 2 REGISTER", "CSeq: 1 REGISTER")}, Error},
		{"the harness's message not sent", "A.3.2.2-7/CSeq/number", false, []edit{drop("7")}, Inconc},
		{"no Security-Server to verify", "A.3.2.2-7/Security-Verify/same", false, []edit{replace("5", "Security-Server: "+secS+"\r\n", ""), replace("7", "Security-Verify: "+secS+"\r\n", "")}, Inconc},
		{"Security-Verify in another order", "A.3.2.2-7/Security-Verify/same", false, []edit{replace("7", "Security-Verify: ipsec-3gpp; q=0.1; alg=hmac-sha-1-96", "Security-Verify: ipsec-3gpp; alg=hmac-sha-1-96; Q=0.1")}, Pass},
		{"the UE's fact wrong", "A.3.2.2-7/Authorization/response-digest", false, []edit{func(_ *testing.T, in *Input) { in.Facts["7.response"] = "invalid: wrong RES" }}, Error},
		{"the UE's fact wrong on purpose", "A.3.2.2-7/Authorization/response-digest", false, []edit{func(_ *testing.T, in *Input) { in.Facts["7.response"] = "invalid: wrong RES" }, deviated("7")}, Fail},

		// IPsec on the wire (sut.ipsec): step 7 and the 200 OK over the
		// agreed SAs and ports, the P-CSCF's ESP packets (TS 33.203 7.1,
		// RFC 4303).
		{"REGISTER to the P-CSCF's port-s", "A.3.2.2-7/Envelope/destination", false, nil, Pass},
		{"REGISTER to another port, on purpose", "A.3.2.2-7/Envelope/destination", false, []edit{setVar("pcscf_port_s", "7532"), deviated("7")}, Fail},
		{"REGISTER to another port: the harness's fault", "A.3.2.2-7/Envelope/destination", false, []edit{setVar("pcscf_port_s", "7532")}, Error},
		{"no IPsec in the lab", "A.3.2.2-7/Envelope/destination", false, []edit{setVar("ipsec", "false")}, None},
		{"REGISTER inside ESP", "A.3.2.2-7/ESP/protected", false, nil, Pass},
		{"REGISTER in clear, on purpose", "A.3.2.2-7/ESP/protected", false, []edit{inClear("7"), deviated("7")}, Fail},
		{"REGISTER in clear: the harness's fault", "A.3.2.2-7/ESP/protected", false, []edit{inClear("7")}, Error},
		{"REGISTER not sent", "A.3.2.2-7/ESP/protected", false, []edit{drop("7")}, Inconc},
		{"REGISTER on the SA of spi-s", "A.3.2.2-7/ESP/spi", false, nil, Pass},
		{"REGISTER on another SA, on purpose", "A.3.2.2-7/ESP/spi", false, []edit{espSPI("7", seedSPIPcscfS+1), deviated("7")}, Fail},
		{"REGISTER in clear has no SPI", "A.3.2.2-7/ESP/spi", false, []edit{inClear("7"), deviated("7")}, Fail},
		{"200 OK from the P-CSCF's port-s", "A.3.2.2-10/Envelope/source", false, nil, Pass},
		{"200 OK from another port", "A.3.2.2-10/Envelope/source", false, []edit{setVar("pcscf_port_s", "7532")}, Fail},
		{"200 OK from port-s, no IPsec", "A.3.2.2-10/Envelope/source", false, []edit{setVar("ipsec", "false")}, None},
		{"200 OK inside ESP", "A.3.2.2-10/ESP/protected", false, nil, Pass},
		{"200 OK in clear", "A.3.2.2-10/ESP/protected", false, []edit{inClear("10")}, Fail},
		{"200 OK in clear, twin table", "A.3.2.2-14/ESP/protected", false, []edit{inClear("10")}, Fail},
		{"200 OK never came", "A.3.2.2-10/ESP/protected", false, []edit{drop("10"), drop("14")}, Fail},
		{"every packet verifies", "A.3.2.2-10/ESP/icv", false, nil, Pass},
		{"a packet with a bad ICV", "A.3.2.2-10/ESP/icv", false, []edit{refuse(2, "icv")}, Fail},
		{"a packet with bad padding (RFC 4303 2.4)", "A.3.2.2-10/ESP/icv", false, []edit{refuse(1, "padding")}, Fail},
		{"a replay is not an ICV fault", "A.3.2.2-10/ESP/icv", false, []edit{refuse(2, "replay")}, Pass},
		{"a bad ICV from another host is not the P-CSCF's", "A.3.2.2-10/ESP/icv", false, []edit{addPacket(trace.Packet{Dir: trace.Received, Src: netip.MustParseAddr("2001:db8::9"), SPI: seedSPIUEC, ESPSeq: 9, Refusal: "icv"})}, Pass},
		{"no ESP packet from the P-CSCF", "A.3.2.2-10/ESP/icv", false, []edit{func(_ *testing.T, in *Input) { in.Packets = nil }}, Inconc},
		{"bad ICV, twin table", "A.3.2.2-14/ESP/icv", false, []edit{refuse(2, "icv")}, Fail},
		{"the SPIs the UE announced", "A.3.2.2-10/ESP/spi", false, nil, Pass},
		{"the SA to port-s, spi-s", "A.3.2.2-10/ESP/spi", false, []edit{addPacket(trace.Packet{Dir: trace.Received, Src: pcscfS.Addr(), SPI: 12345678, ESPSeq: 1})}, Pass},
		{"an SPI the UE never announced", "A.3.2.2-10/ESP/spi", false, []edit{addPacket(trace.Packet{Dir: trace.Received, Src: pcscfS.Addr(), SPI: 4242, ESPSeq: 1, Refusal: "no-sa"})}, Fail},
		{"an SPI of another SA than its ports'", "A.3.2.2-10/ESP/spi", false, []edit{refuse(2, "selector")}, Fail},
		{"sequence numbers 1, 2", "A.3.2.2-10/ESP/sequence", false, nil, Pass},
		{"a gap: a packet lost on the way", "A.3.2.2-10/ESP/sequence", false, []edit{seqOf(2, 3)}, Pass},
		{"two SAs, each from 1", "A.3.2.2-10/ESP/sequence", false, []edit{addPacket(trace.Packet{Dir: trace.Received, Src: pcscfS.Addr(), SPI: 12345678, ESPSeq: 1})}, Pass},
		{"the first is 2", "A.3.2.2-10/ESP/sequence", false, []edit{seqOf(1, 2), seqOf(2, 3)}, Fail},
		{"a number sent twice (a replay)", "A.3.2.2-10/ESP/sequence", false, []edit{seqOf(2, 1)}, Fail},
		{"going back", "A.3.2.2-10/ESP/sequence", false, []edit{seqOf(1, 3), seqOf(2, 2)}, Fail},
		{"a stray SPI's number does not count", "A.3.2.2-10/ESP/sequence", false, []edit{addPacket(trace.Packet{Dir: trace.Received, Src: pcscfS.Addr(), SPI: 4242, ESPSeq: 7, Refusal: "no-sa"})}, Pass},
		{"replay, twin table", "A.3.2.2-14/ESP/sequence", false, []edit{seqOf(2, 1)}, Fail},
		{"no IPsec: the packet rules do not apply", "A.3.2.2-10/ESP/sequence", false, []edit{setVar("ipsec", "false")}, None},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := byID[c.rule]
			if !ok {
				t.Fatalf("no rule %s", c.rule)
			}
			in := seedInput("a322")
			if c.forwarded {
				in = seedForwarded()
			}
			for _, e := range c.edits {
				e(t, &in)
			}
			got := Evaluate([]scenario.Rule{r}, in)[0]
			if got.Verdict != c.want {
				t.Fatalf("%s: got %s (expected %q, observed %q, reason %q), want %s", c.rule, got.Verdict, got.Expected, got.Observed, got.Reason, c.want)
			}
			if got.Verdict != Pass && got.Verdict != None && got.Reason == "" {
				t.Fatalf("%s: %s without a reason", c.rule, got.Verdict)
			}
			if got.Level != r.Level {
				t.Fatalf("%s: result level %q, rule level %q", c.rule, got.Level, r.Level)
			}
		})
	}
}

// TestLevelsGate: a must result gates at every gate level, a should one at
// a should or table gate, a table one only at a table gate; a result of no
// level counts as must.
func TestLevelsGate(t *testing.T) {
	for _, c := range []struct {
		l                  scenario.Level
		must, should, tabl bool
	}{{scenario.LevelMust, true, true, true}, {scenario.LevelShould, false, true, true}, {scenario.LevelTable, false, false, true}, {"", true, true, true}} {
		r := Result{Level: c.l, Verdict: Fail}
		if r.Gates(scenario.LevelMust) != c.must || r.Gates(scenario.LevelShould) != c.should || r.Gates(scenario.LevelTable) != c.tabl {
			t.Errorf("level %q: gates at must %v, should %v, table %v; want %v %v %v", c.l,
				r.Gates(scenario.LevelMust), r.Gates(scenario.LevelShould), r.Gates(scenario.LevelTable), c.must, c.should, c.tabl)
		}
	}
	if _, err := scenario.ParseLevel("may"); err == nil {
		t.Error("ParseLevel took \"may\"")
	}
}

// TestEveryRuleHasALevel: the scenario's rules all carry one of the
// levels, and the results carry it on.
func TestEveryRuleHasALevel(t *testing.T) {
	s := loadTS24206(t)
	for _, r := range s.AllRules() {
		switch r.Level {
		case scenario.LevelMust, scenario.LevelShould, scenario.LevelTable:
		default:
			t.Errorf("%s: level %q", r.ID, r.Level)
		}
	}
	rules, _ := s.Rules("a322")
	for i, res := range Evaluate(rules, seedInput("a322")) {
		if res.Level != rules[i].Level {
			t.Errorf("%s: result level %q, rule level %q", res.RuleID, res.Level, rules[i].Level)
		}
	}
}
