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
// The mock listens on its own address on UDP and TCP together, whatever
// transport the UE uses, through the shared SIP transport (harness/transport):
// a retransmitted REGISTER is answered from the server transaction's cache,
// and the answer goes where RFC 3261 18.2.2 says (on the request's
// connection over TCP; over UDP to the top Via's received address and
// sent-by port, or to the source with rport), not simply to the datagram's
// source. It records every message it sends or receives into a trace (role
// "VCCApp"), including what does not parse, and applies the deviations of
// step 13. It knows nothing of checks.
package vccapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
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
	// Listen is the host:port to bind, on UDP and TCP (port 0 = one
	// ephemeral port for both); "" means Lab.VCCApp.Listen, then [::1]:0.
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
	// Timers are the RFC 3261 timers of its server transactions (Timer J
	// keeps an answer for retransmissions); zero fields mean the defaults.
	Timers transport.Timers
	// IMPUs, when set, gives the implicit registration set of the IMPU a
	// REGISTER registers (its To), for the 200 OK's P-Associated-URI: a
	// load run's population; nil, or a nil answer, means the lab
	// subscriber's IMPUs.
	IMPUs func(impu string) []string
	// NoSecondOpinion skips sipgo's parse of every message received
	// (transport.Options.NoSecondOpinion): a load run's VCC Application.
	NoSecondOpinion bool
	// NoStore keeps no record in the Store: a load run reads each exchange
	// as it comes (OnRegister), and a record per IMPU of a population would
	// only take memory.
	NoStore bool
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
	tl        *transport.Layer
	once      sync.Once
}

// Start binds the mock's address on UDP and TCP and serves until ctx ends
// or Close.
func Start(ctx context.Context, o Options) (*App, error) {
	if o.Lab == nil {
		return nil, errors.New("vccapp: options: expected a lab profile, got nil")
	}
	listen := o.Listen
	if listen == "" {
		listen = o.Lab.VCCApp.Listen
	}
	if listen == "" {
		listen = "[::1]:0"
	}
	laddr, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, fmt.Errorf("vccapp: listen address: expected host:port with an IP literal, got %q", listen)
	}
	a := &App{o: o, tr: o.Trace, devs: deviation.For(o.Deviations, "13"), log: o.Logger}
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

	// The mock takes REGISTER only: other requests (answered 405), ACKs
	// and stray responses are unrelated traffic, counted and kept only in
	// part.
	a.tl = transport.New(transport.Options{Role: Role, Trace: a.tr, Timers: o.Timers, Logger: a.log, NoSecondOpinion: o.NoSecondOpinion,
		Takes: func(req *sipmsg.Message) bool { return req.Method == "REGISTER" }})
	e, err := a.tl.Listen(ctx, laddr, a.handle)
	if err != nil {
		a.tl.Close()
		return nil, fmt.Errorf("vccapp: %w", err)
	}
	a.addr = e.Addr()
	// Close when ctx ends; Close itself stops the watch, so nothing is left
	// waiting on a context that is never cancelled.
	a.stopWatch = context.AfterFunc(ctx, func() { a.Close() })
	return a, nil
}

// Addr is the address the mock is bound to, on UDP and TCP.
func (a *App) Addr() netip.AddrPort { return a.addr }

// Store returns the registration information received.
func (a *App) Store() *Store { return &a.store }

// Trace returns the trace the mock records into.
func (a *App) Trace() *trace.Trace { return a.tr }

// Repeats are the messages the mock's transactions took in more than once:
// a REGISTER the S-CSCF sent again, answered from the cache
// (transport.Layer.Repeats).
func (a *App) Repeats() transport.Repeats { return a.tl.Repeats() }

// Close stops serving and waits for the receivers.
func (a *App) Close() error {
	if a.stopWatch != nil {
		a.stopWatch()
	}
	a.once.Do(func() { a.tl.Close() })
	return nil
}

// handle answers a new request (the transport answers its retransmissions
// from the server transaction). Responses, ACKs and what does not parse are
// only recorded (by the transport).
func (a *App) handle(in *transport.Incoming) {
	p := in.Parsed
	a.log.Debug("vccapp: received", "from", in.Msg.Src, "note", in.Msg.Note)
	if p == nil || in.Tx == nil {
		return
	}
	src := in.Msg.Src
	if p.Method != "REGISTER" {
		if _, err := in.Tx.Respond(a.response(p, 405, "Method Not Allowed", nil).Bytes()); err != nil {
			a.log.Debug("vccapp: send failed", "to", src, "err", err)
		}
		return
	}
	rec := a.record(p, src)
	var res *sipmsg.Message
	if rec.Accepted {
		res = a.response(p, 200, "OK", &rec)
	} else {
		res = a.response(p, 403, "Forbidden", nil)
	}
	raw, ok := deviation.Outgoing(a.devs, res)
	if raw == nil {
		raw = res.Bytes()
	}
	if !a.o.NoStore {
		a.store.put(rec)
	}
	ex := Exchange{Request: in.Msg, Record: rec}
	if ok {
		m, err := in.Tx.Respond(raw)
		if err != nil {
			a.log.Debug("vccapp: send failed", "to", src, "err", err)
		} else {
			ex.Response = &m
		}
	}
	if a.o.OnRegister != nil {
		a.o.OnRegister(ex)
	}
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
	r := Record{Source: src, CallID: p.Get("Call-ID"), CSeq: p.Get("CSeq"), At: a.o.Now(), Expires: -1, Accepted: true}
	if to := p.Get("To"); to != "" {
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
	if e := p.Get("Expires"); e != "" {
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
		if v := p.Get(n); v != "" {
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
func (a *App) response(p *sipmsg.Message, code int, reason string, rec *Record) *sipmsg.Message {
	r := sipmsg.NewResponse(p, code, reason, strconv.FormatUint(rand.Uint64()&0xffffffff, 16))
	if rec == nil {
		return r
	}
	for _, h := range p.Lines("Path") {
		r.InsertBefore("From", "Path", h.Value)
	}
	r.InsertBefore("From", "Service-Route", a.sroute)
	if rec.Contact != "" {
		c := rec.Contact
		if na, err := sipmsg.ParseNameAddr(c); err == nil && !hasParam(na.Params, "expires") && rec.Expires >= 0 {
			c += ";expires=" + strconv.Itoa(rec.Expires)
		}
		r.InsertBefore("CSeq", "Contact", c)
	}
	r.InsertBefore("Content-Length", "Date", a.o.Now().UTC().Format(http.TimeFormat))
	pau := a.pau
	if a.o.IMPUs != nil {
		if set := a.o.IMPUs(rec.IMPU); set != nil {
			uris := make([]string, len(set))
			for i, u := range set {
				uris[i] = "<" + u + ">"
			}
			pau = strings.Join(uris, ", ")
		}
	}
	r.InsertBefore("Content-Length", "P-Associated-URI", pau)
	return r
}

func hasParam(ps sipmsg.Params, name string) bool {
	_, ok := ps.Get(name)
	return ok
}
