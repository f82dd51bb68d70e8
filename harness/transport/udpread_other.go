//go:build !linux

package transport

import (
	"net"
	"net/netip"
	"syscall"
)

// pooledReads: elsewhere a kernel UDP socket is read into a buffer of its
// own.
const pooledReads = false

func rawConn(pc net.PacketConn) (syscall.RawConn, bool) { return nil, false }

func readPooled(rc syscall.RawConn) ([]byte, netip.AddrPort, error) {
	return nil, netip.AddrPort{}, syscall.EINVAL
}
