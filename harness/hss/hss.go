// Package hss is an HSS emulator speaking Diameter Cx (TS 29.228, TS 29.229;
// application 16777216, vendor 10415) for one lab subscriber, so that the
// harness can play the HSS of an IMS core under test and capture its Cx
// messages. It answers UAR with the configured S-CSCF name, MAR with
// Digest-AKAv1-MD5 vectors from Milenage (with SQN re-synchronisation from
// AUTS), SAR with the user profile (IMSSubscription with an
// InitialFilterCriteria that sends REGISTER to the VCC Application) and LIR
// with the S-CSCF name. Unknown users get DIAMETER_ERROR_USER_UNKNOWN.
//
// As a server it is bounded whatever its peers do (harness/diameter): one
// goroutine per connection, messages of at most MaxMessageLen (64 KiB), a
// connection without CER closed after Tw, a half-sent message after
// Config.MessageTimeout, a silent peer dropped by the RFC 3539 watchdog.
//
// It is not a real HSS: one subscriber, state in memory only, no Sh, no
// RTR/PPR, no S-CSCF selection by capabilities, no charging information,
// no IMS restoration. Key material (K, OP, OPc, XRES, CK, IK) never appears in
// its logs or errors; it does appear in MAA messages on the wire and in the
// captured raw bytes, as Cx carries it.
package hss

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"imsconform/harness/diameter"
	"imsconform/harness/lab"
	"imsconform/harness/subscribers"
	"imsconform/harness/trace"
)

// AKAv1Scheme is the SIP-Authentication-Scheme of IMS AKA (TS 29.229 6.3.9).
const AKAv1Scheme = "Digest-AKAv1-MD5"

// MaxAuthItems bounds the vectors one MAA carries.
const MaxAuthItems = 5

// Server-Assignment-Type values (TS 29.229 6.3.15).
const (
	SATNoAssignment                = 0
	SATRegistration                = 1
	SATReRegistration              = 2
	SATUnregisteredUser            = 3
	SATTimeoutDeregistration       = 4
	SATUserDeregistration          = 5
	SATTimeoutDeregStoreName       = 6
	SATUserDeregStoreName          = 7
	SATAdministrativeDereg         = 8
	SATAuthenticationFailure       = 9
	SATAuthenticationTimeout       = 10
	SATDeregistrationTooMuchData   = 11
	SATAAAUserDataRequest          = 12
	UATRegistration                = 0 // User-Authorization-Type REGISTRATION
	UATDeRegistration              = 1 // User-Authorization-Type DE_REGISTRATION
	UATRegistrationAndCapabilities = 2 // User-Authorization-Type REGISTRATION_AND_CAPABILITIES
)

// Subscriber is the one subscription the HSS holds.
type Subscriber struct {
	IMPI  string
	IMPUs []string
}

// Config configures an HSS.
type Config struct {
	OriginHost  string // e.g. hss.home1.net
	OriginRealm string // e.g. home1.net
	// ServerName is the S-CSCF SIP URI returned in UAA and LIA, e.g.
	// sip:scscf1.home1.net:6060. It must be resolvable by the I-CSCF.
	ServerName string
	// ASURI is the VCC Application's SIP URI, the ApplicationServer of the
	// InitialFilterCriteria in the user profile; empty means no iFC.
	ASURI      string
	Subscriber Subscriber
	// Population, when not nil, is a load run's population the HSS holds
	// besides Subscriber (harness/subscribers): its vectors come from its
	// own authentication centre, not from Vectors.
	Population *subscribers.Set
	Vectors    VectorSource
	// Observer, when set, gets every Diameter message received and sent,
	// with its raw bytes, endpoints and time (see TraceObserver).
	Observer func(diameter.Capture)
	// Logf, when set, gets one line per event; never key material.
	Logf func(format string, args ...any)
	// Peers are the Origin-Hosts whose CER the HSS accepts; any other peer
	// gets DIAMETER_UNKNOWN_PEER (RFC 6733 5.3). Empty accepts every peer.
	Peers []string
	// Watchdog is Tw (RFC 3539) of every peer connection: a DWR after Tw
	// idle, the peer dropped after 3·Tw without a message, a connection
	// without CER closed after Tw. 0 means diameter.DefaultWatchdog (30 s).
	Watchdog time.Duration
	// MessageTimeout bounds a message's first byte to its last; 0 means
	// diameter.DefaultMessageTimeout (10 s).
	MessageTimeout time.Duration
}

