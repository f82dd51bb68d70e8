package esp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Config configures a Stack.
type Config struct {
	// Addr is the stack's one local address, IPv4 or IPv6 (e.g. 127.0.0.1 or
	// ::1). Its protected ports and its ESP packets use it.
	Addr netip.Addr
	// OnPacket, when set, is called for every ESP packet the stack sends or
	// receives, accepted or refused (see Packet). It is called on the
	// datapath: it must be quick and must not block.
	OnPacket func(Packet)
	// PortMin and PortMax bound the protected ports Allocate leases; the
	// default is 10000–32767, below the kernel's ephemeral range.
	PortMin, PortMax uint16
	// MTU is the largest inner IP packet the user-space stack sends; the
	// kernel fragments the ESP packet where the path needs it. The default,
	// 65407, lets every UDP datagram through unfragmented and leaves room
	// for ESP under the 65535 bytes of an IP packet.
	MTU uint32
}

const (
	nicID       = 1
	defaultMTU  = 65535 - 128
	listenQueue = 1024
)

// Stack is a user-space IP stack whose packets travel as ESP in transport
// mode: gVisor's TCP/IP runs the protected ports, every packet it sends is
// sealed with the outbound SA its addresses and ports select and goes out on
// a raw ESP socket, and every ESP packet the raw socket receives is opened
// with the inbound SA of its SPI and destination and handed to gVisor. A
// packet that no SA covers never leaves in clear, and one that no SA
// accepts never arrives. See the package documentation.
type Stack struct {
	cfg   Config
	addr  netip.Addr
	gv    *stack.Stack
	link  *link
	wire  *wire
	proto tcpip.NetworkProtocolNumber

	mu       sync.Mutex
	closed   bool
	sas      map[*SA]bool
	outbound map[selector]*SA
	sentSPIs map[uint32]int // SPIs of outbound SAs and of faults: our own packets, seen again on loopback
	leases   map[*Lease]bool
	ports    map[uint16]int // protected ports opened (UDP or TCP)

	done chan struct{}
}

// NewStack opens the raw ESP socket on cfg.Addr and starts the user-space
// stack. It needs root or CAP_NET_RAW (the error then wraps ErrRawSocket);
// it changes nothing in the kernel's routing, addresses or XFRM state.
func NewStack(cfg Config) (*Stack, error) {
	addr := cfg.Addr.Unmap()
	if !addr.IsValid() || addr.IsUnspecified() || addr.Zone() != "" {
		return nil, fmt.Errorf("esp: NewStack: expected a local IPv4 or IPv6 address without zone, got %q", cfg.Addr)
	}
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = 10000, 32767
	}
	if cfg.PortMin == 0 || cfg.PortMax < cfg.PortMin+1 {
		return nil, fmt.Errorf("esp: NewStack: expected a port range of at least two non-zero ports, got %d–%d", cfg.PortMin, cfg.PortMax)
	}
	if cfg.MTU == 0 {
		cfg.MTU = defaultMTU
	}
	if cfg.MTU < 1280 || cfg.MTU > defaultMTU {
		return nil, fmt.Errorf("esp: NewStack: expected an MTU from 1280 to %d, got %d", defaultMTU, cfg.MTU)
	}
	w, err := openWire(addr)
	if err != nil {
		return nil, err
	}
	s := &Stack{
		cfg: cfg, addr: addr, wire: w,
		sas: map[*SA]bool{}, outbound: map[selector]*SA{}, sentSPIs: map[uint32]int{},
		leases: map[*Lease]bool{}, ports: map[uint16]int{},
		done: make(chan struct{}),
	}
	s.gv = stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{
			// The addresses are the host's own, loopback ones included: the
			// packets come from the raw socket, not from a wire where a
			// loopback address would be a martian.
			ipv4.NewProtocolWithOptions(ipv4.Options{AllowExternalLoopbackTraffic: true}),
			ipv6.NewProtocolWithOptions(ipv6.Options{AllowExternalLoopbackTraffic: true}),
		},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.gv.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	s.link = &link{Endpoint: channel.New(0, cfg.MTU, ""), s: s}
	if e := s.gv.CreateNIC(nicID, s.link); e != nil {
		s.gv.Close()
		w.close()
		return nil, fmt.Errorf("esp: NewStack: creating the NIC: %s", e)
	}
	pa := tcpip.ProtocolAddress{AddressWithPrefix: tcpip.AddrFromSlice(addr.AsSlice()).WithPrefix()}
	route := tcpip.Route{NIC: nicID}
	if addr.Is4() {
		s.proto, pa.Protocol, route.Destination = ipv4.ProtocolNumber, ipv4.ProtocolNumber, header.IPv4EmptySubnet
	} else {
		s.proto, pa.Protocol, route.Destination = ipv6.ProtocolNumber, ipv6.ProtocolNumber, header.IPv6EmptySubnet
	}
	if e := s.gv.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); e != nil {
		s.gv.Close()
		w.close()
		return nil, fmt.Errorf("esp: NewStack: adding %s: %s", addr, e)
	}
	s.gv.SetRouteTable([]tcpip.Route{route})
	go s.receive()
	return s, nil
}

