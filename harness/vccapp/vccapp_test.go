package vccapp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
)

const register11 = "REGISTER sip:scscf1.home1.net SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP icscf1_p.home1.net;branch=z9hG4bK351g45.1;rport, SIP/2.0/UDP pcscf1.visited1.net;branch=z9hG4bK240f34.1\r\n" +
	"Via: SIP/2.0/UDP [::1]:1357;comp=sigcomp;branch=z9hG4bKnashds7\r\n" +
	"Max-Forwards: 68\r\n" +
	"P-Access-Network-Info: 3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11\r\n" +
	"Path: <sip:term@pcscf1.visited1.net;lr>\r\n" +
	"Require: path\r\n" +
	"P-Visited-Network-ID: \"visited1.net\"\r\n" +
	"P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=023551024\"\r\n" +
	"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
	"To: <sip:user1_public1@home1.net>\r\n" +
	"Contact: <sip:[::1]:1357;comp=sigcomp>;expires=600000;+g.3gpp.domain-pref=\"IMS\"\r\n" +
	"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
	"Authorization: Digest username=\"user1_private@home1.net\", realm=\"registrar.home1.net\", nonce=\"x\", uri=\"sip:registrar.home1.net\", response=\"y\"\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Supported: path\r\n" +
	"Content-Length: 0\r\n\r\n"

