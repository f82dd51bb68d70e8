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
// It is test equipment, not a product: one subscriber (the lab's), no real
// IPsec (the protected REGISTER arrives on the same entry socket), no
// Diameter routing or failover, loopback addresses only.
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
	"imsconform/harness/sipstack"
)

// DefaultSecurityServer is the Security-Server of table A.3.2.2-5.
const DefaultSecurityServer = "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531"

// Garbage is what a malformed deviation sends when it gives no Value: bytes
// that do not parse as SIP.
const Garbage = "\x00\x01\x02 this is not a SIP message \xff\xfe\r\n\r\n"

// Config configures a reference core.
type Config struct {
	Lab        *lab.Profile          // identities, realm, core names, subscriber, profile ("a322" default, or "ts24229": the same core), max expires
	Host       string                // loopback IP all nodes bind: "::1" or "127.0.0.1"
	Transport  string                // "udp" or "tcp" (UE-facing; inner hops use the same)
	EntryAddr  string                // optional fixed host:port for the P-CSCF (standalone command); "" = port 0
	VCCApp     netip.AddrPort        // where the S-CSCF sends the REGISTER of step 11
	Deviations []deviation.Deviation // deviations of steps 5, 10/14, 11, the Cx steps 3.UAR, 3.MAR, 8.UAR, 9.SAR and the core's behaviours
	Logger     *slog.Logger          // optional
	// SecurityServer is the Security-Server value of the 401; "" means
	// DefaultSecurityServer.
	SecurityServer string
	// HSS is the Diameter Cx address (TCP, loopback) of the HSS that the
	// I-CSCF and the S-CSCF query, each as a client peer; the zero value
	// means the in-memory HSS (no Diameter). Over Cx the HSS owns the SQN:
	// the stale-sqn deviation is then the HSS's to play, not the core's.
	HSS netip.AddrPort
}

// Core is a running reference core.
type Core struct {
	cfg     Config
	lab     *lab.Profile
	profile string
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once

	p, i, s *node
	hss     *hss
	cx      *cxPeers // nil: the in-memory HSS answers the Cx queries

	mu     sync.Mutex
	ptx    map[string]*pTx      // P-CSCF: its branch -> transaction
	pByUE  map[string]*pTx      // P-CSCF: UE transaction key -> transaction
	itx    map[string]peer      // I-CSCF: its branch -> previous hop
	nonces map[string]*nonceRec // S-CSCF: nonce -> vector
	vccTx  map[string]chan int  // S-CSCF: step 11 branch -> final status
	routes map[string]string    // P-CSCF: IMPU -> Service-Route
	regs   map[string]int       // S-CSCF: IMPU -> granted expires
	impus  map[string][]string  // S-CSCF: IMPI -> IMPUs of the last user profile from the HSS (Cx)
	// relayed200 is signalled when the P-CSCF has relayed a 2xx to the UE
	// (deviation 9.SAR/late waits for it).
	relayed200 chan struct{}
	vccCSeq    int
}

type pTx struct {
	ue       peer
	ueVia    string // the UE's Via as received
	secAgree bool   // the REGISTER carried Security-Client
	authResp bool   // the REGISTER carried credentials (a non-empty response)
	// protected: the lab says sec-agree runs over real IPsec and the REGISTER
	// carried Security-Verify, so it came over the security association: its
	// responses go back the way it came, to the UE's port-c (TS 33.203 7.1),
	// not to the Via sent-by. The core has no kernel SAs; it routes as if.
	protected bool
	final     []byte // the final response as sent to the UE (nil when none sent yet)
	done      bool
}

type nonceRec struct {
	v       aka.Vector
	xres    []byte // XRES as the HSS gave it
	impi    string
	added   time.Time
	lateMAR bool // deviation 3.MAR/late: the MAR is still to be sent
}