// Addr is the stack's local address.
func (s *Stack) Addr() netip.Addr { return s.addr }

func (s *Stack) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close removes every SA the stack made, releases its leases, closes every
// protected port and the raw socket, and stops the user-space stack. It is
// idempotent.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sas := make([]*SA, 0, len(s.sas))
	for sa := range s.sas {
		sas = append(sas, sa)
	}
	leases := make([]*Lease, 0, len(s.leases))
	for l := range s.leases {
		leases = append(leases, l)
	}
	s.mu.Unlock()
	s.removeSAs(sas)
	for _, l := range leases {
		l.Release()
	}
	s.wire.close()
	<-s.done
	s.gv.Close()
	s.gv.Wait()
	return nil
}

// SAs describes the stack's SAs.
func (s *Stack) SAs() []SAInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SAInfo, 0, len(s.sas))
	for sa := range s.sas {
		out = append(out, sa.info)
	}
	return out
}

// Leases counts the stack's leases not released yet: a caller that gives
// each UE's back when it is done finds none left at its end.
func (s *Stack) Leases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

func (s *Stack) forgetLease(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leases, l)
}

func (s *Stack) portInUse(p uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[p] > 0
}

func (s *Stack) usePort(p uint16, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ports[p] += delta; s.ports[p] <= 0 {
		delete(s.ports, p)
	}
}

// full turns a local address into gVisor's, checking it is the stack's.
func (s *Stack) full(what string, ap netip.AddrPort) (tcpip.FullAddress, error) {
	a := ap.Addr().Unmap()
	if a != s.addr {
		return tcpip.FullAddress{}, fmt.Errorf("esp: %s: expected the stack's address %s, got %s", what, s.addr, ap)
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: ap.Port()}, nil
}

func (s *Stack) remote(what string, ap netip.AddrPort) (tcpip.FullAddress, error) {
	a := ap.Addr().Unmap()
	if !a.IsValid() || a.Is4() != s.addr.Is4() || ap.Port() == 0 {
		return tcpip.FullAddress{}, fmt.Errorf("esp: %s: expected a remote address and port of the stack's family (%s), got %s", what, s.addr, ap)
	}
	return tcpip.FullAddress{Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: ap.Port()}, nil
}

// ListenPacket opens a protected UDP port on the stack's address (port 0:
// one the user-space stack picks). Its datagrams travel only over the SAs
// whose selectors cover them. WriteTo takes a *net.UDPAddr.
func (s *Stack) ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, errClosed
	}
	fa, err := s.full("ListenPacket", laddr)
	if err != nil {
		return nil, err
	}
	wq := new(waiter.Queue)
	ep, e := s.gv.NewEndpoint(udp.ProtocolNumber, s.proto, wq)
	if e != nil {
		return nil, fmt.Errorf("esp: ListenPacket %s: %s", laddr, e)
	}
	if e := ep.Bind(fa); e != nil {
		ep.Close()
		return nil, fmt.Errorf("esp: ListenPacket %s: %w", laddr, errnoOf(e))
	}
	c := gonet.NewUDPConn(wq, ep)
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	s.usePort(port, 1)
	return &udpConn{UDPConn: c, wq: wq, ep: ep, gone: make(chan struct{}), releaser: releaser{release: func() { s.usePort(port, -1) }}}, nil
}

