package diameter

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func clConfig() ClientConfig {
	return ClientConfig{OriginHost: "scscf1.home1.net", OriginRealm: "home1.net", VendorID: Vendor3GPP,
		Applications: []Application{CxApplication}, LocalAddr: netip.MustParseAddr("127.0.0.1")}
}

func TestClientAgainstServer(t *testing.T) {
	ts := startServer(t)
	var mu sync.Mutex
	var caps []Capture
	cfg := clConfig()
	cfg.Observer = func(c Capture) {
		mu.Lock()
		caps = append(caps, c)
		mu.Unlock()
	}
	c, err := Dial(context.Background(), netip.MustParseAddrPort(ts.addr), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Peer(); p.OriginHost != "hss.home1.net" || p.OriginRealm != "home1.net" {
		t.Errorf("peer: expected hss.home1.net / home1.net from the CEA, got %+v", p)
	}
	// Concurrent requests: each answer reaches its own request.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := c.NewSessionID()
			req := NewRequest(CmdUserAuthorization, AppCx, 0, 0, UTF8String(AVPSessionID, 0, AVPFlagMandatory, sid))
			a, err := c.Do(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			got, _ := a.Find(AVPSessionID, 0)
			if string(got.Data) != sid || a.HopByHop != req.HopByHop || a.EndToEnd != req.EndToEnd {
				t.Errorf("expected the answer to %s, got %s", sid, got.Data)
			}
			if rc, exp := ResultOf(a); rc != ResultSuccess || exp {
				t.Errorf("expected 2001, got %d", rc)
			}
		}()
	}
	wg.Wait()
	// An unsupported command comes back as an error answer, not an error.
	a, err := c.Do(context.Background(), NewRequest(CmdLocationInfo, AppCx, 0, 0, UTF8String(AVPSessionID, 0, AVPFlagMandatory, c.NewSessionID())))
	if err != nil || !a.IsError() {
		t.Errorf("expected an E-bit answer, got %v %v", a, err)
	}
	c.Close()
	c.Close()
	if _, err := c.Do(context.Background(), NewRequest(CmdUserAuthorization, AppCx, 0, 0)); err == nil {
		t.Error("expected an error on a closed client")
	}
	mu.Lock()
	defer mu.Unlock()
	var codes []uint32
	for _, cp := range caps {
		h, _ := ParseHeader(cp.Raw)
		if h.Flags&FlagRequest != 0 && !cp.Received {
			codes = append(codes, h.Code)
		}
	}
	if len(codes) != 23 || codes[0] != CmdCapabilitiesExchange || codes[len(codes)-1] != CmdDisconnectPeer {
		t.Errorf("expected CER, 21 requests, DPR sent, got %v", codes)
	}
	cer, _ := Unmarshal(caps[0].Raw)
	if ap, ok := cer.Find(AVPHostIPAddress, 0); !ok {
		t.Error("CER: expected a Host-IP-Address")
	} else if ip, _ := ap.Addr(); ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("CER Host-IP-Address: expected 127.0.0.1, got %s", ip)
	}
}

func TestClientRefusedCapabilities(t *testing.T) {
	ts := startServer(t)
	cfg := clConfig()
	cfg.Applications = []Application{{AuthApplicationID: 4}}
	if _, err := Dial(context.Background(), netip.MustParseAddrPort(ts.addr), cfg); err == nil || !strings.Contains(err.Error(), "5010") {
		t.Errorf("expected a CEA failure 5010, got %v", err)
	}
}

// TestClientAnswersPeerRequests plays a peer that sends DWR, an unknown
// request and DPR to the client.
func TestClientAnswersPeerRequests(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		answers []*Message
		err     error
	}
	out := make(chan res, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			out <- res{err: err}
			return
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		var got []*Message
		read := func() *Message {
			raw, err := ReadMessage(r, 0)
			if err != nil {
				return nil
			}
			m, _ := Unmarshal(raw)
			return m
		}
		send := func(m *Message) {
			b, _ := m.Marshal()
			nc.Write(b)
		}
		cer := read()
		if cer == nil {
			out <- res{err: net.ErrClosed}
			return
		}
		send(cer.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess),
			DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, "peer"), DiameterIdentity(AVPOriginRealm, 0, AVPFlagMandatory, "home1.net")))
		send(NewRequest(CmdDeviceWatchdog, AppCommon, 11, 11, origin("peer")...))
		got = append(got, read())
		send(NewRequest(CmdRegistrationTerm, AppCx, 12, 12, origin("peer")...))
		got = append(got, read())
		send(NewRequest(CmdDisconnectPeer, AppCommon, 13, 13, origin("peer")...))
		got = append(got, read())
		out <- res{answers: got}
	}()
	c, err := Dial(context.Background(), netip.MustParseAddrPort(l.Addr().String()), clConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r res
	select {
	case r = <-out:
	case <-time.After(3 * time.Second):
		t.Fatal("the peer got no answers")
	}
	if r.err != nil || len(r.answers) != 3 {
		t.Fatalf("expected three answers, got %d (%v)", len(r.answers), r.err)
	}
	want := []struct {
		hbh uint32
		rc  uint32
		e   bool
	}{{11, ResultSuccess, false}, {12, ResultCommandUnsupported, true}, {13, ResultSuccess, false}}
	for i, w := range want {
		a := r.answers[i]
		if a == nil || a.IsRequest() || a.HopByHop != w.hbh || a.IsError() != w.e {
			t.Errorf("answer %d: expected hop-by-hop %d, E %v, got %+v", i, w.hbh, w.e, a)
			continue
		}
		if rc, _ := ResultOf(a); rc != w.rc {
			t.Errorf("answer %d: expected %d, got %d", i, w.rc, rc)
		}
	}
	// After the peer's DPR the client is closed.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Do(context.Background(), NewRequest(CmdUserAuthorization, AppCx, 0, 0)); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("expected requests to fail after the peer's DPR")
}

func TestClientEndedContext(t *testing.T) {
	ts := startServer(t)
	c, err := Dial(context.Background(), netip.MustParseAddrPort(ts.addr), clConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, NewRequest(CmdUserAuthorization, AppCx, 0, 0)); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("expected an error for an ended context, got %v", err)
	}
}