// MaxMessageLen is the longest Diameter message the HSS reads: 64 KiB, far
// above any Cx request (a MAR is a few hundred bytes).
const MaxMessageLen = 64 << 10

// ConfigFromProfile builds the Config of a lab: the subscriber, Milenage
// vectors from its K/OP/OPc/AMF/SQN (crypto/rand RANDs), the S-CSCF name
// hss.server_name, else "sip:" + core.scscf_name (unless it already is a
// URI), and the VCC Application URI as the iFC's ApplicationServer.
func ConfigFromProfile(p *lab.Profile, originHost, originRealm string) (Config, error) {
	vs, err := VectorsFromProfile(p.Subscriber, nil)
	if err != nil {
		return Config{}, err
	}
	pop, err := p.Population(0)
	if err != nil {
		return Config{}, err
	}
	return Config{
		OriginHost:  originHost,
		OriginRealm: originRealm,
		ServerName:  p.HSSServerName(),
		ASURI:       p.VCCApp.URI,
		Subscriber:  Subscriber{IMPI: p.Subscriber.IMPI, IMPUs: append([]string(nil), p.Subscriber.IMPUs...)},
		Population:  pop,
		Vectors:     vs,
	}, nil
}

// ConfigForLab is ConfigFromProfile with the identity of the lab's hss
// section (origin_host, origin_realm or the home domain) and its peers
// (icscf_peer, scscf_peer) as the only ones accepted.
func ConfigForLab(p *lab.Profile) (Config, error) {
	cfg, err := ConfigFromProfile(p, p.HSS.OriginHost, p.HSSRealm())
	if err != nil {
		return Config{}, err
	}
	for _, peer := range []string{p.HSS.ICSCFPeer, p.HSS.SCSCFPeer} {
		if peer != "" && !slices.Contains(cfg.Peers, peer) {
			cfg.Peers = append(cfg.Peers, peer)
		}
	}
	return cfg, nil
}

// TraceObserver returns an Observer that adds every message to t as a
// Diameter message over TCP seen by the role "HSS".
func TraceObserver(t *trace.Trace) func(diameter.Capture) {
	return func(c diameter.Capture) {
		dir := trace.Sent
		if c.Received {
			dir = trace.Received
		}
		t.Add(trace.Message{Time: c.Time, Proto: trace.Diameter, Transport: "TCP", Dir: dir, Role: "HSS", Src: c.Src, Dst: c.Dst, Raw: c.Raw})
	}
}

// HSS is the emulator. Its methods are safe for concurrent use.
type HSS struct {
	cfg Config
	srv *diameter.Server

	mu      sync.Mutex
	open    map[string]int // Origin-Host -> open connections
	changed chan struct{}  // closed and replaced when open changes

	own userState   // what SAR stored for the subscriber
	pop *population // the population (population.go); nil for none
}

