package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// readUDP receives datagrams until the socket closes. An ICMP error queued
// on the socket ends the transactions sent to the address it names.
func (e *Endpoint) readUDP() {
	defer e.l.wg.Done()
	buf := make([]byte, 65536)
	u, fast := e.udp.(*net.UDPConn)
	for {
		var n int
		var src netip.AddrPort
		var err error
		if fast {
			n, src, err = u.ReadFromUDPAddrPort(buf)
		} else {
			var from net.Addr
			n, from, err = e.udp.ReadFrom(buf)
			src = addrPort(from)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				for _, dst := range unreachableQueued(e.udp) {
					e.l.unreachable(UDP, unmap(dst), err)
				}
			}
			continue
		}
		src = unmap(src)
		if n > e.l.o.MaxMessage {
			e.l.received(e, UDP, src, nil, append([]byte(nil), buf[:n]...), fmt.Sprintf("does not parse as SIP: a datagram of %d bytes, above the limit of %d", n, e.l.o.MaxMessage))
			continue
		}
		e.l.received(e, UDP, src, nil, append([]byte(nil), buf[:n]...), "")
	}
}
