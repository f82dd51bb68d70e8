package ue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/secagree"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
)

// AUTN outcomes of a challenge, as Registration.AUTN reports them.
const (
	AUTNValid       = "valid"        // MAC-A right, SQN fresh: answered with RES
	AUTNBadMAC      = "bad-mac"      // MAC-A wrong: the UE sends no further REGISTER
	AUTNSyncFailure = "sync-failure" // SQN out of range: answered with AUTS and no fresh challenge followed
	AUTNUnusable    = "unusable"     // prefix of "unusable: <why>": no AKA challenge could be read
)

// maxChallenges bounds the 401s answered in one registration (a
// re-synchronisation takes two).
const maxChallenges = 3

// Registration is one registration of the UE (one Call-ID) and what happened
// in its last exchange: Register, Reregister or Deregister fill it.
type Registration struct {
	CallID  string
	FromTag string
	CSeq    uint32 // the last CSeq sent
	Expires int    // the expiry requested in the last exchange

	// Requests are the REGISTERs sent in the last exchange, in order.
	Requests []trace.Message
	// Initial is the first REGISTER of the exchange (step 2 of the initial
	// registration); nil when it was not sent.
	Initial *trace.Message
	// Challenges are the 401 responses received, in order.
	Challenges []trace.Message
	// Challenge is the last 401 (the one Authorized answers; step 5); nil
	// when none came.
	Challenge *trace.Message
	// Authorized is the REGISTER carrying the response to Challenge (step
	// 7); nil when none was sent.
	Authorized *trace.Message
	// Final is the final response to the last REGISTER sent, when it is not
	// a 401 (step 10/14 when that REGISTER is Authorized); nil when none came.
	Final *trace.Message
	// Status is the status code of Final (0 when none).
	Status int
	// AUTN is how the AUTN of Challenge verified: AUTNValid, AUTNBadMAC,
	// AUTNSyncFailure or "unusable: <why>"; "" when no challenge came.
	AUTN string
	// Response says whether the response parameter of Authorized, as sent
	// (deviations included), is the AKAv1-MD5 digest of RES for the
	// challenge and the other parameters in that very Authorization:
	// ResponseValid or "invalid: <why>"; "" when Authorized was not sent.
	// It is recomputed from the bytes on the wire, not taken from the
	// builder. It never holds RES or a digest value.
	Response string
	// AUTS counts the REGISTERs sent with an auts parameter (RFC 3310 3.4).
	AUTS int
	// SecurityServer holds the Security-Server lines of Challenge, verbatim.
	SecurityServer []string
	// SA is the security agreement the protected REGISTERs travel under
	// (sut.ipsec): set after the 401, nil without IPsec or before it. It
	// holds no keys.
	SA *Agreement
	// Why says why the exchange stopped short of a final response to a
	// REGISTER with a challenge response ("" when it did not):
	// "not received within 5s", "interrupted", "AUTN ...".
	Why string

	// Digest state for later exchanges. password is RES (key material):
	// it is never printed (see String).
	realm, nonce, opaque, qop, cnonce, response, algorithm string
	nc                                                     int
	password                                               []byte
	// IK and CK of the last AKA run and the SAs made from them (sut.ipsec).
	ik, ck [aka.KeyLen]byte
	bundle *esp.Bundle
}

// Registered reports whether the last exchange ended with a 2xx.
func (r *Registration) Registered() bool { return r.Status >= 200 && r.Status < 300 }

// String never shows the digest password.
func (r *Registration) String() string {
	return fmt.Sprintf("ue.Registration{CallID:%q CSeq:%d Status:%d AUTN:%q Why:%q}", r.CallID, r.CSeq, r.Status, r.AUTN, r.Why)
}

// Register starts a new registration (new Call-ID, From tag and CSeq 1):
// steps 2 to 10/14 of the flow, applying the UE's deviations. It returns the
// registration, never nil, and an error when it did not end with a 2xx.
func (u *UE) Register(ctx context.Context) (*Registration, error) {
	r := &Registration{CallID: randHex(12), FromTag: randHex(4), Expires: u.expires}
	err := u.run(ctx, r, false, true)
	return r, err
}

// Reregister refreshes reg over the protected ports: same Call-ID and From
// tag, the next CSeq, Authorization with the last nonce and response, and
// Security-Verify. A new challenge is answered as in Register.
func (u *UE) Reregister(ctx context.Context, reg *Registration) (*Registration, error) {
	if reg == nil {
		return nil, errors.New("ue: reregister: expected a registration, got nil")
	}
	reg.Expires = u.expires
	return reg, u.run(ctx, reg, true, false)
}

// Deregister ends reg: as Reregister with expires 0.
func (u *UE) Deregister(ctx context.Context, reg *Registration) (*Registration, error) {
	if reg == nil {
		return nil, errors.New("ue: deregister: expected a registration, got nil")
	}
	reg.Expires = 0
	return reg, u.run(ctx, reg, true, false)
}

