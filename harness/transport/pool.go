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
// connection to raddr from it still in TIME_WAIT). Exchanges that need a
// connection to raddr at once (UEs on shared ports, a hop's first
// requests) wait for one dial and share its connection: two dials of one
// four-tuple cannot both succeed. A refused connection is an
// *UnreachableError.
func (e *Endpoint) connTo(ctx context.Context, raddr netip.AddrPort) (*conn, error) {
	if ctx == nil {
		ctx = e.l.ctx
	}
	for {
		e.mu.Lock()
		c := e.conns[raddr]
		if c != nil && !c.isClosed() {
			e.mu.Unlock()
			return c, nil
		}
		wait, busy := e.dialing[raddr]
		if !busy {
			done := make(chan struct{})
			if e.dialing == nil {
				e.dialing = map[netip.AddrPort]chan struct{}{}
			}
			e.dialing[raddr] = done
			e.mu.Unlock()
			c, err := e.dial(ctx, raddr)
			e.mu.Lock()
			delete(e.dialing, raddr)
			e.mu.Unlock()
			close(done)
			return c, err
		}
		e.mu.Unlock()
		select {
		case <-wait: // pooled now, or failed: look again
		case <-ctx.Done():
			return nil, fmt.Errorf("transport: connect to %s/TCP from %s: %w", raddr, e.addr, ctx.Err())
		}
	}
}

// dial opens a connection to raddr for connTo and pools it.
func (e *Endpoint) dial(ctx context.Context, raddr netip.AddrPort) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	stop := context.AfterFunc(e.l.ctx, cancel)
	defer stop()
	nc, err := e.stack.Dial(dctx, e.addr, raddr)
	if err != nil && (errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)) {
		nc, err = e.stack.Dial(dctx, netip.AddrPortFrom(e.addr.Addr(), 0), raddr)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &UnreachableError{Transport: TCP, Addr: raddr, Err: err}
		}
		return nil, fmt.Errorf("transport: connect to %s/TCP from %s: %w", raddr, e.addr, err)
	}
	c := e.adopt(nc, false)
	if c == nil {
		return nil, ErrClosed
	}
	return c, nil
}
