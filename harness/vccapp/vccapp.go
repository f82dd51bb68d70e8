// Package vccapp is the mock VCC Application of the registration flow of TS
// 24.206 annex A.3.2.2: a SIP UAS on its own address that receives the
// REGISTER the S-CSCF sends it (step 11, table A.3.2.2-11), stores the
// registration information in a Store that checks can read (step 12), and
// answers 200 OK as table A.3.2.2-13 shows (step 13).
//
// The 200 OK echoes the request's Via lines, Path, From, To (adding a tag),
// Call-ID, CSeq and Contact (with its expiry), and adds Service-Route
// <sip:orig@scscf_name;lr>, Date (RFC 1123, GMT), P-Associated-URI with the
// lab's IMPUs and Content-Length 0. A REGISTER from a source IP that the lab's
// vcc_app.accept_from does not list is answered 403 Forbidden and stored as
// rejected.
//
// The domain-selection preference is looked for, in this order, in: a
// header named P-Domain-Preference or Domain-Selection-Preference (its whole
// value); a Contact header parameter whose name starts with "+g.3gpp." and
// contains "pref" (its value, quotes removed); any other header whose name
// contains "Preference". The first found is stored with where it came from.
//
// The mock owns its socket (UDP or TCP, loopback), records every message it
// sends or receives into a trace (role "VCCApp"), including datagrams that do
// not parse, and applies the deviations of step 13. It knows nothing of
// checks.
package vccapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/sipstack"
	"imsconform/harness/trace"
	"imsconform/harness/ue/sipwire"
)

// Role is the trace role of the mock VCC Application.
const Role = "VCCApp"

// Status values of a Record.
const (
	Registered   = "registered"
	Deregistered = "deregistered"
)

// Options configure the mock VCC Application.
type Options struct {
	// Lab gives vcc_app (listen, accept_from), the IMPUs for
	// P-Associated-URI and core.scscf_name for Service-Route. Required.
	Lab *lab.Profile
	// Transport is "UDP" or "TCP"; "" means Lab.SUT.Transport, then UDP.
	Transport string
	// Listen is the host:port to bind (loopback; port 0 = ephemeral); ""
	// means Lab.VCCApp.Listen, then [::1]:0.
	Listen string
	// Trace receives every message; nil means a new trace (see App.Trace).
	Trace *trace.Trace
	// Deviations of step 13 (others are ignored): header edits, no-answer,
	// malformed. They apply to every response to a REGISTER.
	Deviations []deviation.Deviation
	// OnRegister, when set, is called once for each REGISTER received (not
	// for retransmissions), after the answer is sent. It must not block long.
	OnRegister func(Exchange)
	// Logger receives one debug line per message; nil discards.
	Logger *slog.Logger
	// Now is the clock for Date; nil means time.Now.
	Now func() time.Time
}

// Record is the registration information stored for one IMPU (step 12).
type Record struct {
	IMPU       string         // the URI of To, without brackets and parameters
	Status     string         // Registered, or Deregistered when the expiry is 0
	Contact    string         // the Contact value as received ("" when none)
	Expires    int            // from Contact's expires, else the Expires header; -1 when neither
	Preference string         // the domain-selection preference; "" when not carried
	PrefFrom   string         // where Preference was found, e.g. "Contact parameter +g.3gpp.domain-pref"
	Accepted   bool           // false when answered 403
	Why        string         // why not accepted
	Source     netip.AddrPort // where the REGISTER came from
	CallID     string
	CSeq       string
	At         time.Time
}

// Exchange is one REGISTER and its answer.
type Exchange struct {
	Request  trace.Message  // the REGISTER as received (step 11)
	Response *trace.Message // the answer as sent (step 13); nil when not sent
	Record   Record
}

// Store holds the registration information received, by IMPU, and every
// record in arrival order. It is safe for concurrent use.
type Store struct {
	mu    sync.Mutex
	byKey map[string]Record
	all   []Record
}

const maxKept = 4096

func (s *Store) put(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string]Record{}
	}
	if r.Accepted {
		s.byKey[r.IMPU] = r
	}
	if len(s.all) >= maxKept {
		s.all = append(s.all[:0], s.all[len(s.all)/2:]...)
	}
	s.all = append(s.all, r)
}