// run drives one exchange: a REGISTER, then as many challenges as come (up to
// maxChallenges), until a final response that is not a 401.
func (u *UE) run(ctx context.Context, r *Registration, protected, initial bool) error {
	r.Requests, r.Initial, r.Challenges, r.Challenge, r.Authorized, r.Final = nil, nil, nil, nil, nil, nil
	r.Status, r.AUTN, r.AUTS, r.Why, r.Response = 0, "", 0, "", ""
	var devs2, devs7 []deviation.Deviation
	if initial {
		devs2, devs7 = deviation.For(u.devs, "2"), deviation.For(u.devs, "7")
	}
	auth := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="", uri="%s", response=""`, u.impi, u.realm, u.registrar)
	if protected && r.nonce != "" {
		auth = u.authorization(r, "", false)
	}
	answered := false // whether the REGISTER about to go carries a challenge response
	devs := devs2
	for round := 0; ; round++ {
		r.CSeq++
		branch := "z9hG4bK" + randHex(8)
		req := u.buildRegister(r, branch, protected, auth)
		raw, send := deviation.Outgoing(devs, req)
		if !send {
			r.Why = "a no-answer deviation of the UE withholds it"
			return fmt.Errorf("ue: REGISTER CSeq %d not sent: %s", r.CSeq, r.Why)
		}
		ep, to, err := u.route(r, protected, devs)
		if err != nil {
			r.Why = err.Error()
			return fmt.Errorf("ue: REGISTER CSeq %d not sent: %w", r.CSeq, err)
		}
		sent, res, err := u.exchange(ctx, ep, to, req, raw, r.CallID, r.CSeq)
		if sent.Raw != nil { // it was sent (and recorded, when the UE keeps a trace)
			r.Requests = append(r.Requests, sent)
			m := sent
			if round == 0 {
				r.Initial = &m
			}
			if answered {
				r.Authorized = &m
				r.Response = checkResponse(m.Raw, r.password)
			}
		}
		if err != nil {
			r.Why = why(err)
			return err
		}
		if res.Parsed.StatusCode != 401 {
			m := res.Msg
			r.Final, r.Status = &m, res.Parsed.StatusCode
			if !r.Registered() {
				return fmt.Errorf("ue: expected a 2xx to REGISTER CSeq %d, got %d %s", r.CSeq, res.Parsed.StatusCode, res.Parsed.Reason)
			}
			return nil
		}
		m := res.Msg
		r.Challenges = append(r.Challenges, m)
		r.Challenge = &m
		r.SecurityServer = r.SecurityServer[:0]
		for _, h := range res.Parsed.Lines("Security-Server") {
			r.SecurityServer = append(r.SecurityServer, h.Value)
		}
		if len(r.Challenges) > maxChallenges {
			r.Why = fmt.Sprintf("expected at most %d challenges in one registration, got more", maxChallenges)
			return errors.New("ue: " + r.Why)
		}
		outcome, password, auts, err := u.answer(res.Parsed, r)
		r.AUTN = outcome
		if err != nil {
			r.Why = err.Error()
			return fmt.Errorf("ue: %w", err)
		}
		r.password = password
		answered = auts == ""
		if answered && u.ipsec != nil {
			if err := u.agree(r); err != nil {
				r.Why = err.Error()
				return fmt.Errorf("ue: %w", err)
			}
		}
		// Only a REGISTER that answers with RES goes over the protected
		// ports: after a synchronisation failure no security association
		// is set up, so the REGISTER with AUTS is sent as step 2 was
		// (TS 33.203 6.1.2, 7.1).
		protected = answered
		if !answered {
			r.AUTS++
		}
		if answered && initial {
			devs = devs7
		} else {
			devs = nil
		}
		auth = u.authorization(r, auts, false)
		if answered && deviation.Has(devs, deviation.WrongRES) {
			r.nc--
			auth = u.authorization(r, auts, true)
		}
	}
}

// ResponseValid is Registration.Response when the digest response is right.
const ResponseValid = "valid"

// checkResponse recomputes the digest response of the REGISTER raw (its
// Authorization: username, realm, nonce, uri, qop, nc, cnonce as sent) with
// password RES (RFC 3310 3.2: RES as raw bytes) and compares it with the
// response parameter sent.
func checkResponse(raw, password []byte) string {
	m, err := sipmsg.Parse(raw)
	if err != nil {
		return "invalid: the REGISTER does not parse: " + err.Error()
	}
	lines := m.Lines("Authorization")
	if len(lines) == 0 {
		return "invalid: no Authorization header"
	}
	d, err := sipmsg.ParseDigest(lines[0].Value)
	if err != nil {
		return "invalid: Authorization does not parse: " + err.Error()
	}
	get := func(n string) string { v, _ := d.Params.Get(n); return v }
	if !strings.EqualFold(get("algorithm"), "AKAv1-MD5") {
		return fmt.Sprintf("invalid: expected algorithm AKAv1-MD5, saw %q", get("algorithm"))
	}
	want, err := aka.DigestResponse(aka.Params{Username: get("username"), Realm: get("realm"), Password: password,
		Method: m.Method, URI: get("uri"), Nonce: get("nonce"), CNonce: get("cnonce"), NC: get("nc"), QOP: get("qop"), Body: m.Body})
	if err != nil {
		return "invalid: " + err.Error()
	}
	if !strings.EqualFold(get("response"), want) {
		return "invalid: the response is not the AKAv1-MD5 digest of RES over the Authorization's own parameters"
	}
	return ResponseValid
}

func why(err error) string {
	var nr *NoResponseError
	switch {
	case errors.As(err, &nr):
		return fmt.Sprintf("not received within %s", nr.Wait)
	case errors.Is(err, ErrInterrupted):
		return "interrupted"
	}
	return err.Error()
}

// answer reads the AKA challenge of a 401 and verifies its AUTN. On success it
// returns the digest password (RES) and fills r's digest state; on an SQN out
// of range it returns the AUTS (base64) to send with an empty password
// (RFC 3310 3.4).
func (u *UE) answer(p *sipmsg.Message, r *Registration) (outcome string, password []byte, auts string, err error) {
	var d *sipmsg.Digest
	var firstErr error
	for _, h := range p.Lines("WWW-Authenticate") {
		c, perr := sipmsg.ParseDigest(h.Value)
		if perr != nil {
			if firstErr == nil {
				firstErr = perr
			}
			continue
		}
		if !strings.EqualFold(c.Scheme, "Digest") {
			continue
		}
		if alg, _ := c.Params.Get("algorithm"); strings.EqualFold(alg, "AKAv1-MD5") || d == nil {
			d = c
		}
	}
	if d == nil {
		why := "expected a WWW-Authenticate Digest challenge in the 401, got none"
		if firstErr != nil {
			why = "expected a WWW-Authenticate Digest challenge in the 401, got one that does not parse: " + firstErr.Error()
		}
		return AUTNUnusable + ": " + why, nil, "", errors.New(why)
	}
	nonce, ok := d.Params.Get("nonce")
	if !ok {
		why := "expected a nonce in the WWW-Authenticate challenge, got none"
		return AUTNUnusable + ": " + why, nil, "", errors.New(why)
	}
	n, perr := aka.ParseNonce(nonce)
	if perr != nil {
		return AUTNUnusable + ": " + perr.Error(), nil, "", perr
	}
	r.realm, _ = d.Params.Get("realm")
	if r.realm == "" {
		r.realm = u.realm
	}
	r.nonce = nonce
	r.opaque, _ = d.Params.Get("opaque")
	r.algorithm, _ = d.Params.Get("algorithm")
	if r.algorithm == "" {
		r.algorithm = "AKAv1-MD5"
	}
	r.qop = ""
	if q, ok := d.Params.Get("qop"); ok {
		for _, o := range strings.Split(q, ",") {
			switch strings.TrimSpace(strings.ToLower(o)) {
			case "auth":
				r.qop = aka.QOPAuth
			case "auth-int":
				if r.qop == "" {
					r.qop = aka.QOPAuthInt
				}
			}
		}
	}
	r.nc = 0
	r.cnonce = ""
	if r.qop != "" {
		r.cnonce = randHex(8)
	}
	a, verr := u.usim.Authenticate(n.RAND, n.AUTN)
	var sf *aka.SyncFailureError
	switch {
	case verr == nil:
		r.keep(a)
		return AUTNValid, aka.AKAv1Password(a.RES[:]), "", nil
	case errors.As(verr, &sf):
		return AUTNSyncFailure, nil, base64.StdEncoding.EncodeToString(sf.AUTS[:]), nil
	case errors.Is(verr, aka.ErrMACFailure):
		return AUTNBadMAC, nil, "", errors.New("AUTN of the 401 failed verification (MAC-A wrong): the UE sends no further REGISTER")
	}
	return AUTNUnusable + ": " + verr.Error(), nil, "", verr
}

// authorization builds the Authorization value answering the challenge in r:
// with RES as password, or with auts and an empty password (RFC 3310 3.4).
func (u *UE) authorization(r *Registration, auts string, wrong bool) string {
	r.nc++
	pw := r.password
	if auts != "" {
		pw = []byte{}
	}
	if wrong {
		bad := make([]byte, len(pw)+1)
		for i, b := range pw {
			bad[i] = ^b
		}
		pw = bad
	}
	nc := ""
	if r.qop != "" {
		nc = fmt.Sprintf("%08x", r.nc)
	}
	resp, err := aka.DigestResponse(aka.Params{Username: u.impi, Realm: r.realm, Password: pw, Method: "REGISTER",
		URI: u.registrar, Nonce: r.nonce, CNonce: r.cnonce, NC: nc, QOP: r.qop})
	if err != nil {
		resp = ""
	}
	if auts == "" && !wrong {
		r.response = resp
	}
	var b strings.Builder
	b.WriteString(`Digest username="`)
	b.WriteString(u.impi)
	b.WriteString(`", realm="`)
	b.WriteString(r.realm)
	b.WriteString(`", nonce="`)
	b.WriteString(r.nonce)
	b.WriteString(`", algorithm=`)
	b.WriteString(r.algorithm)
	b.WriteString(`, uri="`)
	b.WriteString(u.registrar)
	b.WriteString(`", response="`)
	b.WriteString(resp)
	b.WriteString(`"`)
	if r.qop != "" {
		b.WriteString(", qop=")
		b.WriteString(r.qop)
		b.WriteString(", nc=")
		b.WriteString(nc)
		b.WriteString(`, cnonce="`)
		b.WriteString(r.cnonce)
		b.WriteString(`"`)
	}
	if r.opaque != "" {
		b.WriteString(`, opaque="`)
		b.WriteString(r.opaque)
		b.WriteString(`"`)
	}
	if auts != "" {
		b.WriteString(`, auts="`)
		b.WriteString(auts)
		b.WriteString(`"`)
	}
	return b.String()
}

