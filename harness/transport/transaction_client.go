package transport

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// Client transaction states (RFC 3261 17.1.2.2, figure 6).
const (
	stTrying = iota
	stProceeding
	stCompleted
	stTerminated
)

// ClientTx is a non-INVITE client transaction (RFC 3261 17.1.2): it sends
// its request, retransmits it over UDP on Timer E (T1, doubling up to T2;
// T2 once a provisional response came), gives up on Timer F (64·T1), takes
// the first final response, and absorbs retransmitted responses until
// Timer K (T4 over UDP, none over TCP). A context that ends ends it too.
type ClientTx struct {
	l    *Layer
	e    *Endpoint
	key  string
	name string // for errors: "REGISTER (branch ...)"
	meth string // the CSeq method, "" for a request with no branch
	dst  Dest
	raw  []byte
	then func(*Incoming, error)
	c    *conn // over TCP, the connection the request went on

	mu       sync.Mutex
	state    int
	interval time.Duration
	timerE   Timer
	timerF   Timer
	timerK   Timer
	stop     func() bool // stops the context watch
	sent     trace.Message
	res      *Incoming
	err      error
	done     chan struct{}
}

// Request sends m to dst and runs a client transaction for it (see
// ClientTx). Over UDP, a request larger than SizeLimit(Options.MTU) goes over
// TCP instead, its top Via saying so, and back over UDP when that connection
// is refused (RFC 3261 18.1.1). then, when not nil, is called once with the
// final response or why none came (*TimeoutError, *UnreachableError,
// ctx.Err(), ErrCancelled, ErrClosed); it may be called before Request
// returns. The error Request itself returns means the transaction was not
// started.
func (e *Endpoint) Request(ctx context.Context, dst Dest, m *sipmsg.Message, then func(*Incoming, error)) (*ClientTx, error) {
	d, err := dst.norm()
	if err != nil {
		return nil, err
	}
	raw := m.Bytes()
	if d.Transport == UDP && len(raw) > SizeLimit(e.l.o.MTU) {
		big := m.Clone()
		if err := big.SetViaTransport(TCP); err == nil {
			tcp := Dest{Transport: TCP, Addr: d.Addr}
			if _, err := e.connTo(ctx, d.Addr); err == nil {
				return e.request(ctx, tcp, big.Bytes(), big, then)
			}
			e.l.log.Debug("transport: RFC 3261 18.1.1: no TCP connection for a large request; sent over UDP", "to", d.Addr, "size", len(raw))
		}
	}
	return e.request(ctx, d, raw, m, then)
}

// RequestRaw is Request for bytes as they are (a deviation's): no 18.1.1
// switch. Bytes that carry no branch still run the timers, matched by
// nothing.
func (e *Endpoint) RequestRaw(ctx context.Context, dst Dest, raw []byte, then func(*Incoming, error)) (*ClientTx, error) {
	d, err := dst.norm()
	if err != nil {
		return nil, err
	}
	p, _ := sipmsg.Parse(raw)
	return e.request(ctx, d, raw, p, then)
}

// request runs the transaction of raw; p is raw read (nil when it does not
// read), for the branch and method that match its responses.
func (e *Endpoint) request(ctx context.Context, d Dest, raw []byte, p *sipmsg.Message, then func(*Incoming, error)) (*ClientTx, error) {
	l := e.l
	t := &ClientTx{l: l, e: e, dst: d, raw: raw, then: then, done: make(chan struct{})}
	method, branch := "", ""
	if p != nil && p.Request {
		branch = p.Branch()
		_, method, _ = p.CSeq()
		if method == "" {
			method = p.Method
		}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	l.seq++
	if branch == "" {
		t.key = "unmatched:" + strconv.FormatUint(l.seq, 10)
		t.name = "a request with no branch"
	} else {
		t.key = clientKey(branch, method)
		t.name = method + " (branch " + branch + ")"
		t.meth = method
		if _, dup := l.clients[t.key]; dup {
			l.mu.Unlock()
			return nil, fmt.Errorf("transport: expected a new branch for a new client transaction, got %s again", branch)
		}
	}
	l.clients[t.key] = t
	l.mu.Unlock()

	t.mu.Lock()
	t.interval = l.t.T1
	t.timerF = l.clock.AfterFunc(l.t.F(), t.onTimerF)
	if d.Transport == UDP {
		t.timerE = l.clock.AfterFunc(t.interval, t.onTimerE)
	}
	t.mu.Unlock()
	if ctx != nil {
		stop := context.AfterFunc(ctx, func() { t.terminate(nil, ctx.Err()) })
		t.mu.Lock()
		t.stop = stop
		t.mu.Unlock()
	}
	sent, err := e.send(ctx, d, nil, raw, false)
	t.mu.Lock()
	t.sent = sent
	if d.Transport == TCP && err == nil {
		t.c = e.pooled(d.Addr)
	}
	t.mu.Unlock()
	if err != nil {
		t.terminate(nil, err)
	}
	return t, nil
}

func clientKey(branch, method string) string { return branch + "|" + method }

// clientFor returns the client transaction a response belongs to: the same
// top Via branch and CSeq method (RFC 3261 17.1.3).
func (l *Layer) clientFor(p *sipmsg.Message) *ClientTx {
	b := p.Branch()
	if b == "" {
		return nil
	}
	_, method, err := p.CSeq()
	if err != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients[clientKey(b, method)]
}

// Sent is the request as recorded when it was first sent.
func (t *ClientTx) Sent() trace.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent
}

