//go:build !linux

package transport

import (
	"net"
	"net/netip"
)

// watchErrors does nothing here: without an error queue an unanswered UDP
// request ends at Timer F.
func watchErrors(pc net.PacketConn) {}

func unreachableQueued(pc net.PacketConn) []netip.AddrPort { return nil }