// New checks cfg and returns an HSS ready to Serve.
func New(cfg Config) (*HSS, error) {
	var missing []string
	if cfg.OriginHost == "" {
		missing = append(missing, "OriginHost")
	}
	if cfg.OriginRealm == "" {
		missing = append(missing, "OriginRealm")
	}
	if cfg.ServerName == "" {
		missing = append(missing, "ServerName")
	}
	if cfg.Subscriber.IMPI == "" {
		missing = append(missing, "Subscriber.IMPI")
	}
	if len(cfg.Subscriber.IMPUs) == 0 {
		missing = append(missing, "Subscriber.IMPUs")
	}
	if cfg.Vectors == nil {
		missing = append(missing, "Vectors")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("hss: expected a config with %s, got none", strings.Join(missing, ", "))
	}
	h := &HSS{cfg: cfg, open: map[string]int{}, changed: make(chan struct{})}
	if cfg.Population != nil {
		h.pop = newPopulation(cfg.Population)
		h.cfg.Vectors = h.pop.vectors(cfg.Vectors)
	}
	h.srv = &diameter.Server{
		OriginHost:     cfg.OriginHost,
		OriginRealm:    cfg.OriginRealm,
		VendorID:       diameter.Vendor3GPP,
		ProductName:    "imsconform-hss",
		OriginStateID:  uint32(time.Now().Unix()),
		Applications:   []diameter.Application{diameter.CxApplication},
		Handler:        h,
		Observer:       cfg.Observer,
		Logf:           cfg.Logf,
		PeerState:      h.peerState,
		MaxMessageLen:  MaxMessageLen,
		Watchdog:       cfg.Watchdog,
		MessageTimeout: cfg.MessageTimeout,
	}
	if len(cfg.Peers) > 0 {
		h.srv.AcceptPeer = func(p diameter.Peer) bool { return slices.Contains(cfg.Peers, p.OriginHost) }
	}
	return h, nil
}

func (h *HSS) peerState(p diameter.Peer, open bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if open {
		h.open[p.OriginHost]++
	} else if h.open[p.OriginHost]--; h.open[p.OriginHost] <= 0 {
		delete(h.open, p.OriginHost)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// WaitPeers waits until every Origin-Host in hosts has an open connection
// (its CER answered with success), or ctx ends; then it returns the hosts
// still without one (nil when all are connected).
func (h *HSS) WaitPeers(ctx context.Context, hosts []string) []string {
	for {
		h.mu.Lock()
		var missing []string
		for _, host := range hosts {
			if h.open[host] == 0 && !slices.Contains(missing, host) {
				missing = append(missing, host)
			}
		}
		ch := h.changed
		h.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return missing
		}
	}
}

// AcceptPeers replaces the check of each peer's CER (Config.Peers): accept
// says whether the peer may connect. Call it before Serve.
func (h *HSS) AcceptPeers(accept func(diameter.Peer) bool) { h.srv.AcceptPeer = accept }

// Serve serves Diameter peers on l until Close (see diameter.Server.Serve).
func (h *HSS) Serve(l net.Listener) error { return h.srv.Serve(l) }

// Close closes the listeners and connections.
func (h *HSS) Close() error { return h.srv.Close() }

// Config returns the configuration the HSS was made with.
func (h *HSS) Config() Config { return h.cfg }

// AssignedServer returns the S-CSCF name the last SAR stored, or "".
func (h *HSS) AssignedServer() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.own.assigned
}

func (h *HSS) logf(format string, args ...any) {
	if h.cfg.Logf != nil {
		h.cfg.Logf(format, args...)
	}
}

// answer starts a Cx answer in the TS 29.229 order: Session-Id,
// Vendor-Specific-Application-Id, the result, Auth-Session-State,
// Origin-Host, Origin-Realm.
func (h *HSS) answer(req *diameter.Message, result diameter.AVP) *diameter.Message {
	return req.Answer(
		diameter.Grouped(diameter.AVPVendorSpecificApplicationID, 0, diameter.AVPFlagMandatory,
			diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, diameter.Vendor3GPP),
			diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx)),
		result,
		diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, diameter.AuthSessionStateNoStateMaintained),
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, h.cfg.OriginHost),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, h.cfg.OriginRealm),
	)
}

// ResultCode is a Result-Code AVP.
func ResultCode(rc uint32) diameter.AVP {
	return diameter.Unsigned32(diameter.AVPResultCode, 0, diameter.AVPFlagMandatory, rc)
}

// ExperimentalResult is an Experimental-Result AVP with vendor 10415.
func ExperimentalResult(code uint32) diameter.AVP {
	return diameter.Grouped(diameter.AVPExperimentalResult, 0, diameter.AVPFlagMandatory,
		diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, diameter.Vendor3GPP),
		diameter.Unsigned32(diameter.AVPExperimentalResultCode, 0, diameter.AVPFlagMandatory, code))
}

