package refcore

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/sipmsg"
	"imsconform/harness/transport"
)

// lateSAR is how long after relaying the 200 OK the S-CSCF sends the SAR
// under the deviation 9.SAR/late.
const lateSAR = 250 * time.Millisecond

// a322Step11 lists, in the order of table A.3.2.2-11, the headers the
// S-CSCF copies from the authenticated REGISTER (after Via and
// Max-Forwards; Content-Length ends the message).
var a322Step11 = []string{"P-Access-Network-Info", "Path", "Require", "P-Visited-Network-ID", "P-Charging-Vector",
	"From", "To", "Contact", "Call-ID", "Authorization", "CSeq", "Supported"}

func (c *Core) scscf(in *transport.Incoming) {
	m, tx := in.Parsed, in.Tx
	if m == nil || tx == nil {
		return // responses to step 11 are its client transaction's
	}
	if err := wellFormed(m); err != nil {
		c.reply(tx, respond(m, 400, "Bad Request").Bytes())
		return
	}
	if m.Method != "REGISTER" {
		c.reply(tx, respond(m, 405, "Method Not Allowed").Bytes())
		return
	}
	if c.cx != nil {
		// The Cx queries wait for the HSS: off the node's reader.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.scscfRegister(m, tx)
		}()
		return
	}
	c.scscfRegister(m, tx)
}

// scscfRegister handles a REGISTER at the S-CSCF: challenge, verify,
// register (TS 24.229 5.4.1.2).
func (c *Core) scscfRegister(m *sipmsg.Message, tx *transport.ServerTx) {
	impu := uriOf(m.Get("To"))
	d, hasAuth := digestParams(m.Get("Authorization"))
	impi := c.defaultIMPI(impu)
	if c.cx != nil {
		impi = impiOf(impu)
	}
	if hasAuth && d["username"] != "" {
		impi = d["username"]
	}
	if c.cx == nil && !c.knows(impi, impu) {
		c.reply(tx, respond(m, 403, "Forbidden").Bytes())
		return
	}
	if !hasAuth || d["nonce"] == "" {
		c.challenge(m, tx, impi, impu, nil)
		return
	}
	c.mu.Lock()
	rec, _ := c.nonces.get(d["nonce"], time.Now())
	c.mu.Unlock()
	if rec == nil {
		// Unknown or used nonce: challenge afresh (RFC 3261 22.4).
		c.challenge(m, tx, impi, impu, nil)
		return
	}
	if a := d["auts"]; a != "" {
		b, err := base64.StdEncoding.DecodeString(a)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(a, "="))
		}
		if err != nil || len(b) != aka.AUTSLen {
			c.log.Info("S-CSCF: auts undecodable", "expected_bytes", aka.AUTSLen)
			c.reply(tx, respond(m, 403, "Forbidden").Bytes())
			return
		}
		c.forget(d["nonce"])
		if c.cx != nil {
			// TS 29.228 6.3: MAR with SIP-Authorization = RAND‖AUTS; the HSS
			// re-synchronises and returns a fresh vector.
			c.log.Info("S-CSCF: AUTS received; asking the HSS to re-synchronise")
			c.challenge(m, tx, impi, impu, append(append([]byte{}, rec.v.RAND[:]...), b...))
			return
		}
		if err := c.resync(rec.impi, rec.v.RAND, [aka.AUTSLen]byte(b)); err != nil {
			c.log.Info("S-CSCF: AUTS rejected", "reason", err)
			c.reply(tx, respond(m, 403, "Forbidden").Bytes())
			return
		}
		c.log.Info("S-CSCF: SQN re-synchronised from AUTS; challenging again")
		c.challenge(m, tx, impi, impu, []byte{})
		return
	}
	if rec.lateMAR {
		// Deviation 3.MAR/late: the MAR the 401 should have waited for.
		c.mar(impi, impu, nil, deviation.StepMAR3)
	}
	if !c.verify(m, d, rec) {
		c.forget(d["nonce"])
		c.log.Info("S-CSCF: wrong digest response", "impi", impi)
		c.reply(tx, respond(m, 403, "Forbidden").Bytes())
		return
	}
	c.forget(d["nonce"])
	if deviation.Has(c.devs("10"), deviation.Reject403) {
		c.log.Info("deviation reject-403: authenticated REGISTER forbidden")
		c.reply(tx, respond(m, 403, "Forbidden").Bytes())
		return
	}
	impus := c.impusOf(impi)
	if c.cx != nil && deviation.Has(c.devs(deviation.StepSAR9), deviation.Late) {
		// Deviation 9.SAR/late: the 200 OK first, with the profile known
		// before; the SAR once the P-CSCF has relayed the 200 OK to the UE.
		c.mu.Lock()
		if got, ok := c.impus.get(impi, time.Now()); ok {
			impus = got
		}
		c.mu.Unlock()
		c.register(m, tx, impu, impus, func() {
			select {
			case <-c.relayed200:
			case <-c.ctx.Done():
				return
			case <-time.After(cxTimeout):
			}
			// Nothing tells the core that the UE has taken the 200 OK in:
			// a late SAR leaves it a quarter of a second.
			select {
			case <-time.After(lateSAR):
			case <-c.ctx.Done():
				return
			}
			c.sar(impi, impu)
		})
		return
	}
	if c.cx != nil {
		// TS 29.228 6.1.2: SAR REGISTRATION; the SAA carries the user profile.
		got, status, reason := c.sar(impi, impu)
		if status != 0 {
			c.reply(tx, respond(m, status, reason).Bytes())
			return
		}
		now := time.Now()
		until := now.Add(time.Duration(c.grantedExpires(m)) * time.Second)
		c.mu.Lock()
		before, known := c.impus.get(impi, now)
		switch {
		case got != nil:
			c.impus.put(strings.Clone(impi), got, until, now)
			impus = got
		case known:
			impus = before // the profile the HSS sent before
		default:
			impus = []string{impu}
		}
		c.mu.Unlock()
	}
	c.register(m, tx, impu, impus, nil)
}

