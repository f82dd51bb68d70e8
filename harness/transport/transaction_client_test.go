package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

var loopback4 = netip.MustParseAddrPort("127.0.0.1:0")

func newLayer(t *testing.T, o Options) *Layer {
	t.Helper()
	l := New(o)
	t.Cleanup(func() { l.Close() })
	return l
}

func listen(t *testing.T, l *Layer, h Handler) *Endpoint {
	t.Helper()
	e, err := l.Listen(context.Background(), loopback4, h)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sink is a UDP socket that takes datagrams and answers when told.
func sink(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func register(branch string, via string) *sipmsg.Message {
	m := sipmsg.NewRequest("REGISTER", "sip:registrar.home1.net")
	m.Append("Via", via+";branch="+branch)
	m.Append("Max-Forwards", "70")
	m.Append("From", "<sip:user1_public1@home1.net>;tag=4fa3")
	m.Append("To", "<sip:user1_public1@home1.net>")
	m.Append("Call-ID", "c-"+branch)
	m.Append("CSeq", "1 REGISTER")
	m.Append("Content-Length", "0")
	return m
}

func sentTimes(tr *trace.Trace, start time.Time) []time.Duration {
	var out []time.Duration
	for _, m := range tr.Messages() {
		if m.Dir == trace.Sent {
			out = append(out, m.Time.Sub(start))
		}
	}
	return out
}

func secs(ss ...float64) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		out = append(out, time.Duration(s*float64(time.Second)))
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTimerEDoublesToT2AndTimerFEndsAt64T1 guards the RFC 3261 17.1.2.2
// schedule over UDP: sent at 0, retransmitted at 0.5, 1.5, 3.5, 7.5 s and
// then every T2 (4 s), until Timer F ends the transaction at 32 s.
func TestTimerEDoublesToT2AndTimerFEndsAt64T1(t *testing.T) {
	clk, tr := newFakeClock(), trace.New()
	l := newLayer(t, Options{Clock: clk, Trace: tr, Role: "UE"})
	e := listen(t, l, nil)
	peer := sink(t)
	start := clk.Now()
	tx, err := e.Request(context.Background(), Dest{Transport: UDP, Addr: addrPort(peer.LocalAddr())}, register("z9hG4bKsched", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(31999 * time.Millisecond)
	select {
	case <-tx.Done():
		t.Fatal("the transaction ended before Timer F")
	default:
	}
	want := secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5)
	if got := sentTimes(tr, start); !equalDurations(got, want) {
		t.Errorf("sent at %v, want %v", got, want)
	}
	clk.Advance(time.Millisecond)
	_, err = tx.Result()
	var te *TimeoutError
	if !errors.As(err, &te) || te.After != 32*time.Second {
		t.Fatalf("at 32 s: expected a *TimeoutError after 32s, got %v", err)
	}
	clk.Advance(time.Minute)
	if n := len(sentTimes(tr, start)); n != len(want) {
		t.Errorf("sent %d times in all, want %d: nothing after Timer F", n, len(want))
	}
	if got := l.Repeats().Retransmitted["REGISTER"]; got != int64(len(want)-1) {
		t.Errorf("Repeats: %d REGISTER retransmissions counted, want %d", got, len(want)-1)
	}
}

func itoaPort(e *Endpoint) string { return strconv.Itoa(int(e.Addr().Port())) }

// waitFor polls cond; the deadline is a safety net, not a timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func received(tr *trace.Trace) int {
	n := 0
	for _, m := range tr.Messages() {
		if m.Dir == trace.Received {
			n++
		}
	}
	return n
}

// answer reads the request at peer and sends back a response with status,
// echoing Via, From, To, Call-ID and CSeq.
func answer(t *testing.T, peer *net.UDPConn, status string) []byte {
	t.Helper()
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	req, err := sipmsg.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	for _, c := range status[:3] {
		code = code*10 + int(c-'0')
	}
	raw := sipmsg.NewResponse(req, code, status[4:], "t1").Bytes()
	if _, err := peer.WriteToUDPAddrPort(raw, from); err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestProvisionalResponseHoldsRetransmissionsAtT2: once a 1xx came, Timer E
// retransmits every T2 (17.1.2.2, Proceeding).
func TestProvisionalResponseHoldsRetransmissionsAtT2(t *testing.T) {
	clk, tr := newFakeClock(), trace.New()
	l := newLayer(t, Options{Clock: clk, Trace: tr})
	e := listen(t, l, nil)
	peer := sink(t)
	start := clk.Now()
	tx, err := e.Request(context.Background(), Dest{Addr: addrPort(peer.LocalAddr())}, register("z9hG4bKprov", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	answer(t, peer, "100 Trying")
	waitFor(t, "the 100 Trying", func() bool { return received(tr) == 1 })
	clk.Advance(12 * time.Second)
	// E fires at 0.5 (Proceeding now: next at 0.5+4), 4.5, 8.5.
	if got, want := sentTimes(tr, start), secs(0, 0.5, 4.5, 8.5); !equalDurations(got, want) {
		t.Errorf("sent at %v, want %v", got, want)
	}
	select {
	case <-tx.Done():
		t.Fatal("a provisional response ended the transaction")
	default:
	}
}

// TestTimerKAbsorbsRetransmittedFinalResponses: the final response is
// delivered once; its retransmissions are absorbed until Timer K (T4), and
// go to the handler after it.
func TestTimerKAbsorbsRetransmittedFinalResponses(t *testing.T) {
	clk, tr := newFakeClock(), trace.New()
	strays := make(chan *Incoming, 4)
	l := newLayer(t, Options{Clock: clk, Trace: tr})
	e := listen(t, l, func(in *Incoming) { strays <- in })
	peer := sink(t)
	finals := 0
	tx, err := e.Request(context.Background(), Dest{Addr: addrPort(peer.LocalAddr())}, register("z9hG4bKk", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e)),
		func(in *Incoming, err error) {
			if err != nil || in.Parsed.StatusCode != 200 {
				t.Errorf("then: %v %v", in, err)
			}
			finals++
		})
	if err != nil {
		t.Fatal(err)
	}
	raw := answer(t, peer, "200 OK")
	<-tx.Done()
	to := e.Addr()
	peer.WriteToUDPAddrPort(raw, to)
	waitFor(t, "the retransmitted 200", func() bool { return received(tr) == 2 })
	if len(strays) != 0 || finals != 1 {
		t.Fatalf("within Timer K: %d strays, %d finals; want the retransmission absorbed", len(strays), finals)
	}
	clk.Advance(DefaultT4)
	peer.WriteToUDPAddrPort(raw, to)
	select {
	case in := <-strays:
		if in.Parsed == nil || in.Parsed.StatusCode != 200 {
			t.Errorf("stray: %+v", in)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("after Timer K the response should reach the handler")
	}
	if n := len(sentTimes(tr, time.Time{})); n != 1 {
		t.Errorf("sent %d times; want once: the final response stops Timer E", n)
	}
	if r := l.Repeats(); r.Responses["200"] != 1 || len(r.Retransmitted) != 0 {
		t.Errorf("Repeats: %+v; want the one 200 absorbed within Timer K counted, and no retransmission", r)
	}
}

// TestTCPRequestIsNotRetransmitted: over a reliable transport there is no
// Timer E; Timer F still ends the transaction.
func TestTCPRequestIsNotRetransmitted(t *testing.T) {
	clk, tr := newFakeClock(), trace.New()
	l := newLayer(t, Options{Clock: clk, Trace: tr})
	e := listen(t, l, nil)
	got := make(chan *Incoming, 1)
	peer := listen(t, newLayer(t, Options{}), func(in *Incoming) { got <- in })
	tx, err := e.Request(context.Background(), Dest{Transport: TCP, Addr: peer.Addr()}, register("z9hG4bKtcp", "SIP/2.0/TCP 127.0.0.1:"+itoaPort(e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := <-got
	if in.Transport() != TCP || in.Msg.Src.Port() != e.Addr().Port() {
		t.Errorf("expected the request over TCP from the endpoint's own port %d, got %s from %s", e.Addr().Port(), in.Transport(), in.Msg.Src)
	}
	clk.Advance(31 * time.Second)
	if n := len(sentTimes(tr, time.Time{})); n != 1 {
		t.Errorf("sent %d times over TCP, want 1", n)
	}
	clk.Advance(time.Second)
	if _, err := tx.Result(); !errors.As(err, new(*TimeoutError)) {
		t.Errorf("expected Timer F at 32 s over TCP too, got %v", err)
	}
}

// TestContextEndsTheTransaction: the caller's deadline ends it, with the
// context's error, and stops the retransmissions.
func TestContextEndsTheTransaction(t *testing.T) {
	clk := newFakeClock()
	l := newLayer(t, Options{Clock: clk})
	e := listen(t, l, nil)
	peer := sink(t)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := e.Request(ctx, Dest{Addr: addrPort(peer.LocalAddr())}, register("z9hG4bKctx", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := tx.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("expected context.Canceled, got %v", err)
	}
	if !clk.next().IsZero() {
		t.Error("expected no timer left")
	}
}

// TestNothingListeningEndsTheTransactionAtOnce: ICMP port unreachable (UDP)
// and a refused connection (TCP) end the client transaction with an
// *UnreachableError naming the address; T1 is an hour here, so only the
// error can have ended it.
func TestNothingListeningEndsTheTransactionAtOnce(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		for _, tp := range []string{UDP, TCP} {
			t.Run(tp+"/"+host, func(t *testing.T) {
				ip := netip.MustParseAddr(host)
				pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
				if err != nil {
					t.Skipf("no %s on this machine: %v", host, err)
				}
				dead := addrPort(pc.LocalAddr())
				pc.Close()
				l := newLayer(t, Options{Timers: Timers{T1: time.Hour, T2: time.Hour}})
				e, err := l.Listen(context.Background(), netip.AddrPortFrom(ip, 0), nil)
				if err != nil {
					t.Fatal(err)
				}
				tx, err := e.Request(context.Background(), Dest{Transport: tp, Addr: dead}, register("z9hG4bKdead"+tp, "SIP/2.0/"+tp+" "+e.Addr().String()), nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = tx.Wait()
				var ue *UnreachableError
				if !errors.As(err, &ue) || ue.Addr != dead || ue.Transport != tp {
					t.Fatalf("expected *UnreachableError for %s %s, got %v", tp, dead, err)
				}
				if !strings.Contains(err.Error(), "nothing listens at "+tp+" "+dead.String()) {
					t.Errorf("error %q does not name the transport and address", err)
				}
			})
		}
	}
}

// TestResponsesMatchByBranchNotBySocket: a response that arrives on another
// endpoint of the layer (the UE's port-s, for a request sent from port-c)
// still completes the transaction.
func TestResponsesMatchByBranchNotBySocket(t *testing.T) {
	l := newLayer(t, Options{})
	portC, portS := listen(t, l, nil), listen(t, l, nil)
	peer := sink(t)
	tx, err := portC.Request(context.Background(), Dest{Addr: addrPort(peer.LocalAddr())}, register("z9hG4bKcross", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(portS)), nil)
	if err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := sipmsg.Parse(buf[:n])
	peer.WriteToUDPAddrPort(sipmsg.NewResponse(req, 200, "OK", "x").Bytes(), portS.Addr())
	res, err := tx.Wait()
	if err != nil || res.Endpoint != portS {
		t.Fatalf("expected the 200 at port-s to complete the transaction, got %v %v", res, err)
	}
}