// Listen opens a protected TCP port on the stack's address.
func (s *Stack) Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, errClosed
	}
	fa, err := s.full("Listen", laddr)
	if err != nil {
		return nil, err
	}
	var wq waiter.Queue
	ep, e := s.gv.NewEndpoint(tcp.ProtocolNumber, s.proto, &wq)
	if e != nil {
		return nil, fmt.Errorf("esp: Listen %s: %s", laddr, e)
	}
	ep.SocketOptions().SetReuseAddress(true)
	ep.SocketOptions().SetReusePort(true)
	if e := ep.Bind(fa); e != nil {
		ep.Close()
		return nil, fmt.Errorf("esp: Listen %s: %s", laddr, e)
	}
	if e := ep.Listen(listenQueue); e != nil {
		ep.Close()
		return nil, fmt.Errorf("esp: Listen %s: %s", laddr, e)
	}
	l := gonet.NewTCPListener(s.gv, &wq, ep)
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	s.usePort(port, 1)
	return &tcpListener{TCPListener: l, releaser: releaser{release: func() { s.usePort(port, -1) }}}, nil
}

// Dial opens a TCP connection from the protected port laddr to raddr. The
// socket is bound with SO_REUSEADDR, as a UE's port-c is: the port can be
// dialled from again while an earlier connection from it lingers in
// TIME_WAIT, to another destination; to the same one only once TIME_WAIT is
// over (the 4-tuple is taken until then, as with the kernel's sockets), so a
// UE keeps its connection to the P-CSCF open rather than reopening it.
func (s *Stack) Dial(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, errClosed
	}
	la, err := s.full("Dial", laddr)
	if err != nil {
		return nil, err
	}
	ra, err := s.remote("Dial", raddr)
	if err != nil {
		return nil, err
	}
	var wq waiter.Queue
	ep, e := s.gv.NewEndpoint(tcp.ProtocolNumber, s.proto, &wq)
	if e != nil {
		return nil, fmt.Errorf("esp: Dial %s→%s: %s", laddr, raddr, e)
	}
	ep.SocketOptions().SetReuseAddress(true)
	ep.SocketOptions().SetReusePort(true)
	entry, ready := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	if e := ep.Bind(la); e != nil {
		ep.Close()
		return nil, fmt.Errorf("esp: Dial %s→%s: binding: %w", laddr, raddr, errnoOf(e))
	}
	e = ep.Connect(ra)
	if _, started := e.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, fmt.Errorf("esp: Dial %s→%s: %w", laddr, raddr, ctx.Err())
		case <-ready:
		}
		e = ep.LastError()
	}
	if e != nil {
		ep.Close()
		return nil, fmt.Errorf("esp: Dial %s→%s: %w", laddr, raddr, errnoOf(e))
	}
	port := laddr.Port()
	if port == 0 {
		if a, e := ep.GetLocalAddress(); e == nil {
			port = a.Port
		}
	}
	s.usePort(port, 1)
	return &tcpConn{TCPConn: gonet.NewTCPConn(&wq, ep), releaser: releaser{release: func() { s.usePort(port, -1) }}}, nil
}

// releaser gives a protected port back to the stack's count once.
type releaser struct {
	once    sync.Once
	release func()
}

func (r *releaser) done() { r.once.Do(r.release) }

// closed marks a socket closed, so that what its blocked calls return then
// wraps net.ErrClosed, as the kernel's sockets' errors do (gVisor's adapters
// return errors of their own, which a reader loop cannot tell from a
// passing failure).
type closed struct{ flag atomic.Bool }

func (c *closed) close() { c.flag.Store(true) }

