package esp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"imsconform/internal/tooltest"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// newTestStack starts a stack on addr, or skips the test when this process
// may not open raw sockets (it needs root or CAP_NET_RAW), failing instead
// under IMSCONFORM_REQUIRE_TOOLS=1.
func newTestStack(t testing.TB, addr string, rec *recorder) *Stack {
	t.Helper()
	cfg := Config{Addr: netip.MustParseAddr(addr)}
	if rec != nil {
		cfg.OnPacket = rec.add
	}
	s, err := NewStack(cfg)
	if errors.Is(err, ErrRawSocket) {
		tooltest.Missing(t, err.Error()+": run the tests as root or with CAP_NET_RAW")
	}
	tooltest.ESPAlone(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recorder keeps copies of the packets a stack reports.
type recorder struct {
	mu   sync.Mutex
	pkts []Packet
	seen chan struct{}
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 1)} }

func (r *recorder) add(p Packet) {
	p.ESP = bytes.Clone(p.ESP)
	p.Inner = bytes.Clone(p.Inner)
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

func (r *recorder) packets() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Packet(nil), r.pkts...)
}

// waitFor waits until a reported packet satisfies ok (the timeout is only a
// safety net).
func (r *recorder) waitFor(t *testing.T, what string, ok func(Packet) bool) Packet {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, p := range r.packets() {
			if ok(p) {
				return p
			}
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("no packet reported: %s; reported:\n%s", what, dump(r.packets()))
		}
	}
}

func dump(ps []Packet) string {
	var b bytes.Buffer
	for _, p := range ps {
		fmt.Fprintln(&b, p)
	}
	return b.String()
}

// pair is a UE stack and a P-CSCF stack with the four SAs of one agreement.
type pair struct {
	ue, pcscf         *Stack
	ueRec, pcscfRec   *recorder
	ueSide, pcscfSide Side
	ueB, pcscfB       *Bundle
}

func newPair(t *testing.T, addr string, integ Integrity, enc Encryption) *pair {
	t.Helper()
	p := &pair{ueRec: newRecorder(), pcscfRec: newRecorder()}
	p.ue = newTestStack(t, addr, p.ueRec)
	p.pcscf = newTestStack(t, addr, p.pcscfRec)
	ul, err := p.ue.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	pl, err := p.pcscf.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ul.Release)
	t.Cleanup(pl.Release)
	p.ueSide, p.pcscfSide = ul.Side(), pl.Side()
	var ik, ck [16]byte
	copy(ik[:], "IK of the AKA ru")
	copy(ck[:], "CK of the AKA ru")
	a := Agreement{Local: p.ueSide, Remote: p.pcscfSide, Integrity: integ, Encryption: enc, IK: ik, CK: ck}
	if p.ueB, err = p.ue.Establish(a); err != nil {
		t.Fatal(err)
	}
	a.Local, a.Remote = p.pcscfSide, p.ueSide
	if p.pcscfB, err = p.pcscf.Establish(a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.ueB.Close(); p.pcscfB.Close() })
	return p
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// udpEcho sends msg from the client stack's port to the server stack's port
// and waits for the echo.
func udpEcho(t *testing.T, client, server *Stack, from, to uint16, msg []byte) {
	t.Helper()
	ctx := context.Background()
	srv, err := server.ListenPacket(ctx, ap(server.Addr(), to))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		b := make([]byte, 70000)
		n, a, err := srv.ReadFrom(b)
		if err == nil {
			srv.WriteTo(b[:n], a)
		}
	}()
	cl, err := client.ListenPacket(ctx, ap(client.Addr(), from))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.WriteTo(msg, net.UDPAddrFromAddrPort(ap(server.Addr(), to))); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 70000)
	n, a, err := cl.ReadFrom(b)
	if err != nil {
		t.Fatalf("UDP %d→%d: no echo: %v", from, to, err)
	}
	if !bytes.Equal(b[:n], msg) || a.(*net.UDPAddr).Port != int(to) {
		t.Fatalf("UDP echo from %v: %d bytes, want the %d sent from port %d", a, n, len(msg), to)
	}
}

