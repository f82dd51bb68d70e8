package transport

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// Transport names, as the Via sent-protocol and the trace write them.
const (
	UDP = "UDP"
	TCP = "TCP"
)

// Network normalises a transport name: "UDP" or "TCP" (any case; "" is
// UDP).
func Network(name string) (string, error) {
	switch strings.ToUpper(name) {
	case UDP, "":
		return UDP, nil
	case TCP:
		return TCP, nil
	}
	return "", fmt.Errorf("transport: expected \"udp\" or \"tcp\", got %q", name)
}

// DefaultMaxMessage is the largest SIP message a Layer takes by default.
const DefaultMaxMessage = 65535

// Options configure a Layer. The zero value works: kernel sockets, default
// timers, nothing recorded.
type Options struct {
	// Role names the harness role in the trace ("UE", "VCCApp").
	Role string
	// Trace receives every message sent and received; nil records nothing.
	Trace *trace.Trace
	// Stack gives the sockets; nil means Kernel.
	Stack Stack
	// Timers are T1, T2, T4; zero fields mean the defaults.
	Timers Timers
	// Clock runs the timers and stamps the trace; nil means the real one.
	Clock Clock
	// MTU is the path MTU for RFC 3261 18.1.1 (see SizeLimit); 0 means
	// unknown.
	MTU int
	// MaxMessage bounds a message read (a datagram or a framed TCP
	// message); 0 means DefaultMaxMessage.
	MaxMessage int
	// HeaderTimeout bounds, over TCP, the time from a message's first byte
	// to its last; 0 means 64·T1.
	HeaderTimeout time.Duration
	// IdleTimeout closes a TCP connection that carried nothing for so long;
	// 0 means never.
	IdleTimeout time.Duration
	// MaxConnections bounds the TCP connections an endpoint has accepted
	// and keeps open: one accepted beyond it is closed at once. 0 means no
	// bound. (Connections the endpoint opens itself are not counted.)
	MaxConnections int
	// MaxTransactions bounds the server transactions the Layer keeps at
	// once, so that a flood costs bounded memory. A new request that finds
	// the table full first ends the oldest Completed transactions (those
	// only wait out Timer J to answer a retransmission with their final
	// response, RFC 3261 17.2.2); when every one is still being answered it
	// opens none and is answered at once, statelessly, with 503 Service
	// Unavailable and Retry-After (RFC 3261 21.5.4). 0 means no bound.
	MaxTransactions int
	// Reach, when set, is asked before anything is sent: an error refuses
	// the destination (the reference core keeps itself on loopback).
	Reach func(netip.AddrPort) error
	// Takes says which requests the role takes part in; the others (and
	// the answers to them), responses that match no client transaction and
	// bytes that do not parse are unrelated traffic, which the trace counts
	// and keeps only the first few of per peer (trace.AddUnrelated), so that
	// a flood cannot swell the run's reports. nil takes every request.
	Takes func(req *sipmsg.Message) bool
	// Logger receives debug lines; nil discards.
	Logger *slog.Logger
	// NoSecondOpinion skips sipgo's parse of every message received (its
	// refusal is only a note, which no verdict reads): a load run's UEs
	// and VCC Application, thousands of messages a second.
	NoSecondOpinion bool
}

// Handler receives what an Endpoint takes in and no transaction absorbs:
// new requests (with their server transaction in Incoming.Tx), ACKs,
// responses that match no client transaction, and messages that do not
// parse (Parsed nil). It runs on the receiving goroutine: it must not block
// long.
type Handler func(*Incoming)

// Layer is one role's SIP transport: its endpoints, its transaction tables
// and its timers. Its methods are safe for concurrent use.
type Layer struct {
	o      Options
	t      Timers
	clock  Clock
	stack  Stack
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	endpoints []*Endpoint
	clients   map[string]*ClientTx
	servers   map[string]*ServerTx
	completed list.List // the Completed server transactions waiting out Timer J, oldest first (MaxTransactions)
	seq       uint64

	repeats repeats // repeats.go
}

