package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
)

// watchErrors asks the kernel to queue ICMP errors on a UDP socket
// (IP_RECVERR, IPV6_RECVERR): the socket stays unconnected, so that it
// receives from any peer, and each queued error names the destination of
// the datagram that drew it. Other sockets (a user-space stack's) are left
// as they are.
func watchErrors(pc net.PacketConn) {
	rc, ok := rawConn(pc)
	if !ok {
		return
	}
	rc.Control(func(fd uintptr) {
		// Both: an IPv6 socket may carry IPv4-mapped traffic.
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVERR, 1)
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVERR, 1)
	})
}

func rawConn(pc net.PacketConn) (syscall.RawConn, bool) {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, false
	}
	rc, err := u.SyscallConn()
	return rc, err == nil
}

// soEEOriginICMP and soEEOriginICMP6 are sock_extended_err origins.
const (
	soEEOriginICMP  = 2
	soEEOriginICMP6 = 3
)

// unreachableQueued drains the socket's error queue and returns the
// destinations that ICMP reported as refusing (port unreachable:
// ECONNREFUSED).
func unreachableQueued(pc net.PacketConn) []netip.AddrPort {
	rc, ok := rawConn(pc)
	if !ok {
		return nil
	}
	var out []netip.AddrPort
	buf, oob := make([]byte, 512), make([]byte, 512)
	rc.Read(func(fd uintptr) bool {
		for range 64 {
			_, oobn, _, from, err := syscall.Recvmsg(int(fd), buf, oob, syscall.MSG_ERRQUEUE|syscall.MSG_DONTWAIT)
			if err != nil {
				return true // EAGAIN: the queue is empty
			}
			if !refused(oob[:oobn]) {
				continue
			}
			switch a := from.(type) {
			case *syscall.SockaddrInet4:
				out = append(out, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)))
			case *syscall.SockaddrInet6:
				out = append(out, netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)))
			}
		}
		return true
	})
	return out
}

// refused reports whether a control message holds an ICMP error with
// ECONNREFUSED (struct sock_extended_err: ee_errno, ee_origin, ...).
func refused(oob []byte) bool {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		ok := (m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_RECVERR) ||
			(m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_RECVERR)
		if !ok || len(m.Data) < 8 {
			continue
		}
		errno := binary.NativeEndian.Uint32(m.Data[0:4])
		origin := m.Data[4]
		if syscall.Errno(errno) == syscall.ECONNREFUSED && (origin == soEEOriginICMP || origin == soEEOriginICMP6) {
			return true
		}
	}
	return false
}
