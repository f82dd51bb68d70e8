// Package refcore is the embedded reference IMS core: a P-CSCF, an I-CSCF
// and an S-CSCF as three real SIP hops on loopback, each with its own socket,
// and an in-memory HSS with Milenage authentication vectors and SQN
// re-synchronisation. It answers the VCC UE's REGISTERs as TS 24.229 and the
// tables of TS 24.206 annex A.3.2.2 say (IMS AKA with AKAv1-MD5), sends the
// third-party REGISTER of step 11 to the VCC Application as TS 24.229
// 5.4.1.7 has the S-CSCF originate it (under every profile; the deviation
// 11/as-table passes the UE's REGISTER on as table A.3.2.2-11 shows it
// instead), and applies the
// deviations it is given to its own steps (5, 10/14, 11) so that a test can
// show each rule fail.
//
// With Config.HSS set, the I-CSCF and the S-CSCF speak Diameter Cx
// (TS 29.228, TS 29.229) to that HSS, each as its own client peer: the
// I-CSCF sends UAR, the S-CSCF MAR (and MAR with RAND‖AUTS to
// re-synchronise) and, after a successful authentication, SAR, and they act
// on the answers. The deviations of the Cx steps (3.UAR, 3.MAR, 8.UAR,
// 9.SAR) edit those requests' AVPs or withhold them. Without Config.HSS the
// Cx queries are function calls on an in-memory HSS.
//
// Each hop is an endpoint of its own instance of the shared SIP transport
// (harness/transport), listening on UDP and TCP at once: it answers through
// RFC 3261 server transactions (a retransmitted request gets the cached
// answer), relays and originates through client transactions that
// retransmit over UDP, and routes responses per RFC 3261 18.2.2; each hop's
// own Via carries rport (RFC 3581), so that the hop after it answers to the
// socket it sent from, whatever host name the Via names.
//
// Each CSCF's Cx peer is a diameter.Link: connected at Start (each CSCF
// waits for its own connection, Config.CxWait), watched by the RFC 3539
// watchdog, connected again every Config.Tc when it is lost; while a CSCF has
// no connection it answers 480 (TS 24.229 5.3.1.2).
//
// As a server it holds bounded state for a bounded time, whatever its peers
// send (Limits): each hop's server transactions (a request beyond them is
// answered 503), its accepted TCP connections (one goroutine each, closed
// when idle or when a message stays unfinished), the S-CSCF's challenges
// (reg-await-auth, TS 24.229 table 7.8.1) and the registrations (their
// expiry). A request that parses as SIP but breaks the grammar of a header
// every hop reads (Via, From, To, Call-ID, CSeq, Max-Forwards, the
// Request-URI, Contact) is answered 400, as a real server answers a
// scanner's.
//
// With the lab's sut.ipsec the P-CSCF runs the security agreement of
// TS 33.203 7.1 over real ESP in user space (harness/esp, ipsec.go): its 401
// carries a Security-Server with the ports and SPIs of its own lease from
// the process's pool, it creates the four SAs with the IK and CK of the
// S-CSCF's 401 before the 401 leaves, and it takes the protected REGISTER
// only over them, on its port-s; a REGISTER sent in clear to a protected
// port is refused (the kernel has no socket there), one with
// Security-Verify on the unprotected port is answered 403. The ESP
// deviations (10/bad-icv, 10/wrong-spi, 10/replay, 10/in-clear,
// 5/alg-not-offered) break the SAs on purpose. Without sut.ipsec the
// protected REGISTER arrives on the same entry socket, in clear.
//
// It is test equipment, not a product: one subscriber (the lab's), no
// Diameter routing or failover, loopback addresses only: it binds only
// loopback addresses and its transport refuses to send anywhere else.
package refcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/subscribers"
	"imsconform/harness/transport"
)

// DefaultSecurityServer is the Security-Server of table A.3.2.2-5.
const DefaultSecurityServer = "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531"

// InnerT2 is the T2 of the hops that relay to the next hop of the core (see
// Config.Timers).
const InnerT2 = time.Second

