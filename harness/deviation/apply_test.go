package deviation

import (
	"strings"
	"testing"

	"imsconform/harness/sipmsg"
)

const resp401 = "SIP/2.0 401 Unauthorized\r\n" +
	"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd];comp=sigcomp;branch=z9hG4bKnashds7\r\n" +
	"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
	"To: <sip:user1_public1@home1.net>;tag=5ef4\r\n" +
	"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
	"WWW-Authenticate: Digest realm=\"registrar.home1.net\", nonce=\"A34Cm+Fva37UYWpGNB34JP\", algorithm=AKAv1-MD5\r\n" +
	"Security-Server: ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Content-Length: 0\r\n\r\n"

const reg = "REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd]:1357;comp=sigcomp;branch=z9hG4bKnashds7\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
	"To: <sip:user1_public1@home1.net>\r\n" +
	"Contact: <sip:[5555::aaa:bbb:ccc:ddd]:1357;comp=sigcomp>;expires=600000\r\n" +
	"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
	"Authorization: Digest username=\"user1_private@home1.net\", realm=\"registrar.home1.net\", nonce=\"abc\", algorithm=AKAv1-MD5, uri=\"sip:registrar.home1.net\", response=\"6629fae49393a05397450978507c4ef1\"\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Supported: path\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestApplyRaw(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ds      []Deviation
		want    []string // substrings that must be present
		notWant []string // substrings that must be absent
	}{
		{"drop-header", resp401, []Deviation{{Action: DropHeader, Header: "Security-Server"}},
			nil, []string{"Security-Server"}},
		{"drop-header case-insensitive and compact", reg + "", []Deviation{{Action: DropHeader, Header: "call-id"}},
			nil, []string{"Call-ID"}},
		{"set-header replaces", resp401, []Deviation{{Action: SetHeader, Header: "CSeq", Value: "9 REGISTER"}},
			[]string{"CSeq: 9 REGISTER\r\n"}, []string{"CSeq: 1 REGISTER"}},
		{"set-header adds when absent", resp401, []Deviation{{Action: SetHeader, Header: "Date", Value: "Wed, 11 Jul 2001 08:49:37 GMT"}},
			[]string{"Date: Wed, 11 Jul 2001 08:49:37 GMT\r\n"}, nil},
		{"add-header appends another", resp401, []Deviation{{Action: AddHeader, Header: "Via", Value: "SIP/2.0/UDP x.example;branch=z9hG4bKx"}},
			[]string{"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd];comp=sigcomp;branch=z9hG4bKnashds7\r\n", "Via: SIP/2.0/UDP x.example;branch=z9hG4bKx\r\n"}, nil},
		{"drop-param digest", resp401, []Deviation{{Action: DropParam, Header: "WWW-Authenticate", Param: "algorithm"}},
			[]string{`WWW-Authenticate: Digest realm="registrar.home1.net", nonce="A34Cm+Fva37UYWpGNB34JP"` + "\r\n"}, []string{"AKAv1-MD5"}},
		{"set-param digest keeps quoting", resp401, []Deviation{{Action: SetParam, Header: "WWW-Authenticate", Param: "nonce", Value: "xyz"}},
			[]string{`nonce="xyz", algorithm=AKAv1-MD5`}, []string{"A34Cm"}},
		{"set-param digest token", resp401, []Deviation{{Action: SetParam, Header: "WWW-Authenticate", Param: "algorithm", Value: "MD5"}},
			[]string{`algorithm=MD5` + "\r\n"}, []string{"AKAv1"}},
		{"set-param digest adds", resp401, []Deviation{{Action: SetParam, Header: "WWW-Authenticate", Param: "ck", Value: `"00112233"`}},
			[]string{`algorithm=AKAv1-MD5, ck="00112233"`}, nil},
		{"set-param authorization response", reg, []Deviation{{Action: SetParam, Header: "Authorization", Param: "response", Value: "00000000000000000000000000000000"}},
			[]string{`response="00000000000000000000000000000000"`}, []string{"6629fae"}},
		{"drop-param semicolon spaced", resp401, []Deviation{{Action: DropParam, Header: "Security-Server", Param: "port-s"}},
			[]string{"Security-Server: ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642\r\n"}, []string{"port-s"}},
		{"set-param semicolon spaced", resp401, []Deviation{{Action: SetParam, Header: "Security-Server", Param: "alg", Value: "hmac-md5-96"}},
			[]string{"alg=hmac-md5-96; spi-c"}, []string{"hmac-sha-1-96"}},
		{"drop-param via branch", reg, []Deviation{{Action: DropParam, Header: "Via", Param: "branch"}},
			[]string{"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd]:1357;comp=sigcomp\r\n"}, []string{"nashds7"}},
		{"set-param contact header param not uri param", reg, []Deviation{{Action: SetParam, Header: "Contact", Param: "expires", Value: "0"}},
			[]string{"Contact: <sip:[5555::aaa:bbb:ccc:ddd]:1357;comp=sigcomp>;expires=0\r\n"}, nil},
		{"drop-param to tag", resp401, []Deviation{{Action: DropParam, Header: "To", Param: "tag"}},
			[]string{"To: <sip:user1_public1@home1.net>\r\n"}, []string{"5ef4"}},
		{"set-param adds flag", reg, []Deviation{{Action: SetParam, Header: "Via", Param: "rport"}},
			[]string{"branch=z9hG4bKnashds7;rport\r\n"}, nil},
		{"start-line", resp401, []Deviation{{Action: StartLine, Value: "SIP/2.0 407 Proxy Authentication Required"}},
			[]string{"SIP/2.0 407 Proxy Authentication Required\r\nVia:"}, []string{"401"}},
		{"behaviours ignored", resp401, []Deviation{{Action: BadMAC}, {Action: NoAnswer}},
			[]string{resp401}, nil},
		{"invalid edit skipped", resp401, []Deviation{{Action: DropHeader}},
			[]string{resp401}, nil},
		{"content-length fixed", "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1\r\n\r\nhello",
			[]Deviation{{Action: AddHeader, Header: "X", Value: "1"}},
			[]string{"Content-Length: 5\r\nX: 1\r\n\r\nhello"}, nil},
		{"content-length set wins", resp401, []Deviation{{Action: SetHeader, Header: "Content-Length", Value: "99"}},
			[]string{"Content-Length: 99\r\n"}, nil},
		{"garbage survives", "not sip at all", []Deviation{{Action: AddHeader, Header: "X", Value: "1"}},
			[]string{"not sip at all\r\nX: 1\r\n\r\n"}, nil},
		{"folded line joined", "SIP/2.0 200 OK\r\nSubject: a\r\n b\r\nContent-Length: 0\r\n\r\n",
			[]Deviation{{Action: SetHeader, Header: "Date", Value: "x"}},
			[]string{"Subject: a b\r\n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got := string(ApplyRaw(tc.ds, in))
			if string(in) != tc.in {
				t.Fatalf("input modified")
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("expected %q in\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("expected no %q in\n%s", w, got)
				}
			}
		})
	}
}