// Done is closed once the transaction has its final response or gave up.
func (t *ClientTx) Done() <-chan struct{} { return t.done }

// Result is the final response, or why none came; both nil before Done.
func (t *ClientTx) Result() (*Incoming, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.res, t.err
}

// Wait blocks until Done and returns Result.
func (t *ClientTx) Wait() (*Incoming, error) {
	<-t.done
	return t.Result()
}

// Cancel ends the transaction with ErrCancelled unless it already ended:
// no more retransmissions, and later responses go to the handler.
func (t *ClientTx) Cancel() { t.terminate(nil, ErrCancelled) }

// pending reports whether the transaction still waits for a final response.
func (t *ClientTx) pending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state == stTrying || t.state == stProceeding
}

// receive takes a response that matched the transaction; false when the
// transaction no longer takes any (it then goes to the handler).
func (t *ClientTx) receive(in *Incoming) bool {
	code := in.Parsed.StatusCode
	t.mu.Lock()
	switch t.state {
	case stTrying, stProceeding:
		if code < 200 {
			t.state = stProceeding
			t.mu.Unlock()
			return true
		}
		t.state = stCompleted
		stopTimers(t.timerE, t.timerF)
		t.res, t.raw = in, nil
		t.mu.Unlock()
		if t.dst.Transport == UDP {
			t.waitK()
		}
		t.finish()
		if t.dst.Transport != UDP {
			t.terminate(nil, nil)
		}
		return true
	case stCompleted:
		t.mu.Unlock()
		t.l.repeatedResponse(code)
		return true // a retransmitted response: absorbed
	}
	t.mu.Unlock()
	return false
}

// waitK hands the transaction's place in the table to a Completed
// transaction of its own that holds no message, for Timer K (T4 over UDP,
// RFC 3261 17.1.2.2): it absorbs the retransmissions of the final response,
// while the response itself stays only with whoever holds t. A relay under
// load thus keeps no response for T4 after it has passed it on.
func (t *ClientTx) waitK() {
	k := &ClientTx{l: t.l, e: t.e, key: t.key, name: t.name, meth: t.meth, dst: t.dst, state: stCompleted}
	k.mu.Lock()
	k.timerK = t.l.clock.AfterFunc(t.l.t.T4, func() { k.terminate(nil, nil) })
	k.mu.Unlock()
	t.l.mu.Lock()
	if t.l.clients[t.key] == t {
		t.l.clients[t.key] = k
	} else {
		stopTimers(k.timerK)
	}
	t.l.mu.Unlock()
}

// onTimerE retransmits: the interval doubles up to T2 while Trying, and is
// T2 while Proceeding (RFC 3261 17.1.2.2).
func (t *ClientTx) onTimerE() {
	t.mu.Lock()
	if t.state != stTrying && t.state != stProceeding {
		t.mu.Unlock()
		return
	}
	if t.state == stTrying {
		t.interval = min(2*t.interval, t.l.t.T2)
	} else {
		t.interval = t.l.t.T2
	}
	t.timerE = t.l.clock.AfterFunc(t.interval, t.onTimerE)
	raw := t.raw
	t.mu.Unlock()
	t.l.retransmittedRequest(t.meth)
	if _, err := t.e.send(t.l.ctx, t.dst, nil, raw, false); err != nil {
		if _, ok := err.(*UnreachableError); ok {
			t.terminate(nil, err)
			return
		}
		t.l.log.Debug("transport: retransmission failed", "to", t.dst, "error", err)
	}
}

func (t *ClientTx) onTimerF() {
	t.terminate(nil, &TimeoutError{Request: t.name, Dest: t.dst, After: t.l.t.F()})
}

// terminate ends the transaction: with err when it has no final response
// yet (then is called), else only leaving the table.
func (t *ClientTx) terminate(_ *Incoming, err error) {
	t.mu.Lock()
	if t.state == stTerminated {
		t.mu.Unlock()
		return
	}
	finished := t.state == stCompleted
	if !finished && err == nil {
		err = ErrCancelled
	}
	t.state = stTerminated
	stopTimers(t.timerE, t.timerF, t.timerK)
	if !finished {
		t.err = err
	}
	t.mu.Unlock()
	t.l.mu.Lock()
	if t.l.clients[t.key] == t {
		delete(t.l.clients, t.key)
	}
	t.l.mu.Unlock()
	if !finished {
		t.finish()
	}
}

// finish reports the result once.
func (t *ClientTx) finish() {
	t.mu.Lock()
	stop := t.stop
	t.mu.Unlock()
	if stop != nil {
		stop()
	}
	close(t.done)
	if t.then != nil {
		t.then(t.Result())
	}
}

func stopTimers(ts ...Timer) {
	for _, x := range ts {
		if x != nil {
			x.Stop()
		}
	}
}

// pooled returns the live pooled connection to raddr, or nil.
func (e *Endpoint) pooled(raddr netip.AddrPort) *conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns[raddr]
}