// Start starts the three CSCFs and the HSS. Close stops them.
func Start(ctx context.Context, cfg Config) (*Core, error) {
	if cfg.Lab == nil {
		return nil, errors.New("refcore: expected a lab profile in Config.Lab, got nil")
	}
	network, err := sipstack.Network(cfg.Transport)
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
	if cfg.VCCApp.IsValid() && !cfg.VCCApp.Addr().IsLoopback() {
		return nil, fmt.Errorf("refcore: VCCApp: expected a loopback address, got %s", cfg.VCCApp)
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
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SecurityServer == "" {
		cfg.SecurityServer = DefaultSecurityServer
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Core{
		cfg: cfg, lab: cfg.Lab, profile: profile, log: log, ctx: cctx, cancel: cancel, hss: h,
		ptx: map[string]*pTx{}, pByUE: map[string]*pTx{}, itx: map[string]peer{},
		nonces: map[string]*nonceRec{}, vccTx: map[string]chan int{}, routes: map[string]string{}, regs: map[string]int{},
		impus: map[string][]string{}, relayed200: make(chan struct{}, 1),
	}
	if cfg.HSS.IsValid() {
		if err := c.startCx(ctx, ha); err != nil {
			cancel()
			return nil, err
		}
	}
	bind := netip.AddrPortFrom(ha, 0).String()
	entry := bind
	if cfg.EntryAddr != "" {
		entry = cfg.EntryAddr
	}
	if c.p, err = newNode(cctx, &c.wg, "P-CSCF", network, entry, log); err != nil {
		c.closeCx()
		cancel()
		return nil, err
	}
	if c.i, err = newNode(cctx, &c.wg, "I-CSCF", network, bind, log); err != nil {
		c.p.close()
		c.closeCx()
		cancel()
		return nil, err
	}
	if c.s, err = newNode(cctx, &c.wg, "S-CSCF", network, bind, log); err != nil {
		c.p.close()
		c.i.close()
		c.closeCx()
		cancel()
		return nil, err
	}
	c.p.handle, c.i.handle, c.s.handle = c.pcscf, c.icscf, c.scscf
	c.p.serve()
	c.i.serve()
	c.s.serve()
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-cctx.Done():
		}
	}()
	log.Info("reference core started", "profile", profile, "transport", network, "pcscf", c.p.addr(), "icscf", c.i.addr(), "scscf", c.s.addr(), "vcc_app", cfg.VCCApp, "hss", cfg.HSS)
	return c, nil
}

// PCSCF returns the UE-facing entry of the core.
func (c *Core) PCSCF() netip.AddrPort { return c.p.addr() }

// ICSCF returns the I-CSCF's address (an inner hop).
func (c *Core) ICSCF() netip.AddrPort { return c.i.addr() }

// SCSCF returns the S-CSCF's address: the source of the REGISTER of step 11
// and where the VCC Application's 200 OK (step 13) must go.
func (c *Core) SCSCF() netip.AddrPort { return c.s.addr() }

// Close stops everything. It is idempotent.
func (c *Core) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.closeCx()
		c.p.close()
		c.i.close()
		c.s.close()
		c.wg.Wait()
	})
	return nil
}

func (c *Core) transportToken() string { return strings.ToUpper(c.p.network) }

// devs returns the deviations of step ("10" also matches "14").
func (c *Core) devs(step string) []deviation.Deviation {
	ds := deviation.For(c.cfg.Deviations, step)
	if step == "10" {
		ds = append(ds, deviation.For(c.cfg.Deviations, "14")...)
	}
	return ds
}