func (c *Core) forget(nonce string) {
	c.mu.Lock()
	c.nonces.del(nonce)
	c.mu.Unlock()
}

// challenge answers with 401 and a fresh vector (TS 24.229 5.4.1.2.1).
// resync is nil for a first challenge; after an AUTS it is not nil: over
// Cx it holds RAND‖AUTS for the MAR, in memory the SQN is already
// re-synchronised and it is empty.
func (c *Core) challenge(m *sipmsg.Message, tx *transport.ServerTx, impi, impu string, resync []byte) {
	ds := c.devs("5")
	afterResync := resync != nil
	stale := deviation.Has(ds, deviation.StaleSQN) && !afterResync
	badMAC := deviation.Has(ds, deviation.BadMAC)
	var v aka.Vector
	var xres []byte
	// Deviation 3.MAR/late: the first 401 carries a vector of the core's own
	// AuC; the MAR goes to the HSS only when the UE answers it.
	lateMAR := c.cx != nil && !afterResync && deviation.Has(c.devs(deviation.StepMAR3), deviation.Late)
	if c.cx != nil && !lateMAR {
		step := deviation.StepMAR3
		if afterResync {
			step = "" // the MAR of a re-synchronisation: no step of the flow
		}
		cv, status, reason := c.mar(impi, impu, resync, step)
		if cv == nil {
			c.reply(tx, respond(m, status, reason).Bytes())
			return
		}
		v, xres = cv.v, cv.xres
		if stale {
			// Over Cx the SQN is the HSS's: whoever runs it plays stale-sqn.
			c.log.Info("deviation stale-sqn: left to the HSS over Cx")
		}
		if badMAC {
			for i := 8; i < 16; i++ {
				v.AUTN[i] ^= 0xa5
			}
		}
	} else {
		v = c.vector(impi, stale, badMAC)
		xres = append([]byte(nil), v.XRES[:]...)
		if lateMAR {
			c.log.Info("deviation 3.MAR/late: challenging with the core's own vector; the MAR follows the UE's answer")
		}
	}
	nonce := aka.Nonce{RAND: v.RAND, AUTN: v.AUTN}.Encode()
	now := time.Now()
	c.mu.Lock()
	// TS 24.229 5.4.1.2.1: the challenge waits reg-await-auth for its answer.
	c.nonces.put(nonce, &nonceRec{v: v, xres: xres, impi: strings.Clone(impi), lateMAR: lateMAR}, now.Add(RegAwaitAuth), now)
	c.mu.Unlock()
	r := respond(m, 401, "Unauthorized")
	w := `Digest realm="` + c.lab.Realm + `", nonce="` + nonce + `", algorithm=AKAv1-MD5`
	// TS 24.229 5.4.1.2.1: CK and IK travel to the P-CSCF, which removes them.
	w += `, ck="` + hex.EncodeToString(v.CK[:]) + `", ik="` + hex.EncodeToString(v.IK[:]) + `"`
	r.InsertBefore("CSeq", "WWW-Authenticate", w)
	c.reply(tx, r.Bytes())
}

