package diameter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type testServer struct {
	srv  *Server
	addr string
	mu   sync.Mutex
	caps []Capture
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with configure applied before Serve.
func startServerWith(t *testing.T, configure func(*Server)) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.srv = &Server{
		OriginHost: "hss.home1.net", OriginRealm: "home1.net",
		VendorID: Vendor3GPP, OriginStateID: 7,
		Applications: []Application{CxApplication},
		Handler: HandlerFunc(func(req *Message, _ Peer) *Message {
			if req.Code != CmdUserAuthorization {
				return nil
			}
			return req.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess))
		}),
		Observer: func(c Capture) {
			ts.mu.Lock()
			ts.caps = append(ts.caps, c)
			ts.mu.Unlock()
		},
		Logf: t.Logf,
	}
	if configure != nil {
		configure(ts.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts.addr = l.Addr().String()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(l) }()
	t.Cleanup(func() {
		ts.srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: expected ErrServerClosed, got %v", err)
		}
	})
	return ts
}

type client struct {
	t   *testing.T
	c   net.Conn
	hbh uint32
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(m *Message) {
	c.t.Helper()
	b, err := m.Marshal()
	if err != nil {
		c.t.Fatalf("marshal: %v", err)
	}
	c.write(b)
}

func (c *client) read() *Message {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := ReadMessage(c.c, 0)
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		c.t.Fatalf("decode answer: %v", err)
	}
	return m
}

// expectClosed checks that the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [1]byte
	if n, err := c.c.Read(buf[:]); err != io.EOF {
		c.t.Fatalf("expected the server to close the connection, got %d bytes, %v", n, err)
	}
}

func (c *client) request(code, app uint32, avps ...AVP) *Message {
	c.hbh++
	return NewRequest(code, app, c.hbh, 0x1000+c.hbh, avps...)
}

func origin(host string) []AVP {
	return []AVP{DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, host), DiameterIdentity(AVPOriginRealm, 0, AVPFlagMandatory, "home1.net")}
}

func (c *client) cer(app uint32) *Message {
	avps := append(origin("scscf.home1.net"),
		Address(AVPHostIPAddress, 0, AVPFlagMandatory, netip.MustParseAddr("127.0.0.1")),
		Unsigned32(AVPVendorID, 0, AVPFlagMandatory, 10415),
		UTF8String(AVPProductName, 0, 0, "Kamailio"),
		Grouped(AVPVendorSpecificApplicationID, 0, AVPFlagMandatory,
			Unsigned32(AVPVendorID, 0, AVPFlagMandatory, Vendor3GPP),
			Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, app)))
	return c.request(CmdCapabilitiesExchange, 0, avps...)
}

func resultCode(t *testing.T, m *Message) uint32 {
	t.Helper()
	a, ok := m.Find(AVPResultCode, 0)
	if !ok {
		t.Fatalf("expected a Result-Code in answer %d, got none", m.Code)
	}
	v, err := a.Uint32()
	if err != nil {
		t.Fatalf("Result-Code: %v", err)
	}
	return v
}

func (c *client) open() {
	c.t.Helper()
	c.send(c.cer(AppCx))
	if a := c.read(); resultCode(c.t, a) != ResultSuccess {
		c.t.Fatalf("CEA: expected 2001, got %d", resultCode(c.t, a))
	}
}