// emit sends the message of step from n to p, applying the step's
// deviations: no-answer drops it, malformed replaces it, header edits edit
// it. It returns the bytes sent (nil when none).
func (c *Core) emit(n *node, p peer, step string, raw []byte) []byte {
	ds := c.devs(step)
	if deviation.Has(ds, deviation.NoAnswer) {
		c.log.Info("deviation no-answer: message not sent", "step", step)
		return nil
	}
	if d, ok := deviation.Find(ds, deviation.Malformed); ok {
		raw = []byte(Garbage)
		if d.Value != "" {
			raw = []byte(d.Value)
		}
		c.log.Info("deviation malformed: garbage sent instead", "step", step, "to", p.addr)
	} else {
		raw = deviation.ApplyRaw(ds, raw)
	}
	if err := n.send(p, raw); err != nil {
		c.log.Warn("send failed", "node", n.name, "step", step, "to", p.addr, "error", err)
	}
	return raw
}

// respond builds a response to req with the Vias, From, To (with a tag),
// Call-ID and CSeq of req.
func respond(req *message, status int, reason string) *message {
	r := &message{start: "SIP/2.0 " + strconv.Itoa(status) + " " + reason, status: status}
	for _, v := range req.all("Via") {
		r.hdrs = append(r.hdrs, hdr{"Via", v})
	}
	r.hdrs = append(r.hdrs, hdr{"From", req.get("From")})
	to := req.get("To")
	if _, ok := params(to)["tag"]; !ok && status > 100 {
		to += ";tag=" + randHex(4)
	}
	r.hdrs = append(r.hdrs, hdr{"To", to}, hdr{"Call-ID", req.get("Call-ID")}, hdr{"CSeq", req.get("CSeq")}, hdr{"Content-Length", "0"})
	return r
}

// wellFormed checks what every hop needs of a request.
func wellFormed(m *message) error {
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if !m.has(h) || strings.TrimSpace(m.get(h)) == "" {
			return fmt.Errorf("expected a %s header, got none", h)
		}
	}
	if _, ok := parseVia(m.get("Via")); !ok {
		return fmt.Errorf("expected a Via of the form SIP/2.0/UDP host[:port];branch=..., got %q", m.get("Via"))
	}
	_, meth, ok := cseqOf(m.get("CSeq"))
	if !ok || (m.req && meth != m.method) {
		return fmt.Errorf("expected CSeq \"<number> %s\", got %q", m.method, m.get("CSeq"))
	}
	if mf := m.get("Max-Forwards"); mf != "" {
		if v, err := strconv.Atoi(mf); err != nil || v < 0 || v > 255 {
			return fmt.Errorf("expected Max-Forwards 0..255, got %q", mf)
		}
	}
	return nil
}

// decMaxForwards decrements Max-Forwards (adding 70 when absent); false
// when it was already 0.
func decMaxForwards(m *message) bool {
	mf := m.get("Max-Forwards")
	if mf == "" {
		m.insertAfter("Via", "Max-Forwards", "69")
		return true
	}
	v, _ := strconv.Atoi(mf)
	if v <= 0 {
		return false
	}
	m.set("Max-Forwards", strconv.Itoa(v-1))
	return true
}

// ueDest is where a response to the UE goes over UDP: the sent-by of its
// Via (RFC 3261 18.2.2), or the packet source when the Via has rport, a
// name, no port, or an address that is not loopback.
func ueDest(ueVia string, src peer) peer {
	if src.conn != nil {
		return src
	}
	v, ok := parseVia(ueVia)
	if !ok {
		return src
	}
	if _, r := v.params["rport"]; r {
		return src
	}
	a, ok := v.addr()
	if !ok || !a.IsLoopback() || v.port == 0 {
		return src
	}
	return peer{addr: netip.AddrPortFrom(a, uint16(v.port))}
}

// toUE is where the P-CSCF sends a response of transaction t.
func (c *Core) toUE(t *pTx) peer {
	if t.protected {
		return t.ue
	}
	return ueDest(t.ueVia, t.ue)
}

// ---- P-CSCF ----