// Garbage is what a malformed deviation sends when it gives no Value: bytes
// that do not parse as SIP.
const Garbage = "\x00\x01\x02 this is not a SIP message \xff\xfe\r\n\r\n"

// Config configures a reference core.
type Config struct {
	Lab        *lab.Profile          // identities, realm, core names, subscriber, profile ("a322" default, or "ts24229": the same core), max expires
	Host       string                // loopback IP all nodes bind: "::1" or "127.0.0.1"
	Transport  string                // "udp" or "tcp": the inner hops and the Via token (every hop listens on both)
	EntryAddr  string                // optional fixed host:port for the P-CSCF (standalone command); "" = port 0
	VCCApp     netip.AddrPort        // where the S-CSCF sends the REGISTER of step 11
	Deviations []deviation.Deviation // deviations of steps 5, 10/14, 11, the Cx steps 3.UAR, 3.MAR, 8.UAR, 9.SAR and the core's behaviours
	Logger     *slog.Logger          // optional
	// SecurityServer is the Security-Server value of the 401; "" means
	// DefaultSecurityServer.
	SecurityServer string
	// Timers are the RFC 3261 timers of every hop; zero fields mean the
	// defaults (T1 500 ms, T4 5 s), but for T2 (RFC 3261 17.1.2.2: how long
	// a server takes to answer when it does not answer at once): the P-CSCF
	// and the I-CSCF relay only to the next hop of the core, on loopback,
	// which answers within milliseconds, so their T2 is InnerT2 (1 s: their
	// retransmissions under loss come every second, not every 4); the
	// S-CSCF's, whose step 11 goes to the VCC Application, is the RFC's 4 s.
	Timers transport.Timers
	// ShardVCCApps, when not empty, split the population into
	// len(ShardVCCApps) slices (subscribers.Shard.Slice) and send the
	// REGISTER of step 11 of the i-th slice's subscribers to
	// ShardVCCApps[i], as an iFC per slice would: a load run split into
	// shards, each playing its own VCC Application. Others go to VCCApp.
	ShardVCCApps []netip.AddrPort
	// Population is the population of a load run the in-memory HSS serves
	// besides the lab's subscriber; nil means the lab's (subscribers.count),
	// none when that is 0. Over Cx the HSS the core queries must hold it.
	Population *subscribers.Set
	// HSS is the Diameter Cx address (TCP, loopback) of the HSS that the
	// I-CSCF and the S-CSCF query, each as a client peer; the zero value
	// means the in-memory HSS (no Diameter). Over Cx the HSS owns the SQN:
	// the stale-sqn deviation is then the HSS's to play, not the core's.
	HSS netip.AddrPort
	// Tc is how often the CSCFs try to connect to the HSS while they have
	// no connection; 0 means DefaultTc.
	Tc time.Duration
	// CxWait is how long Start waits for each CSCF's first connection to
	// the HSS; 0 means DefaultCxWait, negative means Start does not wait
	// (the CSCFs answer 480 until they are connected).
	CxWait time.Duration
	// Watchdog is Tw of the connections to the HSS (RFC 3539); 0 means
	// diameter.DefaultWatchdog.
	Watchdog time.Duration
	// Limits bound what the core holds for its peers; zero fields mean
	// the defaults (see Limits).
	Limits Limits
}

// Core is a running reference core.
type Core struct {
	cfg     Config
	lab     *lab.Profile
	profile string
	tp      string // transport.UDP or transport.TCP
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once

	layers  []*transport.Layer // one per hop, as if each ran on its own
	p, i, s *transport.Endpoint
	hss     *hss
	cx      *cxPeers    // nil: the in-memory HSS answers the Cx queries
	sec     *pcscfIPsec // nil without sut.ipsec

	// The population besides the lab's subscriber (population.go), nil
	// for none, and its authentication centre.
	pop *subscribers.Set
	auc *subscribers.AuC

	// The tables, bounded by Config.Limits, each entry expiring: a
	// challenge after reg-await-auth, the others with their registration.
	mu     sync.Mutex
	nonces *table[*nonceRec] // S-CSCF: nonce -> vector
	routes *table[string]    // P-CSCF: IMPU -> Service-Route
	regs   *table[int]       // S-CSCF: IMPU -> granted expires
	impus  *table[[]string]  // S-CSCF: IMPI -> IMPUs of the last user profile from the HSS (Cx)
	// relayed200 is signalled when the P-CSCF has relayed a 2xx to the UE
	// (deviation 9.SAR/late waits for it).
	relayed200 chan struct{}
	vccCSeq    int
	ready      chan struct{} // closed once every hop's endpoint is set
}