func (c *closed) wrap(op, network string, err error) error {
	if err != nil && c.flag.Load() && !errors.Is(err, net.ErrClosed) {
		return &net.OpError{Op: op, Net: network, Err: fmt.Errorf("%w (%v)", net.ErrClosed, err)}
	}
	return err
}

type udpConn struct {
	*gonet.UDPConn
	wq   *waiter.Queue
	ep   tcpip.Endpoint
	gone chan struct{} // closed by Close
	once sync.Once
	releaser
	closed
}

func (c *udpConn) Close() error {
	c.done()
	c.close()
	c.once.Do(func() { close(c.gone) })
	return c.UDPConn.Close()
}

// ReadPacket waits for a datagram and returns a copy of it and its source
// (transport.PacketReader): it holds no buffer while it waits, so that
// thousands of idle protected ports cost no read buffer each.
func (c *udpConn) ReadPacket() ([]byte, netip.AddrPort, error) {
	entry, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	c.wq.EventRegister(&entry)
	defer c.wq.EventUnregister(&entry)
	for c.ep.Readiness(waiter.ReadableEvents) == 0 {
		select {
		case <-ready:
		case <-c.gone:
			return nil, netip.AddrPort{}, c.wrap("read", "udp", net.ErrClosed)
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	n, a, err := c.ReadFrom(*bp)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	var src netip.AddrPort
	if u, ok := a.(*net.UDPAddr); ok {
		src = u.AddrPort()
	}
	return append([]byte(nil), (*bp)[:n]...), src, nil
}

func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.UDPConn.ReadFrom(b)
	return n, a, c.wrap("read", "udp", err)
}

func (c *udpConn) Read(b []byte) (int, error) {
	n, _, err := c.ReadFrom(b)
	return n, err
}

func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.UDPConn.WriteTo(b, addr)
	return n, c.wrap("write", "udp", err)
}

type tcpListener struct {
	*gonet.TCPListener
	releaser
	closed
}

// Close wakes a blocked Accept (gVisor's Shutdown) and closes the endpoint.
func (l *tcpListener) Close() error {
	l.done()
	l.close()
	l.TCPListener.Shutdown()
	return l.TCPListener.Close()
}

func (l *tcpListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err != nil {
		return nil, l.wrap("accept", "tcp", err)
	}
	return c, nil
}

type tcpConn struct {
	*gonet.TCPConn
	releaser
	closed
}

func (c *tcpConn) Close() error { c.done(); c.close(); return c.TCPConn.Close() }

func (c *tcpConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	return n, c.wrap("read", "tcp", err)
}

func (c *tcpConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	return n, c.wrap("write", "tcp", err)
}

// link is the user-space stack's NIC: what gVisor sends goes to outbound,
// what inbound opens is injected.
type link struct {
	*channel.Endpoint
	s *Stack
}

// WritePackets seals and sends each packet; gVisor keeps ownership of them.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		l.s.outboundPacket(pkt)
		n++
	}
	return n, nil
}

func (s *Stack) report(p Packet) {
	if s.cfg.OnPacket != nil {
		s.cfg.OnPacket(p)
	}
}

var errShort = errors.New("shorter than its headers")

// errnoOf is gVisor's error as the kernel's errno where the SIP transport
// tells them apart (a refused connection, a local port in use: the
// transport.Stack contract), else as text.
func errnoOf(e tcpip.Error) error {
	switch e.(type) {
	case *tcpip.ErrConnectionRefused:
		return fmt.Errorf("%s: %w", e, syscall.ECONNREFUSED)
	case *tcpip.ErrPortInUse:
		return fmt.Errorf("%s: %w", e, syscall.EADDRINUSE)
	case *tcpip.ErrBadLocalAddress:
		// A 4-tuple still taken (TIME_WAIT, or open): the kernel's connect
		// says EADDRNOTAVAIL.
		return fmt.Errorf("%s: %w", e, syscall.EADDRNOTAVAIL)
	case *tcpip.ErrTimeout:
		return fmt.Errorf("%s: %w", e, syscall.ETIMEDOUT)
	}
	return errors.New(e.String())
}
