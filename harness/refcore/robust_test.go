package refcore

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"imsconform/harness/diameter"
	hemu "imsconform/harness/hss"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
)

// The core as a server: what it answers to requests that break a rule, how
// its tables stay bounded, and how its CSCFs keep their Diameter
// connections to the HSS.

// svmapRegister is the REGISTER of SIPVicious's svmap -m REGISTER (0.3.4,
// Debian 12), as captured, with its Via sent-by moved to port.
func svmapRegister(port int) []byte {
	return []byte("REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + strconv.Itoa(port) + ";branch=z9hG4bK-2895010092;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: \"sipvicious\"<sip:100@1.1.1.1>\r\n" +
		"From: \"sipvicious\"<sip:100@1.1.1.1>;tag=37663030303030313631653401373432343130313736\r\n" +
		"User-Agent: friendly-scanner\r\n" +
		"Call-ID: 1086309467628301907146283\r\n" +
		"Contact: None\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// TestRuleBreakingRequestsGet400: a REGISTER that parses as SIP but breaks
// the grammar of an address the registrar reads is answered 400 with a
// Warning that names the header (svmap's "Contact: None" among them);
// conformant spellings of the same headers are challenged as usual.
func TestRuleBreakingRequestsGet400(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", nil, nil)
	port := e.ue.localPort(false)
	edit := func(from, to string) []byte {
		return []byte(strings.Replace(string(e.ue.register(false, initialAuth, 600000)), from, to, 1))
	}
	hp := "127.0.0.1:" + strconv.Itoa(port)
	for _, tc := range []struct {
		name   string
		raw    []byte
		status int
		warns  string
	}{
		{"svmap", svmapRegister(port), 400, "Contact"},
		{"Contact without a URI", edit("Contact: <sip:"+hp+">", "Contact: <"+hp+">"), 400, "Contact"},
		{"From without a URI", edit("From: <sip:user1_public1@home1.net>", "From: user1_public1"), 400, "From"},
		{"To not closed", edit("To: <sip:user1_public1@home1.net>", "To: <sip:user1_public1@home1.net"), 400, "To"},
		{"Request-URI not SIP", edit("REGISTER sip:registrar.home1.net", "REGISTER registrar.home1.net"), 400, "Request-URI"},
		{"Contact with a display name", edit("Contact: <sip:", `Contact: "UE" <sip:`), 401, ""},
		{"Contact as addr-spec, compact form", edit("Contact: <sip:"+hp+">;expires=600000", "m: sip:"+hp+";expires=600000"), 401, ""},
		{"two Contacts", edit("Contact: <sip:"+hp+">", "Contact: <sip:"+hp+">, <sip:"+hp+";transport=tcp>"), 401, ""},
		{"Contact *", edit("Contact: <sip:"+hp+">;expires=600000", "Contact: *\r\nExpires: 0"), 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ue.send(tc.raw, false)
			r := e.ue.mustRecv(false)
			if r.StatusCode != tc.status {
				t.Fatalf("expected %d, got %q", tc.status, r.StartLine)
			}
			if tc.warns != "" && !strings.Contains(r.Get("Warning"), tc.warns) {
				t.Errorf("expected a Warning naming %s, got %q", tc.warns, r.Get("Warning"))
			}
		})
	}
}

// TestTableExpiresAndIsBounded: an entry is gone once its time has passed;
// a put into a full table drops the expired entries, then those that
// would expire soonest, never the one put.
func TestTableExpiresAndIsBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	tb := newTable[int](8)
	tb.put("short", 1, now.Add(time.Second), now)
	if v, ok := tb.get("short", now.Add(999*time.Millisecond)); !ok || v != 1 {
		t.Errorf("before its expiry: expected 1, got %d %v", v, ok)
	}
	if _, ok := tb.get("short", now.Add(time.Second)); ok {
		t.Errorf("at its expiry: expected the entry gone")
	}
	for i := range 100 {
		tb.put("k"+strconv.Itoa(i), i, now.Add(time.Duration(i+1)*time.Minute), now)
		if tb.len() > 8 {
			t.Fatalf("after %d puts: expected at most 8 entries, got %d", i+1, tb.len())
		}
		if _, ok := tb.get("k"+strconv.Itoa(i), now); !ok {
			t.Fatalf("the entry just put (k%d) was dropped", i)
		}
	}
	if _, ok := tb.get("k99", now); !ok {
		t.Errorf("expected the latest entry kept")
	}
	if _, ok := tb.get("k0", now); ok {
		t.Errorf("expected the entry expiring soonest (k0) dropped")
	}
	// Expired entries go first, before any live one.
	tb = newTable[int](4)
	for i := range 4 {
		tb.put("old"+strconv.Itoa(i), i, now.Add(time.Second), now)
	}
	later := now.Add(2 * time.Second)
	tb.put("new", 9, later.Add(time.Hour), later)
	if tb.len() != 1 {
		t.Errorf("expected the 4 expired entries dropped, %d entries left", tb.len())
	}
}