// buildRegister builds the REGISTER of table A.3.2.2-2 (unprotected) or
// A.3.2.2-7 (protected: Via and Contact name port-s, Security-Verify echoes
// the Security-Server lines of the challenge).
func (u *UE) buildRegister(r *Registration, branch string, protected bool, auth string) *sipmsg.Message {
	a := u.addrs
	host := a.HostString()
	port := a.Port
	if protected {
		port = a.PortS
	}
	comp := ""
	if u.lab.UE.Sigcomp {
		comp = ";comp=sigcomp"
	}
	m := sipmsg.NewRequest("REGISTER", u.registrar)
	m.Append("Via", "SIP/2.0/"+u.transport+" "+host+":"+itoa(port)+comp+";branch="+branch)
	m.Append("Max-Forwards", "70")
	if pani := u.lab.UE.AccessNetworkInfo; pani != "" {
		m.Append("P-Access-Network-Info", pani)
	}
	m.Append("From", "<"+u.impu+">;tag="+r.FromTag)
	m.Append("To", "<"+u.impu+">")
	user := ""
	if u.contactUser != "" {
		user = u.contactUser + "@"
	}
	m.Append("Contact", "<sip:"+user+host+":"+itoa(port)+comp+">;expires="+itoa(r.Expires))
	m.Append("Call-ID", r.CallID)
	m.Append("Authorization", auth)
	m.Append("Security-Client", u.securityClient())
	if protected {
		for _, v := range r.SecurityServer {
			m.Append("Security-Verify", v)
		}
	}
	m.Append("Require", "sec-agree")
	m.Append("Proxy-Require", "sec-agree")
	m.Append("CSeq", itoa(r.CSeq)+" REGISTER")
	m.Append("Supported", "path")
	m.Append("Content-Length", "0")
	return m
}

