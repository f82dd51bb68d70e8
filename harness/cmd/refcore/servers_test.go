package main

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imsconform/harness/cmd/internal/servertest"
	"imsconform/harness/cmd/internal/stats"
	"imsconform/harness/hss"
	"imsconform/harness/lab"
	"imsconform/harness/ue"
)

// The standalone core as a server under pressure: a flood of REGISTERs, slow
// and idle TCP connections, connection churn. Each test runs the command as
// a process of its own (servertest), with the standalone HSS where it needs
// Cx, and asserts bounds on what the process holds during and after.

func TestMain(m *testing.M) {
	servertest.Main(func(args []string) error { return run(args, os.Stdout, os.Stderr) })
	os.Exit(m.Run())
}

var (
	pcscfLine = regexp.MustCompile(`^P-CSCF listening on (\S+)/`)
)

// startCore starts the standalone core with args, querying an HSS over Cx
// when withHSS (the harness/hss emulator, in this process: the core is the
// process under test here; the hss command has tests of its own), and
// returns it with its P-CSCF's address.
func startCore(t *testing.T, withHSS bool, args ...string) (*servertest.Proc, netip.AddrPort) {
	t.Helper()
	if withHSS {
		cfg, err := hss.ConfigFromProfile(lab.Default(), "hss.home1.net", "home1.net")
		if err != nil {
			t.Fatal(err)
		}
		h, err := hss.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go h.Serve(l)
		t.Cleanup(func() { h.Close() })
		args = append(args, "-hss", l.Addr().String())
	}
	core := servertest.Start(t, "refcore", append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	return core, netip.MustParseAddrPort(core.Line(pcscfLine, 30*time.Second)[1])
}

// registerOnce registers the lab's subscriber through the P-CSCF at pcscf
// with the UE emulator and returns the final status.
func registerOnce(t *testing.T, pcscf netip.AddrPort) int {
	t.Helper()
	l := lab.DefaultFor("127.0.0.1")
	u, err := ue.New(ue.Options{Lab: l, PCSCF: pcscf, Transport: "UDP", Host: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	reg, err := u.Register(context.Background())
	if err != nil {
		t.Logf("registration: %v (%s)", err, reg.Why)
	}
	return reg.Status
}

// floodRegister is one REGISTER of the flood: every fourth an initial
// REGISTER of the lab's subscriber (the core challenges it), one of an
// unknown user (the HSS does not know it), one as the svmap scanner sends
// it (Contact: None: 400), one with random bytes changed. Each has a branch
// and Call-ID of its own.
func floodRegister(i int, from netip.AddrPort) []byte {
	impu := "sip:user1_public1@home1.net"
	contact := "<sip:" + from.String() + ">;expires=600000"
	switch i % 4 {
	case 1:
		impu = "sip:flood" + strconv.Itoa(i) + "@home1.net"
	case 3:
		contact = "None"
	}
	m := []byte("REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + strconv.FormatUint(rand.Uint64(), 16) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <" + impu + ">;tag=" + strconv.FormatUint(rand.Uint64(), 16) + "\r\n" +
		"To: <" + impu + ">\r\n" +
		"Contact: " + contact + "\r\n" +
		"Call-ID: " + strconv.FormatUint(rand.Uint64(), 16) + "@flood\r\n" +
		"Authorization: Digest username=\"user1_private@home1.net\", realm=\"registrar.home1.net\", nonce=\"\", uri=\"sip:registrar.home1.net\", response=\"\"\r\n" +
		"Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; spi-s=12345678; port-c=2468; port-s=1357\r\n" +
		"Require: sec-agree\r\nProxy-Require: sec-agree\r\n" +
		"CSeq: 1 REGISTER\r\nSupported: path\r\nContent-Length: 0\r\n\r\n")
	if i%4 == 2 {
		for range 3 {
			m[100+rand.IntN(len(m)-120)] = byte(rand.IntN(256))
		}
	}
	return m
}

// flood sends n flood REGISTERs to pcscf over UDP and counts the answers
// by status code until quiet after the last.
func flood(t *testing.T, pcscf netip.AddrPort, n int) map[int]int {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := netip.MustParseAddrPort(c.LocalAddr().String())
	var mu sync.Mutex
	got := map[int]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 65536)
		for {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			k, _, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			code := 0
			if k > 12 && string(b[:8]) == "SIP/2.0 " {
				code, _ = strconv.Atoi(string(b[8:11]))
			}
			mu.Lock()
			got[code]++
			mu.Unlock()
		}
	}()
	for i := range n {
		if _, err := c.WriteToUDPAddrPort(floodRegister(i, from), pcscf); err != nil {
			t.Fatalf("send: %v", err)
		}
		if i%10 == 9 {
			time.Sleep(time.Millisecond) // a flood the socket buffers can take, mostly
		}
	}
	<-done
	return got
}

// TestFloodOfRegisters: 20,000 REGISTERs (the subscriber's, unknown
// users', a scanner's, mutated ones) to the standalone core with Cx to an
// HSS. The core answers every one of them (a full transaction table ends
// its oldest Completed transactions first, and answers 503 only when all
// are still being answered); what it holds meanwhile is bounded by its
// tables and by what passes through its hops within T4 (the relays'
// Completed client transactions, which hold no message), so its RSS stays
// below 180 MB; once Timer J has passed its goroutines are back where they
// started and its heap within 16 MB of it (the challenges' table, full at
// its 4096 entries, stays for reg-await-auth); and it still registers the
// UE.
func TestFloodOfRegisters(t *testing.T) {
	t.Parallel()
	core, pcscf := startCore(t, true)
	before := core.Sample(true)
	var answers map[int]int
	peak := core.Peak(func() { answers = flood(t, pcscf, 20000) })
	t.Logf("flood of 20000 REGISTERs: answers by status %v", answers)
	// Timer J (64·T1) ends the completed transactions; the table of
	// challenges stays (reg-await-auth), bounded.
	after, ok := core.Until(64*500*time.Millisecond+15*time.Second, func(s stats.Sample) bool {
		return s.Goroutines <= before.Goroutines+4 && s.HeapInuse < before.HeapInuse+16<<20
	})
	t.Logf("core before: %s; peak: %s; after: %s", before, peak, after)
	if !ok {
		t.Errorf("expected the core back to at most %d goroutines and %.1f MB of heap in use after Timer J, got %s", before.Goroutines+4, float64(before.HeapInuse+16<<20)/1e6, after)
	}
	if peak.RSS > 180<<20 {
		t.Errorf("expected the core's RSS to stay below 180 MB during the flood, peaked at %.1f MB", float64(peak.RSS)/1e6)
	}
	if peak.Goroutines > before.Goroutines+4200 {
		t.Errorf("expected at most %d goroutines during the flood, peaked at %d", before.Goroutines+4200, peak.Goroutines)
	}
	if answers[400] == 0 || answers[401] == 0 || answers[403] == 0 {
		t.Errorf("expected 400 (Contact: None), 401 (the subscriber) and 403 (unknown users) among the answers, got %v", answers)
	}
	if st := registerOnce(t, pcscf); st != 200 {
		t.Errorf("after the flood: expected the UE registered (200), got %d", st)
	}
}

// TestSlowAndIdleConnections: 500 TCP connections to the P-CSCF, half of
// them sending nothing, half a REGISTER one byte at a time, against a core
// that accepts 400 and closes idle connections and unfinished messages
// after 2 s. The 100 beyond the bound are closed at once; the rest within
// the timeouts; then the core holds no more goroutines than before.
func TestSlowAndIdleConnections(t *testing.T) {
	t.Parallel()
	core, pcscf := startCore(t, false, "-transport", "tcp", "-idle-timeout", "2s", "-header-timeout", "2s", "-max-connections", "400")
	before := core.Sample(true)
	const n = 500
	closedAt := make([]time.Duration, n)
	start := time.Now()
	var wg sync.WaitGroup
	d := servertest.Dialer("127.0.0.103")
	peak := core.Peak(func() {
		for i := range n {
			c, err := d.Dial("tcp", pcscf.String())
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if i%2 == 1 {
					// Slow: a byte every 200 ms of a REGISTER never finished in time.
					msg := floodRegister(0, netip.MustParseAddrPort(c.LocalAddr().String()))
					for _, b := range msg {
						c.SetWriteDeadline(time.Now().Add(5 * time.Second))
						if _, err := c.Write([]byte{b}); err != nil {
							break
						}
						time.Sleep(200 * time.Millisecond)
					}
				}
				// The core's close reaches the reader as EOF (or a reset).
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						closedAt[i] = time.Since(start)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	after, ok := core.Until(10*time.Second, func(s stats.Sample) bool { return s.Goroutines <= before.Goroutines+2 })
	t.Logf("core before: %s; peak: %s; after: %s", before, peak, after)
	var early, late int
	var last time.Duration
	for _, d := range closedAt {
		last = max(last, d)
		switch {
		case d < 1500*time.Millisecond:
			early++
		case d > 12*time.Second:
			late++
		}
	}
	t.Logf("%d connections closed within 1.5 s (beyond -max-connections 400), the last after %s", early, last.Round(time.Millisecond))
	if early < n-400 {
		t.Errorf("expected at least %d connections (beyond -max-connections 400) closed at once, got %d", n-400, early)
	}
	if late > 0 {
		t.Errorf("expected every connection closed by the 2 s idle and header timeouts, %d lasted more than 12 s", late)
	}
	if !ok {
		t.Errorf("expected the core back to %d goroutines once the connections are gone, got %s", before.Goroutines+2, after)
	}
	if peak.Goroutines > before.Goroutines+400+10 {
		t.Errorf("expected at most one goroutine per accepted connection (400), peaked at %d over %d", peak.Goroutines-before.Goroutines, before.Goroutines)
	}
	if peak.RSS > before.RSS+40<<20 {
		t.Errorf("expected the RSS to grow by less than 40 MB, peaked at %s from %s", peak, before)
	}
}

// TestConnectionChurn: 20,000 TCP connections opened and closed at once
// (some after a partial message, some after a whole REGISTER whose answer
// finds nothing listening): the core holds one goroutine per live
// connection and none once they are gone.
func TestConnectionChurn(t *testing.T) {
	t.Parallel()
	core, pcscf := startCore(t, false, "-transport", "tcp")
	// A registration first, so that the hops' own connections to each
	// other (TCP here, kept open) are counted before.
	if st := registerOnce(t, pcscf); st != 200 {
		t.Fatalf("expected the UE registered (200), got %d", st)
	}
	before := core.Sample(true)
	const n, workers = 20000, 8
	var failed atomic.Int32
	d := servertest.Dialer("127.0.0.101")
	peak := core.Peak(func() {
		servertest.Parallel(n, workers, func(i int) {
			c, err := d.Dial("tcp", pcscf.String())
			if err != nil {
				failed.Add(1)
				return
			}
			switch i % 3 {
			case 1:
				c.Write([]byte("REGISTER sip:registrar.home1.net SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9"))
			case 2:
				// sent-by port 9 (discard): the answer's new connection is refused.
				c.Write(floodRegister(4*i, netip.MustParseAddrPort("127.0.0.1:9")))
			}
			closeMostlyWithReset(c, i)
		})
	})
	after, ok := core.Until(64*500*time.Millisecond+15*time.Second, func(s stats.Sample) bool {
		return s.Goroutines <= before.Goroutines+2 && s.HeapInuse < before.HeapInuse+16<<20
	})
	t.Logf("%d connections (%d could not be made); core before: %s; peak: %s; after: %s", n, failed.Load(), before, peak, after)
	if failed.Load() > 0 {
		t.Errorf("expected every connection made, %d were not", failed.Load())
	}
	if !ok {
		t.Errorf("expected the core back to %d goroutines and %.1f MB of heap once the connections are gone, got %s", before.Goroutines+2, float64(before.HeapInuse+16<<20)/1e6, after)
	}
	if peak.Goroutines > before.Goroutines+1024+100 {
		t.Errorf("expected at most one goroutine per live connection, peaked at %d", peak.Goroutines)
	}
	// The garbage of 6,700 REGISTERs comes and goes with the collector's
	// pace; a connection that kept its goroutine and buffer would cost some
	// 16 KiB, 320 MB for the 20,000.
	if peak.RSS > before.RSS+120<<20 {
		t.Errorf("expected the RSS to grow by less than 120 MB, peaked at %s from %s", peak, before)
	}
}

// closeMostlyWithReset closes c, nine times in ten with a reset (SO_LINGER
// 0), so that a churn of thousands of connections leaves few TIME_WAITs on
// its source address for the next run to find.
func closeMostlyWithReset(c net.Conn, i int) {
	if tc, ok := c.(*net.TCPConn); ok && i%10 != 0 {
		tc.SetLinger(0)
	}
	c.Close()
}
