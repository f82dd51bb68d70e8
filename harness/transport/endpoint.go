package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"imsconform/harness/trace"
)

// Endpoint is one address and port on which a Layer listens on UDP and TCP
// at once, sends from, and connects from.
type Endpoint struct {
	l       *Layer
	stack   Stack
	addr    netip.AddrPort
	udp     net.PacketConn
	tcp     net.Listener
	handler Handler

	mu      sync.Mutex
	conns   map[netip.AddrPort]*conn         // live TCP connections by remote address (the pool)
	dialing map[netip.AddrPort]chan struct{} // dials under way, closed when each ends (connTo)
	all     map[*conn]bool
	inbound int // how many of them were accepted
	done    bool
}

// bindAttempts bounds the tries to find a port free for both UDP and TCP
// when port 0 is asked for.
const bindAttempts = 16

// Listen binds laddr on UDP and TCP (port 0: one ephemeral port free for
// both) on the Layer's Stack and starts receiving; h gets what no
// transaction absorbs (nil drops it).
func (l *Layer) Listen(ctx context.Context, laddr netip.AddrPort, h Handler) (*Endpoint, error) {
	return l.ListenOn(ctx, l.stack, laddr, h)
}

// ListenOn is Listen on another Stack than the Layer's: e.g. the UE's
// protected ports on a user-space stack under ESP, its unprotected port on
// the kernel's, all in one Layer so that transactions match across them.
func (l *Layer) ListenOn(ctx context.Context, stack Stack, laddr netip.AddrPort, h Handler) (*Endpoint, error) {
	laddr = unmap(laddr)
	if stack == nil {
		stack = l.stack
	}
	if !laddr.Addr().IsValid() {
		return nil, fmt.Errorf("transport: listen: expected an IP address and port, got %v", laddr)
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	var lastErr error
	for range bindAttempts {
		pc, err := stack.ListenPacket(ctx, laddr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen udp %s: %w", laddr, err)
		}
		port := addrPort(pc.LocalAddr()).Port()
		ln, err := stack.Listen(ctx, netip.AddrPortFrom(laddr.Addr(), port))
		if err != nil {
			pc.Close()
			lastErr = fmt.Errorf("transport: listen tcp %s: %w", netip.AddrPortFrom(laddr.Addr(), port), err)
			if laddr.Port() != 0 {
				return nil, lastErr
			}
			continue
		}
		e := &Endpoint{l: l, stack: stack, addr: netip.AddrPortFrom(laddr.Addr(), port), udp: pc, tcp: ln, handler: h,
			conns: map[netip.AddrPort]*conn{}, all: map[*conn]bool{}}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			pc.Close()
			ln.Close()
			return nil, ErrClosed
		}
		l.endpoints = append(l.endpoints, e)
		l.wg.Add(2)
		l.mu.Unlock()
		watchErrors(pc)
		go e.readUDP()
		go e.accept()
		return e, nil
	}
	return nil, lastErr
}

// Addr is the address and port the endpoint is bound to (both transports).
func (e *Endpoint) Addr() netip.AddrPort { return e.addr }

// Layer is the layer the endpoint belongs to.
func (e *Endpoint) Layer() *Layer { return e.l }

func (e *Endpoint) handle(in *Incoming) {
	if e.handler == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.l.log.Error("transport: handler failed; message dropped", "from", in.Msg.Src, "error", r)
		}
	}()
	e.handler(in)
}

// Close closes the endpoint alone: its sockets and connections, its place
// in the Layer (the Layer's other endpoints and its transactions go on).
// It is idempotent; Layer.Close closes every endpoint.
func (e *Endpoint) Close() error {
	e.l.mu.Lock()
	for i, x := range e.l.endpoints {
		if x == e {
			e.l.endpoints = append(e.l.endpoints[:i:i], e.l.endpoints[i+1:]...)
			break
		}
	}
	e.l.mu.Unlock()
	e.close()
	return nil
}

// close closes the sockets and every connection.
func (e *Endpoint) close() {
	e.mu.Lock()
	e.done = true
	var cs []*conn
	for c := range e.all {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	e.udp.Close()
	e.tcp.Close()
	for _, c := range cs {
		c.c.Close()
	}
}

// Dest is where a message goes: a transport and an address.
type Dest struct {
	Transport string // UDP or TCP; "" is UDP
	Addr      netip.AddrPort
}

func (d Dest) String() string { return d.Addr.String() + "/" + d.Transport }

func (d Dest) norm() (Dest, error) {
	tp, err := Network(d.Transport)
	if err != nil {
		return d, err
	}
	if !d.Addr.IsValid() {
		return d, fmt.Errorf("transport: expected a destination address and port, got %v", d.Addr)
	}
	return Dest{Transport: tp, Addr: unmap(d.Addr)}, nil
}

// Send writes raw to dst outside any transaction (an ACK, a stray answer, a
// deviation's bytes): recorded first, then written. Over TCP it uses the
// pooled connection to dst, or opens one from the endpoint's port.
func (e *Endpoint) Send(ctx context.Context, dst Dest, raw []byte) (trace.Message, error) {
	d, err := dst.norm()
	if err != nil {
		return trace.Message{}, err
	}
	return e.send(ctx, d, nil, raw, false)
}

// send records and writes raw (as unrelated traffic when it answers a
// request the role does not take). Over TCP, on c when it is given and
// open, else on the pooled connection to dst.Addr, else on a new one.
func (e *Endpoint) send(ctx context.Context, dst Dest, c *conn, raw []byte, unrelated bool) (trace.Message, error) {
	if e.l.o.Reach != nil {
		if err := e.l.o.Reach(dst.Addr); err != nil {
			return trace.Message{}, err
		}
	}
	if dst.Transport == UDP {
		m := e.l.record(trace.Message{Transport: UDP, Dir: trace.Sent, Src: e.addr, Dst: dst.Addr, Raw: raw}, unrelated)
		var err error
		if u, ok := e.udp.(*net.UDPConn); ok {
			_, err = u.WriteToUDPAddrPort(raw, dst.Addr)
		} else {
			_, err = e.udp.WriteTo(raw, net.UDPAddrFromAddrPort(dst.Addr))
		}
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return m, &UnreachableError{Transport: UDP, Addr: dst.Addr, Err: err}
			}
			return m, fmt.Errorf("transport: send to %s: %w", dst, err)
		}
		e.debugSent(dst, raw)
		return m, nil
	}
	if c == nil || c.isClosed() {
		var err error
		if c, err = e.connTo(ctx, dst.Addr); err != nil {
			return trace.Message{}, err
		}
	}
	m := e.l.record(trace.Message{Transport: TCP, Dir: trace.Sent, Src: c.local, Dst: c.remote, Raw: raw}, unrelated)
	if err := c.write(raw); err != nil {
		return m, fmt.Errorf("transport: send to %s: %w", dst, err)
	}
	e.debugSent(dst, raw)
	return m, nil
}

func (e *Endpoint) debugSent(dst Dest, raw []byte) {
	if !e.l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	e.l.log.Debug("transport: sent", "role", e.l.o.Role, "to", dst, "from", e.addr, "line", firstLine(raw))
}