// verify checks an AKAv1-MD5 response: password = RES (XRES here) as raw
// bytes, any qop, the uri as the UE sent it.
func (c *Core) verify(m *sipmsg.Message, d map[string]string, rec *nonceRec) bool {
	if alg := d["algorithm"]; alg != "" && !strings.EqualFold(alg, "AKAv1-MD5") {
		return false
	}
	if d["realm"] != c.lab.Realm {
		return false
	}
	// The credentials must be those of the IMPI the challenge was issued to
	// (TS 24.229 5.4.1.2.1). The uri is taken as sent: implementations
	// differ (SIPp with auth-int sends the remote address).
	if !strings.EqualFold(d["username"], rec.impi) {
		return false
	}
	qop := strings.ToLower(d["qop"])
	want, err := aka.DigestResponse(aka.Params{
		Username: d["username"], Realm: d["realm"], Password: aka.AKAv1Password(rec.xres),
		Method: m.Method, URI: d["uri"], Nonce: d["nonce"], CNonce: d["cnonce"], NC: d["nc"], QOP: qop, Body: m.Body,
	})
	if err != nil {
		return false
	}
	got := strings.ToLower(d["response"])
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// grantedExpires is the expiry the S-CSCF grants: the Contact's expires, else
// Expires, else 3600; never above the lab's max_expires.
func (c *Core) grantedExpires(m *sipmsg.Message) int {
	req := 3600
	e, _ := headerParam(m.Get("Contact"), "expires")
	if v, err := strconv.Atoi(e); err == nil {
		req = v
	} else if v, err := strconv.Atoi(m.Get("Expires")); err == nil {
		req = v
	}
	if req < 0 {
		req = 0
	}
	if max := c.lab.Core.MaxExpires; max > 0 && req > max {
		req = max
	}
	return req
}

// contactExpires is the expiry a registrar's 2xx grants: the Contact's
// expires parameter, else Expires, else 3600 (RFC 3261 10.2.1.1).
func contactExpires(m *sipmsg.Message) int {
	e, _ := headerParam(m.Get("Contact"), "expires")
	if v, err := strconv.Atoi(e); err == nil {
		return v
	}
	if v, err := strconv.Atoi(m.Get("Expires")); err == nil {
		return v
	}
	return 3600
}

// register completes a successful registration: 200 OK (steps 10/14), with
// impus (the user profile's) in P-Associated-URI, and the REGISTER to the
// VCC Application (step 11). beforeStep11, when not nil, runs first, off
// the caller (deviation 9.SAR/late sends its SAR there).
func (c *Core) register(m *sipmsg.Message, tx *transport.ServerTx, impu string, impus []string, beforeStep11 func()) {
	exp := c.grantedExpires(m)
	r := respond(m, 200, "OK")
	for _, p := range m.Lines("Path") {
		r.InsertBefore("From", "Path", p.Value)
	}
	r.InsertBefore("From", "Service-Route", "<sip:orig@"+c.lab.Core.SCSCFName+";lr>")
	if ct := m.Get("Contact"); ct != "" && strings.TrimSpace(ct) != "*" {
		addr := ct
		if j := strings.LastIndexByte(ct, '>'); j >= 0 {
			addr = ct[:j+1]
		} else if i := strings.IndexByte(ct, ';'); i >= 0 {
			addr = ct[:i]
		}
		r.InsertBefore("CSeq", "Contact", addr+";expires="+strconv.Itoa(exp))
	}
	r.InsertBefore("Content-Length", "Date", time.Now().UTC().Format(http.TimeFormat))
	var pau []string
	for _, u := range impus {
		pau = append(pau, "<"+u+">")
	}
	r.InsertBefore("Content-Length", "P-Associated-URI", strings.Join(pau, ", "))
	now := time.Now()
	c.mu.Lock()
	if exp == 0 {
		c.regs.del(impu)
	} else {
		c.regs.put(strings.Clone(impu), exp, now.Add(time.Duration(exp)*time.Second), now)
	}
	c.mu.Unlock()
	c.reply(tx, r.Bytes())
	vcc := c.vccFor(impu)
	if vcc.IsValid() || beforeStep11 != nil {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if beforeStep11 != nil {
				beforeStep11()
			}
			if vcc.IsValid() {
				c.thirdParty(m, impu, exp, vcc)
			}
		}()
	}
}