// pTx is what the P-CSCF keeps of a REGISTER it relays.
type pTx struct {
	ue       netip.AddrPort // where the REGISTER came from
	secAgree bool           // the REGISTER carried Security-Client
	authResp bool           // the REGISTER carried credentials (a non-empty response)
	// protected: the REGISTER came over the security associations (under
	// sut.ipsec, to the protected server port of agreement sa; without it,
	// the lab says sut.ipsec and the REGISTER carried Security-Verify): its
	// responses go back the way it came, to the UE's port-c (TS 33.203 7.1),
	// not to the Via sent-by.
	protected bool
	sa        *pAgreement
	client    []string // the Security-Client lines
}

type nonceRec struct {
	v       aka.Vector
	xres    []byte // XRES as the HSS gave it
	impi    string
	lateMAR bool // deviation 3.MAR/late: the MAR is still to be sent
}

// LoopbackAddr reads hostport ("host:port", host an IP literal, IPv6 in
// brackets) and refuses any address that is not loopback: the reference core
// is test equipment on this host only.
func LoopbackAddr(hostport string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("refcore: address: expected host:port with an IP literal, got %q: %v", hostport, err)
	}
	if err := loopbackOnly(ap); err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// loopbackOnly is the core's transport policy: loopback destinations only.
func loopbackOnly(ap netip.AddrPort) error {
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("refcore: expected a loopback address (127.0.0.0/8 or ::1), got %s", ap.Addr())
	}
	return nil
}

