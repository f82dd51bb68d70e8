package main

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imsconform/harness/cmd/internal/servertest"
	"imsconform/harness/cmd/internal/stats"
	"imsconform/harness/diameter"
)

// The standalone HSS as a server under pressure: a flood of Cx requests,
// slow, half-sent, idle and dead peers, connection churn. Each test runs
// the command as a process of its own (servertest) and asserts bounds on
// what it holds during and after.

func TestMain(m *testing.M) {
	servertest.Main(func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, args, os.Stdout, os.Stderr)
	})
	os.Exit(m.Run())
}

var listenLine = regexp.MustCompile(`listening on (\S+)/tcp`)

func startHSS(t *testing.T, args ...string) (*servertest.Proc, string) {
	t.Helper()
	p := servertest.Start(t, "hss", append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	return p, p.Line(listenLine, 30*time.Second)[1]
}

// cer is a CER from origin.
func cer(origin string) []byte {
	m := diameter.NewRequest(diameter.CmdCapabilitiesExchange, 0, 1, 1,
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, origin),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
		diameter.Address(diameter.AVPHostIPAddress, 0, diameter.AVPFlagMandatory, netip.MustParseAddr("127.0.0.1")),
		diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, 0),
		diameter.UTF8String(diameter.AVPProductName, 0, 0, "flood"),
		diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx))
	b, _ := m.Marshal()
	return b
}

// peer connects to addr and exchanges capabilities as origin.
func peer(t *testing.T, addr, origin string) net.Conn {
	t.Helper()
	c, err := servertest.Dialer("127.0.0.102").Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(cer(origin))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := diameter.ReadMessage(c, 0); err != nil {
		t.Fatalf("CEA: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// cxFlood is request i of the flood: UAR, MAR and SAR of the subscriber or
// of unknown users, and requests with a mandatory AVP the HSS does not know.
func cxFlood(i int) []byte {
	impi, impu := "user1_private@home1.net", "sip:user1_public1@home1.net"
	if i%2 == 1 {
		impi, impu = "flood"+strconv.Itoa(i)+"@home1.net", "sip:flood"+strconv.Itoa(i)+"@home1.net"
	}
	v := func(code uint32, s string) diameter.AVP {
		return diameter.UTF8String(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, s)
	}
	avps := []diameter.AVP{
		diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, "flood;"+strconv.Itoa(i)),
		diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, 1),
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, "scscf.flood"),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
		diameter.DiameterIdentity(diameter.AVPDestinationRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi),
		v(diameter.AVPPublicIdentity, impu),
		v(diameter.AVPServerName, "sip:scscf1.home1.net"),
	}
	code := []uint32{diameter.CmdUserAuthorization, diameter.CmdMultimediaAuth, diameter.CmdServerAssignment}[i%3]
	switch {
	case code == diameter.CmdServerAssignment:
		avps = append(avps, diameter.Enumerated(diameter.AVPServerAssignmentType, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 1),
			diameter.Enumerated(diameter.AVPUserDataAlreadyAvailable, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 0))
	case i%7 == 0:
		avps = append(avps, diameter.OctetString(99999, 0, diameter.AVPFlagMandatory, []byte("unknown")))
	}
	m := diameter.NewRequest(code, diameter.AppCx, uint32(i+1), uint32(i+1), avps...)
	m.Flags |= diameter.FlagProxiable
	b, _ := m.Marshal()
	return b
}

