package refcore

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/sipmsg"
)

// Cx over Diameter (TS 29.228, TS 29.229): when Config.HSS is set, the
// I-CSCF and the S-CSCF are each a Diameter client peer of that HSS and
// query it instead of the in-memory one.

// cxTimeout bounds one Cx request/answer.
const cxTimeout = 4 * time.Second

// User-Authorization-Type and Server-Assignment-Type values (TS 29.229
// 6.3.24, 6.3.15) and User-Data-Already-Available (6.3.26).
const (
	uatRegistration         = 0
	satRegistration         = 1
	userDataNotAvailable    = 0
	sipAuthSchemeAKAv1      = "Digest-AKAv1-MD5"
	cxExpFirstRegistration  = 2001
	cxExpSubsequentRegister = 2002
	cxExpUnregisteredSvc    = 2003
	cxExpServerNameNotStore = 2004
)

// errNotSent is the outcome of a Cx request withheld by a no-answer
// deviation.
var errNotSent = errors.New("not sent: no-answer deviation")

// cxPeers are the Diameter client peers of the I-CSCF and the S-CSCF, each
// a Link of its own: connected at start, reconnected every Tc.
type cxPeers struct {
	i, s *diameter.Link

	mu       sync.Mutex
	lastData string   // the last User-Data parsed
	lastIDs  []string // its IMPUs
}

// profile returns the IMPUs of a User-Data, parsing it only when it differs
// from the last one.
func (p *cxPeers) profile(data []byte) ([]string, error) {
	p.mu.Lock()
	if p.lastIDs != nil && p.lastData == string(data) {
		ids := p.lastIDs
		p.mu.Unlock()
		return ids, nil
	}
	p.mu.Unlock()
	ids, err := profileIMPUs(data)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.lastData, p.lastIDs = string(data), ids
	p.mu.Unlock()
	return ids, nil
}

// DefaultTc is how often the I-CSCF and the S-CSCF try to connect to the
// HSS while they have no connection (RFC 6733 2.1's Tc): 2 s, shorter than
// the RFC's 30 s because the core is test equipment whose HSS may start
// just after it.
const DefaultTc = 2 * time.Second

// DefaultCxWait is how long Start waits for each CSCF's first connection
// to the HSS (each its own budget, at the same time).
const DefaultCxWait = 5 * time.Second

// startCx starts the Links of the I-CSCF and the S-CSCF to the HSS and,
// unless Config.CxWait is negative, waits until both are open (CER/CEA),
// each for its own CxWait.
func (c *Core) startCx(ctx context.Context, host netip.Addr) error {
	if !c.cfg.HSS.Addr().IsLoopback() {
		return fmt.Errorf("refcore: HSS: expected a loopback address, got %s", c.cfg.HSS)
	}
	logf := func(format string, args ...any) { c.log.Debug(fmt.Sprintf(format, args...)) }
	link := func(originHost string) (*diameter.Link, error) {
		return diameter.NewLink(c.cfg.HSS, diameter.LinkConfig{Tc: c.cfg.Tc, Client: diameter.ClientConfig{
			OriginHost: originHost, OriginRealm: c.lab.HomeDomain, VendorID: diameter.Vendor3GPP,
			ProductName: "imsconform-refcore", Applications: []diameter.Application{diameter.CxApplication},
			LocalAddr: host, Logf: logf, Watchdog: c.cfg.Watchdog,
		}})
	}
	ic, err := link(c.lab.Core.ICSCFName)
	if err != nil {
		return fmt.Errorf("refcore: I-CSCF: %w", err)
	}
	sc, err := link(c.lab.Core.SCSCFName)
	if err != nil {
		ic.Close()
		return fmt.Errorf("refcore: S-CSCF: %w", err)
	}
	c.cx = &cxPeers{i: ic, s: sc}
	wait := c.cfg.CxWait
	if wait == 0 {
		wait = DefaultCxWait
	}
	if wait < 0 {
		return nil
	}
	errs := make(chan error, 2)
	for _, p := range []struct {
		name string
		l    *diameter.Link
	}{{"I-CSCF", ic}, {"S-CSCF", sc}} {
		go func() {
			wctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			if _, err := p.l.WaitOpen(wctx); err != nil {
				errs <- fmt.Errorf("refcore: %s: expected its Diameter connection to the HSS open within %s: %w", p.name, wait, err)
				return
			}
			errs <- nil
		}()
	}
	err = errors.Join(<-errs, <-errs)
	if err != nil {
		c.closeCx()
		c.cx = nil
	}
	return err
}