func start(t *testing.T, l *lab.Profile, listen string, devs ...deviation.Deviation) (*App, chan Exchange) {
	t.Helper()
	ch := make(chan Exchange, 8)
	a, err := Start(context.Background(), Options{Lab: l, Listen: listen, Deviations: devs,
		Now:        func() time.Time { return time.Date(2001, 7, 11, 8, 49, 37, 0, time.UTC) },
		OnRegister: func(e Exchange) { ch <- e }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, ch
}

// register11 carries rport on its top Via (RFC 3581): the answer goes to the
// test's socket, whatever the Via's host names.

// roundTrip sends raw and reads one answer.
func roundTrip(t *testing.T, network string, a *App, raw string) *sipmsg.Message {
	t.Helper()
	p, err := exchange(network, a, raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func exchange(network string, a *App, raw string) (*sipmsg.Message, error) {
	c, err := net.Dial(network, a.Addr().String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		return nil, err
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("expected an answer, got %v", err)
	}
	return sipmsg.Parse(buf[:n])
}

func TestRegister200(t *testing.T) {
	for _, tc := range []struct{ network, listen string }{{"udp", "[::1]:0"}, {"tcp", "127.0.0.1:0"}, {"udp", "127.0.0.1:0"}, {"tcp", "[::1]:0"}} {
		t.Run(tc.network+tc.listen, func(t *testing.T) {
			l := lab.Default()
			a, ch := start(t, l, tc.listen)
			p := roundTrip(t, tc.network, a, register11)
			if p.StatusCode != 200 {
				t.Fatalf("expected 200, got %d", p.StatusCode)
			}
			vias := p.Lines("Via")
			if len(vias) != 2 || !strings.HasPrefix(vias[0].Value, "SIP/2.0/UDP icscf1_p.home1.net;branch=z9hG4bK351g45.1;rport, ") {
				t.Errorf("expected the two Via lines echoed, got %v", vias)
			}
			want := map[string]string{
				"Path":             "<sip:term@pcscf1.visited1.net;lr>",
				"Service-Route":    "<sip:orig@scscf1.home1.net;lr>",
				"From":             "<sip:user1_public1@home1.net>;tag=4fa3",
				"Call-ID":          "apb03a0s09dkjdfglkj49111",
				"CSeq":             "2 REGISTER",
				"Contact":          "<sip:[::1]:1357;comp=sigcomp>;expires=600000;+g.3gpp.domain-pref=\"IMS\"",
				"Date":             "Wed, 11 Jul 2001 08:49:37 GMT",
				"P-Associated-URI": "<sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>, <sip:user1_public3@home1.net>, <tel:+1-212-555-1111>",
				"Content-Length":   "0",
			}
			for h, v := range want {
				if got := p.Get(h); got != v {
					t.Errorf("%s: expected %q, got %q", h, v, got)
				}
			}
			if to := p.Get("To"); !strings.HasPrefix(to, "<sip:user1_public1@home1.net>;tag=") {
				t.Errorf("To: expected the request's To with a tag, got %q", to)
			}
			if _, err := http.ParseTime(p.Get("Date")); err != nil {
				t.Errorf("Date: %v", err)
			}
			e := <-ch
			if e.Response == nil || !e.Record.Accepted || e.Record.Status != Registered || e.Record.Expires != 600000 ||
				e.Record.Preference != "IMS" || e.Record.IMPU != "sip:user1_public1@home1.net" {
				t.Errorf("unexpected exchange %+v", e.Record)
			}
			if r, ok := a.Store().Get("sip:user1_public1@home1.net"); !ok || r.CallID != "apb03a0s09dkjdfglkj49111" {
				t.Errorf("store: expected the record, got %+v %v", r, ok)
			}
			var roles []string
			for _, m := range a.Trace().Messages() {
				roles = append(roles, m.Role+"/"+string(m.Dir))
			}
			if strings.Join(roles, " ") != "VCCApp/received VCCApp/sent" {
				t.Errorf("trace: expected received then sent, got %v", roles)
			}
		})
	}
}

func TestRetransmissionAnsweredOnce(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0")
	c, err := net.Dial("udp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	for i := 0; i < 2; i++ {
		c.Write([]byte(register11))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	<-ch
	select {
	case e := <-ch:
		t.Errorf("expected one exchange, got a second: %+v", e.Record)
	case <-time.After(50 * time.Millisecond):
	}
	if n := len(a.Store().Records()); n != 1 {
		t.Errorf("expected one record, got %d", n)
	}
}

func TestForbiddenSource(t *testing.T) {
	l := lab.DefaultFor("127.0.0.1")
	l.VCCApp.AcceptFrom = []string{"::1", "127.0.0.2"}
	a, ch := start(t, l, "127.0.0.1:0")
	p := roundTrip(t, "udp", a, register11)
	if p.StatusCode != 403 {
		t.Fatalf("expected 403, got %d", p.StatusCode)
	}
	e := <-ch
	if e.Record.Accepted || !strings.Contains(e.Record.Why, "127.0.0.1") {
		t.Errorf("expected a rejected record naming the source, got %+v", e.Record)
	}
	if _, ok := a.Store().Get("sip:user1_public1@home1.net"); ok {
		t.Error("expected no accepted record")
	}
}

func TestDeregistrationAndDeviation(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0",
		deviation.Deviation{Step: "13", Action: deviation.DropHeader, Header: "Service-Route"},
		deviation.Deviation{Step: "5", Action: deviation.DropHeader, Header: "From"})
	raw := strings.Replace(register11, "expires=600000", "expires=0", 1)
	p := roundTrip(t, "tcp", a, raw)
	if p.StatusCode != 200 || p.Has("Service-Route") || !p.Has("From") {
		t.Errorf("expected 200 without Service-Route and with From, got %d", p.StatusCode)
	}
	if e := <-ch; e.Record.Status != Deregistered || e.Record.Expires != 0 {
		t.Errorf("expected deregistered, got %+v", e.Record)
	}
}

func TestGarbageAndNoAnswer(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0", deviation.Deviation{Step: "13", Action: deviation.NoAnswer})
	c, err := net.Dial("udp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("\x00garbage"))
	c.Write([]byte(register11))
	e := <-ch
	if e.Response != nil {
		t.Error("no-answer: expected no response")
	}
	ms := a.Trace().Messages()
	if len(ms) != 2 || !strings.HasPrefix(ms[0].Note, "does not parse as SIP") {
		t.Errorf("expected the garbage recorded with a note and the REGISTER, got %d entries", len(ms))
	}
}

func TestConcurrentTCP(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0")
	go func() {
		for range ch {
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := exchange("tcp", a, register11); err != nil || p.StatusCode != 200 {
				t.Errorf("expected 200, got %v %v", p, err)
			}
		}()
	}
	wg.Wait()
}

// TestOneAppBothTransports: the VCC Application takes UDP and TCP on one
// port, whatever the UE uses (a UE on TCP once left the S-CSCF's UDP
// REGISTER of step 11 unanswered).
func TestOneAppBothTransports(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0")
	for i, network := range []string{"udp", "tcp", "udp"} {
		raw := strings.Replace(register11, "apb03a0s09dkjdfglkj49111", "call-"+strconv.Itoa(i), 1)
		raw = strings.Replace(raw, "z9hG4bK351g45.1", "z9hG4bK351g45.1."+strconv.Itoa(i), 1)
		if p := roundTrip(t, network, a, raw); p.StatusCode != 200 {
			t.Fatalf("%s: expected 200, got %d", network, p.StatusCode)
		}
		<-ch
	}
}

// TestAnswerFollowsTheViaNotTheSource: RFC 3261 18.2.2 — without rport the
// 200 OK goes to the Via's sent-by port (its host here is the source's IP),
// not back to the datagram's source port.
func TestAnswerFollowsTheViaNotTheSource(t *testing.T) {
	a, ch := start(t, lab.Default(), "[::1]:0")
	from, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	via, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer via.Close()
	port := strconv.Itoa(via.LocalAddr().(*net.UDPAddr).Port)
	raw := strings.Replace(register11, "icscf1_p.home1.net;branch=z9hG4bK351g45.1;rport", "[::1]:"+port+";branch=z9hG4bK351g45.1", 1)
	if _, err := from.WriteToUDP([]byte(raw), net.UDPAddrFromAddrPort(a.Addr())); err != nil {
		t.Fatal(err)
	}
	via.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, err := via.Read(buf)
	if err != nil {
		t.Fatalf("expected the 200 OK at the Via port %s, got %v", port, err)
	}
	if p, err := sipmsg.Parse(buf[:n]); err != nil || p.StatusCode != 200 {
		t.Errorf("expected a 200 OK, got %q", buf[:n])
	}
	<-ch
}