// tcpEcho connects from the client stack's port to the server stack's port,
// sends msg and reads it back.
func tcpEcho(t *testing.T, client, server *Stack, from, to uint16, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := server.Listen(ctx, ap(server.Addr(), to))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := client.Dial(ctx, ap(client.Addr(), from), ap(server.Addr(), to))
	if err != nil {
		t.Fatalf("TCP %d→%d: %v", from, to, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("TCP %d→%d: echo: %v", from, to, err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("TCP echo differs")
	}
}

// sipMessage is a well-formed REGISTER of at least n bytes (tshark's SIP
// dissector reads it whole, so the ESP trailer and ICV get dissected after it).
func sipMessage(n int) []byte {
	b := []byte("REGISTER sip:ims.example.com SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:1357;branch=z9hG4bK1\r\n" +
		"From: <sip:user@ims.example.com>;tag=1\r\nTo: <sip:user@ims.example.com>\r\nCall-ID: esp-test\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n")
	for len(b) < n-40 {
		b = append(b, "X-Padding: 0123456789abcdef0123456789abcdef\r\n"...)
	}
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

// UDP and TCP, both pairs of SAs, IPv4 and IPv6, every algorithm: two stacks
// on one address of the loopback interface talk over real ESP.
func TestTwoStacksEchoOverESP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		for _, integ := range Integrities {
			for _, enc := range Encryptions {
				t.Run(fmt.Sprintf("%s/%s/%s", addr, integ, enc), func(t *testing.T) {
					p := newPair(t, addr, integ, enc)
					u, c := p.ueSide, p.pcscfSide
					udpEcho(t, p.ue, p.pcscf, u.PortC, c.PortS, sipMessage(900))    // UE port-c → P-CSCF port-s and back
					udpEcho(t, p.pcscf, p.ue, c.PortC, u.PortS, sipMessage(30000))  // P-CSCF port-c → UE port-s and back
					tcpEcho(t, p.ue, p.pcscf, u.PortC, c.PortS, sipMessage(200000)) // many segments
					tcpEcho(t, p.pcscf, p.ue, c.PortC, u.PortS, sipMessage(3000))
					// Every packet either stack reports was accepted or sent,
					// with the agreed algorithms, and each of the four SAs
					// carried packets.
					for _, r := range []*recorder{p.ueRec, p.pcscfRec} {
						for _, pk := range r.packets() {
							if pk.Err != nil {
								t.Errorf("%s", pk)
							}
							if pk.SA.Integrity != integ || pk.SA.Encryption != enc {
								t.Errorf("%s: SA %s", pk, pk.SA)
							}
						}
					}
					checkAllFourSAsUsed(t, p)
				})
			}
		}
	}
}

func checkAllFourSAsUsed(t *testing.T, p *pair) {
	t.Helper()
	used := map[uint32]map[Direction]int{}
	for _, r := range []*recorder{p.ueRec, p.pcscfRec} {
		for _, pk := range r.packets() {
			if used[pk.SPI] == nil {
				used[pk.SPI] = map[Direction]int{}
			}
			used[pk.SPI][pk.Dir]++
		}
	}
	for _, spi := range []uint32{p.ueSide.SPIC, p.ueSide.SPIS, p.pcscfSide.SPIC, p.pcscfSide.SPIS} {
		if used[spi][Sent] == 0 || used[spi][Received] == 0 {
			t.Errorf("SPI 0x%08x: %d packets sent, %d received", spi, used[spi][Sent], used[spi][Received])
		}
	}
}

// The shape the shared SIP transport takes its sockets from: *Stack has it.
var _ interface {
	ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error)
	Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error)
	Dial(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
} = (*Stack)(nil)

func TestNewStackRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Addr: netip.MustParseAddr("0.0.0.0")},
		{Addr: netip.MustParseAddr("fe80::1%lo")},
		{Addr: netip.MustParseAddr("127.0.0.1"), PortMin: 5, PortMax: 5},
		{Addr: netip.MustParseAddr("127.0.0.1"), MTU: 100},
	} {
		if s, err := NewStack(cfg); err == nil {
			s.Close()
			t.Errorf("NewStack(%+v) accepted", cfg)
		}
	}
}

func TestSocketsRefuseForeignAddresses(t *testing.T) {
	s := newTestStack(t, "127.0.0.1", nil)
	ctx := context.Background()
	if _, err := s.ListenPacket(ctx, netip.MustParseAddrPort("127.0.0.2:5060")); err == nil {
		t.Error("ListenPacket on another address accepted")
	}
	if _, err := s.Listen(ctx, netip.MustParseAddrPort("[::1]:5060")); err == nil {
		t.Error("Listen on another family accepted")
	}
	if _, err := s.Dial(ctx, netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("[::1]:5060")); err == nil {
		t.Error("Dial to another family accepted")
	}
	l, err := s.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	d := l.Side()
	if _, err := s.Establish(Agreement{Local: d, Remote: Side{Addr: netip.MustParseAddr("::1"), PortC: 1, PortS: 2, SPIC: 300, SPIS: 301}, Integrity: HMACMD596, Encryption: Null}); err == nil {
		t.Error("an agreement with a remote of another family accepted")
	}
	d2 := d
	d2.Addr = netip.MustParseAddr("127.0.0.2")
	if _, err := s.Establish(Agreement{Local: d2, Remote: d, Integrity: HMACMD596, Encryption: Null}); err == nil {
		t.Error("an agreement whose local address is not the stack's accepted")
	}
}

// An inbound SPI another stack uses is refused, and a failed Establish
// leaves nothing behind.
func TestEstablishRefusesSPIInUse(t *testing.T) {
	p := newPair(t, "127.0.0.1", HMACMD596, Null)
	other := newTestStack(t, "127.0.0.1", nil)
	l, _ := other.Allocate()
	d := l.Side()
	d.SPIC = p.ueSide.SPIC // the UE's inbound SPI
	_, err := other.Establish(Agreement{Local: d, Remote: p.pcscfSide, Integrity: HMACMD596, Encryption: Null})
	if err == nil {
		t.Fatal("an inbound SPI in use accepted")
	}
	if n := len(other.SAs()); n != 0 {
		t.Errorf("a failed Establish left %d SAs", n)
	}
}