// Start starts the three CSCFs and the HSS. Close stops them.
func Start(ctx context.Context, cfg Config) (*Core, error) {
	if cfg.Lab == nil {
		return nil, errors.New("refcore: expected a lab profile in Config.Lab, got nil")
	}
	tp, err := transport.Network(cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("refcore: %w", err)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	ha, err := netip.ParseAddr(host)
	if err != nil || !ha.IsLoopback() {
		return nil, fmt.Errorf("refcore: Host: expected a loopback IP (\"::1\" or \"127.0.0.1\"), got %q", cfg.Host)
	}
	ha = ha.Unmap()
	for _, v := range append([]netip.AddrPort{cfg.VCCApp}, cfg.ShardVCCApps...) {
		if v.IsValid() && !v.Addr().IsLoopback() {
			return nil, fmt.Errorf("refcore: VCCApp: expected a loopback address, got %s", v)
		}
	}
	entry := netip.AddrPortFrom(ha, 0)
	if cfg.EntryAddr != "" {
		if entry, err = LoopbackAddr(cfg.EntryAddr); err != nil {
			return nil, err
		}
	}
	profile := cfg.Lab.Profile
	switch profile {
	case "", "a322":
		profile = "a322"
	case "ts24229":
	default:
		return nil, fmt.Errorf("refcore: lab profile: expected \"a322\" or \"ts24229\", got %q", profile)
	}
	h, err := newHSS(cfg.Lab.Subscriber)
	if err != nil {
		return nil, err
	}
	pop, err := population(cfg)
	if err != nil {
		return nil, fmt.Errorf("refcore: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SecurityServer == "" {
		cfg.SecurityServer = DefaultSecurityServer
	}
	cctx, cancel := context.WithCancel(context.Background())
	lim := cfg.Limits.withDefaults()
	if pop != nil && cfg.Limits.MaxRegistrations <= 0 && pop.Len()+1 > lim.MaxRegistrations {
		// A core provisioned with a population keeps every one of its
		// subscribers registered at once (a load run holds them all).
		lim.MaxRegistrations = pop.Len() + 1
	}
	c := &Core{
		cfg: cfg, lab: cfg.Lab, profile: profile, tp: tp, log: log, ctx: cctx, cancel: cancel, hss: h, pop: pop,
		nonces: newTable[*nonceRec](lim.MaxChallenges), routes: newTable[string](lim.MaxRegistrations),
		regs: newTable[int](lim.MaxRegistrations), impus: newTable[[]string](lim.MaxRegistrations),
		relayed200: make(chan struct{}, 1), ready: make(chan struct{}),
	}
	if pop != nil {
		c.auc = subscribers.NewAuC(pop, nil)
	}
	if cfg.HSS.IsValid() {
		if err := c.startCx(ctx, ha); err != nil {
			cancel()
			return nil, err
		}
	}
	for _, n := range []struct {
		name string
		ep   **transport.Endpoint
		at   netip.AddrPort
		h    transport.Handler
	}{{"P-CSCF", &c.p, entry, c.pcscf}, {"I-CSCF", &c.i, netip.AddrPortFrom(ha, 0), c.icscf}, {"S-CSCF", &c.s, netip.AddrPortFrom(ha, 0), c.scscf}} {
		h := n.h
		// A message that comes while the other hops are still binding waits
		// until every hop's endpoint is known.
		gated := func(in *transport.Incoming) {
			select {
			case <-c.ready:
				h(in)
			case <-cctx.Done():
			}
		}
		timers := cfg.Timers
		if timers.T2 == 0 && n.name != "S-CSCF" {
			timers.T2 = InnerT2
		}
		l := transport.New(transport.Options{Timers: timers, Reach: loopbackOnly, Logger: log.With("node", n.name),
			MaxMessage: lim.MaxMessage, HeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout,
			MaxConnections: lim.MaxConnections, MaxTransactions: lim.MaxTransactions})
		c.layers = append(c.layers, l)
		if *n.ep, err = l.Listen(cctx, n.at, gated); err != nil {
			c.Close()
			return nil, fmt.Errorf("refcore: %s: %w", n.name, err)
		}
	}
	if cfg.Lab.SUT.IPsec {
		if c.sec, err = startPCSCFIPsec(ha, c.layers[0], log.With("node", "P-CSCF")); err != nil {
			c.Close()
			return nil, err
		}
	}
	close(c.ready)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-cctx.Done():
		}
	}()
	log.Info("reference core started", "profile", profile, "transport", tp, "pcscf", c.p.Addr(), "icscf", c.i.Addr(), "scscf", c.s.Addr(), "vcc_app", cfg.VCCApp, "hss", cfg.HSS)
	return c, nil
}

// PCSCF returns the UE-facing entry of the core (UDP and TCP).
func (c *Core) PCSCF() netip.AddrPort { return c.p.Addr() }

// ICSCF returns the I-CSCF's address (an inner hop).
func (c *Core) ICSCF() netip.AddrPort { return c.i.Addr() }

// SCSCF returns the S-CSCF's address: the source of the REGISTER of step 11
// and where the VCC Application's 200 OK (step 13) must go.
func (c *Core) SCSCF() netip.AddrPort { return c.s.Addr() }

// Close stops everything. It is idempotent.
func (c *Core) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.closeCx()
		for _, l := range c.layers {
			l.Close()
		}
		c.sec.close()
		c.wg.Wait()
	})
	return nil
}

// devs returns the deviations of step ("10" also matches "14").
func (c *Core) devs(step string) []deviation.Deviation {
	ds := deviation.For(c.cfg.Deviations, step)
	if step == "10" {
		ds = append(ds, deviation.For(c.cfg.Deviations, "14")...)
	}
	return ds
}