// Get returns the last accepted record of impu.
func (s *Store) Get(impu string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byKey[impu]
	return r, ok
}

// Records returns the records in arrival order, rejected ones included (the
// most recent few thousand).
func (s *Store) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.all...)
}

// App is a running mock VCC Application.
type App struct {
	o         Options
	transport string
	addr      netip.AddrPort
	tr        *trace.Trace
	devs      []deviation.Deviation
	stopWatch func() bool // stops the context watch Start set up
	log       *slog.Logger
	store     Store
	accept    []netip.Prefix
	acceptAll bool
	pau       string
	sroute    string

	udp *net.UDPConn
	ln  net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]bool
	done   map[string][]byte // answers sent, by request key, for retransmissions
	order  []string
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
}

// Start binds the mock's socket and serves until ctx ends or Close.
func Start(ctx context.Context, o Options) (*App, error) {
	if o.Lab == nil {
		return nil, errors.New("vccapp: options: expected a lab profile, got nil")
	}
	tp := o.Transport
	if tp == "" {
		tp = o.Lab.SUT.Transport
	}
	network, err := sipstack.Network(tp)
	if err != nil {
		return nil, fmt.Errorf("vccapp: %w", err)
	}
	listen := o.Listen
	if listen == "" {
		listen = o.Lab.VCCApp.Listen
	}
	if listen == "" {
		listen = "[::1]:0"
	}
	a := &App{o: o, transport: strings.ToUpper(network), tr: o.Trace, devs: deviation.For(o.Deviations, "13"),
		log: o.Logger, conns: map[net.Conn]bool{}, done: map[string][]byte{}}
	if a.tr == nil {
		a.tr = trace.New()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.o.Now == nil {
		a.o.Now = time.Now
	}
	a.acceptAll = len(o.Lab.VCCApp.AcceptFrom) == 0
	for _, s := range o.Lab.VCCApp.AcceptFrom {
		s = strings.Trim(strings.TrimSpace(s), "[]")
		if p, err := netip.ParsePrefix(s); err == nil {
			a.accept = append(a.accept, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("vccapp: lab vcc_app.accept_from: expected IP addresses or prefixes, got %q", s)
		}
		a.accept = append(a.accept, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	var uris []string
	for _, u := range o.Lab.Subscriber.IMPUs {
		uris = append(uris, "<"+u+">")
	}
	a.pau = strings.Join(uris, ", ")
	a.sroute = "<sip:orig@" + o.Lab.Core.SCSCFName + ";lr>"

	l, err := sipstack.Listen(network, listen)
	if err != nil {
		return nil, fmt.Errorf("vccapp: %w", err)
	}
	a.addr = l.Addr
	if l.Packet != nil {
		a.udp = l.Packet.(*net.UDPConn)
		a.wg.Add(1)
		go a.readUDP()
	} else {
		a.ln = l.Stream
		a.wg.Add(1)
		go a.accept_()
	}
	// Close when ctx ends; Close itself stops the watch, so nothing is left
	// waiting on a context that is never cancelled.
	a.stopWatch = context.AfterFunc(ctx, func() { a.Close() })
	return a, nil
}

// Addr is the address the mock is bound to.
func (a *App) Addr() netip.AddrPort { return a.addr }

// Transport is "UDP" or "TCP".
func (a *App) Transport() string { return a.transport }

// Store returns the registration information received.
func (a *App) Store() *Store { return &a.store }

// Trace returns the trace the mock records into.
func (a *App) Trace() *trace.Trace { return a.tr }

// Close stops serving and waits for the receivers.
func (a *App) Close() error {
	if a.stopWatch != nil {
		a.stopWatch()
	}
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		for c := range a.conns {
			c.Close()
		}
		a.mu.Unlock()
		if a.udp != nil {
			a.udp.Close()
		}
		if a.ln != nil {
			a.ln.Close()
		}
	})
	a.wg.Wait()
	return nil
}

func (a *App) readUDP() {
	defer a.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, src, err := a.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		in := sipwire.Read(Role, "UDP", src, a.addr, buf[:n])
		// The answer goes back to the datagram's source address: the top Via
		// of the REGISTER of table A.3.2.2-11 names the I-CSCF by a host name
		// (icscf1_p.home1.net) that does not resolve in a lab, so RFC 3261
		// 18.2.2's "sent-by" cannot be used.
		a.handle(in, src, a.addr, func(raw []byte) error {
			_, err := a.udp.WriteToUDPAddrPort(raw, src)
			return err
		})
	}
}

func (a *App) accept_() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = true
		a.wg.Add(1)
		a.mu.Unlock()
		go a.readTCP(c)
	}
}