// TestChallengesAreBounded: 100 initial REGISTERs leave at most
// MaxChallenges outstanding challenges, and the latest one still
// authenticates.
func TestChallengesAreBounded(t *testing.T) {
	p := lab.DefaultFor("127.0.0.1")
	core, err := Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", Limits: Limits{MaxChallenges: 16}})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	u := newUE(t, "udp", "127.0.0.1", core.PCSCF(), p)
	var last *sipmsg.Message
	for range 100 {
		u.send(u.register(false, initialAuth, 600000), false)
		last = u.mustRecv(false)
		if last.StatusCode != 401 {
			t.Fatalf("expected 401, got %q", last.StartLine)
		}
	}
	core.mu.Lock()
	n := core.nonces.len()
	core.mu.Unlock()
	if n > 16 {
		t.Errorf("expected at most 16 outstanding challenges, got %d", n)
	}
	auth, err := u.answer(last.Get("WWW-Authenticate"), "")
	if err != nil {
		t.Fatal(err)
	}
	u.send(u.register(true, auth, 600000), true)
	if r := u.mustRecv(true); r.StatusCode != 200 {
		t.Errorf("expected the answer to the latest challenge registered, got %q", r.StartLine)
	}
}

// hssAt serves the HSS emulator of p on ln; accept, when set, is asked at
// each CER (and may take its time).
func hssAt(t *testing.T, p *lab.Profile, ln net.Listener, accept func(diameter.Peer) bool) {
	t.Helper()
	cfg, err := hemu.ConfigFromProfile(p, "hss.home1.net", "home1.net")
	if err != nil {
		t.Fatal(err)
	}
	h, err := hemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if accept != nil {
		h.AcceptPeers(accept)
	}
	go h.Serve(ln)
	t.Cleanup(func() { h.Close() })
}

func freeTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// TestCxEachCSCFHasItsOwnBudget: an HSS that takes 2 s over each CER. With
// 3 s to wait, both CSCFs connect (each waits for itself, at the same time;
// one budget shared in turn would leave the S-CSCF 1 s).
func TestCxEachCSCFHasItsOwnBudget(t *testing.T) {
	p := lab.DefaultFor("127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hssAt(t, p, ln, func(diameter.Peer) bool { time.Sleep(2 * time.Second); return true })
	start := time.Now()
	core, err := Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", HSS: ln.Addr().(*net.TCPAddr).AddrPort(), CxWait: 3 * time.Second})
	if err != nil {
		t.Fatalf("expected both CSCFs connected within 3 s each, got %v", err)
	}
	defer core.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("expected Start to take about 2 s (the two waits at once), took %s", took)
	}
}

// TestCxConnectsWhenTheHSSComes: a core started while nothing listens at
// the HSS's address answers 480 at once (TS 24.229 5.3.1.2: the HSS cannot
// be reached); once the HSS listens, the CSCFs connect within Tc and the UE
// registers.
func TestCxConnectsWhenTheHSSComes(t *testing.T) {
	p := lab.DefaultFor("127.0.0.1")
	addr := freeTCP(t)
	core, err := Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", HSS: addr, Tc: 200 * time.Millisecond, CxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	u := newUE(t, "udp", "127.0.0.1", core.PCSCF(), p)
	start := time.Now()
	u.send(u.register(false, initialAuth, 600000), false)
	if r := u.mustRecv(false); r.StatusCode != 480 {
		t.Fatalf("without an HSS: expected 480, got %q", r.StartLine)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("expected the 480 at once, took %s", took)
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	hssAt(t, p, ln, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, l := range []*diameter.Link{core.cx.i, core.cx.s} {
		if _, err := l.WaitOpen(ctx); err != nil {
			t.Fatalf("expected the CSCFs connected once the HSS listens: %v", err)
		}
	}
	e := &env{core: core, ue: newUE(t, "udp", "127.0.0.1", core.PCSCF(), p), lab: p}
	if _, r := e.flow(t, ""); r.StatusCode != 200 {
		t.Errorf("expected the UE registered, got %q", r.StartLine)
	}
}

// TestCxWatchdogDropsADeadHSS: an HSS that answers the CER and then
// nothing (no DWA): with Tw 100 ms the CSCFs drop it after 3·Tw and
// connect again every Tc.
func TestCxWatchdogDropsADeadHSS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				raw, err := diameter.ReadMessage(c, 0)
				if err != nil {
					return
				}
				cer, _ := diameter.Unmarshal(raw)
				cea := cer.Answer(diameter.Unsigned32(diameter.AVPResultCode, 0, diameter.AVPFlagMandatory, diameter.ResultSuccess),
					diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, "dead.home1.net"),
					diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "home1.net"))
				b, _ := cea.Marshal()
				c.Write(b)
				for { // and then silence
					if _, err := diameter.ReadMessage(c, 0); err != nil {
						return
					}
				}
			}()
		}
	}()
	p := lab.DefaultFor("127.0.0.1")
	core, err := Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", HSS: ln.Addr().(*net.TCPAddr).AddrPort(),
		Tc: 100 * time.Millisecond, Watchdog: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	deadline := time.Now().Add(5 * time.Second)
	for conns.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := conns.Load(); n < 6 {
		t.Errorf("expected the CSCFs to drop the silent HSS and connect again (3 rounds, 6 connections) within 5 s, got %d connections", n)
	}
}