func (c *Core) pcscf(raw []byte, from peer) {
	m, err := parseMessage(raw)
	if err != nil {
		c.log.Info("P-CSCF: datagram dropped", "from", from.addr, "reason", err)
		return
	}
	if !m.req {
		c.pcscfResponse(m)
		return
	}
	if m.method == "ACK" {
		return
	}
	if err := wellFormed(m); err != nil {
		if m.has("Via") {
			if _, ok := parseVia(m.get("Via")); ok {
				r := respond(m, 400, "Bad Request")
				r.insertBefore("Content-Length", "Warning", `399 `+c.lab.Core.PCSCFName+` "`+strings.ReplaceAll(err.Error(), `"`, "'")+`"`)
				c.p.send(ueDest(m.get("Via"), from), r.bytes())
			}
		}
		c.log.Info("P-CSCF: bad request", "from", from.addr, "reason", err)
		return
	}
	if m.method != "REGISTER" {
		r := respond(m, 405, "Method Not Allowed")
		r.insertBefore("Content-Length", "Allow", "REGISTER")
		c.p.send(ueDest(m.get("Via"), from), r.bytes())
		return
	}
	ueVia := m.get("Via")
	vb := params(ueVia)["branch"]
	key := m.get("Call-ID") + "|" + m.get("CSeq") + "|" + vb
	c.mu.Lock()
	if t := c.pByUE[key]; t != nil {
		final := t.final
		c.mu.Unlock()
		if final != nil {
			c.p.send(c.toUE(t), final) // retransmission: the same answer again
		}
		return
	}
	c.mu.Unlock()

	t := &pTx{ue: from, ueVia: ueVia, secAgree: m.has("Security-Client"),
		protected: c.lab.SUT.IPsec && m.has("Security-Verify")}
	if ds, ok := digestParams(m.get("Authorization")); ok && ds["response"] != "" {
		t.authResp = true
	}
	if t.secAgree && !strings.Contains(strings.ToLower(m.get("Security-Client")), "ipsec-3gpp") {
		r := respond(m, 494, "Security Agreement Required")
		r.insertBefore("Content-Length", "Security-Server", c.cfg.SecurityServer)
		c.p.send(ueDest(ueVia, from), r.bytes())
		return
	}
	if !decMaxForwards(m) {
		c.p.send(ueDest(ueVia, from), respond(m, 483, "Too Many Hops").bytes())
		return
	}
	// TS 24.229 5.2.2: sec-agree stops at the P-CSCF (RFC 3329 2.4: it removes
	// the option tag), and the P-CSCF that inserts Path requires the "path"
	// extension of the registrar (RFC 3327 5.2): the relayed REGISTER carries
	// Require: path, which table A.3.2.2-11 shows in the REGISTER passed on.
	// TS 24.229 5.2.2: the P-CSCF marks the credentials it passes on with
	// integrity-protected, "yes" for a REGISTER that came over the security
	// association (it carries Security-Verify), "no" for the first one.
	if a := m.get("Authorization"); a != "" {
		ip := "no"
		if m.has("Security-Verify") {
			ip = "yes"
		}
		m.set("Authorization", a+`, integrity-protected="`+ip+`"`)
	}
	m.del("Security-Client")
	m.del("Security-Verify")
	m.del("Proxy-Require")
	m.del("Require")
	m.insertAfter("Max-Forwards", "Require", "path")
	branch := newBranch()
	m.prependVia("SIP/2.0/" + c.transportToken() + " " + c.lab.Core.PCSCFName + ";branch=" + branch)
	path := "<sip:term@" + c.lab.Core.PCSCFName + ";lr>"
	switch {
	case m.has("Path"):
		m.insertBefore("Path", "Path", path)
	case m.has("P-Access-Network-Info"):
		m.insertAfter("P-Access-Network-Info", "Path", path)
	default:
		m.insertAfter("Max-Forwards", "Path", path)
	}
	vn := c.lab.Core.VisitedNetworkID
	if vn == "" {
		vn = c.lab.Core.PCSCFName
	}
	m.set("P-Visited-Network-ID", vn)
	if !m.has("P-Charging-Vector") {
		m.set("P-Charging-Vector", "icid-value="+randHex(12)+";orig-ioi="+vn)
	}
	c.mu.Lock()
	c.ptx[branch] = t
	c.pByUE[key] = t
	c.mu.Unlock()
	if err := c.p.send(peer{addr: c.i.addr()}, m.bytes()); err != nil {
		c.log.Warn("P-CSCF: relay to I-CSCF failed", "error", err)
	}
}

