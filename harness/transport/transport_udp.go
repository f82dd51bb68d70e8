package transport

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// readUDP receives datagrams until the socket closes. An ICMP error queued
// on the socket ends the transactions sent to the address it names.
func (e *Endpoint) readUDP() {
	defer e.l.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := e.udp.ReadFrom(buf)
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
		src := addrPort(from)
		if n > e.l.o.MaxMessage {
			e.l.received(e, UDP, src, nil, append([]byte(nil), buf[:n]...), fmt.Sprintf("does not parse as SIP: a datagram of %d bytes, above the limit of %d", n, e.l.o.MaxMessage))
			continue
		}
		e.l.received(e, UDP, src, nil, append([]byte(nil), buf[:n]...), "")
	}
}