// TestFloodOfCxRequests: 4 peers send 20,000 Cx requests between them,
// without waiting for answers. Every request is answered, and the HSS's
// RSS and goroutines stay bounded and come back.
func TestFloodOfCxRequests(t *testing.T) {
	t.Parallel()
	h, addr := startHSS(t)
	before := h.Sample(true)
	const peers, each = 4, 5000
	var answered atomic.Int32
	var wg sync.WaitGroup
	peak := h.Peak(func() {
		for p := range peers {
			c := peer(t, addr, "scscf"+strconv.Itoa(p)+".flood")
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := p * each; i < (p+1)*each; i++ {
					if _, err := c.Write(cxFlood(i)); err != nil {
						t.Errorf("peer %d: write: %v", p, err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(60 * time.Second))
				for range each {
					if _, err := diameter.ReadMessage(c, 0); err != nil {
						t.Errorf("peer %d: after %d answers: %v", p, answered.Load(), err)
						return
					}
					answered.Add(1)
				}
			}()
		}
		wg.Wait()
	})
	after, ok := h.Until(15*time.Second, func(s stats.Sample) bool {
		return s.Goroutines <= before.Goroutines+2 && s.HeapInuse < before.HeapInuse+4<<20
	})
	t.Logf("%d of %d Cx requests answered; HSS before: %s; peak: %s; after: %s", answered.Load(), peers*each, before, peak, after)
	if answered.Load() != peers*each {
		t.Errorf("expected every request answered, got %d of %d", answered.Load(), peers*each)
	}
	if !ok {
		t.Errorf("expected the HSS back to %d goroutines and %.1f MB of heap, got %s", before.Goroutines+2, float64(before.HeapInuse+4<<20)/1e6, after)
	}
	if peak.RSS > before.RSS+40<<20 {
		t.Errorf("expected the RSS to grow by less than 40 MB, peaked at %s from %s", peak, before)
	}
	if peak.Goroutines > before.Goroutines+peers+10 {
		t.Errorf("expected one goroutine per connection (%d), peaked at %d over %d", peers, peak.Goroutines-before.Goroutines, before.Goroutines)
	}
}

// header is a Diameter request header declaring length bytes.
func header(length int) []byte {
	h := make([]byte, diameter.HeaderLen)
	binary.BigEndian.PutUint32(h[0:], uint32(length))
	h[0] = 1
	binary.BigEndian.PutUint32(h[4:], uint32(diameter.FlagRequest)<<24|diameter.CmdUserAuthorization)
	binary.BigEndian.PutUint32(h[8:], diameter.AppCx)
	return h
}

// TestSlowHalfSentIdleAndDeadPeers: against an HSS with Tw 6 s (the RFC
// 3539 minimum) and a 2 s message timeout, 200 connections declare 1 MiB
// messages (above its 64 KiB bound: answered 5015 and closed at once), 200
// send half of a 60 KiB message and stop (closed after 2 s), 100 send
// nothing (no CER: closed after Tw), 10 peers exchange capabilities and
// then neither send nor answer DWR (dropped after 3·Tw), and one peer that
// answers the watchdog stays. Memory stays bounded (the HSS holds what was
// sent, not what was declared), and every goroutine of the dropped
// connections is gone.
func TestSlowHalfSentIdleAndDeadPeers(t *testing.T) {
	t.Parallel()
	h, addr := startHSS(t, "-watchdog", "6s", "-message-timeout", "2s")
	before := h.Sample(true)
	type group struct {
		name   string
		n      int
		within time.Duration // the HSS closes them so soon, at most
		after  time.Duration // and not before
		open   func(net.Conn)
	}
	groups := []group{
		{"1 MiB declared", 200, 2 * time.Second, 0, func(c net.Conn) { c.Write(header(1 << 20)); c.Write(make([]byte, 32<<10)) }},
		{"half of 60 KiB", 200, 2*time.Second + 3*time.Second, 2 * time.Second, func(c net.Conn) { c.Write(header(60 << 10)); c.Write(make([]byte, 30<<10)) }},
		{"no CER", 100, 6*time.Second + 3*time.Second, 6 * time.Second, func(net.Conn) {}},
		{"dead peer", 10, 18*time.Second + 4*time.Second, 18 * time.Second, func(c net.Conn) { c.Write(cer("dead" + strconv.Itoa(rand.IntN(1e6)) + ".flood")) }},
	}
	var wg sync.WaitGroup
	closed := make([][]time.Duration, len(groups))
	live, err := diameter.Dial(context.Background(), netip.MustParseAddrPort(addr), diameter.ClientConfig{
		OriginHost: "live.flood", OriginRealm: "home1.net", Applications: []diameter.Application{diameter.CxApplication}, Watchdog: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	start := time.Now()
	d := servertest.Dialer("127.0.0.104")
	peak := h.Peak(func() {
		for gi, g := range groups {
			closed[gi] = make([]time.Duration, g.n)
			for i := range g.n {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				g.open(c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					c.SetReadDeadline(time.Now().Add(60 * time.Second))
					// Whatever the HSS answers (the CEA, a DWR, 5015), the
					// connection's end is what counts: EOF or a reset.
					io.Copy(io.Discard, c)
					closed[gi][i] = time.Since(start)
				}()
			}
		}
		wg.Wait()
	})
	after, ok := h.Until(10*time.Second, func(s stats.Sample) bool {
		return s.Goroutines <= before.Goroutines+2 && s.HeapInuse < before.HeapInuse+4<<20
	})
	t.Logf("HSS before: %s; peak: %s; after: %s", before, peak, after)
	for gi, g := range groups {
		var first, last time.Duration = time.Hour, 0
		for _, d := range closed[gi] {
			first, last = min(first, d), max(last, d)
		}
		t.Logf("%d connections %s: closed by the HSS between %s and %s", g.n, g.name, first.Round(time.Millisecond), last.Round(time.Millisecond))
		if last > g.within || first < g.after-500*time.Millisecond {
			t.Errorf("%s: expected the HSS to close them after %s and within %s, closed between %s and %s", g.name, g.after, g.within, first, last)
		}
	}
	select {
	case <-live.Done():
		t.Errorf("the peer that answers the watchdog's DWR was dropped: %v", live.Err())
	default:
	}
	if !ok {
		t.Errorf("expected the HSS back to %d goroutines (the live peer's included) and %.1f MB of heap, got %s", before.Goroutines+2, float64(before.HeapInuse+4<<20)/1e6, after)
	}
	if peak.RSS > before.RSS+40<<20 {
		t.Errorf("expected the RSS to grow by less than 40 MB (200 × 30 KiB sent, not 200 × 1 MiB declared), peaked at %s from %s", peak, before)
	}
}

// TestConnectionChurn: 10,000 connections opened and closed, half after a
// CER and its CEA: the HSS holds one goroutine per live connection and none
// once they are gone.
func TestConnectionChurn(t *testing.T) {
	t.Parallel()
	h, addr := startHSS(t)
	before := h.Sample(true)
	const n, workers = 10000, 8
	var failed atomic.Int32
	d := servertest.Dialer("127.0.0.102")
	peak := h.Peak(func() {
		servertest.Parallel(n, workers, func(i int) {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer func() {
				// Nine in ten with a reset (SO_LINGER 0): few TIME_WAITs left
				// on the source address for the next run.
				if tc, ok := c.(*net.TCPConn); ok && i%10 != 0 {
					tc.SetLinger(0)
				}
				c.Close()
			}()
			if i%2 == 1 {
				c.Write(cer("churn" + strconv.Itoa(i) + ".flood"))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := diameter.ReadMessage(c, 0); err != nil {
					failed.Add(1)
				}
			}
		})
	})
	after, ok := h.Until(15*time.Second, func(s stats.Sample) bool { return s.Goroutines <= before.Goroutines+2 })
	t.Logf("%d connections (%d failed); HSS before: %s; peak: %s; after: %s", n, failed.Load(), before, peak, after)
	if failed.Load() > 0 {
		t.Errorf("expected every connection made and every CER answered, %d were not", failed.Load())
	}
	if !ok {
		t.Errorf("expected the HSS back to %d goroutines, got %s", before.Goroutines+2, after)
	}
	if peak.RSS > before.RSS+40<<20 {
		t.Errorf("expected the RSS to grow by less than 40 MB, peaked at %s from %s", peak, before)
	}
}
