package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets a TCP listener and connections dialled from its port share
// the port (SO_REUSEPORT): a SIP endpoint listens on its port and connects
// from it, so that the Via sent-by names where answers can come back.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
