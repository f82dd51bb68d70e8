// Package sipstack binds the sockets of the harness's SIP roles (UE
// emulator, mock VCC Application, reference core): loopback only, UDP or TCP,
// port 0 for an ephemeral port.
//
// The roles own their sockets and write and read raw bytes; they do not use
// sipgo's transport and transaction layers, for three reasons found while
// building them: a conformance record must hold the bytes exactly as sent
// (sipgo re-serialises a message), deviations must send bytes sipgo would not
// build (a dropped Via, a malformed datagram), and sipgo's server transaction
// answers a UDP request at the source IP and the top Via's port unless rport
// is present, which misroutes the 200 OK of step 13 (the a322 REGISTER's top
// Via names the I-CSCF, with no port). github.com/emiago/sipgo's parser is
// still what decides whether a datagram "parses as SIP" (harness/ue/sipwire,
// harness/refcore).
package sipstack

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Network normalises a transport name: "udp" or "tcp" (case-insensitive).
func Network(transport string) (string, error) {
	switch strings.ToLower(transport) {
	case "udp", "":
		return "udp", nil
	case "tcp":
		return "tcp", nil
	}
	return "", fmt.Errorf("sipstack: transport: expected \"udp\" or \"tcp\", got %q", transport)
}

// CheckLoopback returns an error unless hostport ("host:port", host an IP
// literal, IPv6 in brackets) names a loopback address.
func CheckLoopback(hostport string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sipstack: bind address: expected host:port with an IP literal, got %q: %v", hostport, err)
	}
	if !ap.Addr().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("sipstack: bind address: expected a loopback address (127.0.0.0/8 or ::1), got %s", ap.Addr())
	}
	return ap, nil
}

// Listener is a bound socket: a *net.UDPConn for "udp" or a *net.TCPListener
// for "tcp".
type Listener struct {
	Network string
	Addr    netip.AddrPort // the address actually bound (port 0 resolved)
	Packet  net.PacketConn // set for udp
	Stream  net.Listener   // set for tcp
}

// Close closes the socket.
func (l *Listener) Close() error {
	if l.Packet != nil {
		return l.Packet.Close()
	}
	if l.Stream != nil {
		return l.Stream.Close()
	}
	return nil
}

// Listen binds hostport (loopback only; port 0 = ephemeral) for transport.
func Listen(transport, hostport string) (*Listener, error) {
	network, err := Network(transport)
	if err != nil {
		return nil, err
	}
	ap, err := CheckLoopback(hostport)
	if err != nil {
		return nil, err
	}
	l := &Listener{Network: network}
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("sipstack: listen udp %s: %w", ap, err)
		}
		l.Packet = c
		l.Addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
	default:
		c, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("sipstack: listen tcp %s: %w", ap, err)
		}
		l.Stream = c
		l.Addr = c.Addr().(*net.TCPAddr).AddrPort()
	}
	l.Addr = netip.AddrPortFrom(l.Addr.Addr().Unmap(), l.Addr.Port())
	return l, nil
}
