package sipmsg

import (
	"strings"
	"testing"
)

const editREGISTER = "REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bKp, SIP/2.0/UDP [::1]:1357;branch=z9hG4bKue\r\n" +
	"Max-Forwards: 69\r\n" +
	"f: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
	"To: <sip:user1_public1@home1.net>\r\n" +
	"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
	"Require: sec-agree\r\n" +
	"require: path\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Content-Length: 0\r\n\r\n"

func mustParse(t *testing.T, raw string) *Message {
	t.Helper()
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUneditedMessageWritesBackAsRead: a forwarder that changes nothing
// sends the bytes it received (names as written, lists on one line).
func TestUneditedMessageWritesBackAsRead(t *testing.T) {
	if got := string(mustParse(t, editREGISTER).Bytes()); got != editREGISTER {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, editREGISTER)
	}
}

func TestEditsKeepOrderAndNames(t *testing.T) {
	m := mustParse(t, editREGISTER)
	m.PrependVia("SIP/2.0/UDP icscf1_p.home1.net;rport;branch=z9hG4bKi")
	m.Set("Max-Forwards", "68")
	m.Set("Require", "path") // two lines become one
	m.InsertAfter("Max-Forwards", "Path", "<sip:term@pcscf1.visited1.net;lr>")
	m.InsertBefore("Content-Length", "Supported", "path")
	m.Set("P-Visited-Network-ID", "visited1.net") // absent: before Content-Length
	if n := m.Del("call-id"); n != 1 {
		t.Errorf("Del removed %d lines, want 1", n)
	}
	m.Body = []byte("xyz")
	want := "REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP icscf1_p.home1.net;rport;branch=z9hG4bKi\r\n" +
		"Via: SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bKp, SIP/2.0/UDP [::1]:1357;branch=z9hG4bKue\r\n" +
		"Max-Forwards: 68\r\n" +
		"Path: <sip:term@pcscf1.visited1.net;lr>\r\n" +
		"f: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
		"To: <sip:user1_public1@home1.net>\r\n" +
		"Require: path\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Supported: path\r\n" +
		"P-Visited-Network-ID: visited1.net\r\n" +
		"Content-Length: 3\r\n\r\nxyz"
	if got := string(m.Bytes()); got != want {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, want)
	}
	if m.Get("From") != "<sip:user1_public1@home1.net>;tag=4fa3" {
		t.Errorf("Get(From) through the compact name: %q", m.Get("From"))
	}
}

// TestPopViaTakesOneValueOfAList: a response whose Via list is on one line
// loses only its top value at each hop.
func TestPopViaTakesOneValueOfAList(t *testing.T) {
	m := mustParse(t, editREGISTER)
	if top := m.PopVia(); top != "SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bKp" {
		t.Errorf("PopVia = %q", top)
	}
	if b := m.Branch(); b != "z9hG4bKue" {
		t.Errorf("Branch after pop = %q", b)
	}
	if m.Get("Via") != "SIP/2.0/UDP [::1]:1357;branch=z9hG4bKue" {
		t.Errorf("remaining Via line %q", m.Get("Via"))
	}
	m.PopVia()
	if m.Has("Via") || m.PopVia() != "" || m.Branch() != "" {
		t.Error("expected no Via left")
	}
}

func TestNewResponseEchoesTheRequest(t *testing.T) {
	req := mustParse(t, editREGISTER)
	r := NewResponse(req, 200, "OK", "abc")
	r.InsertBefore("From", "Service-Route", "<sip:orig@scscf1.home1.net;lr>")
	want := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bKp, SIP/2.0/UDP [::1]:1357;branch=z9hG4bKue\r\n" +
		"Service-Route: <sip:orig@scscf1.home1.net;lr>\r\n" +
		"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
		"To: <sip:user1_public1@home1.net>;tag=abc\r\n" +
		"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Content-Length: 0\r\n\r\n"
	if got := string(r.Bytes()); got != want {
		t.Errorf("response =\n%s\nwant\n%s", got, want)
	}
	if r.Request || r.StatusCode != 200 {
		t.Errorf("fields: %+v", r)
	}
	tagged := mustParse(t, strings.Replace(editREGISTER, "To: <sip:user1_public1@home1.net>", "To: <sip:user1_public1@home1.net>;tag=x", 1))
	if to := NewResponse(tagged, 401, "Unauthorized", "abc").Get("To"); to != "<sip:user1_public1@home1.net>;tag=x" {
		t.Errorf("a To with a tag keeps it: %q", to)
	}
	if to := NewResponse(req, 100, "Trying", "abc").Get("To"); strings.Contains(to, "tag") {
		t.Errorf("100 Trying adds no tag: %q", to)
	}
}

func TestNewRequestAndCSeq(t *testing.T) {
	m := NewRequest("REGISTER", "sip:vcc.home1.net")
	m.Append("CSeq", "7 REGISTER")
	m.Append("Content-Length", "99")
	if n, meth, err := m.CSeq(); n != 7 || meth != "REGISTER" || err != nil {
		t.Errorf("CSeq = %d %q %v", n, meth, err)
	}
	if got := string(m.Bytes()); got != "REGISTER sip:vcc.home1.net SIP/2.0\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n" {
		t.Errorf("Content-Length must be the body's: %q", got)
	}
	m.KeepLength = true
	if !strings.Contains(string(m.Bytes()), "Content-Length: 99\r\n") {
		t.Error("KeepLength must write Content-Length as set")
	}
	m.Set("CSeq", "x REGISTER")
	if _, _, err := m.CSeq(); err == nil || !strings.Contains(err.Error(), "CSeq number") {
		t.Errorf("bad CSeq: %v", err)
	}
	if err := m.SetStartLine("not a start line"); err == nil || m.Request || m.Method != "" || m.StartLine != "not a start line" {
		t.Errorf("SetStartLine: %v %+v", err, m)
	}
	if err := m.SetStartLine("SIP/2.0 403 Forbidden"); err != nil || m.StatusCode != 403 || m.Request {
		t.Errorf("SetStartLine: %v %+v", err, m)
	}
}

// TestLooseKeepsWhatParseRefuses: text that is not SIP can still be edited
// and is written back line for line.
func TestLooseKeepsWhatParseRefuses(t *testing.T) {
	m := Loose([]byte("not sip at all\r\n folded\r\nno colon here\r\nX: 1"))
	if m.Request || m.StartLine != "not sip at all" || len(m.Headers) != 3 || m.Headers[0].Name != "" {
		t.Fatalf("Loose: %+v", m)
	}
	m.Append("Y", "2")
	if got := string(m.Bytes()); got != "not sip at all\r\nfolded\r\nno colon here\r\nX: 1\r\nY: 2\r\n\r\n" {
		t.Errorf("Bytes() = %q", got)
	}
	if m.Get("no colon here") != "" {
		t.Error("a line with no name is no header")
	}
	if e := Loose(nil); e == nil || e.StartLine != "" {
		t.Errorf("Loose(nil) = %+v", e)
	}
}

func TestCloneIsDeep(t *testing.T) {
	m := mustParse(t, editREGISTER)
	c := m.Clone()
	c.Set("Max-Forwards", "1")
	c.Body = append(c.Body, 'x')
	if m.Get("Max-Forwards") != "69" || len(m.Body) != 0 {
		t.Error("editing the clone changed the original")
	}
}
