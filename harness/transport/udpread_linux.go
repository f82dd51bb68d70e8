package transport

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// pooledReads: a kernel UDP socket is read by readiness (readPooled).
const pooledReads = true

// readPooled waits until the kernel socket rc has a datagram, then reads it
// into a buffer of udpBufs and returns a copy: no buffer is held while the
// socket is idle.
func readPooled(rc syscall.RawConn) ([]byte, netip.AddrPort, error) {
	var raw []byte
	var src netip.AddrPort
	var serr error
	err := rc.Read(func(fd uintptr) bool {
		bp := udpBufs.Get().(*[]byte)
		defer udpBufs.Put(bp)
		for {
			n, from, err := syscall.Recvfrom(int(fd), *bp, syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // nothing yet: wait for the socket to be readable
			case err != nil:
				serr = os.NewSyscallError("recvfrom", err)
				return true
			}
			raw, src = append([]byte(nil), (*bp)[:n]...), sockaddrAddrPort(from)
			return true
		}
	})
	if err == nil {
		err = serr
	}
	return raw, src, err
}

// sockaddrAddrPort is the address and port of a received datagram's
// source, with its IPv6 zone.
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			zone := strconv.Itoa(int(a.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}
