package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

func collect() (Handler, chan *Incoming) {
	ch := make(chan *Incoming, 16)
	return func(in *Incoming) { ch <- in }, ch
}

func next(t *testing.T, ch chan *Incoming) *Incoming {
	t.Helper()
	select {
	case in := <-ch:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for a message")
	}
	return nil
}

// TestBothTransportsOnOnePort: port 0 gives one port on which the endpoint
// takes UDP and TCP alike.
func TestBothTransportsOnOnePort(t *testing.T) {
	h, got := collect()
	e := listen(t, newLayer(t, Options{}), h)
	if e.Addr().Port() == 0 {
		t.Fatal("no port bound")
	}
	for _, network := range []string{"udp", "tcp"} {
		raw := register("z9hG4bKboth"+network, "SIP/2.0/UDP 127.0.0.1:1").Bytes()
		c, err := net.Dial(network, e.Addr().String())
		if err != nil {
			t.Fatalf("%s to %s: %v", network, e.Addr(), err)
		}
		defer c.Close()
		if _, err := c.Write(raw); err != nil {
			t.Fatal(err)
		}
		in := next(t, got)
		if in.Transport() != strings.ToUpper(network) || string(in.Msg.Raw) != string(raw) || in.Tx == nil {
			t.Errorf("%s: got %s %q (tx %v)", network, in.Transport(), in.Msg.Raw, in.Tx)
		}
	}
}

// TestLargeRequestGoesOverTCP: RFC 3261 18.1.1 — above 1300 bytes with the
// MTU unknown (or within 200 bytes of a known MTU) a request meant for UDP
// goes over TCP and its Via says TCP; below, it stays on UDP.
func TestLargeRequestGoesOverTCP(t *testing.T) {
	for _, c := range []struct {
		mtu, size int
		want      string
	}{{0, 1200, UDP}, {0, 1400, TCP}, {1500, 1290, UDP}, {1500, 1310, TCP}, {9000, 5000, UDP}, {1000, 900, TCP}} {
		h, got := collect()
		peer := listen(t, newLayer(t, Options{}), h)
		e := listen(t, newLayer(t, Options{MTU: c.mtu}), nil)
		m := register("z9hG4bKbig", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e))
		m.Body = []byte(strings.Repeat("x", c.size-len(m.Bytes())))
		if _, err := e.Request(context.Background(), Dest{Transport: UDP, Addr: peer.Addr()}, m, nil); err != nil {
			t.Fatal(err)
		}
		in := next(t, got)
		_, v, _ := in.Parsed.TopVia()
		if in.Transport() != c.want || v.Transport != c.want {
			t.Errorf("MTU %d, %d bytes: sent over %s with Via %s, want %s", c.mtu, len(in.Msg.Raw), in.Transport(), v.Transport, c.want)
		}
	}
}

// TestLargeRequestBackToUDPWhenTCPRefused: 18.1.1 — when the TCP
// connection is refused, the request goes over UDP after all.
func TestLargeRequestBackToUDPWhenTCPRefused(t *testing.T) {
	peer := sink(t) // UDP only: a TCP connect to its port is refused
	e := listen(t, newLayer(t, Options{}), nil)
	m := register("z9hG4bKback", "SIP/2.0/UDP 127.0.0.1:"+itoaPort(e))
	m.Body = []byte(strings.Repeat("x", 1500))
	if _, err := e.Request(context.Background(), Dest{Addr: addrPort(peer.LocalAddr())}, m, nil); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := sipmsg.Parse(buf[:n]); p == nil || !strings.HasPrefix(p.Get("Via"), "SIP/2.0/UDP ") {
		t.Errorf("expected the request over UDP with its UDP Via, got %q", buf[:min(n, 120)])
	}
}

