// Package sipcapture records what a sipgo transport reads into a trace
// (harness/trace), through sipgo's transport read filter, including the
// datagrams sipgo cannot parse and drops.
package sipcapture

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"imsconform/harness/trace"
)

// ReadFilter returns a sipgo transport read filter
// (sip.WithTransportLayerReadFilter) that records every read of the transport
// into t before sipgo parses it: Dir Received, Proto SIP, the given role,
// Src the remote address, Dst the local one, Transport as sipgo names it
// ("UDP", "TCP", "TLS", "WS", "WSS"). sipgo logs and drops what it cannot
// parse; this keeps it, so the checks can judge it.
//
// The filter passes the bytes on unchanged and never returns an error (an
// error would make sipgo stop reading the connection).
//
// Notes on the recorded message:
//   - a UDP datagram that does not parse as SIP gets "does not parse as SIP: …";
//   - on a stream transport one read is whatever the socket delivered: part
//     of a message, one, or several; the note says so (sipgo frames the
//     stream after the filter), and a read of CRLFs only is noted as an
//     RFC 5626 keep-alive;
//   - a UDP socket bound to a wildcard address reports that address as the
//     local one, so Dst is then the wildcard and the note says so.
func ReadFilter(t *trace.Trace, role string) sip.TransportReadFilter {
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		m := trace.Message{
			Proto:     trace.SIP,
			Transport: strings.ToUpper(info.Transport),
			Dir:       trace.Received,
			Role:      role,
			Src:       addrPort(info.RemoteAddr),
			Dst:       addrPort(info.LocalAddr),
			Raw:       data,
		}
		var notes []string
		if m.Transport == "UDP" {
			if err := parseSIP(data); err != nil {
				notes = append(notes, "does not parse as SIP: "+err.Error())
			}
		} else if len(bytes.Trim(data, "\r\n")) == 0 {
			notes = append(notes, "CRLF keep-alive (RFC 5626 3.5.1)")
		} else {
			notes = append(notes, fmt.Sprintf("one %s read of %d bytes: may hold part of a SIP message or several", m.Transport, len(data)))
		}
		if m.Dst.Addr().IsUnspecified() {
			notes = append(notes, "Dst is the wildcard address the socket is bound to; the address the peer sent to is not known")
		}
		m.Note = strings.Join(notes, "; ")
		t.Add(m)
		return data, nil
	}
}

// parseSIP tries sipgo's parser on a datagram; a panic in it is an error.
func parseSIP(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the SIP parser failed on these bytes")
		}
	}()
	_, err = sip.ParseMessage(data)
	return err
}

// addrPort converts a socket address; a missing or unreadable one is the
// zero AddrPort. IPv4-mapped IPv6 addresses become IPv4.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		if a != nil {
			ap = a.AddrPort()
		}
	case *net.TCPAddr:
		if a != nil {
			ap = a.AddrPort()
		}
	case nil:
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
