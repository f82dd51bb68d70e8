package transport

import (
	"container/list"
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// ServerTx is a non-INVITE server transaction (RFC 3261 17.2.2) and the
// answer cache of its request: a retransmission of the request is absorbed
// while the transaction is Trying, answered with the last provisional
// response while Proceeding, and with the final response while Completed,
// until Timer J (64·T1 over UDP, none over TCP). A request its handler never
// answers is forgotten after 64·T1 too, so that the table stays bounded.
type ServerTx struct {
	l     *Layer
	e     *Endpoint
	key   string
	tp    string // the request's transport
	c     *conn  // over TCP, the connection it came on
	route Route
	rerr  error // why the response cannot be routed
	// unrelated: the request is not one the role takes part in, so its
	// answers are recorded as unrelated traffic too.
	unrelated bool

	done *list.Element // in Layer.completed while Completed (l.mu guards it)

	mu     sync.Mutex
	req    *Incoming // until the final response: then only what answers retransmissions stays
	state  int
	last   []byte // the last response sent
	dst    Dest   // where it went
	timerJ Timer
}

// serverKey identifies the transaction of a request (RFC 3261 17.2.3): the
// top Via branch, sent-by and the method, on the endpoint it came to; a
// request without the magic cookie is matched on its whole top Via, Call-ID
// and CSeq instead. The CSeq number, the transport and the source address
// are part of the key too: a retransmission always carries its request's
// CSeq and comes from the same socket, while a peer that wrongly reuses a
// branch for a new request (a new CSeq, another connection) then gets a new
// transaction, not the old answer on another connection.
func serverKey(e *Endpoint, in *Incoming, text string, v *sipmsg.Via, err error) string {
	p := in.Parsed
	at := e.addr.String() + "|" + in.Msg.Transport + "|" + in.Msg.Src.String() + "|"
	if err != nil {
		return at + "noVia|" + p.Get("Call-ID") + "|" + p.Get("CSeq")
	}
	b, _ := v.Params.Get("branch")
	if strings.HasPrefix(b, "z9hG4bK") {
		n, _, _ := p.CSeq()
		return at + b + "|" + strings.ToLower(v.SentBy()) + "|" + p.Method + "|" + strconv.FormatUint(uint64(n), 10)
	}
	return at + text + "|" + p.Get("Call-ID") + "|" + p.Get("CSeq")
}

// serverFor returns the transaction of a request, new or (again true) the
// one its first copy opened; nil when it is new and the table is full
// (Options.MaxTransactions).
func (l *Layer) serverFor(e *Endpoint, in *Incoming) (*ServerTx, bool) {
	text, v, verr := in.Parsed.TopVia()
	key := serverKey(e, in, text, v, verr)
	l.mu.Lock()
	if t := l.servers[key]; t != nil {
		l.mu.Unlock()
		return t, true
	}
	if max := l.o.MaxTransactions; max > 0 && len(l.servers) >= max && !l.endCompletedLocked(len(l.servers)-max+1) {
		l.mu.Unlock()
		return nil, false
	}
	t := &ServerTx{l: l, e: e, key: key, req: in, tp: in.Msg.Transport, unrelated: !in.related}
	if t.tp == TCP {
		t.c = in.conn
	}
	if !l.closed {
		l.servers[key] = t
	}
	l.mu.Unlock()
	if verr == nil {
		t.route, t.rerr = ResponseRoute(v, in.Msg.Transport, in.Msg.Src)
	} else {
		t.rerr = verr
	}
	t.mu.Lock()
	t.timerJ = l.clock.AfterFunc(l.t.F(), t.terminate)
	t.mu.Unlock()
	return t, false
}

// Request is the request that opened the transaction; nil once the final
// response is sent (the transaction then keeps only that response, for
// retransmissions of the request).
func (t *ServerTx) Request() *Incoming {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.req
}

// Route is where responses go (RFC 3261 18.2.2), or why they cannot be
// routed.
func (t *ServerTx) Route() (Route, error) { return t.route, t.rerr }

// Respond sends raw, a response to the request, where ResponseRoute says,
// and keeps it for retransmissions of the request. raw may be any bytes (a
// deviation's); what does not read as a provisional response counts as
// final.
func (t *ServerTx) Respond(raw []byte) (trace.Message, error) {
	if t.rerr != nil {
		return trace.Message{}, fmt.Errorf("transport: cannot route the response: %w", t.rerr)
	}
	d, err := t.resolve()
	if err != nil {
		return trace.Message{}, err
	}
	return t.respond(d, raw)
}

// RespondTo is Respond to an address the caller chose over the request's
// transport (e.g. TS 33.203 7.1: over security associations, to the UE's
// protected client port); over TCP it still prefers the request's
// connection.
func (t *ServerTx) RespondTo(addr netip.AddrPort, raw []byte) (trace.Message, error) {
	return t.respond(Dest{Transport: t.tp, Addr: unmap(addr)}, raw)
}

func (t *ServerTx) resolve() (Dest, error) {
	r := t.route
	if r.Addr.IsValid() {
		return Dest{Transport: r.Transport, Addr: r.Addr}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(t.l.ctx, "ip", r.Host)
	if err != nil || len(ips) == 0 {
		return Dest{}, fmt.Errorf("transport: expected the Via maddr %q to resolve, got %v", r.Host, err)
	}
	return Dest{Transport: r.Transport, Addr: netip.AddrPortFrom(ips[0].Unmap(), r.Port)}, nil
}

func (t *ServerTx) respond(d Dest, raw []byte) (trace.Message, error) {
	final := !provisional(raw)
	t.mu.Lock()
	if t.state == stTerminated || t.state == stCompleted {
		t.mu.Unlock()
		return trace.Message{}, fmt.Errorf("transport: the transaction already has its final response")
	}
	t.last, t.dst = raw, d
	waitJ := final && d.Transport == UDP
	if final {
		t.state = stCompleted
		t.req = nil
		stopTimers(t.timerJ)
		if waitJ {
			t.timerJ = t.l.clock.AfterFunc(t.l.t.F(), t.terminate)
		}
	} else {
		t.state = stProceeding
	}
	t.mu.Unlock()
	if waitJ && t.l.o.MaxTransactions > 0 {
		t.l.mu.Lock()
		if t.l.servers[t.key] == t && t.done == nil {
			t.done = t.l.completed.PushBack(t)
		}
		t.l.mu.Unlock()
	}
	m, err := t.e.send(t.l.ctx, d, t.conn(), raw, t.unrelated)
	if final && d.Transport != UDP {
		t.terminate()
	}
	return m, err
}

// conn is the request's connection, when it came over TCP.
func (t *ServerTx) conn() *conn { return t.c }

// retransmitted answers a retransmission of the request with the last
// response, if any (absorbed otherwise).
func (t *ServerTx) retransmitted() {
	t.mu.Lock()
	last, d := t.last, t.dst
	t.mu.Unlock()
	if last == nil {
		return
	}
	if _, err := t.e.send(context.Background(), d, t.conn(), last, t.unrelated); err != nil {
		t.l.log.Debug("transport: answering a retransmission failed", "to", d, "error", err)
	}
}

func (t *ServerTx) terminate() {
	t.mu.Lock()
	t.state = stTerminated
	stopTimers(t.timerJ)
	t.mu.Unlock()
	t.l.mu.Lock()
	if t.l.servers[t.key] == t {
		delete(t.l.servers, t.key)
	}
	if t.done != nil {
		t.l.completed.Remove(t.done)
		t.done = nil
	}
	t.l.mu.Unlock()
}

// endCompletedLocked ends up to n of the oldest Completed transactions, to
// make room in a full table; it reports whether it ended n. A retransmission
// of an ended one's request, should one still come, is then a new request.
// l.mu is held.
func (l *Layer) endCompletedLocked(n int) bool {
	for ; n > 0; n-- {
		front := l.completed.Front()
		if front == nil {
			return false
		}
		t := l.completed.Remove(front).(*ServerTx)
		t.done = nil
		if l.servers[t.key] == t {
			delete(l.servers, t.key)
		}
		t.mu.Lock()
		t.state = stTerminated
		stopTimers(t.timerJ)
		t.mu.Unlock()
	}
	return true
}

// provisional reports whether raw starts with a 1xx status line
// ("SIP/2.0 1dd ").
func provisional(raw []byte) bool {
	if len(raw) < 12 || string(raw[:9]) != "SIP/2.0 1" || raw[11] != ' ' {
		return false
	}
	return raw[9] >= '0' && raw[9] <= '9' && raw[10] >= '0' && raw[10] <= '9'
}

// RetryAfter is the Retry-After, in seconds, of the 503 a full Layer
// answers with (Options.MaxTransactions): 32, Timer J with the default T1,
// by when the completed transactions that fill the table are gone.
const RetryAfter = 32

// overloaded answers a request that found the transaction table full: 503
// Service Unavailable with Retry-After, sent statelessly to where its
// response route says (RFC 3261 18.2.2), no transaction kept.
func (l *Layer) overloaded(e *Endpoint, in *Incoming) {
	p := in.Parsed
	_, v, err := p.TopVia()
	if err != nil {
		return
	}
	r, err := ResponseRoute(v, in.Msg.Transport, in.Msg.Src)
	if err != nil || !r.Addr.IsValid() {
		return
	}
	// A stateless answer's To tag is the same for every copy of the request
	// (RFC 3261 8.2.7): a hash of its top Via.
	h := fnv.New32a()
	h.Write([]byte(v.SentBy()))
	b, _ := v.Params.Get("branch")
	h.Write([]byte(b))
	res := sipmsg.NewResponse(p, 503, "Service Unavailable", strconv.FormatUint(uint64(h.Sum32()), 16))
	res.InsertBefore("Content-Length", "Retry-After", strconv.Itoa(RetryAfter))
	l.log.Debug("transport: transaction table full: 503", "max", l.o.MaxTransactions, "from", in.Msg.Src)
	if _, err := e.send(l.ctx, Dest{Transport: r.Transport, Addr: r.Addr}, in.conn, res.Bytes(), !in.related); err != nil {
		l.log.Debug("transport: 503 not sent", "to", r.Addr, "error", err)
	}
}