func (a *App) readTCP(c net.Conn) {
	defer a.wg.Done()
	defer func() {
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
		c.Close()
	}()
	local, remote := sipwire.AddrPort(c.LocalAddr()), sipwire.AddrPort(c.RemoteAddr())
	var wmu sync.Mutex
	// Over TCP the answer goes back on the connection the request came on.
	write := func(raw []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(raw)
		return err
	}
	var f sipwire.Framer
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			f.Write(buf[:n])
			for {
				raw, ok, ferr := f.Next()
				if !ok {
					break
				}
				a.handle(sipwire.Read(Role, "TCP", remote, local, raw), remote, local, write)
				if ferr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// handle records and answers one received message. Responses (the mock
// sends no request), ACKs, unparseable messages and requests other than
// REGISTER (answered 405), with their answers, are recorded as unrelated.
func (a *App) handle(in sipwire.Inbound, src, local netip.AddrPort, write func([]byte) error) {
	p := in.Parsed
	related := p != nil && p.Request && p.Method == "REGISTER"
	in.Record(a.tr, related)
	// Each answer is recorded before it is written, so that the trace keeps
	// the order of the wire.
	send := func(raw []byte) (trace.Message, error) {
		if !related {
			return sipwire.RecordUnrelated(a.tr, Role, a.transport, local, src, raw), write(raw)
		}
		m := sipwire.Record(a.tr, Role, a.transport, local, src, raw)
		return m, write(raw)
	}
	a.log.Debug("vccapp: received", "from", src, "note", in.Msg.Note)
	if p == nil || !p.Request || p.Method == "ACK" {
		return
	}
	key := requestKey(p, src)
	a.mu.Lock()
	prev, again := a.done[key]
	a.mu.Unlock()
	if again {
		// A retransmission: send the same answer again.
		if prev != nil {
			send(prev)
		}
		return
	}
	if p.Method != "REGISTER" {
		raw := a.response(p, 405, "Method Not Allowed", nil)
		a.remember(key, raw)
		send(raw)
		return
	}
	rec := a.record(p, src)
	var raw []byte
	if rec.Accepted {
		raw = a.response(p, 200, "OK", &rec)
	} else {
		raw = a.response(p, 403, "Forbidden", nil)
	}
	raw, ok := deviation.Outgoing(a.devs, raw)
	a.store.put(rec)
	ex := Exchange{Request: in.Msg, Record: rec}
	if ok {
		a.remember(key, raw)
		m, err := send(raw)
		if err != nil {
			a.log.Debug("vccapp: send failed", "to", src, "err", err)
		} else {
			ex.Response = &m
		}
	} else {
		a.remember(key, nil)
	}
	if a.o.OnRegister != nil {
		a.o.OnRegister(ex)
	}
}

func (a *App) remember(key string, raw []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.order) >= maxKept {
		for _, k := range a.order[:maxKept/2] {
			delete(a.done, k)
		}
		a.order = append(a.order[:0], a.order[maxKept/2:]...)
	}
	a.done[key] = raw
	a.order = append(a.order, key)
}

// requestKey identifies a request for retransmission matching: source, top
// Via branch, Call-ID and CSeq.
func requestKey(p *sipmsg.Message, src netip.AddrPort) string {
	branch := ""
	if v := sipwire.TopVia(p); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	return src.String() + "|" + branch + "|" + sipwire.HeaderValue(p, "Call-ID") + "|" + sipwire.HeaderValue(p, "CSeq")
}

func (a *App) allowed(ip netip.Addr) bool {
	if a.acceptAll {
		return true
	}
	ip = ip.Unmap()
	for _, p := range a.accept {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// record reads the registration information of a REGISTER.
func (a *App) record(p *sipmsg.Message, src netip.AddrPort) Record {
	r := Record{Source: src, CallID: sipwire.HeaderValue(p, "Call-ID"), CSeq: sipwire.HeaderValue(p, "CSeq"), At: a.o.Now(), Expires: -1, Accepted: true}
	if to := sipwire.HeaderValue(p, "To"); to != "" {
		if na, err := sipmsg.ParseNameAddr(to); err == nil && na.URI != nil {
			r.IMPU = na.URI.Raw
			if !strings.Contains(to, "<") {
				// Without brackets, parameters after ';' belong to To.
				r.IMPU = strings.SplitN(na.URI.Raw, ";", 2)[0]
			}
		} else {
			r.IMPU = to
		}
	}
	if e := sipwire.HeaderValue(p, "Expires"); e != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(e)); err == nil {
			r.Expires = n
		}
	}
	if cs := p.Values("Contact"); len(cs) > 0 {
		r.Contact = cs[0].Text
		if na, err := sipmsg.ParseNameAddr(r.Contact); err == nil {
			if v, ok := na.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					r.Expires = n
				}
			}
		}
	}
	r.Status = Registered
	if r.Expires == 0 || r.Contact == "*" {
		r.Status = Deregistered
	}
	r.Preference, r.PrefFrom = preference(p)
	if !a.allowed(src.Addr()) {
		r.Accepted = false
		r.Why = fmt.Sprintf("source %s is not in vcc_app.accept_from %v: answered 403 Forbidden", src.Addr(), a.o.Lab.VCCApp.AcceptFrom)
	}
	return r
}