// thirdParty sends the REGISTER of step 11 from the S-CSCF in a client
// transaction: retransmitted over UDP until a final response (step 13) or
// Timer F.
func (c *Core) thirdParty(m *sipmsg.Message, impu string, exp int, vcc netip.AddrPort) {
	names := c.lab.Core
	var r *sipmsg.Message
	if !deviation.Has(c.devs("11"), deviation.AsTable) {
		// TS 24.229 5.4.1.7: the S-CSCF originates a new REGISTER, under
		// every profile (a core that forwards the UE's REGISTER, as table
		// A.3.2.2-11 shows, breaks RFC 3261 16.6 step 8).
		c.mu.Lock()
		c.vccCSeq++
		seq := c.vccCSeq
		c.mu.Unlock()
		uri := c.lab.VCCApp.URI
		if uri == "" {
			uri = "sip:" + vcc.String()
		}
		r = sipmsg.NewRequest("REGISTER", uri)
		r.Append("Via", c.via(names.SCSCFName))
		r.Append("Max-Forwards", "70")
		if pcv := m.Get("P-Charging-Vector"); pcv != "" {
			r.Append("P-Charging-Vector", pcv)
		}
		r.Append("From", "<sip:"+names.SCSCFName+">;tag="+randHex(4))
		r.Append("To", "<"+impu+">")
		r.Append("Contact", "<sip:"+names.SCSCFName+">")
		r.Append("Call-ID", randHex(12)+"@"+names.SCSCFName)
		r.Append("CSeq", strconv.Itoa(seq)+" REGISTER")
		r.Append("Expires", strconv.Itoa(exp))
		r.Append("Content-Length", "0")
	} else {
		// Deviation 11/as-table: table A.3.2.2-11 as written, the received
		// REGISTER passed on with its Via chain (no S-CSCF Via) and Request-URI sip:<scscf_name>.
		r = sipmsg.NewRequest("REGISTER", "sip:"+names.SCSCFName)
		var vias []string
		for _, v := range m.Values("Via") {
			vias = append(vias, v.Text)
		}
		r.Append("Via", strings.Join(vias, ", "))
		if mf := m.Get("Max-Forwards"); mf != "" {
			r.Append("Max-Forwards", mf)
		}
		for _, name := range a322Step11 {
			for _, h := range m.Lines(name) {
				r.Append(name, h.Value)
			}
		}
		r.Append("Content-Length", "0")
	}
	raw, send := c.outgoing("11", r)
	if !send {
		return
	}
	// The bytes as the step's deviations left them: RFC 3261 18.1.1 does not
	// move them to another transport, so that step 11 keeps the Via it has.
	_, err := c.s.RequestRaw(c.ctx, transport.Dest{Transport: c.tp, Addr: vcc}, raw, func(in *transport.Incoming, err error) {
		if err != nil {
			c.log.Info("S-CSCF: no final response to the third-party REGISTER", "error", err)
			return
		}
		c.log.Info("S-CSCF: VCC Application answered the third-party REGISTER", "status", in.Parsed.StatusCode)
	})
	if err != nil {
		c.log.Warn("S-CSCF: third-party REGISTER not sent", "error", err)
	}
}
