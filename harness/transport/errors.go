package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// UnreachableError says that nothing listens at an address: a UDP message
// sent there drew an ICMP port unreachable (ICMPv6 port unreachable), or a
// TCP connection to it was refused.
type UnreachableError struct {
	Transport string         // "UDP" or "TCP"
	Addr      netip.AddrPort // the destination
	Err       error          // what the socket said
}

func (e *UnreachableError) Error() string {
	how := "the connection was refused"
	if e.Transport == UDP {
		how = "ICMP port unreachable"
	}
	return fmt.Sprintf("transport: nothing listens at %s %s (%s)", e.Transport, e.Addr, how)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// TimeoutError says that a client transaction's Timer F fired: no final
// response came within 64·T1.
type TimeoutError struct {
	Request string        // e.g. "REGISTER (branch z9hG4bK...)"
	Dest    Dest          // where it went
	After   time.Duration // Timer F
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("transport: expected a final response to %s from %s within %s (Timer F), got none", e.Request, e.Dest, e.After)
}

// ErrClosed ends what was pending when the Layer closed.
var ErrClosed = errors.New("transport: closed")

// ErrCancelled ends a client transaction that its caller cancelled.
var ErrCancelled = errors.New("transport: client transaction cancelled")
