package transport

import (
	"context"
	"net"
	"net/netip"
)

// Stack gives the sockets an Endpoint binds. The kernel's (Kernel) is the
// default; a user-space TCP/IP stack under user-space ESP implements the
// same three calls. Addresses are unmapped IPs; port 0 asks for an ephemeral
// port.
type Stack interface {
	// ListenPacket binds a UDP socket on laddr.
	ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error)
	// Listen binds a TCP listener on laddr. The listener's port must accept
	// a Dial from the same local port (the kernel's uses SO_REUSEPORT).
	Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error)
	// Dial opens a TCP connection to raddr from laddr (a fixed local port,
	// or port 0). A refused connection's error wraps syscall.ECONNREFUSED,
	// a local port in use syscall.EADDRINUSE (errors.Is), as the kernel's
	// do.
	Dial(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error)
}

// Kernel is the operating system's TCP/IP stack.
var Kernel Stack = kernel{}

type kernel struct{}

func (kernel) ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, "udp", laddr.String())
}

func (kernel) Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	return lc.Listen(ctx, "tcp", laddr.String())
}

func (kernel) Dial(ctx context.Context, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Control: reusePort}
	if laddr.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	return d.DialContext(ctx, "tcp", raddr.String())
}

// addrPort returns the address of a net.Addr with an unmapped IP (the zero
// value when it has none).
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case *net.UDPAddr:
		ap = v.AddrPort()
	case *net.TCPAddr:
		ap = v.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return unmap(ap)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