func (c *Core) closeCx() {
	if c.cx != nil {
		c.cx.i.Close()
		c.cx.s.Close()
	}
}

// ServerName is the SIP URI the S-CSCF gives as Server-Name in MAR and SAR.
func (c *Core) ServerName() string { return serverName(c.lab.Core.SCSCFName) }

func serverName(scscf string) string {
	if strings.HasPrefix(scscf, "sip:") || strings.HasPrefix(scscf, "sips:") {
		return scscf
	}
	return "sip:" + scscf
}

// DiameterHosts returns the Origin-Host of the I-CSCF and of the S-CSCF as
// they appear in their Cx requests ("" and "" when the core uses the
// in-memory HSS).
func (c *Core) DiameterHosts() (icscf, scscf string) {
	if c.cx == nil {
		return "", ""
	}
	return c.cx.i.OriginHost(), c.cx.s.OriginHost()
}

// cxRequest starts a Cx request in the TS 29.229 order: Session-Id,
// Vendor-Specific-Application-Id, Auth-Session-State, Origin-Host,
// Origin-Realm, Destination-Realm.
func cxRequest(cl *diameter.Link, code uint32, realm string) *diameter.Message {
	return diameter.NewRequest(code, diameter.AppCx, 0, 0,
		diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, cl.NewSessionID()),
		diameter.Grouped(diameter.AVPVendorSpecificApplicationID, 0, diameter.AVPFlagMandatory,
			diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, diameter.Vendor3GPP),
			diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx)),
		diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, diameter.AuthSessionStateNoStateMaintained),
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, cl.OriginHost()),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, cl.OriginRealm()),
		diameter.DiameterIdentity(diameter.AVPDestinationRealm, 0, diameter.AVPFlagMandatory, realm),
	)
}

