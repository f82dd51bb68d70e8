package ue

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
)

func testLab(ip string) *lab.Profile {
	l := lab.DefaultFor(ip)
	l.Timeouts.Step = 2 * time.Second
	return l
}

func newUE(t *testing.T, l *lab.Profile, f *fakeRegistrar, network string, devs ...deviation.Deviation) *UE {
	t.Helper()
	u, err := New(Options{Lab: l, PCSCF: f.addr, Transport: network, Deviations: devs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func topVia(t *testing.T, p *sipmsg.Message) *sipmsg.Via {
	t.Helper()
	_, v, err := p.TopVia()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parse(t *testing.T, m *trace.Message) *sipmsg.Message {
	t.Helper()
	if m == nil {
		t.Fatal("expected a message, got nil")
	}
	p, err := sipmsg.Parse(m.Raw)
	if err != nil {
		t.Fatalf("parse %q: %v", m.Raw, err)
	}
	return p
}

func TestRegister(t *testing.T) {
	for _, tc := range []struct{ network, ip string }{
		{"udp", "127.0.0.1"}, {"udp", "::1"}, {"tcp", "127.0.0.1"}, {"tcp", "::1"},
	} {
		t.Run(tc.network+"/"+tc.ip, func(t *testing.T) {
			l := testLab(tc.ip)
			f := newFakeRegistrar(t, l, tc.network, tc.ip)
			u := newUE(t, l, f, tc.network)
			reg, err := u.Register(context.Background())
			if err != nil {
				t.Fatalf("Register: %v (%v)", err, reg)
			}
			if reg.Status != 200 || reg.AUTN != AUTNValid || len(reg.Requests) != 2 || len(reg.Challenges) != 1 {
				t.Fatalf("expected 200, valid AUTN, 2 REGISTERs, 1 challenge; got %v, %d requests, %d challenges", reg, len(reg.Requests), len(reg.Challenges))
			}
			a := u.Addrs()
			p2, p7 := parse(t, reg.Initial), parse(t, reg.Authorized)
			wantTP := strings.ToUpper(tc.network)
			if v := topVia(t, p2); v.SentBy() != a.HostString()+":"+itoa(a.Port) || v.Transport != wantTP {
				t.Errorf("step 2 Via: expected %s sent-by %s:%d, got %s %s", wantTP, a.HostString(), a.Port, v.Transport, v.SentBy())
			}
			if v := topVia(t, p7); v.SentBy() != a.HostString()+":"+itoa(a.PortS) {
				t.Errorf("step 7 Via: expected sent-by port-s %d, got %s", a.PortS, v.SentBy())
			}
			if got := reg.Authorized.Src.Port(); got != a.PortC {
				t.Errorf("step 7: expected to leave from port-c %d, left from %d", a.PortC, got)
			}
			if got := p7.Get("Security-Verify"); !strings.Contains(got, "spi-c=98765432") {
				t.Errorf("step 7: expected Security-Verify = Security-Server, got %q", got)
			}
			if n, _, _ := p7.CSeq(); n != 2 || p7.Get("Call-ID") != p2.Get("Call-ID") {
				t.Errorf("step 7: expected CSeq 2 and the Call-ID of step 2, got CSeq %d", n)
			}
			auth := p2.Get("Authorization")
			want := `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="", uri="sip:registrar.home1.net", response=""`
			if auth != want {
				t.Errorf("step 2 Authorization: expected %s, got %s", want, auth)
			}
			sc := p2.Get("Security-Client")
			if !strings.Contains(sc, "port-c="+itoa(a.PortC)) || !strings.Contains(sc, "port-s="+itoa(a.PortS)) || !strings.Contains(sc, "spi-c=23456789") {
				t.Errorf("step 2 Security-Client: expected the bound ports and lab SPIs, got %q", sc)
			}
			if reg.Final.Dst.Port() != a.PortS && tc.network == "udp" {
				t.Errorf("200 OK: expected at port-s %d, came to %d", a.PortS, reg.Final.Dst.Port())
			}
			for _, m := range u.Trace().Messages() {
				if m.Role != Role || m.Note != "" {
					t.Errorf("trace: expected role UE and no note, got %q %q", m.Role, m.Note)
				}
			}
		})
	}
}

func TestQOPAuth(t *testing.T) {
	l := testLab("127.0.0.1")
	f := newFakeRegistrar(t, l, "udp", "127.0.0.1", func(f *fakeRegistrar) { f.qop = "auth,auth-int" })
	u := newUE(t, l, f, "udp")
	reg, err := u.Register(context.Background())
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if a := parse(t, reg.Authorized).Get("Authorization"); !strings.Contains(a, "qop=auth,") || !strings.Contains(a, "nc=00000001") {
		t.Errorf("expected qop=auth and nc=00000001, got %s", a)
	}
	// Re-registration answers with the next nonce count.
	if _, err := u.Reregister(context.Background(), reg); err != nil {
		t.Fatalf("Reregister: %v", err)
	}
	if a := parse(t, reg.Initial).Get("Authorization"); !strings.Contains(a, "nc=00000002") {
		t.Errorf("re-registration: expected nc=00000002, got %s", a)
	}
}

func TestBadMAC(t *testing.T) {
	l := testLab("::1")
	f := newFakeRegistrar(t, l, "udp", "::1", func(f *fakeRegistrar) { f.badMAC = true })
	u := newUE(t, l, f, "udp")
	reg, err := u.Register(context.Background())
	if err == nil || reg.AUTN != AUTNBadMAC || reg.Authorized != nil || len(reg.Requests) != 1 {
		t.Fatalf("expected bad-mac, no step 7, one REGISTER; got err %v, %v, %d requests", err, reg, len(reg.Requests))
	}
	if strings.Contains(err.Error(), l.Subscriber.K.Reveal()) {
		t.Error("error holds K")
	}
}

func TestStaleSQN(t *testing.T) {
	l := testLab("::1")
	f := newFakeRegistrar(t, l, "udp", "::1", func(f *fakeRegistrar) { f.stale = true })
	u, err := New(Options{Lab: l, PCSCF: f.addr, SQNMS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	reg, err := u.Register(context.Background())
	if err != nil {
		t.Fatalf("Register: %v (%v)", err, reg)
	}
	if reg.AUTS != 1 || len(reg.Challenges) != 2 || reg.AUTN != AUTNValid || f.resyncs() != 1 {
		t.Fatalf("expected one AUTS, two challenges and a valid AUTN at last; got %v, %d challenges, fake resync %d", reg, len(reg.Challenges), f.resyncs())
	}
	if a := parse(t, &reg.Requests[1]).Get("Authorization"); !strings.Contains(a, `auts="`) {
		t.Errorf("expected the second REGISTER to carry auts, got %s", a)
	}
	if n, _, _ := parse(t, reg.Authorized).CSeq(); n != 3 {
		t.Errorf("expected the answering REGISTER at CSeq 3, got %d", n)
	}
}

func TestReregisterDeregister(t *testing.T) {
	l := testLab("::1")
	f := newFakeRegistrar(t, l, "udp", "::1")
	u := newUE(t, l, f, "udp")
	ctx := context.Background()
	reg, err := u.Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	callID := reg.CallID
	if _, err := u.Reregister(ctx, reg); err != nil {
		t.Fatalf("Reregister: %v", err)
	}
	p := parse(t, reg.Initial)
	if n, _, _ := p.CSeq(); n != 3 || reg.CallID != callID || p.Get("Call-ID") != callID {
		t.Errorf("re-registration: expected CSeq 3 and the same Call-ID, got CSeq %d", n)
	}
	if !p.Has("Security-Verify") || reg.Initial.Src.Port() != u.Addrs().PortC {
		t.Error("re-registration: expected Security-Verify, sent from port-c")
	}
	if _, err := u.Deregister(ctx, reg); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	p = parse(t, reg.Initial)
	if c := p.Get("Contact"); !strings.HasSuffix(c, ";expires=0") {
		t.Errorf("de-registration: expected Contact expires=0, got %q", c)
	}
	if n, _, _ := p.CSeq(); n != 4 || reg.Status != 200 {
		t.Errorf("de-registration: expected CSeq 4 and 200, got %d, %d", n, reg.Status)
	}
}

func TestNoAnswer(t *testing.T) {
	l := testLab("127.0.0.1")
	l.Timeouts.Step = 700 * time.Millisecond
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := New(Options{Lab: l, PCSCF: c.LocalAddr().(*net.UDPAddr).AddrPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	reg, err := u.Register(context.Background())
	var nr *NoResponseError
	if !errors.As(err, &nr) || reg.Why != "not received within 700ms" || reg.Challenge != nil {
		t.Fatalf("expected no response within 700ms, got %v, %v", err, reg)
	}
	if len(reg.Requests) != 1 || len(u.Trace().Messages()) != 2 {
		t.Errorf("expected one REGISTER and one retransmission in the trace, got %d requests and %d trace entries", len(reg.Requests), len(u.Trace().Messages()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reg, err = u.Register(ctx)
	if !errors.Is(err, ErrInterrupted) || reg.Why != "interrupted" {
		t.Errorf("expected interrupted, got %v", err)
	}
}

func TestGarbageRecorded(t *testing.T) {
	l := testLab("127.0.0.1")
	f := newFakeRegistrar(t, l, "udp", "127.0.0.1")
	u := newUE(t, l, f, "udp")
	c, err := net.Dial("udp", netip.AddrPortFrom(u.Addrs().Host, u.Addrs().Port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("not SIP at all\r\n\r\n"))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range u.Trace().Messages() {
			if strings.HasPrefix(m.Note, "does not parse as SIP") && m.Dir == trace.Received {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("expected the datagram in the trace with a note, not found")
}

func TestDeviations(t *testing.T) {
	l := testLab("::1")
	f := newFakeRegistrar(t, l, "udp", "::1")
	u := newUE(t, l, f, "udp",
		deviation.Deviation{Step: "2", Action: deviation.DropHeader, Header: "Supported"},
		deviation.Deviation{Step: "7", Action: deviation.SetHeader, Header: "Max-Forwards", Value: "69"},
		deviation.Deviation{Step: "7", Action: deviation.WrongRES},
	)
	reg, err := u.Register(context.Background())
	if err == nil || reg.Status != 403 {
		t.Fatalf("wrong-res: expected 403 from the fake, got %v %v", err, reg)
	}
	if parse(t, reg.Initial).Has("Supported") {
		t.Error("step 2: expected Supported dropped")
	}
	if mf := parse(t, reg.Authorized).Get("Max-Forwards"); mf != "69" {
		t.Errorf("step 7: expected Max-Forwards 69, got %q", mf)
	}
}

func TestOptionsErrors(t *testing.T) {
	l := testLab("::1")
	if _, err := New(Options{Lab: l}); err == nil {
		t.Error("expected an error without a P-CSCF")
	}
	if _, err := New(Options{Lab: l, PCSCF: netip.MustParseAddrPort("[::1]:5060"), Host: netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Error("expected an error for a non-loopback address")
	}
	bad := testLab("::1")
	bad.Subscriber.K = lab.NewSecret("zz")
	_, err := New(Options{Lab: bad, PCSCF: netip.MustParseAddrPort("[::1]:5060")})
	if err == nil || strings.Contains(err.Error(), "zz") {
		t.Errorf("expected an error that does not show K, got %v", err)
	}
}

func TestSigcomp(t *testing.T) {
	l := testLab("::1")
	l.UE.Sigcomp = true
	f := newFakeRegistrar(t, l, "udp", "::1")
	u := newUE(t, l, f, "udp")
	reg, err := u.Register(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := u.Addrs()
	p := parse(t, reg.Authorized)
	if v := p.Get("Via"); !strings.HasPrefix(v, "SIP/2.0/UDP [::1]:"+itoa(a.PortS)+";comp=sigcomp;branch=z9hG4bK") {
		t.Errorf("Via: expected comp=sigcomp before the branch, got %q", v)
	}
	if c := p.Get("Contact"); c != "<sip:[::1]:"+itoa(a.PortS)+";comp=sigcomp>;expires=600000" {
		t.Errorf("Contact: got %q", c)
	}
}

// TestAnyPCSCFAddressIsAccepted: the UE reaches whatever address the lab
// names; nothing is sent here, so no traffic leaves loopback.
func TestAnyPCSCFAddressIsAccepted(t *testing.T) {
	l := lab.DefaultFor("127.0.0.1")
	for _, pc := range []string{"192.0.2.1:5060", "[2001:db8::1]:5060"} {
		u, err := New(Options{Lab: l, PCSCF: netip.MustParseAddrPort(pc)})
		if err != nil {
			t.Errorf("P-CSCF %s: expected a UE, got %v", pc, err)
			continue
		}
		u.Close()
	}
}

// TestNothingListeningAtThePCSCF: ICMP port unreachable (UDP) or a refused
// connection (TCP) ends the exchange at once with a
// *transport.UnreachableError, well before the step timeout.
func TestNothingListeningAtThePCSCF(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			l := testLab("127.0.0.1")
			l.Timeouts.Step = time.Hour
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := c.LocalAddr().(*net.UDPAddr).AddrPort()
			c.Close()
			u, err := New(Options{Lab: l, PCSCF: dead, Transport: network})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			reg, err := u.Register(context.Background())
			var ue *transport.UnreachableError
			if !errors.As(err, &ue) || ue.Addr != dead || !strings.Contains(reg.Why, "nothing listens at") {
				t.Fatalf("expected an UnreachableError for %s, got %v (why %q)", dead, err, reg.Why)
			}
		})
	}
}