// New returns a Layer with no endpoints yet (see Listen).
func New(o Options) *Layer {
	l := &Layer{o: o, t: o.Timers.withDefaults(), clock: o.Clock, stack: o.Stack, log: o.Logger,
		clients: map[string]*ClientTx{}, servers: map[string]*ServerTx{}}
	if l.clock == nil {
		l.clock = realClock{}
	}
	if l.stack == nil {
		l.stack = Kernel
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.o.MaxMessage <= 0 {
		l.o.MaxMessage = DefaultMaxMessage
	}
	if l.o.HeaderTimeout <= 0 {
		l.o.HeaderTimeout = l.t.F()
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// Timers returns the timers in force (defaults filled in).
func (l *Layer) Timers() Timers { return l.t }

// Close closes every endpoint and connection, ends every pending
// transaction with ErrClosed, and waits until every goroutine of the Layer
// has returned. It is idempotent.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	eps := l.endpoints
	var cs []*ClientTx
	for _, t := range l.clients {
		cs = append(cs, t)
	}
	var ss []*ServerTx
	for _, t := range l.servers {
		ss = append(ss, t)
	}
	l.mu.Unlock()
	l.cancel()
	for _, e := range eps {
		e.close()
	}
	for _, t := range cs {
		t.terminate(nil, ErrClosed)
	}
	for _, t := range ss {
		t.terminate()
	}
	l.wg.Wait()
	return nil
}

func (l *Layer) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// record adds a message to the trace (when there is one) and returns the
// stored copy; unrelated traffic goes in as such (see Options.Takes).
func (l *Layer) record(m trace.Message, unrelated bool) trace.Message {
	m.Proto, m.Role, m.Time = trace.SIP, l.o.Role, l.clock.Now()
	switch {
	case l.o.Trace == nil:
		return m
	case unrelated:
		m, _ = l.o.Trace.AddUnrelated(m)
		return m
	}
	return l.o.Trace.Add(m)
}

// takes reports whether a received message belongs to the role's
// exchanges: a response to one of its client transactions (t not nil), a
// request it takes (Options.Takes).
func (l *Layer) takes(p *sipmsg.Message, t *ClientTx) bool {
	switch {
	case p == nil:
		return false
	case !p.Request:
		return t != nil
	}
	return l.o.Takes == nil || l.o.Takes(p)
}

// received records raw as it came and hands it on: to the client
// transaction a response answers, to the server transaction a retransmitted
// request belongs to, else to the endpoint's handler. note, when not "",
// says why the bytes cannot be a message (a stream cut short, a datagram too
// large): they are recorded and handed to the handler unparsed.
func (l *Layer) received(e *Endpoint, transport string, src netip.AddrPort, c *conn, raw []byte, note string) {
	m := trace.Message{Transport: transport, Dir: trace.Received, Src: src, Dst: e.addr, Raw: raw}
	in := &Incoming{Endpoint: e, conn: c}
	var p *sipmsg.Message
	var err error
	if note == "" {
		p, err = parse(raw, transport == UDP)
		if err != nil {
			note = "does not parse as SIP: " + err.Error()
		} else if !l.o.NoSecondOpinion {
			if _, gerr := sip.ParseMessage(raw); gerr != nil {
				// sipgo is a second opinion only: the message stays usable.
				note = "sipgo's parser refuses it (" + gerr.Error() + "); the harness reads it"
			}
		}
	} else {
		err = fmt.Errorf("%s", strings.TrimPrefix(note, "does not parse as SIP: "))
	}
	m.Note = note
	var ct *ClientTx
	if p != nil && !p.Request {
		ct = l.clientFor(p)
	}
	in.related = l.takes(p, ct)
	in.Msg = l.record(m, !in.related)
	in.Parsed, in.Err = p, err
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("transport: received", "role", l.o.Role, "transport", transport, "from", src, "to", e.addr, "line", firstLine(raw), "note", note)
	}
	if p == nil {
		e.handle(in)
		return
	}
	if !p.Request {
		if ct != nil && ct.receive(in) {
			return
		}
		e.handle(in)
		return
	}
	if p.Method == "ACK" {
		e.handle(in)
		return
	}
	t, again := l.serverFor(e, in)
	if t == nil {
		l.overloaded(e, in)
		return
	}
	if again {
		l.repeatedRequest(p.Method)
		t.retransmitted()
		return
	}
	in.Tx = t
	e.handle(in)
}

// parse reads a received message. Over UDP the body is what Content-Length
// says: bytes beyond it are dropped, and a datagram with fewer is no message
// (RFC 3261 18.3).
func parse(raw []byte, datagram bool) (*sipmsg.Message, error) {
	p, err := sipmsg.Parse(raw)
	if err != nil {
		return nil, err
	}
	if !datagram || !p.Has("Content-Length") {
		return p, nil
	}
	n, ok := contentLength(p.Get("Content-Length"))
	switch {
	case !ok:
		return nil, fmt.Errorf("expected a Content-Length of digits, saw %q", p.Get("Content-Length"))
	case n > len(p.Body):
		return nil, fmt.Errorf("Content-Length %d, but the datagram holds %d body bytes (RFC 3261 18.3)", n, len(p.Body))
	}
	p.Body = p.Body[:n]
	return p, nil
}

func firstLine(raw []byte) string {
	n := len(raw)
	for i, c := range raw {
		if c == '\r' || c == '\n' {
			n = i
			break
		}
	}
	return string(raw[:min(n, 80)])
}

// unreachable ends every client transaction still waiting on a message sent
// to addr over transport.
func (l *Layer) unreachable(transport string, addr netip.AddrPort, cause error) {
	l.mu.Lock()
	var hit []*ClientTx
	for _, t := range l.clients {
		if t.dst.Transport == transport && t.dst.Addr == addr && t.pending() {
			hit = append(hit, t)
		}
	}
	l.mu.Unlock()
	l.log.Debug("transport: unreachable", "transport", transport, "addr", addr, "transactions", len(hit))
	for _, t := range hit {
		t.terminate(nil, &UnreachableError{Transport: transport, Addr: addr, Err: cause})
	}
}