// securityClient is the Security-Client value: one ipsec-3gpp mechanism per
// algorithm pair offered, each with the UE's SPIs and protected ports.
func (u *UE) securityClient() string {
	a := u.addrs
	ms := make([]secagree.Mechanism, len(u.offer))
	for i, o := range u.offer {
		ms[i] = secagree.Mechanism{Integrity: o.Integrity, Encryption: o.Encryption, SPIC: a.SPIC, SPIS: a.SPIS, PortC: a.PortC, PortS: a.PortS}
	}
	return secagree.Join(ms)
}

// route is where a REGISTER goes from: the unprotected port to the
// P-CSCF's entry, or a protected one. Without IPsec that is port-c to the
// same entry; under IPsec port-c to the P-CSCF's port-s over the SAs of
// r's agreement (in clear from the kernel's port-c under the deviation
// 7/in-clear).
func (u *UE) route(r *Registration, protected bool, devs []deviation.Deviation) (*transport.Endpoint, netip.AddrPort, error) {
	if !protected {
		return u.plain, u.pcscf, nil
	}
	if u.ipsec == nil {
		return u.portC, u.pcscf, nil
	}
	if r.SA == nil {
		return nil, netip.AddrPort{}, errors.New("expected a security agreement for the protected REGISTER (sut.ipsec), saw none: no 401 set one up")
	}
	if deviation.Has(devs, deviation.InClear) {
		return u.ipsec.clearC, r.SA.PortS(), nil
	}
	return u.portC, r.SA.PortS(), nil
}
