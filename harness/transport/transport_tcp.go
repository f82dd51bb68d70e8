package transport

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"net/netip"
)

// writeTimeout bounds one write on a TCP connection.
const writeTimeout = 10 * time.Second

// readBufs are the connections' read buffers, reused from one connection to
// the next (the Framer copies every message out): a churn of short
// connections then costs no garbage for them.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

// conn is one live TCP connection of an endpoint, accepted or dialled. One
// goroutine reads it (serve); writers take wmu.
type conn struct {
	e             *Endpoint
	c             net.Conn
	local, remote netip.AddrPort
	inbound       bool // accepted, not dialled
	wmu           sync.Mutex
	closed        atomic.Bool
}

func (c *conn) isClosed() bool { return c.closed.Load() }

func (c *conn) write(raw []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.c.Write(raw)
	return err
}

// accept takes connections until the listener closes.
func (e *Endpoint) accept() {
	defer e.l.wg.Done()
	for {
		nc, err := e.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if e.isDone() {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		if max := e.l.o.MaxConnections; max > 0 && e.accepted() >= max {
			e.l.log.Debug("transport: connection refused: too many open", "from", nc.RemoteAddr(), "max", max)
			nc.Close()
			continue
		}
		e.adopt(nc, true)
	}
}

// accepted counts the open connections the endpoint accepted.
func (e *Endpoint) accepted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inbound
}

func (e *Endpoint) isDone() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done
}

// adopt pools a connection and starts its reader; nil when the endpoint is
// closing.
func (e *Endpoint) adopt(nc net.Conn, inbound bool) *conn {
	c := &conn{e: e, c: nc, local: addrPort(nc.LocalAddr()), remote: addrPort(nc.RemoteAddr()), inbound: inbound}
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		nc.Close()
		return nil
	}
	e.conns[c.remote] = c
	e.all[c] = true
	if inbound {
		e.inbound++
	}
	e.l.wg.Add(1)
	e.mu.Unlock()
	go c.serve()
	return c
}

// serve reads messages off the connection until it closes, fails, idles
// past IdleTimeout, or leaves a message unfinished past HeaderTimeout. Bytes
// that never became a whole message are recorded all the same, with a note.
func (c *conn) serve() {
	e := c.e
	defer e.l.wg.Done()
	defer c.drop()
	f := Framer{Max: e.l.o.MaxMessage}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var begun time.Time
	for {
		switch {
		case f.Buffered() > 0:
			if begun.IsZero() {
				begun = time.Now()
			}
			c.c.SetReadDeadline(begun.Add(e.l.o.HeaderTimeout))
		case e.l.o.IdleTimeout > 0:
			begun = time.Time{}
			c.c.SetReadDeadline(time.Now().Add(e.l.o.IdleTimeout))
		default:
			begun = time.Time{}
			c.c.SetReadDeadline(time.Time{})
		}
		n, err := c.c.Read(buf)
		if n > 0 {
			f.Write(buf[:n])
			for {
				raw, ok, ferr := f.Next()
				if !ok {
					break
				}
				if ferr != nil {
					e.l.received(e, TCP, c.remote, c, raw, "does not parse as SIP: "+ferr.Error())
					return
				}
				begun = time.Time{}
				e.l.received(e, TCP, c.remote, c, raw, "")
			}
		}
		if err != nil {
			if rest, why := f.Unfinished(); len(rest) > 0 {
				how := "the connection closed"
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					how = fmt.Sprintf("nothing more came within %s", e.l.o.HeaderTimeout)
				}
				e.l.received(e, TCP, c.remote, c, rest, "does not parse as SIP: "+how+" "+why)
			}
			return
		}
	}
}

// drop closes the connection and takes it out of the pool.
func (c *conn) drop() {
	c.closed.Store(true)
	c.c.Close()
	e := c.e
	e.mu.Lock()
	if e.conns[c.remote] == c {
		delete(e.conns, c.remote)
	}
	if e.all[c] && c.inbound {
		e.inbound--
	}
	delete(e.all, c)
	e.mu.Unlock()
}