func mustParse(t *testing.T, s string) *sipmsg.Message {
	t.Helper()
	m, err := sipmsg.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

// TestApplyOnTheModel: the edits work on the message model the roles send,
// and the model still writes a message that parses (except where the edit
// breaks it on purpose).
func TestApplyOnTheModel(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ds    []Deviation
		check func(t *testing.T, m *sipmsg.Message)
	}{
		{"drop-header", resp401, []Deviation{{Action: DropHeader, Header: "WWW-Authenticate"}}, func(t *testing.T, m *sipmsg.Message) {
			if m.Has("WWW-Authenticate") {
				t.Errorf("expected no WWW-Authenticate, got %q", m.Get("WWW-Authenticate"))
			}
		}},
		{"drop Via keeps the others", resp401, []Deviation{{Action: DropHeader, Header: "Via"}}, func(t *testing.T, m *sipmsg.Message) {
			if m.Has("Via") {
				t.Errorf("expected no Via")
			}
			if n, _, err := m.CSeq(); err != nil || n != 1 {
				t.Errorf("expected CSeq 1, got %d %v", n, err)
			}
		}},
		{"set-param Via branch", reg, []Deviation{{Action: SetParam, Header: "Via", Param: "branch", Value: "z9hG4bKother"}}, func(t *testing.T, m *sipmsg.Message) {
			if b := m.Branch(); b != "z9hG4bKother" {
				t.Errorf("expected branch z9hG4bKother, got %q", b)
			}
		}},
		{"set-header Max-Forwards", reg, []Deviation{{Action: SetHeader, Header: "Max-Forwards", Value: "69"}}, func(t *testing.T, m *sipmsg.Message) {
			if mf := m.Get("Max-Forwards"); mf != "69" {
				t.Errorf("expected Max-Forwards 69, got %q", mf)
			}
		}},
		{"add-header", reg, []Deviation{{Action: AddHeader, Header: "Require", Value: "sec-agree"}}, func(t *testing.T, m *sipmsg.Message) {
			if h := m.Get("Require"); h != "sec-agree" {
				t.Errorf("expected Require: sec-agree, got %q", h)
			}
		}},
		{"set-param digest", reg, []Deviation{{Action: SetParam, Header: "Authorization", Param: "uri", Value: "sip:other"}}, func(t *testing.T, m *sipmsg.Message) {
			if h := m.Get("Authorization"); !strings.Contains(h, `uri="sip:other"`) {
				t.Errorf("expected uri=\"sip:other\", got %q", h)
			}
		}},
		{"drop-param digest", resp401, []Deviation{{Action: DropParam, Header: "WWW-Authenticate", Param: "realm"}}, func(t *testing.T, m *sipmsg.Message) {
			if h := m.Get("WWW-Authenticate"); strings.Contains(h, "realm") {
				t.Errorf("expected no realm, got %q", h)
			}
		}},
		{"start-line same kind", resp401, []Deviation{{Action: StartLine, Value: "SIP/2.0 403 Forbidden"}}, func(t *testing.T, m *sipmsg.Message) {
			if m.StatusCode != 403 || m.Reason != "Forbidden" {
				t.Errorf("expected 403 Forbidden, got %d %s", m.StatusCode, m.Reason)
			}
		}},
		{"start-line request uri", reg, []Deviation{{Action: StartLine, Value: "REGISTER sip:other.net SIP/2.0"}}, func(t *testing.T, m *sipmsg.Message) {
			if m.RequestURI != "sip:other.net" {
				t.Errorf("expected sip:other.net, got %s", m.RequestURI)
			}
		}},
		{"drop content-length stays dropped", resp401, []Deviation{{Action: DropHeader, Header: "Content-Length"}}, func(t *testing.T, m *sipmsg.Message) {
			if strings.Contains(string(m.Bytes()), "Content-Length") {
				t.Errorf("expected no Content-Length")
			}
		}},
		{"set content-length is kept as set", resp401, []Deviation{{Action: SetHeader, Header: "l", Value: "99"}}, func(t *testing.T, m *sipmsg.Message) {
			if !strings.Contains(string(m.Bytes()), "Content-Length: 99\r\n") {
				t.Errorf("expected Content-Length: 99 on the wire, got\n%s", m.Bytes())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, tc.in)
			if err := Apply(tc.ds, m); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			tc.check(t, m)
			if _, err := sipmsg.Parse(m.Bytes()); err != nil {
				t.Errorf("re-parse: %v\n%s", err, m.Bytes())
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	m := mustParse(t, resp401)
	before := string(m.Bytes())
	if err := Apply([]Deviation{{Action: SetHeader, Header: "To", Value: "x"}, {Action: SetParam, Header: "Via"}}, m); err == nil {
		t.Errorf("expected an error for set-param without param, got none")
	}
	if string(m.Bytes()) != before {
		t.Errorf("message changed on error:\n%s", m.Bytes())
	}
	if err := Apply(nil, nil); err == nil {
		t.Errorf("expected an error for a nil message")
	}
	// A start line that reads as none is still sent as asked.
	if err := Apply([]Deviation{{Action: StartLine, Value: "garbage"}}, m); err != nil || !strings.HasPrefix(string(m.Bytes()), "garbage\r\nVia:") {
		t.Errorf("start-line garbage: %v\n%s", err, m.Bytes())
	}
}

func TestOutgoing(t *testing.T) {
	m := mustParse(t, resp401)
	if raw, send := Outgoing([]Deviation{{Action: NoAnswer}}, m); send || raw != nil {
		t.Errorf("no-answer: send %v raw %q", send, raw)
	}
	if raw, send := Outgoing([]Deviation{{Action: Malformed}}, m); !send || string(raw) != Garbage {
		t.Errorf("malformed: send %v raw %q", send, raw)
	}
	if raw, send := Outgoing([]Deviation{{Action: Malformed, Value: "x\r\n"}}, m); !send || string(raw) != "x\r\n" {
		t.Errorf("malformed with a value: %q", raw)
	}
	if raw, send := Outgoing([]Deviation{{Action: DropHeader, Header: "Security-Server"}, {Action: DropHeader}}, m); !send || raw != nil || m.Has("Security-Server") {
		t.Errorf("header edit: send %v raw %q, Security-Server still %v", send, raw, m.Has("Security-Server"))
	}
}

func FuzzApplyRaw(f *testing.F) {
	f.Add(resp401, "WWW-Authenticate", "nonce", "x")
	f.Add(reg, "Contact", "expires", "")
	f.Fuzz(func(t *testing.T, raw, h, p, v string) {
		for _, a := range []Action{DropHeader, SetHeader, AddHeader, DropParam, SetParam, StartLine} {
			out := ApplyRaw([]Deviation{{Action: a, Header: h, Param: p, Value: v}}, []byte(raw))
			if m, err := sipmsg.Parse(out); err == nil {
				_ = Apply([]Deviation{{Action: a, Header: h, Param: p, Value: v}}, m)
				_ = m.Bytes()
			}
		}
	})
}