// TestCutShortTCPAnswerIsRecorded (issue: a TCP answer with Content-Length
// 60000, 523 bytes of body, then close, left nothing in the trace): the
// bytes received are recorded as a message that does not parse.
func TestCutShortTCPAnswerIsRecorded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cut := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKcut\r\nCSeq: 1 REGISTER\r\nContent-Length: 60000\r\n\r\n" + strings.Repeat("b", 523)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Read(make([]byte, 4096))
		c.Write([]byte(cut))
		c.Close()
	}()
	tr := trace.New()
	h, got := collect()
	e := listen(t, newLayer(t, Options{Trace: tr, Role: "UE"}), h)
	tx, err := e.Request(context.Background(), Dest{Transport: TCP, Addr: addrPort(ln.Addr())}, register("z9hG4bKcut", "SIP/2.0/TCP 127.0.0.1:"+itoaPort(e)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Cancel()
	in := next(t, got)
	if in.Parsed != nil || string(in.Msg.Raw) != cut || !strings.Contains(in.Msg.Note, "does not parse as SIP") ||
		!strings.Contains(in.Msg.Note, "523 of the 60000 body bytes") {
		t.Fatalf("expected the %d bytes recorded with a note, got %d bytes, note %q", len(cut), len(in.Msg.Raw), in.Msg.Note)
	}
	ms := tr.Messages()
	if len(ms) != 2 || ms[1].Dir != trace.Received || string(ms[1].Raw) != cut || ms[1].Role != "UE" {
		t.Errorf("trace: %d messages, want the REGISTER and the cut answer", len(ms))
	}
}

// TestServerTxAnswersRetransmissionsFromCache: the handler sees a request
// once; its retransmissions get the same answer again until Timer J; after
// it the same request is new.
func TestServerTxAnswersRetransmissionsFromCache(t *testing.T) {
	clk := newFakeClock()
	var calls atomic.Int32
	l := newLayer(t, Options{Clock: clk})
	e := listen(t, l, func(in *Incoming) {
		calls.Add(1)
		if _, err := in.Tx.Respond(sipmsg.NewResponse(in.Parsed, 200, "OK", "srv").Bytes()); err != nil {
			t.Error(err)
		}
	})
	c := sink(t)
	raw := register("z9hG4bKcache", "SIP/2.0/UDP 127.0.0.1;rport").Bytes()
	read := func() string {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	c.WriteToUDPAddrPort(raw, e.Addr())
	first := read()
	c.WriteToUDPAddrPort(raw, e.Addr())
	if again := read(); again != first || calls.Load() != 1 {
		t.Fatalf("retransmission: handler called %d times, answer %q (first %q)", calls.Load(), again, first)
	}
	clk.Advance(32 * time.Second)
	c.WriteToUDPAddrPort(raw, e.Addr())
	read()
	if calls.Load() != 2 {
		t.Errorf("after Timer J the request is new: handler called %d times, want 2", calls.Load())
	}
	if got := l.Repeats().Requests["REGISTER"]; got != 1 {
		t.Errorf("Repeats: %d repeated REGISTERs counted, want the one answered from the cache", got)
	}
}

// TestResponseFollowsTheVia: without rport the answer goes to the Via
// sent-by port, not to the datagram's source; with rport, to the source.
func TestResponseFollowsTheVia(t *testing.T) {
	e := listen(t, newLayer(t, Options{}), func(in *Incoming) {
		in.Tx.Respond(sipmsg.NewResponse(in.Parsed, 200, "OK", "v").Bytes())
	})
	from, viaPort := sink(t), sink(t)
	readAt := func(c *net.UDPConn) bool {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err := c.ReadFromUDPAddrPort(make([]byte, 4096))
		return err == nil
	}
	vp := itoa16(addrPort(viaPort.LocalAddr()).Port())
	from.WriteToUDPAddrPort(register("z9hG4bKvia1", "SIP/2.0/UDP 127.0.0.1:"+vp).Bytes(), e.Addr())
	c := make(chan bool)
	go func() { c <- readAt(viaPort) }()
	if !<-c {
		t.Error("no rport: expected the answer at the Via sent-by port")
	}
	from.WriteToUDPAddrPort(register("z9hG4bKvia2", "SIP/2.0/UDP 127.0.0.1:"+vp+";rport").Bytes(), e.Addr())
	if !readAt(from) {
		t.Error("rport: expected the answer at the source")
	}
}

// TestSipgoRefusalIsOnlyANote: a message harness/sipmsg reads and sipgo
// refuses is still delivered, with a note that says so.
func TestSipgoRefusalIsOnlyANote(t *testing.T) {
	tr := trace.New()
	h, got := collect()
	e := listen(t, newLayer(t, Options{Trace: tr}), h)
	c := sink(t)
	raw := strings.Replace(string(register("z9hG4bKnote", "SIP/2.0/UDP 127.0.0.1;rport").Bytes()), "Content-Length: 0\r\n", "Content-Length: 0\r\nVia:\r\n", 1)
	c.WriteToUDPAddrPort([]byte(raw), e.Addr())
	in := next(t, got)
	if in.Parsed == nil || in.Tx == nil || !strings.HasPrefix(in.Msg.Note, "sipgo's parser refuses it") || strings.Contains(in.Msg.Note, "not parse") {
		t.Errorf("expected a usable message with a sipgo note, got parsed %v, note %q", in.Parsed != nil, in.Msg.Note)
	}
	// NoSecondOpinion: the same message, no sipgo parse, no note.
	h2, got2 := collect()
	e2 := listen(t, newLayer(t, Options{NoSecondOpinion: true}), h2)
	c.WriteToUDPAddrPort([]byte(strings.Replace(raw, "z9hG4bKnote", "z9hG4bKnote2", 1)), e2.Addr())
	if in := next(t, got2); in.Parsed == nil || in.Msg.Note != "" {
		t.Errorf("NoSecondOpinion: expected the message with no note, got parsed %v, note %q", in.Parsed != nil, in.Msg.Note)
	}
}

// TestDatagramShorterThanContentLengthIsNoMessage: RFC 3261 18.3.
func TestDatagramShorterThanContentLengthIsNoMessage(t *testing.T) {
	h, got := collect()
	e := listen(t, newLayer(t, Options{}), h)
	c := sink(t)
	raw := strings.Replace(string(register("z9hG4bKshort", "SIP/2.0/UDP 127.0.0.1;rport").Bytes()), "Content-Length: 0", "Content-Length: 10", 1) + "abc"
	c.WriteToUDPAddrPort([]byte(raw), e.Addr())
	if in := next(t, got); in.Parsed != nil || !strings.Contains(in.Msg.Note, "18.3") {
		t.Errorf("expected no message and a note citing 18.3, got %q", in.Msg.Note)
	}
	long := strings.Replace(string(register("z9hG4bKlong", "SIP/2.0/UDP 127.0.0.1;rport").Bytes()), "Content-Length: 0", "Content-Length: 2", 1) + "abcdef"
	c.WriteToUDPAddrPort([]byte(long), e.Addr())
	if in := next(t, got); in.Parsed == nil || string(in.Parsed.Body) != "ab" || string(in.Msg.Raw) != long {
		t.Errorf("bytes beyond Content-Length are dropped from the body, kept in the record: %+v", in.Msg.Note)
	}
}

// TestCloseEndsEveryGoroutine: readers, acceptors, connection readers and
// pending transactions all end on Close.
func TestCloseEndsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	l := New(Options{})
	h, got := collect()
	a, err := l.Listen(context.Background(), loopback4, h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Listen(context.Background(), loopback4, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pending []*ClientTx
	for i, tp := range []string{TCP, UDP, TCP} {
		tx, err := b.Request(context.Background(), Dest{Transport: tp, Addr: a.Addr()}, register("z9hG4bKclose"+string(rune('a'+i)), "SIP/2.0/"+tp+" 127.0.0.1:"+itoaPort(b)), nil)
		if err != nil {
			t.Fatal(err)
		}
		next(t, got)
		pending = append(pending, tx)
	}
	c, err := net.Dial("tcp", a.Addr().String()) // an idle inbound connection
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.Close()
	for _, tx := range pending {
		if _, err := tx.Wait(); !errors.Is(err, ErrClosed) {
			t.Errorf("pending transaction: expected ErrClosed, got %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if _, err := l.Listen(context.Background(), loopback4, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
}

// TestReachRefusesADestination: the caller's address policy is asked
// before anything is written.
func TestReachRefusesADestination(t *testing.T) {
	tr := trace.New()
	e := listen(t, newLayer(t, Options{Trace: tr, Reach: func(a netip.AddrPort) error {
		return errors.New("refused " + a.String())
	}}), nil)
	_, err := e.Send(context.Background(), Dest{Addr: netip.MustParseAddrPort("127.0.0.1:9")}, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "refused 127.0.0.1:9") || len(tr.Messages()) != 0 {
		t.Errorf("expected a refusal and nothing recorded, got %v and %d messages", err, len(tr.Messages()))
	}
}

// TestStalledTCPMessageIsRecordedAndClosed: a peer that sends half a
// message and stops is cut off after HeaderTimeout; what it sent is
// recorded, with a note.
func TestStalledTCPMessageIsRecordedAndClosed(t *testing.T) {
	h, got := collect()
	e := listen(t, newLayer(t, Options{HeaderTimeout: 50 * time.Millisecond}), h)
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/TCP"))
	in := next(t, got)
	if in.Parsed != nil || string(in.Msg.Raw) != "REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/TCP" || !strings.Contains(in.Msg.Note, "nothing more came within 50ms in the header block") {
		t.Errorf("expected the stalled bytes with a note, got %q, %q", in.Msg.Raw, in.Msg.Note)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("expected the connection closed")
	}
}

// TestIdleTCPConnectionIsClosed: IdleTimeout closes a connection that
// carries nothing.
func TestIdleTCPConnectionIsClosed(t *testing.T) {
	e := listen(t, newLayer(t, Options{IdleTimeout: 50 * time.Millisecond}), nil)
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("expected the idle connection closed by the endpoint, got %v", err)
	}
}

// countingStack is a Stack that hands out the kernel's sockets and counts.
type countingStack struct {
	packets, listens, dials atomic.Int32
}

func (s *countingStack) ListenPacket(ctx context.Context, a netip.AddrPort) (net.PacketConn, error) {
	s.packets.Add(1)
	return Kernel.ListenPacket(ctx, a)
}

func (s *countingStack) Listen(ctx context.Context, a netip.AddrPort) (net.Listener, error) {
	s.listens.Add(1)
	return Kernel.Listen(ctx, a)
}

func (s *countingStack) Dial(ctx context.Context, l, r netip.AddrPort) (net.Conn, error) {
	s.dials.Add(1)
	return Kernel.Dial(ctx, l, r)
}

// TestEndpointUsesItsStack: an endpoint takes every socket from the Stack
// it was created on (the protected ports of a UE will be on another stack
// than its unprotected port, in the same Layer).
func TestEndpointUsesItsStack(t *testing.T) {
	h, got := collect()
	peer := listen(t, newLayer(t, Options{}), h)
	var st countingStack
	l := newLayer(t, Options{})
	plain := listen(t, l, nil)
	prot, err := l.ListenOn(context.Background(), &st, loopback4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prot.Send(context.Background(), Dest{Transport: TCP, Addr: peer.Addr()}, register("z9hG4bKstack", "SIP/2.0/TCP 127.0.0.1:"+itoaPort(prot)).Bytes()); err != nil {
		t.Fatal(err)
	}
	next(t, got)
	if _, err := plain.Send(context.Background(), Dest{Transport: TCP, Addr: peer.Addr()}, register("z9hG4bKkern", "SIP/2.0/TCP 127.0.0.1:"+itoaPort(plain)).Bytes()); err != nil {
		t.Fatal(err)
	}
	next(t, got)
	if st.packets.Load() != 1 || st.listens.Load() != 1 || st.dials.Load() != 1 {
		t.Errorf("stack calls: %d ListenPacket, %d Listen, %d Dial; want 1 each (the kernel endpoint's none)", st.packets.Load(), st.listens.Load(), st.dials.Load())
	}
}

// TestSameRequestOnTwoConnectionsIsAnsweredOnEach: the key of a server
// transaction holds the source, so that a peer reusing a branch on another
// connection is answered there, not on the first connection.
func TestSameRequestOnTwoConnectionsIsAnsweredOnEach(t *testing.T) {
	var calls atomic.Int32
	e := listen(t, newLayer(t, Options{}), func(in *Incoming) {
		calls.Add(1)
		in.Tx.Respond(sipmsg.NewResponse(in.Parsed, 200, "OK", "x").Bytes())
	})
	raw := register("z9hG4bKsame", "SIP/2.0/TCP 127.0.0.1:5060").Bytes()
	for i := range 2 {
		c, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(raw)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 4096)); err != nil {
			t.Fatalf("connection %d: expected an answer, got %v", i, err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("handler called %d times, want 2", calls.Load())
	}
}

// Many exchanges that open the first TCP connection from one endpoint to
// one peer at the same moment (UEs sharing ports, a hop's first requests)
// all get through, from the endpoint's own port, over one connection: the
// kernel would refuse every dial of the four-tuple but one.
func TestConcurrentFirstDialsToOnePeer(t *testing.T) {
	const n = 64
	h, got := collect()
	peer := listen(t, newLayer(t, Options{}), h)
	e := listen(t, newLayer(t, Options{}), nil)
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			<-start
			raw := register("z9hG4bKdial"+strings.Repeat("x", i), "SIP/2.0/TCP "+e.Addr().String()).Bytes()
			_, err := e.Send(context.Background(), Dest{Transport: TCP, Addr: peer.Addr()}, raw)
			errs <- err
		}()
	}
	close(start)
	sent := 0
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("send: %v", err)
		} else {
			sent++
		}
	}
	src := map[netip.AddrPort]bool{}
	for range sent {
		src[next(t, got).Msg.Src] = true
	}
	if len(src) != 1 || !src[e.Addr()] {
		t.Errorf("the requests came from %v; want all from the endpoint's port %s, over one connection", src, e.Addr())
	}
}