// preference finds the domain-selection preference (see the package comment).
func preference(p *sipmsg.Message) (string, string) {
	for _, n := range []string{"P-Domain-Preference", "Domain-Selection-Preference"} {
		if v := sipwire.HeaderValue(p, n); v != "" {
			return v, "header " + n
		}
	}
	for _, c := range p.Values("Contact") {
		na, err := sipmsg.ParseNameAddr(c.Text)
		if err != nil {
			continue
		}
		for _, pr := range na.Params {
			l := strings.ToLower(pr.Name)
			if strings.HasPrefix(l, "+g.3gpp.") && strings.Contains(l, "pref") {
				return pr.Value, "Contact parameter " + pr.Name
			}
		}
	}
	for _, h := range p.Headers {
		if strings.Contains(strings.ToLower(h.Name), "preference") {
			return h.Value, "header " + h.Name
		}
	}
	return "", ""
}

// response builds the answer to a REGISTER: the 200 OK of table A.3.2.2-13
// when rec is given, else a bare error response.
func (a *App) response(p *sipmsg.Message, code int, reason string, rec *Record) []byte {
	var b strings.Builder
	b.Grow(1024)
	w := func(ss ...string) {
		for _, s := range ss {
			b.WriteString(s)
		}
		b.WriteString("\r\n")
	}
	w("SIP/2.0 ", strconv.Itoa(code), " ", reason)
	for _, h := range p.Lines("Via") {
		w("Via: ", h.Value)
	}
	if rec != nil {
		for _, h := range p.Lines("Path") {
			w("Path: ", h.Value)
		}
		w("Service-Route: ", a.sroute)
	}
	w("From: ", sipwire.HeaderValue(p, "From"))
	to := sipwire.HeaderValue(p, "To")
	if na, err := sipmsg.ParseNameAddr(to); err != nil || !hasParam(na.Params, "tag") {
		to += ";tag=" + strconv.FormatUint(rand.Uint64()&0xffffffff, 16)
	}
	w("To: ", to)
	w("Call-ID: ", sipwire.HeaderValue(p, "Call-ID"))
	if rec != nil && rec.Contact != "" {
		c := rec.Contact
		if na, err := sipmsg.ParseNameAddr(c); err == nil && !hasParam(na.Params, "expires") && rec.Expires >= 0 {
			c += ";expires=" + strconv.Itoa(rec.Expires)
		}
		w("Contact: ", c)
	}
	w("CSeq: ", sipwire.HeaderValue(p, "CSeq"))
	if rec != nil {
		w("Date: ", a.o.Now().UTC().Format(http.TimeFormat))
		w("P-Associated-URI: ", a.pau)
	}
	w("Content-Length: 0")
	w()
	return []byte(b.String())
}

func hasParam(ps sipmsg.Params, name string) bool {
	_, ok := ps.Get(name)
	return ok
}