func TestServerCapabilitiesWatchdogDisconnect(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	req := c.cer(AppCx)
	c.send(req)
	cea := c.read()
	if cea.IsRequest() || cea.Code != CmdCapabilitiesExchange || cea.HopByHop != req.HopByHop || cea.EndToEnd != req.EndToEnd || cea.Flags != 0 {
		t.Fatalf("CEA header: expected answer 257 with the CER's identifiers and no flags, got %+v", cea)
	}
	if rc := resultCode(t, cea); rc != ResultSuccess {
		t.Fatalf("CEA: expected Result-Code 2001, got %d", rc)
	}
	if oh, _ := cea.Find(AVPOriginHost, 0); string(oh.Data) != "hss.home1.net" {
		t.Errorf("CEA Origin-Host: expected hss.home1.net, got %q", oh.Data)
	}
	if ip, _ := cea.Find(AVPHostIPAddress, 0); !bytes.Equal(ip.Data, []byte{0, 1, 127, 0, 0, 1}) {
		t.Errorf("CEA Host-IP-Address: expected 127.0.0.1, got %x", ip.Data)
	}
	vsai, ok := cea.Find(AVPVendorSpecificApplicationID, 0)
	if !ok {
		t.Fatalf("CEA: expected a Vendor-Specific-Application-Id, got none")
	}
	want := Grouped(AVPVendorSpecificApplicationID, 0, AVPFlagMandatory,
		Unsigned32(AVPVendorID, 0, AVPFlagMandatory, Vendor3GPP),
		Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, AppCx))
	if !bytes.Equal(vsai.Data, want.Data) || vsai.Flags != AVPFlagMandatory {
		t.Errorf("CEA VSAI: expected {10415, 16777216}, got %x", vsai.Data)
	}
	if sv, _ := cea.Find(AVPSupportedVendorID, 0); len(sv.Data) != 4 || sv.Data[2] != 0x28 || sv.Data[3] != 0xaf {
		t.Errorf("CEA Supported-Vendor-Id: expected 10415, got %x", sv.Data)
	}

	c.send(c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...))
	dwa := c.read()
	if dwa.Code != CmdDeviceWatchdog || resultCode(t, dwa) != ResultSuccess {
		t.Fatalf("DWA: expected 280 with 2001, got %d with %d", dwa.Code, resultCode(t, dwa))
	}

	c.send(c.request(999, AppCx, origin("scscf.home1.net")...))
	unk := c.read()
	if !unk.IsError() || resultCode(t, unk) != ResultCommandUnsupported || unk.Code != 999 {
		t.Fatalf("unknown command: expected E bit and 3001, got flags %#x, %d", unk.Flags, resultCode(t, unk))
	}

	c.send(c.request(CmdUserAuthorization, 4, origin("scscf.home1.net")...))
	if a := c.read(); !a.IsError() || resultCode(t, a) != ResultApplicationUnsupported {
		t.Fatalf("request of another application: expected E bit and 3007, got flags %#x, %d", a.Flags, resultCode(t, a))
	}

	c.send(c.request(CmdDisconnectPeer, 0, append(origin("scscf.home1.net"), Enumerated(AVPDisconnectCause, 0, AVPFlagMandatory, DisconnectDoNotWantToTalkToYou))...))
	dpa := c.read()
	if dpa.Code != CmdDisconnectPeer || resultCode(t, dpa) != ResultSuccess {
		t.Fatalf("DPA: expected 282 with 2001, got %d with %d", dpa.Code, resultCode(t, dpa))
	}
	c.expectClosed()

	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.caps) != 10 {
		t.Fatalf("observer: expected 10 captures (5 requests, 5 answers), got %d", len(ts.caps))
	}
	first := ts.caps[0]
	if !first.Received || first.Dst.String() != ts.addr || first.Time.IsZero() {
		t.Errorf("first capture: expected the CER received at %s, got %+v", ts.addr, first)
	}
	if m, err := Unmarshal(first.Raw); err != nil || m.Code != CmdCapabilitiesExchange {
		t.Errorf("first capture: expected the raw CER, got %v", err)
	}
	if second := ts.caps[1]; second.Received || second.Src.String() != ts.addr {
		t.Errorf("second capture: expected the CEA sent from %s, got %+v", ts.addr, second)
	}
}

func TestServerNoCommonApplication(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	c.send(c.cer(16777217)) // Sh, not served
	cea := c.read()
	if rc := resultCode(t, cea); rc != ResultNoCommonApplication {
		t.Fatalf("CEA: expected 5010, got %d", rc)
	}
	if cea.IsError() {
		t.Errorf("CEA 5010: expected no E bit, got flags %#x", cea.Flags)
	}
	c.expectClosed()
}

func TestServerUnknownPeerAndPeerState(t *testing.T) {
	states := make(chan string, 4)
	ts := startServerWith(t, func(s *Server) {
		s.AcceptPeer = func(p Peer) bool { return p.OriginHost == "scscf.home1.net" && p.OriginRealm == "home1.net" }
		s.PeerState = func(p Peer, open bool) { states <- fmt.Sprintf("%s %v", p.OriginHost, open) }
	})
	c := dial(t, ts.addr)
	c.send(c.request(CmdCapabilitiesExchange, 0, append(origin("icscf.other.net"),
		Address(AVPHostIPAddress, 0, AVPFlagMandatory, netip.MustParseAddr("127.0.0.1")),
		Unsigned32(AVPVendorID, 0, AVPFlagMandatory, 10415),
		UTF8String(AVPProductName, 0, 0, "x"),
		Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, AppCx))...))
	cea := c.read()
	if rc := resultCode(t, cea); rc != ResultUnknownPeer || !cea.IsError() {
		t.Fatalf("CEA to an unknown peer: expected 3010 with the E bit, got %d flags %#x", rc, cea.Flags)
	}
	c.expectClosed()

	c = dial(t, ts.addr)
	c.send(c.cer(AppCx))
	if rc := resultCode(t, c.read()); rc != ResultSuccess {
		t.Fatalf("CEA to a known peer: expected 2001, got %d", rc)
	}
	if got := <-states; got != "scscf.home1.net true" {
		t.Errorf("PeerState: expected the open of scscf.home1.net, got %q", got)
	}
	c.c.Close()
	if got := <-states; got != "scscf.home1.net false" {
		t.Errorf("PeerState: expected the close of scscf.home1.net, got %q", got)
	}
	select {
	case got := <-states:
		t.Errorf("PeerState: expected nothing for the refused peer, got %q", got)
	default:
	}
}

func TestServerRequiresCERFirst(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	c.send(c.request(CmdDeviceWatchdog, 0, origin("x")...))
	c.expectClosed()
}