// outgoing applies the deviations of step to m, the core's message of that
// step: no-answer withholds it (send is false), malformed replaces it with
// Garbage (or the deviation's value), header edits edit it. It returns the
// bytes to send.
func (c *Core) outgoing(step string, m *sipmsg.Message) (raw []byte, send bool) {
	ds := c.devs(step)
	if deviation.Has(ds, deviation.NoAnswer) {
		c.log.Info("deviation no-answer: message not sent", "step", step)
		return nil, false
	}
	if d, ok := deviation.Find(ds, deviation.Malformed); ok {
		c.log.Info("deviation malformed: garbage sent instead", "step", step)
		if d.Value == "" {
			return []byte(Garbage), true
		}
	}
	raw, send = deviation.Outgoing(ds, m)
	if raw == nil {
		raw = m.Bytes()
	}
	return raw, send
}

// reply answers a request through its server transaction.
func (c *Core) reply(tx *transport.ServerTx, raw []byte) {
	if _, err := tx.Respond(raw); err != nil {
		c.log.Warn("answer not sent", "error", err)
	}
}

// respond builds a response to req with the Vias, From, To (with a tag),
// Call-ID and CSeq of req.
func respond(req *sipmsg.Message, status int, reason string) *sipmsg.Message {
	return sipmsg.NewResponse(req, status, reason, randHex(4))
}

// failed is the response a hop gives when its relayed request got none
// (RFC 3261 16.7 and 16.8: 408 after Timer F, 503 when the next hop is
// unreachable); 0 when the core is closing.
func failed(err error) (int, string) {
	switch {
	case errors.Is(err, transport.ErrClosed), errors.Is(err, context.Canceled):
		return 0, ""
	case errors.As(err, new(*transport.UnreachableError)):
		return 503, "Service Unavailable"
	}
	return 408, "Request Timeout"
}

// wellFormed checks what every hop needs of a request.
func wellFormed(m *sipmsg.Message) error {
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if strings.TrimSpace(m.Get(h)) == "" {
			return fmt.Errorf("expected a %s header, got none", h)
		}
	}
	if text, _, err := m.TopVia(); err != nil {
		return fmt.Errorf("expected a Via of the form SIP/2.0/UDP host[:port];branch=..., got %q", text)
	}
	_, meth, err := m.CSeq()
	if err != nil || meth != m.Method {
		return fmt.Errorf("expected CSeq \"<number> %s\", got %q", m.Method, m.Get("CSeq"))
	}
	if mf := m.Get("Max-Forwards"); mf != "" {
		if v, err := strconv.Atoi(mf); err != nil || v < 0 || v > 255 {
			return fmt.Errorf("expected Max-Forwards 0..255, got %q", mf)
		}
	}
	// The addresses a registrar reads (RFC 3261 10.3, 20.10, 20.20, 20.39):
	// a request that breaks their grammar is answered 400, as a real server
	// answers, e.g., a scanner's "Contact: None".
	if u, err := sipmsg.ParseURI(m.RequestURI); err != nil || (u.Scheme != "sip" && u.Scheme != "sips") {
		return fmt.Errorf("expected a SIP or SIPS Request-URI, got %q", m.RequestURI)
	}
	for _, h := range []string{"From", "To"} {
		if !addressOK(m.Get(h)) {
			return fmt.Errorf("expected a %s of the form name-addr or addr-spec (RFC 3261 20.20, 20.39), got %q", h, m.Get(h))
		}
	}
	for _, v := range m.Values("Contact") {
		if strings.TrimSpace(v.Text) != "*" && !addressOK(v.Text) {
			return fmt.Errorf("expected a Contact of the form name-addr, addr-spec or \"*\" (RFC 3261 20.10), got %q", v.Text)
		}
	}
	return nil
}

