package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// PacketReader is a UDP socket that reads one datagram at a time without
// holding a buffer while it waits (the user-space ESP stack's protected
// ports): ReadPacket returns a copy of the datagram and its source. An
// endpoint's receiver reads such a socket, or a kernel socket, through a
// buffer it takes from a pool only once a datagram is there, so that
// thousands of idle sockets (a population's protected ports) cost no
// 64 KiB buffer each.
type PacketReader interface {
	ReadPacket() ([]byte, netip.AddrPort, error)
}

// udpBufs are the receivers' read buffers, taken while one datagram is read.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

// packetReader is how the endpoint's receiver reads a datagram: by
// PacketReader, by readiness on a kernel socket (readPooled), or, for any
// other socket, into a buffer of its own.
func (e *Endpoint) packetReader() func() ([]byte, netip.AddrPort, error) {
	if pr, ok := e.udp.(PacketReader); ok {
		return pr.ReadPacket
	}
	if rc, ok := rawConn(e.udp); ok && pooledReads {
		return func() ([]byte, netip.AddrPort, error) { return readPooled(rc) }
	}
	buf := make([]byte, 65536)
	return func() ([]byte, netip.AddrPort, error) {
		n, from, err := e.udp.ReadFrom(buf)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		return append([]byte(nil), buf[:n]...), addrPort(from), nil
	}
}

// readUDP receives datagrams until the socket closes. An ICMP error queued
// on the socket ends the transactions sent to the address it names.
func (e *Endpoint) readUDP() {
	defer e.l.wg.Done()
	read := e.packetReader()
	for {
		raw, src, err := read()
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
		if n := len(raw); n > e.l.o.MaxMessage {
			e.l.received(e, UDP, src, nil, raw, fmt.Sprintf("does not parse as SIP: a datagram of %d bytes, above the limit of %d", n, e.l.o.MaxMessage))
			continue
		}
		e.l.received(e, UDP, src, nil, raw, "")
	}
}