func (c *Core) pcscfResponse(m *message) {
	top := m.popVia()
	b := params(top)["branch"]
	c.mu.Lock()
	t := c.ptx[b]
	c.mu.Unlock()
	if t == nil {
		c.log.Info("P-CSCF: response to an unknown transaction dropped", "branch", b)
		return
	}
	if m.status < 200 {
		return // the core sends no provisional responses to the UE
	}
	step := ""
	switch {
	case m.status == 401:
		step = "5"
		if w := m.get("WWW-Authenticate"); w != "" {
			m.set("WWW-Authenticate", dropDigestParams(w, "ck", "ik"))
		}
		if t.secAgree {
			m.insertAfter("WWW-Authenticate", "Security-Server", c.cfg.SecurityServer)
		}
	case m.status >= 200 && m.status < 300:
		step = "10"
		if sr := m.get("Service-Route"); sr != "" {
			c.mu.Lock()
			c.routes[uriOf(m.get("To"))] = sr
			c.mu.Unlock()
		}
	case t.authResp:
		step = "10"
	}
	raw := m.bytes()
	if step != "" {
		raw = c.emit(c.p, c.toUE(t), step, raw)
	} else {
		c.p.send(c.toUE(t), raw)
	}
	if m.status >= 200 && m.status < 300 {
		select {
		case c.relayed200 <- struct{}{}:
		default:
		}
	}
	c.mu.Lock()
	t.final, t.done = raw, true
	c.mu.Unlock()
}

// ---- I-CSCF ----

func (c *Core) icscf(raw []byte, from peer) {
	m, err := parseMessage(raw)
	if err != nil {
		return
	}
	if !m.req {
		top := m.popVia()
		b := params(top)["branch"]
		c.mu.Lock()
		prev, ok := c.itx[b]
		c.mu.Unlock()
		if ok {
			c.i.send(prev, m.bytes())
		}
		return
	}
	if err := wellFormed(m); err != nil {
		c.i.send(from, respond(m, 400, "Bad Request").bytes())
		return
	}
	if !m.has("P-Visited-Network-ID") {
		c.i.send(from, respond(m, 400, "Bad Request").bytes())
		return
	}
	impi := ""
	d, hasAuth := digestParams(m.get("Authorization"))
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
		impu := uriOf(m.get("To"))
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
				c.i.send(from, respond(m, status, reason).bytes())
				return
			}
			c.icscfForward(m, from)
		}()
		return
	}
	// Cx user-registration-status query (UAR/UAA), in memory.
	if !c.hss.knows(impi, uriOf(m.get("To"))) {
		c.log.Info("I-CSCF: user unknown to the HSS", "impu", uriOf(m.get("To")))
		c.i.send(from, respond(m, 403, "Forbidden").bytes())
		return
	}
	c.icscfForward(m, from)
}

// icscfForward relays a REGISTER to the S-CSCF.
func (c *Core) icscfForward(m *message, from peer) {
	if !decMaxForwards(m) {
		c.i.send(from, respond(m, 483, "Too Many Hops").bytes())
		return
	}
	branch := newBranch()
	m.prependVia("SIP/2.0/" + c.transportToken() + " " + c.lab.Core.ICSCFName + ";branch=" + branch)
	c.mu.Lock()
	c.itx[branch] = from
	c.mu.Unlock()
	c.i.send(peer{addr: c.s.addr()}, m.bytes())
}