func cx(code uint32, v string) diameter.AVP {
	return diameter.UTF8String(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

func cxBytes(code uint32, b []byte) diameter.AVP {
	return diameter.OctetString(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, b)
}

func cxU32(code uint32, v uint32) diameter.AVP {
	return diameter.Unsigned32(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

func (h *HSS) missing(req *diameter.Message, name string, failed diameter.AVP) *diameter.Message {
	a := h.answer(req, ResultCode(diameter.ResultMissingAVP))
	a.Add(diameter.UTF8String(diameter.AVPErrorMessage, 0, 0, fmt.Sprintf("expected %s, got none", name)),
		diameter.Grouped(diameter.AVPFailedAVP, 0, diameter.AVPFlagMandatory, failed))
	return a
}

func str(m *diameter.Message, code, vendor uint32) (string, bool) {
	a, ok := m.Find(code, vendor)
	if !ok {
		return "", false
	}
	s, err := a.UTF8()
	return s, err == nil
}

// identities reads User-Name and Public-Identity and checks them against the
// subscriber; a non-nil answer is the error to send.
func (h *HSS) identities(req *diameter.Message, needIMPI bool) (impi, impu string, errAns *diameter.Message) {
	impu, ok := str(req, diameter.AVPPublicIdentity, diameter.Vendor3GPP)
	if !ok {
		return "", "", h.missing(req, "Public-Identity", cx(diameter.AVPPublicIdentity, ""))
	}
	impi, hasIMPI := str(req, diameter.AVPUserName, 0)
	if needIMPI && !hasIMPI {
		return "", "", h.missing(req, "User-Name", diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, ""))
	}
	knownIMPU := false
	for _, u := range h.cfg.Subscriber.IMPUs {
		if u == impu {
			knownIMPU = true
		}
	}
	if h.pop.holds(impi, hasIMPI, impu) {
		return impi, impu, nil
	}
	if _, member := h.pop.member(impi, ""); member && hasIMPI {
		h.logf("hss: command %d: IMPU %q does not belong to IMPI %q", req.Code, impu, impi)
		return "", "", h.answer(req, ExperimentalResult(diameter.CxErrorIdentitiesDontMatch))
	}
	if hasIMPI && impi != h.cfg.Subscriber.IMPI || !hasIMPI && !knownIMPU {
		h.logf("hss: command %d: user unknown: IMPI %q IMPU %q", req.Code, impi, impu)
		return "", "", h.answer(req, ExperimentalResult(diameter.CxErrorUserUnknown))
	}
	if !knownIMPU {
		h.logf("hss: command %d: IMPU %q does not belong to IMPI %q", req.Code, impu, impi)
		return "", "", h.answer(req, ExperimentalResult(diameter.CxErrorIdentitiesDontMatch))
	}
	return impi, impu, nil
}

// ServeDiameter implements diameter.Handler for the Cx commands UAR, MAR,
// SAR and LIR; it returns nil for any other command.
func (h *HSS) ServeDiameter(req *diameter.Message, _ diameter.Peer) *diameter.Message {
	if req.ApplicationID != diameter.AppCx {
		return nil
	}
	switch req.Code {
	case diameter.CmdUserAuthorization:
		return h.uar(req)
	case diameter.CmdMultimediaAuth:
		return h.mar(req)
	case diameter.CmdServerAssignment:
		return h.sar(req)
	case diameter.CmdLocationInfo:
		return h.lir(req)
	}
	return nil
}

// uar answers a UAR (TS 29.228 6.1.1): FIRST_REGISTRATION when no S-CSCF is
// stored, SUBSEQUENT_REGISTRATION when one is, with Server-Name either way;
// DE_REGISTRATION gets DIAMETER_SUCCESS with Server-Name.
func (h *HSS) uar(req *diameter.Message) *diameter.Message {
	impi, impu, errAns := h.identities(req, true)
	if errAns != nil {
		return errAns
	}
	uat := int32(UATRegistration)
	if a, ok := req.Find(diameter.AVPUserAuthorizationType, diameter.Vendor3GPP); ok {
		if v, err := a.Int32(); err == nil {
			uat = v
		}
	}
	h.mu.Lock()
	assigned := h.state(impi, impu).assigned
	h.mu.Unlock()
	var res diameter.AVP
	switch {
	case uat == UATDeRegistration:
		res = ResultCode(diameter.ResultSuccess)
	case assigned != "":
		res = ExperimentalResult(diameter.CxSubsequentRegistration)
	default:
		res = ExperimentalResult(diameter.CxFirstRegistration)
	}
	name := assigned
	if name == "" {
		name = h.cfg.ServerName
	}
	h.logf("hss: UAR for %q type %d: server %s", impu, uat, name)
	return h.answer(req, res).Add(cx(diameter.AVPServerName, name))
}

// mar answers a MAR (TS 29.228 6.3): SIP-Number-Auth-Items vectors (at most
// MaxAuthItems) of Digest-AKAv1-MD5, each SIP-Authenticate = RAND‖AUTN,
// SIP-Authorization = XRES, Confidentiality-Key, Integrity-Key. A
// SIP-Authorization of RAND‖AUTS in the request re-synchronises SQN first.
func (h *HSS) mar(req *diameter.Message) *diameter.Message {
	impi, impu, errAns := h.identities(req, true)
	if errAns != nil {
		return errAns
	}
	scheme := AKAv1Scheme
	var authorization []byte
	if item, ok := req.Find(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP); ok {
		members, err := item.Group()
		if err != nil {
			return h.answer(req, ResultCode(diameter.ResultInvalidAVPValue))
		}
		if a, ok := diameter.FindAVP(members, diameter.AVPSIPAuthenticationScheme, diameter.Vendor3GPP); ok {
			if s, err := a.UTF8(); err == nil && s != "" && s != "Unknown" {
				scheme = s
			}
		}
		if a, ok := diameter.FindAVP(members, diameter.AVPSIPAuthorization, diameter.Vendor3GPP); ok {
			authorization = a.Data
		}
	}
	if scheme != AKAv1Scheme {
		h.logf("hss: MAR for %q: scheme %q not supported", impu, scheme)
		return h.answer(req, ExperimentalResult(diameter.CxErrorAuthSchemeNotSupported))
	}
	if len(authorization) > 0 {
		const randLen, autsLen = 16, 14
		if len(authorization) != randLen+autsLen {
			h.logf("hss: MAR for %q: resync: expected SIP-Authorization of RAND+AUTS (%d bytes), got %d bytes", impu, randLen+autsLen, len(authorization))
			return h.answer(req, ResultCode(diameter.ResultInvalidAVPValue))
		}
		if err := h.cfg.Vectors.Resync(impi, authorization[:randLen], authorization[randLen:]); err != nil {
			h.logf("hss: MAR for %q: resync rejected: %v", impu, err)
			return h.answer(req, ResultCode(diameter.ResultAuthenticationRejected))
		}
		h.logf("hss: MAR for %q: SQN re-synchronised", impu)
	}
	n := uint32(1)
	if a, ok := req.Find(diameter.AVPSIPNumberAuthItems, diameter.Vendor3GPP); ok {
		if v, err := a.Uint32(); err == nil && v > 0 {
			n = v
		}
	}
	n = min(n, MaxAuthItems)
	var items []diameter.AVP
	for i := uint32(1); i <= n; i++ {
		v, err := h.cfg.Vectors.Vector(impi)
		if err != nil {
			h.logf("hss: MAR for %q: no vector: %v", impu, err)
			return h.answer(req, ResultCode(diameter.ResultUnableToComply))
		}
		items = append(items, diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory,
			cxU32(diameter.AVPSIPItemNumber, i),
			cx(diameter.AVPSIPAuthenticationScheme, AKAv1Scheme),
			cxBytes(diameter.AVPSIPAuthenticate, append(append([]byte{}, v.RAND...), v.AUTN...)),
			cxBytes(diameter.AVPSIPAuthorization, v.XRES),
			cxBytes(diameter.AVPConfidentialityKey, v.CK),
			cxBytes(diameter.AVPIntegrityKey, v.IK)))
	}
	h.logf("hss: MAR for %q: %d vector(s)", impu, n)
	a := h.answer(req, ResultCode(diameter.ResultSuccess)).Add(
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi),
		cx(diameter.AVPPublicIdentity, impu),
		cxU32(diameter.AVPSIPNumberAuthItems, n))
	return a.Add(items...)
}

// sar answers a SAR (TS 29.228 6.1.2): registration types store the
// S-CSCF name and return the user profile; deregistration types clear it
// (6 and 7 keep the name).
func (h *HSS) sar(req *diameter.Message) *diameter.Message {
	impi, impu, errAns := h.identities(req, false)
	if errAns != nil {
		return errAns
	}
	if impi == "" {
		impi = h.impiOf(impu)
	}
	satAVP, ok := req.Find(diameter.AVPServerAssignmentType, diameter.Vendor3GPP)
	if !ok {
		return h.missing(req, "Server-Assignment-Type", diameter.Enumerated(diameter.AVPServerAssignmentType, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 0))
	}
	sat, err := satAVP.Int32()
	if err != nil {
		return h.answer(req, ResultCode(diameter.ResultInvalidAVPValue))
	}
	serverName, hasName := str(req, diameter.AVPServerName, diameter.Vendor3GPP)
	dataAvailable := false
	if a, ok := req.Find(diameter.AVPUserDataAlreadyAvailable, diameter.Vendor3GPP); ok {
		if v, err := a.Int32(); err == nil && v == 1 {
			dataAvailable = true
		}
	}
	sendProfile := false
	h.mu.Lock()
	st := h.state(impi, impu)
	switch sat {
	case SATRegistration, SATReRegistration, SATUnregisteredUser:
		if !hasName {
			h.mu.Unlock()
			return h.missing(req, "Server-Name", cx(diameter.AVPServerName, ""))
		}
		st.assigned = serverName
		st.registered = sat != SATUnregisteredUser
		sendProfile = !dataAvailable
	case SATNoAssignment, SATAAAUserDataRequest:
		sendProfile = true
	case SATTimeoutDeregistration, SATUserDeregistration, SATAdministrativeDereg,
		SATAuthenticationFailure, SATAuthenticationTimeout, SATDeregistrationTooMuchData:
		st.assigned, st.registered = "", false
	case SATTimeoutDeregStoreName, SATUserDeregStoreName:
		st.registered = false
	default:
		h.mu.Unlock()
		h.logf("hss: SAR for %q: unknown Server-Assignment-Type %d", impu, sat)
		return h.answer(req, ExperimentalResult(diameter.CxErrorInAssignmentType))
	}
	h.mu.Unlock()
	h.logf("hss: SAR for %q type %d server %q", impu, sat, serverName)
	a := h.answer(req, ResultCode(diameter.ResultSuccess)).Add(
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, impi))
	if sendProfile {
		xml, err := UserProfile(impi, h.impusOf(impi), h.cfg.ASURI)
		if err != nil {
			h.logf("hss: SAR for %q: user profile: %v", impu, err)
			return h.answer(req, ResultCode(diameter.ResultUnableToComply))
		}
		a.Add(cxBytes(diameter.AVPUserData, xml))
	}
	return a
}

// lir answers a LIR (TS 29.228 6.1.4): DIAMETER_SUCCESS with the stored
// S-CSCF name when registered, DIAMETER_UNREGISTERED_SERVICE with the
// configured one otherwise.
func (h *HSS) lir(req *diameter.Message) *diameter.Message {
	_, impu, errAns := h.identities(req, false)
	if errAns != nil {
		return errAns
	}
	h.mu.Lock()
	st := h.state("", impu)
	name, registered := st.assigned, st.registered
	h.mu.Unlock()
	if name == "" {
		name = h.cfg.ServerName
	}
	res := ResultCode(diameter.ResultSuccess)
	if !registered {
		res = ExperimentalResult(diameter.CxUnregisteredService)
	}
	h.logf("hss: LIR for %q: server %s registered %v", impu, name, registered)
	return h.answer(req, res).Add(cx(diameter.AVPServerName, name))
}

var _ diameter.Handler = (*HSS)(nil)
