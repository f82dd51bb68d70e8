//go:build !linux

package transport

import "syscall"

// reusePort does nothing here: a connection dialled from a listener's port
// then falls back to an ephemeral port (see Endpoint.dial).
func reusePort(network, address string, c syscall.RawConn) error { return nil }