// addressOK reports whether v is a name-addr or addr-spec whose URI has a
// scheme of RFC 3261 25.1's grammar (ALPHA *( ALPHA / DIGIT / "+" / "-" /
// "." )) and, for sip and sips, a host.
func addressOK(v string) bool {
	na, err := sipmsg.ParseNameAddr(v)
	if err != nil || na.URI == nil {
		return false
	}
	sch, _, _ := strings.Cut(na.URI.Raw, ":")
	for i, r := range sch {
		alpha := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !alpha && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return sch != "" && (na.URI.Scheme != "sip" && na.URI.Scheme != "sips" || na.URI.Host != "")
}

// decMaxForwards decrements Max-Forwards (adding 69 when absent); false
// when it was already 0.
func decMaxForwards(m *sipmsg.Message) bool {
	mf := m.Get("Max-Forwards")
	if mf == "" {
		m.InsertAfter("Via", "Max-Forwards", "69")
		return true
	}
	v, _ := strconv.Atoi(mf)
	if v <= 0 {
		return false
	}
	m.Set("Max-Forwards", strconv.Itoa(v-1))
	return true
}

// via is the Via line a hop of the core puts on top of what it relays.
func (c *Core) via(name string) string {
	return "SIP/2.0/" + c.tp + " " + name + ";rport;branch=" + newBranch()
}

// relay sends m, a request, from hop to next in a client transaction and
// hands its final response, with the relaying hop's Via popped, to then; a
// relay that gets none answers the request of tx with 408 or 503.
func (c *Core) relay(hop *transport.Endpoint, next netip.AddrPort, tx *transport.ServerTx, m *sipmsg.Message, then func(res *sipmsg.Message)) {
	_, err := hop.Request(c.ctx, transport.Dest{Transport: c.tp, Addr: next}, m, func(in *transport.Incoming, err error) {
		if err != nil {
			if code, reason := failed(err); code != 0 {
				c.log.Info("relayed request got no answer", "to", next, "error", err)
				if req := tx.Request(); req != nil {
					c.reply(tx, respond(req.Parsed, code, reason).Bytes())
				}
			}
			return
		}
		res := in.Parsed
		res.PopVia()
		then(res)
	})
	if err != nil {
		c.log.Warn("relay failed", "to", next, "error", err)
	}
}

// ---- P-CSCF ----

func (c *Core) pcscf(in *transport.Incoming) {
	req := in.Parsed
	if req == nil {
		c.log.Info("P-CSCF: message dropped", "from", in.Msg.Src, "reason", in.Err)
		return
	}
	if !req.Request {
		c.log.Info("P-CSCF: response to an unknown transaction dropped", "from", in.Msg.Src)
		return
	}
	tx := in.Tx
	if tx == nil {
		return // ACK
	}
	if err := wellFormed(req); err != nil {
		if _, _, verr := req.TopVia(); verr == nil {
			r := respond(req, 400, "Bad Request")
			r.InsertBefore("Content-Length", "Warning", `399 `+c.lab.Core.PCSCFName+` "`+strings.ReplaceAll(err.Error(), `"`, "'")+`"`)
			c.reply(tx, r.Bytes())
		}
		c.log.Info("P-CSCF: bad request", "from", in.Msg.Src, "reason", err)
		return
	}
	if req.Method != "REGISTER" {
		r := respond(req, 405, "Method Not Allowed")
		r.InsertBefore("Content-Length", "Allow", "REGISTER")
		c.reply(tx, r.Bytes())
		return
	}
	t := &pTx{ue: in.Msg.Src, secAgree: req.Has("Security-Client"),
		protected: c.lab.SUT.IPsec && req.Has("Security-Verify")}
	if c.sec != nil {
		t.sa = c.sec.agreement(in.Endpoint)
		t.protected = t.sa != nil
		if !t.protected && req.Has("Security-Verify") {
			r := respond(req, 403, "Forbidden")
			r.InsertBefore("Content-Length", "Warning", securityVerifyOutside(c.lab.Core.PCSCFName))
			c.reply(tx, r.Bytes())
			return
		}
		for _, h := range req.Lines("Security-Client") {
			t.client = append(t.client, h.Value)
		}
	}
	if d, ok := digestParams(req.Get("Authorization")); ok && d["response"] != "" {
		t.authResp = true
	}
	if t.secAgree && !strings.Contains(strings.ToLower(req.Get("Security-Client")), "ipsec-3gpp") {
		r := respond(req, 494, "Security Agreement Required")
		r.InsertBefore("Content-Length", "Security-Server", c.cfg.SecurityServer)
		c.reply(tx, r.Bytes())
		return
	}
	m := req.Clone()
	if !decMaxForwards(m) {
		c.reply(tx, respond(req, 483, "Too Many Hops").Bytes())
		return
	}
	// TS 24.229 5.2.2: sec-agree stops at the P-CSCF (RFC 3329 2.4: it removes
	// the option tag), and the P-CSCF that inserts Path requires the "path"
	// extension of the registrar (RFC 3327 5.2): the relayed REGISTER carries
	// Require: path, which table A.3.2.2-11 shows in the REGISTER passed on.
	// TS 24.229 5.2.2: the P-CSCF marks the credentials it passes on with
	// integrity-protected, "yes" for a REGISTER that came over the security
	// association (it carries Security-Verify), "no" for the first one.
	if a := m.Get("Authorization"); a != "" {
		ip := "no"
		if m.Has("Security-Verify") && (c.sec == nil || t.protected) {
			ip = "yes"
		}
		m.Set("Authorization", a+`, integrity-protected="`+ip+`"`)
	}
	m.Del("Security-Client")
	m.Del("Security-Verify")
	m.Del("Proxy-Require")
	m.Del("Require")
	m.InsertAfter("Max-Forwards", "Require", "path")
	m.PrependVia(c.via(c.lab.Core.PCSCFName))
	path := "<sip:term@" + c.lab.Core.PCSCFName + ";lr>"
	switch {
	case m.Has("Path"):
		m.InsertBefore("Path", "Path", path)
	case m.Has("P-Access-Network-Info"):
		m.InsertAfter("P-Access-Network-Info", "Path", path)
	default:
		m.InsertAfter("Max-Forwards", "Path", path)
	}
	vn := c.lab.Core.VisitedNetworkID
	if vn == "" {
		vn = c.lab.Core.PCSCFName
	}
	m.Set("P-Visited-Network-ID", vn)
	if !m.Has("P-Charging-Vector") {
		m.Set("P-Charging-Vector", "icid-value="+randHex(12)+";orig-ioi="+vn)
	}
	c.relay(c.p, c.i.Addr(), tx, m, func(res *sipmsg.Message) { c.pcscfResponse(t, tx, res) })
}

// pcscfResponse passes the final response of the I-CSCF on to the UE: the
// 401 without CK and IK and with Security-Server (step 5), the 200 OK with
// its Service-Route remembered (steps 10/14).
func (c *Core) pcscfResponse(t *pTx, tx *transport.ServerTx, m *sipmsg.Message) {
	step := ""
	switch {
	case m.StatusCode == 401:
		step = "5"
		ss := c.cfg.SecurityServer
		if t.sa != nil {
			// A new challenge of a REGISTER that came over the SAs: they
			// stay, and the 401 names them again (TS 33.203 7.4's new set
			// of SAs is not made).
			ss = t.sa.mech.String()
		} else if c.sec != nil && t.secAgree {
			// TS 33.203 7.1: the SAs are made with the keys of this 401,
			// before it leaves.
			var err error
			ss, err = c.sec.agree(c.ctx, t.ue.Addr(), t.client, m.Get("WWW-Authenticate"), c.pcscf, append(c.devs("5"), c.devs("10")...))
			if err != nil {
				c.log.Warn("P-CSCF: no security agreement", "error", err)
				if req := tx.Request(); req != nil {
					r := respond(req.Parsed, 500, "Server Internal Error")
					r.InsertBefore("Content-Length", "Warning", "399 "+c.lab.Core.PCSCFName+" "+strconv.Quote("no security association: "+err.Error()))
					c.reply(tx, r.Bytes())
				}
				return
			}
		}
		// TS 24.229 5.2.2: the P-CSCF removes ck and ik before passing on.
		_ = deviation.Apply([]deviation.Deviation{
			{Action: deviation.DropParam, Header: "WWW-Authenticate", Param: "ck"},
			{Action: deviation.DropParam, Header: "WWW-Authenticate", Param: "ik"}}, m)
		if t.secAgree {
			m.InsertAfter("WWW-Authenticate", "Security-Server", ss)
		}
	case m.StatusCode >= 200 && m.StatusCode < 300:
		step = "10"
		if sr := m.Get("Service-Route"); sr != "" {
			impu := strings.Clone(uriOf(m.Get("To")))
			now := time.Now()
			c.mu.Lock()
			if exp := contactExpires(m); exp > 0 {
				c.routes.put(impu, strings.Clone(sr), now.Add(time.Duration(exp)*time.Second), now)
			} else {
				c.routes.del(impu)
			}
			c.mu.Unlock()
		}
	case t.authResp:
		step = "10"
	}
	raw, send := m.Bytes(), true
	if step != "" {
		raw, send = c.outgoing(step, m)
	}
	if !send {
		return
	}
	var err error
	if t.sa != nil {
		var devs []deviation.Deviation
		if step == "10" && m.StatusCode >= 200 && m.StatusCode < 300 {
			devs = c.devs("10")
		}
		err = c.sec.respond(t.sa, tx, t.ue, raw, devs, c.tp)
	} else if t.protected {
		_, err = tx.RespondTo(t.ue, raw)
	} else {
		_, err = tx.Respond(raw)
	}
	if err != nil {
		c.log.Warn("P-CSCF: answer to the UE not sent", "step", step, "error", err)
	}
	if m.StatusCode >= 200 && m.StatusCode < 300 {
		select {
		case c.relayed200 <- struct{}{}:
		default:
		}
	}
}

// ---- I-CSCF ----

func (c *Core) icscf(in *transport.Incoming) {
	m, tx := in.Parsed, in.Tx
	if m == nil || tx == nil {
		return
	}
	if err := wellFormed(m); err != nil || !m.Has("P-Visited-Network-ID") {
		c.reply(tx, respond(m, 400, "Bad Request").Bytes())
		return
	}
	impi := ""
	d, hasAuth := digestParams(m.Get("Authorization"))
	if hasAuth {
		impi = d["username"]
	}
	if c.cx != nil {
		// Cx user-registration-status query (UAR/UAA) over Diameter, off the
		// node's reader so that other messages keep flowing meanwhile.
		step := deviation.StepUAR3
		switch {
		case d["response"] != "":
			step = deviation.StepUAR8
		case d["auts"] != "":
			step = "" // the REGISTER of a re-synchronisation: no step of the flow
		}
		impu := uriOf(m.Get("To"))
		if impi == "" {
			impi = impiOf(impu)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			server, status, reason := c.uar(m, impi, impu, step)
			if status == 0 && !c.knownSCSCF(server) {
				c.log.Info("I-CSCF: the HSS names an S-CSCF this core does not have", "server_name", server)
				status, reason = 500, "Server Internal Error"
			}
			if status != 0 {
				c.reply(tx, respond(m, status, reason).Bytes())
				return
			}
			c.icscfForward(m, tx)
		}()
		return
	}
	// Cx user-registration-status query (UAR/UAA), in memory.
	if !c.knows(impi, uriOf(m.Get("To"))) {
		c.log.Info("I-CSCF: user unknown to the HSS", "impu", uriOf(m.Get("To")))
		c.reply(tx, respond(m, 403, "Forbidden").Bytes())
		return
	}
	c.icscfForward(m, tx)
}

// icscfForward relays a REGISTER to the S-CSCF and its answer back.
func (c *Core) icscfForward(req *sipmsg.Message, tx *transport.ServerTx) {
	m := req.Clone()
	if !decMaxForwards(m) {
		c.reply(tx, respond(req, 483, "Too Many Hops").Bytes())
		return
	}
	m.PrependVia(c.via(c.lab.Core.ICSCFName))
	c.relay(c.i, c.s.Addr(), tx, m, func(res *sipmsg.Message) { c.reply(tx, res.Bytes()) })
}
