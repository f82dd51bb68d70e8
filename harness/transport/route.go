package transport

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"imsconform/harness/sipmsg"
)

// DefaultPort is the SIP port over UDP and TCP (RFC 3261 19.1.2).
const DefaultPort = 5060

// Route is where a response goes, as ResponseRoute decides it.
type Route struct {
	Transport string // UDP or TCP: the request's
	// SameConn: over a reliable transport, on the connection the request
	// came on while it is open; Addr is where to connect when it is not.
	SameConn bool
	// Addr is where to send (UDP) or connect (TCP). It is the zero value
	// when Host names a host to resolve first (a maddr with a name).
	Addr netip.AddrPort
	Host string
	Port uint16
	// Rule says which clause decided, e.g. "RFC 3581 4: rport, to the source".
	Rule string
}

// ResponseRoute decides where the response to a request goes (RFC 3261
// 18.2.2, RFC 3581 4), from the request's top Via, the transport it came on
// and its source address:
//
//   - reliable (TCP): on the connection the request came on; when it is
//     closed, to the received address (the source, when sent-by is a name
//     or another IP) and the sent-by port, default 5060;
//   - unreliable (UDP): to maddr with the sent-by port (default 5060) when
//     there is a maddr; else, with rport, to the source address and port;
//     else to the received address with the sent-by port; else to the
//     sent-by address and port.
//
// The server transport adds received when the sent-by host is a name or an
// IP other than the source (18.2.1); the route takes it so without the
// parameter being written into the Via, so that a response echoes the Vias
// byte for byte as they came.
func ResponseRoute(via *sipmsg.Via, transport string, src netip.AddrPort) (Route, error) {
	tp, err := Network(transport)
	if err != nil {
		return Route{}, err
	}
	if via == nil {
		return Route{}, fmt.Errorf("transport: expected the request's top Via to route its response, got none")
	}
	src = unmap(src)
	port := uint16(DefaultPort)
	if via.Port != "" {
		n, err := strconv.ParseUint(via.Port, 10, 16)
		if err != nil || n == 0 {
			return Route{}, fmt.Errorf("transport: expected a Via sent-by port 1-65535, got %q", via.Port)
		}
		port = uint16(n)
	}
	received := src.Addr()
	if r, ok := via.Params.Get("received"); ok {
		a, err := netip.ParseAddr(strings.Trim(r, "[]"))
		if err != nil {
			return Route{}, fmt.Errorf("transport: expected an IP address in the Via received parameter, got %q", r)
		}
		received = a.Unmap()
	} else if a, err := netip.ParseAddr(strings.Trim(via.Host, "[]")); err == nil && a.Unmap() == src.Addr() {
		received = a.Unmap()
	}
	if tp == TCP {
		return Route{Transport: tp, SameConn: true, Addr: netip.AddrPortFrom(received, port), Port: port,
			Rule: "RFC 3261 18.2.2: reliable, on the request's connection (else the received address and sent-by port)"}, nil
	}
	if m, ok := via.Params.Get("maddr"); ok && m != "" {
		r := Route{Transport: tp, Port: port, Rule: "RFC 3261 18.2.2: maddr, with the sent-by port"}
		if a, err := netip.ParseAddr(strings.Trim(m, "[]")); err == nil {
			r.Addr = netip.AddrPortFrom(a.Unmap(), port)
		} else {
			r.Host = m
		}
		return r, nil
	}
	if _, ok := via.Params.Get("rport"); ok {
		return Route{Transport: tp, Addr: src, Port: src.Port(), Rule: "RFC 3581 4: rport, to the source address and port"}, nil
	}
	return Route{Transport: tp, Addr: netip.AddrPortFrom(received, port), Port: port,
		Rule: "RFC 3261 18.2.2: the received address (or sent-by) and the sent-by port"}, nil
}