func cxStr(code uint32, v string) diameter.AVP {
	return diameter.UTF8String(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

func cxU32(code uint32, v uint32) diameter.AVP {
	return diameter.Unsigned32(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

func cxEnum(code uint32, v int32) diameter.AVP {
	return diameter.Enumerated(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

func cxBytes(code uint32, b []byte) diameter.AVP {
	return diameter.OctetString(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, b)
}

// cxDo applies the deviations of step to req and sends it; a no-answer
// deviation withholds it (errNotSent).
func (c *Core) cxDo(cl *diameter.Link, step string, req *diameter.Message) (*diameter.Message, error) {
	if step != "" {
		ds := deviation.For(c.cfg.Deviations, step)
		if deviation.Has(ds, deviation.NoAnswer) {
			c.log.Info("deviation no-answer: Cx request not sent", "step", step)
			return nil, errNotSent
		}
		if err := deviation.ApplyAVPs(ds, req, nil); err != nil {
			c.log.Warn("Cx deviation not applied", "step", step, "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, cxTimeout)
	defer cancel()
	return cl.Do(ctx, req)
}

// cxOutcome maps a Cx answer (or its absence) to the SIP final response a
// CSCF sends when it cannot go on: 480 when the HSS did not answer
// (TS 24.229 5.3.1.2), 403 when the HSS says the user may not register or
// authenticate, 500 for any other failure. ok is true for success (Result-Code
// 2001, or for a UAA an Experimental-Result-Code 2001 to 2004).
func cxOutcome(a *diameter.Message, err error, uaa bool) (ok bool, status int, reason string) {
	if err != nil || a == nil {
		return false, 480, "Temporarily Unavailable"
	}
	code, exp := diameter.ResultOf(a)
	switch {
	case !exp && code == diameter.ResultSuccess:
		return true, 0, ""
	case exp && uaa && (code == cxExpFirstRegistration || code == cxExpSubsequentRegister || code == cxExpUnregisteredSvc || code == cxExpServerNameNotStore):
		return true, 0, ""
	case exp && (code == diameter.CxErrorUserUnknown || code == diameter.CxErrorIdentitiesDontMatch ||
		code == diameter.CxErrorRoamingNotAllowed || code == diameter.CxErrorAuthSchemeNotSupported):
		return false, 403, "Forbidden"
	case !exp && (code == diameter.ResultAuthenticationRejected || code == diameter.ResultAuthorizationRejected):
		return false, 403, "Forbidden"
	}
	return false, 500, "Server Internal Error"
}

func (c *Core) logCx(node, cmd string, a *diameter.Message, err error) {
	if err != nil {
		c.log.Info(node+": Cx "+cmd+" failed", "reason", err)
		return
	}
	code, exp := diameter.ResultOf(a)
	c.log.Info(node+": Cx "+cmd+" answered", "result", code, "experimental", exp)
}

// uar is the I-CSCF's user registration status query (TS 29.228 6.1.1): it
// returns the S-CSCF the HSS names, or the SIP status to answer with.
func (c *Core) uar(m *sipmsg.Message, impi, impu, step string) (server string, status int, reason string) {
	cl := c.cx.i
	vn := sipmsg.Unquote(m.Get("P-Visited-Network-ID"))
	req := cxRequest(cl, diameter.CmdUserAuthorization, c.lab.HomeDomain).Add(
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi),
		cxStr(diameter.AVPPublicIdentity, impu),
		cxBytes(diameter.AVPVisitedNetworkIdentifier, []byte(vn)),
		cxEnum(diameter.AVPUserAuthorizationType, uatRegistration),
	)
	a, err := c.cxDo(cl, step, req)
	c.logCx("I-CSCF", "UAR", a, err)
	ok, status, reason := cxOutcome(a, err, true)
	if !ok {
		return "", status, reason
	}
	sn, found := a.Find(diameter.AVPServerName, diameter.Vendor3GPP)
	if !found {
		// Server-Capabilities only: this I-CSCF selects no S-CSCF by
		// capabilities (TS 24.229 5.3.1.2 would pick one).
		return "", 500, "Server Internal Error"
	}
	s, err := sn.UTF8()
	if err != nil {
		return "", 500, "Server Internal Error"
	}
	return s, 0, ""
}

// knownSCSCF reports whether name (a Server-Name) is this core's S-CSCF:
// the same host, whatever the scheme, port or parameters.
func (c *Core) knownSCSCF(name string) bool {
	host := func(u string) string {
		u = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(u), "sips:"), "sip:")
		if i := strings.IndexAny(u, ";?>"); i >= 0 {
			u = u[:i]
		}
		if i := strings.LastIndexByte(u, '@'); i >= 0 {
			u = u[i+1:]
		}
		if strings.HasPrefix(u, "[") {
			if j := strings.IndexByte(u, ']'); j >= 0 {
				return strings.ToLower(u[:j+1])
			}
		}
		if i := strings.IndexByte(u, ':'); i >= 0 {
			u = u[:i]
		}
		return strings.ToLower(u)
	}
	return host(name) == host(c.lab.Core.SCSCFName)
}

// cxVector is one authentication vector from a MAA.
type cxVector struct {
	v    aka.Vector // RAND, AUTN, CK, IK (XRES in xres)
	xres []byte
}

// mar is the S-CSCF's authentication request (TS 29.228 6.3): one
// Digest-AKAv1-MD5 vector, or with resync (RAND‖AUTS) a re-synchronisation
// first.
func (c *Core) mar(impi, impu string, resync []byte, step string) (*cxVector, int, string) {
	cl := c.cx.s
	item := []diameter.AVP{cxStr(diameter.AVPSIPAuthenticationScheme, sipAuthSchemeAKAv1)}
	if resync != nil {
		item = append(item, cxBytes(diameter.AVPSIPAuthorization, resync))
	}
	req := cxRequest(cl, diameter.CmdMultimediaAuth, c.lab.HomeDomain).Add(
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi),
		cxStr(diameter.AVPPublicIdentity, impu),
		diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory, item...),
		cxU32(diameter.AVPSIPNumberAuthItems, 1),
		cxStr(diameter.AVPServerName, c.ServerName()),
	)
	a, err := c.cxDo(cl, step, req)
	c.logCx("S-CSCF", "MAR", a, err)
	ok, status, reason := cxOutcome(a, err, false)
	if !ok {
		return nil, status, reason
	}
	for _, it := range a.FindAll(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP) {
		members, err := it.Group()
		if err != nil {
			continue
		}
		get := func(code uint32) []byte {
			if x, ok := diameter.FindAVP(members, code, diameter.Vendor3GPP); ok {
				return x.Data
			}
			return nil
		}
		if s, ok := diameter.FindAVP(members, diameter.AVPSIPAuthenticationScheme, diameter.Vendor3GPP); ok && !strings.EqualFold(string(s.Data), sipAuthSchemeAKAv1) {
			continue
		}
		ra, xres, ck, ik := get(diameter.AVPSIPAuthenticate), get(diameter.AVPSIPAuthorization), get(diameter.AVPConfidentialityKey), get(diameter.AVPIntegrityKey)
		if len(ra) != aka.RANDLen+aka.AUTNLen || len(xres) < 4 || len(xres) > 16 || len(ck) != aka.KeyLen || len(ik) != aka.KeyLen {
			continue
		}
		var v cxVector
		copy(v.v.RAND[:], ra[:aka.RANDLen])
		copy(v.v.AUTN[:], ra[aka.RANDLen:])
		copy(v.v.CK[:], ck)
		copy(v.v.IK[:], ik)
		v.xres = append([]byte(nil), xres...)
		return &v, 0, ""
	}
	c.log.Info("S-CSCF: MAA without a usable Digest-AKAv1-MD5 SIP-Auth-Data-Item")
	return nil, 500, "Server Internal Error"
}

// sar is the S-CSCF's registration notification (TS 29.228 6.1.2): it
// returns the IMPUs of the user profile in the SAA (nil when the SAA
// carries none), or the SIP status to answer with.
func (c *Core) sar(impi, impu string) ([]string, int, string) {
	cl := c.cx.s
	req := cxRequest(cl, diameter.CmdServerAssignment, c.lab.HomeDomain).Add(
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi),
		cxStr(diameter.AVPPublicIdentity, impu),
		cxStr(diameter.AVPServerName, c.ServerName()),
		cxEnum(diameter.AVPServerAssignmentType, satRegistration),
		cxEnum(diameter.AVPUserDataAlreadyAvailable, userDataNotAvailable),
	)
	a, err := c.cxDo(cl, deviation.StepSAR9, req)
	c.logCx("S-CSCF", "SAR", a, err)
	ok, status, reason := cxOutcome(a, err, false)
	if !ok {
		return nil, status, reason
	}
	ud, found := a.Find(diameter.AVPUserData, diameter.Vendor3GPP)
	if !found {
		return nil, 0, ""
	}
	impus, err := c.cx.profile(ud.Data)
	if err != nil {
		c.log.Info("S-CSCF: SAA User-Data is not a usable IMSSubscription", "reason", err)
		return nil, 500, "Server Internal Error"
	}
	return impus, 0, ""
}

// profileIMPUs returns the public identities of an IMSSubscription
// (TS 29.228 annex E), in order, across its service profiles.
func profileIMPUs(b []byte) ([]string, error) {
	var s struct {
		XMLName        xml.Name `xml:"IMSSubscription"`
		ServiceProfile []struct {
			PublicIdentity []struct {
				Identity string `xml:"Identity"`
			} `xml:"PublicIdentity"`
		} `xml:"ServiceProfile"`
	}
	if err := xml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("expected an IMSSubscription XML document, got %d bytes that do not parse: %v", len(b), err)
	}
	var out []string
	for _, sp := range s.ServiceProfile {
		for _, p := range sp.PublicIdentity {
			if id := strings.TrimSpace(p.Identity); id != "" {
				out = append(out, id)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("expected at least one PublicIdentity, got none")
	}
	return out, nil
}

// impiOf derives a private identity from a public one when a REGISTER names
// none: the IMPU without its scheme (the form TS 23.003 13.3 gives for a
// derived IMPI's user@domain).
func impiOf(impu string) string {
	for _, p := range []string{"sip:", "sips:", "tel:"} {
		if len(impu) >= len(p) && strings.EqualFold(impu[:len(p)], p) {
			return impu[len(p):]
		}
	}
	return impu
}