func TestServerFraming(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	cer, _ := c.cer(AppCx).Marshal()
	dwr, _ := c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...).Marshal()
	uar, _ := c.request(CmdUserAuthorization, AppCx, origin("scscf.home1.net")...).Marshal()
	// CER and DWR in one write.
	c.write(append(append([]byte(nil), cer...), dwr...))
	if a := c.read(); a.Code != CmdCapabilitiesExchange {
		t.Fatalf("first answer: expected CEA, got %d", a.Code)
	}
	if a := c.read(); a.Code != CmdDeviceWatchdog {
		t.Fatalf("second answer: expected DWA, got %d", a.Code)
	}
	// A UAR split across many writes, the split inside the header and inside
	// an AVP, followed by the first bytes of a DWR.
	both := append(append([]byte(nil), uar...), dwr...)
	for _, cut := range [][2]int{{0, 3}, {3, 19}, {19, 26}, {26, len(uar) + 5}, {len(uar) + 5, len(both)}} {
		c.write(both[cut[0]:cut[1]])
		time.Sleep(5 * time.Millisecond)
	}
	if a := c.read(); a.Code != CmdUserAuthorization || resultCode(t, a) != ResultSuccess {
		t.Fatalf("split UAR: expected UAA 2001, got %d", a.Code)
	}
	if a := c.read(); a.Code != CmdDeviceWatchdog {
		t.Fatalf("after the split UAR: expected DWA, got %d", a.Code)
	}
}

func TestServerMalformed(t *testing.T) {
	ts := startServer(t)

	t.Run("bad AVP length answers 5014 and keeps the connection", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.open()
		dwr := c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...)
		b, _ := dwr.Marshal()
		b[20+7] = 0x30 // Origin-Host length beyond the message
		c.write(b)
		a := c.read()
		if a.HopByHop != dwr.HopByHop || resultCode(t, a) != ResultInvalidAVPLength || a.IsError() {
			t.Fatalf("expected 5014 without E bit for hop-by-hop %d, got %d, flags %#x", dwr.HopByHop, resultCode(t, a), a.Flags)
		}
		fa, ok := a.Find(AVPFailedAVP, 0)
		if !ok {
			t.Fatalf("expected a Failed-AVP, got none")
		}
		members, err := fa.Group()
		if err != nil || len(members) != 1 || members[0].Code != AVPOriginHost {
			t.Fatalf("Failed-AVP: expected Origin-Host, got %+v %v", members, err)
		}
		c.send(c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...))
		if a := c.read(); resultCode(t, a) != ResultSuccess {
			t.Fatalf("DWR after the bad one: expected 2001, got %d", resultCode(t, a))
		}
	})

	t.Run("unknown M-bit AVP answers 5001 with Failed-AVP, unknown non-M is ignored", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.open()
		bad := UTF8String(494, 50, AVPFlagMandatory, "call-id")
		c.send(c.request(CmdUserAuthorization, AppCx, append(origin("scscf.home1.net"), bad)...))
		a := c.read()
		if resultCode(t, a) != ResultAVPUnsupported {
			t.Fatalf("expected 5001, got %d", resultCode(t, a))
		}
		fa, _ := a.Find(AVPFailedAVP, 0)
		members, err := fa.Group()
		if err != nil || len(members) != 1 || members[0].Code != 494 || members[0].Vendor() != 50 || string(members[0].Data) != "call-id" {
			t.Fatalf("Failed-AVP: expected AVP 494 vendor 50, got %+v %v", members, err)
		}
		c.send(c.request(CmdUserAuthorization, AppCx, append(origin("scscf.home1.net"), UTF8String(494, 50, 0, "call-id"))...))
		if a := c.read(); resultCode(t, a) != ResultSuccess {
			t.Fatalf("unknown AVP without M: expected 2001, got %d", resultCode(t, a))
		}
	})

	t.Run("reserved header bit answers 3008 with E bit", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.open()
		b, _ := c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...).Marshal()
		b[4] |= 0x01
		c.write(b)
		if a := c.read(); !a.IsError() || resultCode(t, a) != ResultInvalidHdrBits {
			t.Fatalf("expected E bit and 3008, got flags %#x, %d", a.Flags, resultCode(t, a))
		}
	})

	t.Run("message length not a multiple of 4 answers 5015 and closes", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.open()
		b, _ := c.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...).Marshal()
		b[3] += 2
		c.write(append(b, 0, 0))
		if a := c.read(); resultCode(t, a) != ResultInvalidMessageLength {
			t.Fatalf("expected 5015, got %d", resultCode(t, a))
		}
		c.expectClosed()
	})

	t.Run("version 2 answers 5011 and closes", func(t *testing.T) {
		c := dial(t, ts.addr)
		b, _ := c.cer(AppCx).Marshal()
		b[0] = 2
		c.write(b)
		if a := c.read(); resultCode(t, a) != ResultUnsupportedVersion {
			t.Fatalf("expected 5011, got %d", resultCode(t, a))
		}
		c.expectClosed()
	})

	t.Run("garbage and truncated input close the connection", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.expectClosed()
		c2 := dial(t, ts.addr)
		b, _ := c2.cer(AppCx).Marshal()
		c2.write(b[:30])
		c2.c.(*net.TCPConn).CloseWrite()
		c2.expectClosed()
	})

	// The server still works after all of that.
	c := dial(t, ts.addr)
	c.open()
}
