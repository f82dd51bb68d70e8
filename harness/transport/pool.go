package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// dialTimeout bounds a TCP connect.
const dialTimeout = 10 * time.Second

// connTo returns the pooled connection to raddr, or opens one from the
// endpoint's own port (so that the peer sees the port of the Via sent-by),
// falling back to an ephemeral port when that port cannot be reused (e.g. a
// connection to raddr from it still in TIME_WAIT). Two exchanges that dial
// raddr at once from the port make the same connection: the kernel refuses
// the second (EADDRNOTAVAIL, the four-tuple is taken), which then takes the
// first's connection once pooled, or one from an ephemeral port. A refused
// connection is an *UnreachableError.
func (e *Endpoint) connTo(ctx context.Context, raddr netip.AddrPort) (*conn, error) {
	e.mu.Lock()
	c := e.conns[raddr]
	e.mu.Unlock()
	if c != nil && !c.isClosed() {
		return c, nil
	}
	if ctx == nil {
		ctx = e.l.ctx
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	stop := context.AfterFunc(e.l.ctx, cancel)
	defer stop()
	nc, err := e.stack.Dial(dctx, e.addr, raddr)
	if err != nil && errors.Is(err, syscall.EADDRNOTAVAIL) {
		e.mu.Lock()
		c = e.conns[raddr]
		e.mu.Unlock()
		if c != nil && !c.isClosed() {
			return c, nil
		}
	}
	if err != nil && (errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
		nc, err = e.stack.Dial(dctx, netip.AddrPortFrom(e.addr.Addr(), 0), raddr)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &UnreachableError{Transport: TCP, Addr: raddr, Err: err}
		}
		return nil, fmt.Errorf("transport: connect to %s/TCP from %s: %w", raddr, e.addr, err)
	}
	if c = e.adopt(nc, false); c == nil {
		return nil, ErrClosed
	}
	return c, nil
}
