package hss

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"imsconform/harness/aka"
	d "imsconform/harness/diameter"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
)

// countingRand is a deterministic RAND source: 0x00..0x0f, 0x10..0x1f, ...
type countingRand struct{ n byte }

func (r *countingRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

const (
	impi  = "user1_private@home1.net"
	impu1 = "sip:user1_public1@home1.net"
	scscf = "sip:scscf1.home1.net:6060"
	vcc   = "sip:vccapp.home1.net"
)

func testProfile() *lab.Profile {
	p := lab.Default()
	p.Core.SCSCFName = "scscf1.home1.net:6060"
	return p
}

func testMilenage(t testing.TB) *aka.Milenage {
	t.Helper()
	s := testProfile().Subscriber
	k, _ := hexField("k", s.K.Reveal(), 16)
	op, _ := hexField("op", s.OP.Reveal(), 16)
	m, err := aka.NewMilenage(k, op, nil)
	if err != nil {
		t.Fatalf("NewMilenage: %v", err)
	}
	return m
}

func newHSS(t testing.TB, obs func(d.Capture)) (*HSS, *MilenageVectors) {
	t.Helper()
	cfg, err := ConfigFromProfile(testProfile(), "hss.home1.net", "home1.net")
	if err != nil {
		t.Fatalf("ConfigFromProfile: %v", err)
	}
	vs, err := VectorsFromProfile(testProfile().Subscriber, &countingRand{})
	if err != nil {
		t.Fatalf("VectorsFromProfile: %v", err)
	}
	cfg.Vectors = vs
	cfg.Observer = obs
	cfg.Logf = t.Logf
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, vs
}

var hbh uint32

// cxRequest builds a Cx request the way Kamailio's cdp does: Session-Id,
// Vendor-Specific-Application-Id, Auth-Session-State, Origin-Host,
// Origin-Realm, Destination-Realm, then the command's AVPs.
func cxRequest(code uint32, avps ...d.AVP) *d.Message {
	hbh++
	base := []d.AVP{
		d.UTF8String(d.AVPSessionID, 0, d.AVPFlagMandatory, fmt.Sprintf("scscf1.home1.net;1;%d", hbh)),
		d.Grouped(d.AVPVendorSpecificApplicationID, 0, d.AVPFlagMandatory,
			d.Unsigned32(d.AVPVendorID, 0, d.AVPFlagMandatory, d.Vendor3GPP),
			d.Unsigned32(d.AVPAuthApplicationID, 0, d.AVPFlagMandatory, d.AppCx)),
		d.Enumerated(d.AVPAuthSessionState, 0, d.AVPFlagMandatory, d.AuthSessionStateNoStateMaintained),
		d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, "scscf1.home1.net"),
		d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"),
		d.DiameterIdentity(d.AVPDestinationRealm, 0, d.AVPFlagMandatory, "home1.net"),
	}
	return d.NewRequest(code, d.AppCx, hbh, 0x5000+hbh, append(base, avps...)...)
}

func userName(s string) d.AVP { return d.UTF8String(d.AVPUserName, 0, d.AVPFlagMandatory, s) }

func uar(impi, impu string) *d.Message {
	return cxRequest(d.CmdUserAuthorization, userName(impi), cx(d.AVPPublicIdentity, impu),
		diameterOctets(d.AVPVisitedNetworkIdentifier, "visited1.net"),
		d.Enumerated(d.AVPUserAuthorizationType, d.Vendor3GPP, d.AVPFlagMandatory, UATRegistration))
}

func diameterOctets(code uint32, s string) d.AVP { return cxBytes(code, []byte(s)) }

func mar(impi, impu string, authorization []byte) *d.Message {
	item := []d.AVP{cx(d.AVPSIPAuthenticationScheme, AKAv1Scheme)}
	if authorization != nil {
		item = append(item, cxBytes(d.AVPSIPAuthorization, authorization))
	}
	return cxRequest(d.CmdMultimediaAuth, userName(impi), cx(d.AVPPublicIdentity, impu),
		cxU32(d.AVPSIPNumberAuthItems, 1),
		d.Grouped(d.AVPSIPAuthDataItem, d.Vendor3GPP, d.AVPFlagMandatory, item...),
		cx(d.AVPServerName, scscf))
}

func sar(impi, impu string, sat int32) *d.Message {
	return cxRequest(d.CmdServerAssignment, userName(impi), cx(d.AVPPublicIdentity, impu),
		cx(d.AVPServerName, scscf),
		d.Enumerated(d.AVPServerAssignmentType, d.Vendor3GPP, d.AVPFlagMandatory, sat),
		d.Enumerated(d.AVPUserDataAlreadyAvailable, d.Vendor3GPP, d.AVPFlagMandatory, 0),
		d.UTF8String(494, 50, 0, "apb03a0s09dkjdfglkj49111")) // Kamailio's private Call-ID AVP
}

func lir(impu string) *d.Message {
	return cxRequest(d.CmdLocationInfo, cx(d.AVPPublicIdentity, impu))
}

// roundTrip encodes m, decodes it back and checks nothing changed.
func roundTrip(t *testing.T, what string, m *d.Message) *d.Message {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatalf("%s: Marshal: %v", what, err)
	}
	back, err := d.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: Unmarshal: %v", what, err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("%s: round trip differs:\nexpected %+v\ngot      %+v", what, m, back)
	}
	if err := d.Default.Validate(back); err != nil {
		t.Fatalf("%s: Validate: %v", what, err)
	}
	return back
}

func expResult(t *testing.T, m *d.Message) uint32 {
	t.Helper()
	er, ok := m.Find(d.AVPExperimentalResult, 0)
	if !ok {
		t.Fatalf("answer %d: expected an Experimental-Result, got none", m.Code)
	}
	members, err := er.Group()
	if err != nil {
		t.Fatalf("Experimental-Result: %v", err)
	}
	vid, ok1 := d.FindAVP(members, d.AVPVendorID, 0)
	code, ok2 := d.FindAVP(members, d.AVPExperimentalResultCode, 0)
	if v, _ := vid.Uint32(); !ok1 || !ok2 || v != d.Vendor3GPP {
		t.Fatalf("Experimental-Result: expected Vendor-Id 10415 and a code, got %+v", members)
	}
	c, _ := code.Uint32()
	return c
}

func resultCode(t *testing.T, m *d.Message) uint32 {
	t.Helper()
	a, ok := m.Find(d.AVPResultCode, 0)
	if !ok {
		t.Fatalf("answer %d: expected a Result-Code, got none", m.Code)
	}
	v, _ := a.Uint32()
	return v
}

func strAVP(t *testing.T, avps []d.AVP, code, vendor uint32) string {
	t.Helper()
	a, ok := d.FindAVP(avps, code, vendor)
	if !ok {
		t.Fatalf("expected AVP %d vendor %d, got none", code, vendor)
	}
	return string(a.Data)
}

// checkAnswerHeader checks what every Cx answer carries (TS 29.229 6.1).
func checkAnswerHeader(t *testing.T, req, ans *d.Message) {
	t.Helper()
	if ans.IsRequest() || ans.Code != req.Code || ans.ApplicationID != d.AppCx || ans.HopByHop != req.HopByHop || ans.EndToEnd != req.EndToEnd || ans.Flags != d.FlagProxiable {
		t.Fatalf("answer header: expected answer %d app Cx with P and the request's identifiers, got %+v", req.Code, ans)
	}
	if len(ans.AVPs) == 0 || ans.AVPs[0].Code != d.AVPSessionID || !bytes.Equal(ans.AVPs[0].Data, req.AVPs[0].Data) {
		t.Fatalf("answer: expected the request's Session-Id first, got %+v", ans.AVPs)
	}
	if got := strAVP(t, ans.AVPs, d.AVPOriginHost, 0); got != "hss.home1.net" {
		t.Errorf("Origin-Host: expected hss.home1.net, got %q", got)
	}
	if _, ok := ans.Find(d.AVPVendorSpecificApplicationID, 0); !ok {
		t.Errorf("expected a Vendor-Specific-Application-Id, got none")
	}
	if a, _ := ans.Find(d.AVPAuthSessionState, 0); !bytes.Equal(a.Data, []byte{0, 0, 0, 1}) {
		t.Errorf("Auth-Session-State: expected NO_STATE_MAINTAINED (1), got %x", a.Data)
	}
}

func TestCxCommands(t *testing.T) {
	h, vs := newHSS(t, nil)
	serve := func(what string, req *d.Message) *d.Message {
		t.Helper()
		req = roundTrip(t, what+" request", req)
		ans := h.ServeDiameter(req, d.Peer{})
		if ans == nil {
			t.Fatalf("%s: expected an answer, got nil", what)
		}
		ans = roundTrip(t, what+" answer", ans)
		checkAnswerHeader(t, req, ans)
		return ans
	}

	// UAR before any SAR: first registration.
	uaa := serve("UAR", uar(impi, impu1))
	if rc := expResult(t, uaa); rc != d.CxFirstRegistration {
		t.Errorf("UAA: expected DIAMETER_FIRST_REGISTRATION 2001, got %d", rc)
	}
	if got := strAVP(t, uaa.AVPs, d.AVPServerName, d.Vendor3GPP); got != scscf {
		t.Errorf("UAA Server-Name: expected %s, got %s", scscf, got)
	}

	// MAR: one Digest-AKAv1-MD5 vector the UE accepts.
	maa := serve("MAR", mar(impi, impu1, nil))
	if rc := resultCode(t, maa); rc != d.ResultSuccess {
		t.Fatalf("MAA: expected 2001, got %d", rc)
	}
	if got := strAVP(t, maa.AVPs, d.AVPUserName, 0); got != impi {
		t.Errorf("MAA User-Name: expected %s, got %s", impi, got)
	}
	if n, _ := maa.Find(d.AVPSIPNumberAuthItems, d.Vendor3GPP); !bytes.Equal(n.Data, []byte{0, 0, 0, 1}) {
		t.Errorf("MAA SIP-Number-Auth-Items: expected 1, got %x", n.Data)
	}
	checkVector(t, maa, testProfileSQN()+1, testProfileSQN())
	if vs.SQN() != testProfileSQN()+1 {
		t.Errorf("SQN_HE after one vector: expected %d, got %d", testProfileSQN()+1, vs.SQN())
	}

	// SAR REGISTRATION: user profile, and the S-CSCF is stored.
	saa := serve("SAR", sar(impi, impu1, SATRegistration))
	if rc := resultCode(t, saa); rc != d.ResultSuccess {
		t.Fatalf("SAA: expected 2001, got %d", rc)
	}
	ud, ok := saa.Find(d.AVPUserData, d.Vendor3GPP)
	if !ok {
		t.Fatalf("SAA: expected User-Data, got none")
	}
	checkUserProfile(t, ud.Data)
	if h.AssignedServer() != scscf {
		t.Errorf("after SAR: expected stored S-CSCF %s, got %q", scscf, h.AssignedServer())
	}

	// UAR after SAR: subsequent registration.
	if rc := expResult(t, serve("UAR again", uar(impi, impu1))); rc != d.CxSubsequentRegistration {
		t.Errorf("second UAA: expected DIAMETER_SUBSEQUENT_REGISTRATION 2002, got %d", rc)
	}

	// LIR: Server-Name.
	lia := serve("LIR", lir(impu1))
	if rc := resultCode(t, lia); rc != d.ResultSuccess {
		t.Errorf("LIA: expected 2001, got %d", rc)
	}
	if got := strAVP(t, lia.AVPs, d.AVPServerName, d.Vendor3GPP); got != scscf {
		t.Errorf("LIA Server-Name: expected %s, got %s", scscf, got)
	}

	// SAR USER_DEREGISTRATION clears it; LIR then says unregistered.
	serve("SAR dereg", sar(impi, impu1, SATUserDeregistration))
	if h.AssignedServer() != "" {
		t.Errorf("after deregistration: expected no stored S-CSCF, got %q", h.AssignedServer())
	}
	if rc := expResult(t, serve("LIR unregistered", lir(impu1))); rc != d.CxUnregisteredService {
		t.Errorf("LIA unregistered: expected DIAMETER_UNREGISTERED_SERVICE 2003, got %d", rc)
	}
}

func testProfileSQN() uint64 { return 0x20 } // lab.Default's subscriber.sqn 000000000020

// checkVector checks the one SIP-Auth-Data-Item of an MAA against what the
// UE computes from RAND and AUTN with the same K and OP.
func checkVector(t *testing.T, maa *d.Message, wantSQN, sqnMS uint64) {
	t.Helper()
	items := maa.FindAll(d.AVPSIPAuthDataItem, d.Vendor3GPP)
	if len(items) != 1 {
		t.Fatalf("MAA: expected 1 SIP-Auth-Data-Item, got %d", len(items))
	}
	members, err := items[0].Group()
	if err != nil {
		t.Fatalf("SIP-Auth-Data-Item: %v", err)
	}
	if got := strAVP(t, members, d.AVPSIPAuthenticationScheme, d.Vendor3GPP); got != AKAv1Scheme {
		t.Errorf("SIP-Authentication-Scheme: expected %s, got %s", AKAv1Scheme, got)
	}
	get := func(code uint32, n int) []byte {
		a, ok := d.FindAVP(members, code, d.Vendor3GPP)
		if !ok || len(a.Data) != n {
			t.Fatalf("AVP %d: expected %d bytes, got %d (present %v)", code, n, len(a.Data), ok)
		}
		return a.Data
	}
	auth := get(d.AVPSIPAuthenticate, 32)
	xres := get(d.AVPSIPAuthorization, 8)
	ck := get(d.AVPConfidentialityKey, 16)
	ik := get(d.AVPIntegrityKey, 16)
	usim := aka.NewUSIM(testMilenage(t), aka.SQNFromUint64(sqnMS), 0)
	res, err := usim.Authenticate([16]byte(auth[:16]), [16]byte(auth[16:]))
	if err != nil {
		t.Fatalf("the UE rejects the vector: %v", err)
	}
	if got := aka.SQNToUint64(res.SQN); got != wantSQN {
		t.Errorf("SQN in AUTN: expected %d, got %d", wantSQN, got)
	}
	if !bytes.Equal(res.RES[:], xres) || !bytes.Equal(res.CK[:], ck) || !bytes.Equal(res.IK[:], ik) {
		t.Errorf("the UE's RES/CK/IK differ from the MAA's SIP-Authorization/Confidentiality-Key/Integrity-Key")
	}
}

func checkUserProfile(t *testing.T, data []byte) {
	t.Helper()
	var s imsSubscription
	if err := xml.Unmarshal(data, &s); err != nil {
		t.Fatalf("User-Data: expected XML, got %v", err)
	}
	if s.PrivateID != impi {
		t.Errorf("PrivateID: expected %s, got %s", impi, s.PrivateID)
	}
	var ids []string
	for _, p := range s.ServiceProfile.PublicIdentity {
		ids = append(ids, p.Identity)
	}
	if want := lab.Default().Subscriber.IMPUs; !reflect.DeepEqual(ids, want) {
		t.Errorf("PublicIdentity: expected %v, got %v", want, ids)
	}
	ifc := s.ServiceProfile.InitialFilterCriteria
	if len(ifc) != 1 {
		t.Fatalf("InitialFilterCriteria: expected 1, got %d", len(ifc))
	}
	want := initialFilterCriteria{Priority: 0,
		TriggerPoint:      triggerPoint{ConditionTypeCNF: 0, SPT: []spt{{ConditionNegated: 0, Group: 0, Method: "REGISTER"}}},
		ApplicationServer: applicationServer{ServerName: vcc, DefaultHandling: 0}}
	if !reflect.DeepEqual(ifc[0], want) {
		t.Errorf("InitialFilterCriteria: expected %+v, got %+v", want, ifc[0])
	}
}

// TestUserProfileText pins the XML text: element names and order of the
// CxDataType schema (TS 29.228 annex E).
func TestUserProfileText(t *testing.T) {
	got, err := UserProfile("u@h", []string{"sip:u@h", "tel:+1<2>"}, "sip:as&co")
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>
<IMSSubscription xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="CxDataType.xsd">
  <PrivateID>u@h</PrivateID>
  <ServiceProfile>
    <PublicIdentity>
      <Identity>sip:u@h</Identity>
    </PublicIdentity>
    <PublicIdentity>
      <Identity>tel:+1&lt;2&gt;</Identity>
    </PublicIdentity>
    <InitialFilterCriteria>
      <Priority>0</Priority>
      <TriggerPoint>
        <ConditionTypeCNF>0</ConditionTypeCNF>
        <SPT>
          <ConditionNegated>0</ConditionNegated>
          <Group>0</Group>
          <Method>REGISTER</Method>
        </SPT>
      </TriggerPoint>
      <ApplicationServer>
        <ServerName>sip:as&amp;co</ServerName>
        <DefaultHandling>0</DefaultHandling>
      </ApplicationServer>
    </InitialFilterCriteria>
  </ServiceProfile>
</IMSSubscription>`
	if string(got) != want {
		t.Fatalf("expected\n%s\ngot\n%s", want, got)
	}
}

func TestMARResync(t *testing.T) {
	h, vs := newHSS(t, nil)
	m := testMilenage(t)
	// The UE has already accepted SQN 0x1000, far above the HSS's 0x20.
	const sqnMS = 0x1000
	first := h.ServeDiameter(mar(impi, impu1, nil), d.Peer{})
	item, _ := first.Find(d.AVPSIPAuthDataItem, d.Vendor3GPP)
	members, _ := item.Group()
	auth, _ := d.FindAVP(members, d.AVPSIPAuthenticate, d.Vendor3GPP)
	rnd := [16]byte(auth.Data[:16])
	usim := aka.NewUSIM(m, aka.SQNFromUint64(sqnMS), 0)
	_, err := usim.Authenticate(rnd, [16]byte(auth.Data[16:]))
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("expected the UE to report a sync failure, got %v", err)
	}
	// MAR with SIP-Authorization = RAND || AUTS.
	resync := append(append([]byte{}, rnd[:]...), sf.AUTS[:]...)
	maa := roundTrip(t, "MAA after resync", h.ServeDiameter(mar(impi, impu1, resync), d.Peer{}))
	if rc := resultCode(t, maa); rc != d.ResultSuccess {
		t.Fatalf("MAA after resync: expected 2001, got %d", rc)
	}
	checkVector(t, maa, sqnMS+1, sqnMS)
	if vs.SQN() != sqnMS+1 {
		t.Errorf("SQN_HE after resync: expected %d, got %d", sqnMS+1, vs.SQN())
	}

	// A forged AUTS is refused.
	bad := append([]byte{}, resync...)
	bad[len(bad)-1] ^= 1
	if rc := resultCode(t, h.ServeDiameter(mar(impi, impu1, bad), d.Peer{})); rc != d.ResultAuthenticationRejected {
		t.Errorf("MAA for a bad AUTS: expected 4001, got %d", rc)
	}
	if rc := resultCode(t, h.ServeDiameter(mar(impi, impu1, []byte{1, 2, 3}), d.Peer{})); rc != d.ResultInvalidAVPValue {
		t.Errorf("MAA for a 3-byte SIP-Authorization: expected 5004, got %d", rc)
	}
}

func TestCxErrors(t *testing.T) {
	h, _ := newHSS(t, nil)
	cases := []struct {
		name string
		req  *d.Message
		exp  uint32 // Experimental-Result-Code, or 0
		rc   uint32 // Result-Code, or 0
	}{
		{"UAR unknown IMPI", uar("nobody@home1.net", impu1), d.CxErrorUserUnknown, 0},
		{"MAR unknown IMPI", mar("nobody@home1.net", impu1, nil), d.CxErrorUserUnknown, 0},
		{"SAR unknown IMPI", sar("nobody@home1.net", impu1, SATRegistration), d.CxErrorUserUnknown, 0},
		{"LIR unknown IMPU", lir("sip:nobody@home1.net"), d.CxErrorUserUnknown, 0},
		{"UAR IMPU of someone else", uar(impi, "sip:other@home1.net"), d.CxErrorIdentitiesDontMatch, 0},
		{"MAR without Public-Identity", cxRequest(d.CmdMultimediaAuth, userName(impi)), 0, d.ResultMissingAVP},
		{"MAR other scheme", cxRequest(d.CmdMultimediaAuth, userName(impi), cx(d.AVPPublicIdentity, impu1),
			d.Grouped(d.AVPSIPAuthDataItem, d.Vendor3GPP, d.AVPFlagMandatory, cx(d.AVPSIPAuthenticationScheme, "SIP Digest"))), d.CxErrorAuthSchemeNotSupported, 0},
		{"SAR unknown assignment type", sar(impi, impu1, 99), d.CxErrorInAssignmentType, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ans := roundTrip(t, "answer", h.ServeDiameter(c.req, d.Peer{}))
			if ans.IsError() {
				t.Errorf("expected no E bit, got flags %#x", ans.Flags)
			}
			if c.exp != 0 {
				if got := expResult(t, ans); got != c.exp {
					t.Errorf("expected Experimental-Result-Code %d, got %d", c.exp, got)
				}
			} else if got := resultCode(t, ans); got != c.rc {
				t.Errorf("expected Result-Code %d, got %d", c.rc, got)
			}
		})
	}
	if h.ServeDiameter(cxRequest(d.CmdRegistrationTerm), d.Peer{}) != nil {
		t.Errorf("RTR: expected nil (unsupported), got an answer")
	}
}

func TestNoSecretsInOutput(t *testing.T) {
	var logs strings.Builder
	h, vs := newHSS(t, nil)
	h.cfg.Logf = func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
	maa := h.ServeDiameter(mar(impi, impu1, nil), d.Peer{})
	item, _ := maa.Find(d.AVPSIPAuthDataItem, d.Vendor3GPP)
	members, _ := item.Group()
	v := Vector{}
	for _, a := range members {
		switch a.Code {
		case d.AVPSIPAuthorization:
			v.XRES = a.Data
		case d.AVPConfidentialityKey:
			v.CK = a.Data
		case d.AVPIntegrityKey:
			v.IK = a.Data
		}
	}
	p := testProfile()
	out := logs.String() + fmt.Sprintf("%v %+v %#v %s", vs, vs, v, v)
	for name, secret := range map[string]string{
		"K": p.Subscriber.K.Reveal(), "OP": p.Subscriber.OP.Reveal(),
		"XRES": fmt.Sprintf("%x", v.XRES), "CK": fmt.Sprintf("%x", v.CK), "IK": fmt.Sprintf("%x", v.IK),
	} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
			t.Errorf("%s appears in logs or fmt output", name)
		}
	}
	bad := p.Subscriber
	bad.K = lab.NewSecret("zz" + p.Subscriber.K.Reveal()[2:])
	if _, err := VectorsFromProfile(bad, nil); err == nil || strings.Contains(err.Error(), p.Subscriber.K.Reveal()[2:]) {
		t.Errorf("bad K: expected an error without the value, got %v", err)
	}
}

// tcpClient plays the S-CSCF/I-CSCF side over TCP.
type tcpClient struct {
	t *testing.T
	c net.Conn
}

func (c *tcpClient) exchange(req *d.Message) *d.Message {
	c.t.Helper()
	b, err := req.Marshal()
	if err != nil {
		c.t.Fatalf("marshal %d: %v", req.Code, err)
	}
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write %d: %v", req.Code, err)
	}
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := d.ReadMessage(c.c, 0)
	if err != nil {
		c.t.Fatalf("read answer to %d: %v", req.Code, err)
	}
	ans, err := d.Unmarshal(raw)
	if err != nil {
		c.t.Fatalf("decode answer to %d: %v", req.Code, err)
	}
	if ans.Code != req.Code || ans.HopByHop != req.HopByHop {
		c.t.Fatalf("answer: expected command %d hop-by-hop %d, got %d %d", req.Code, req.HopByHop, ans.Code, ans.HopByHop)
	}
	return ans
}

func TestTCPRegistrationFlow(t *testing.T) {
	tr := trace.New()
	h, _ := newHSS(t, TraceObserver(tr))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(l) }()
	defer func() {
		h.Close()
		if err := <-done; !errors.Is(err, d.ErrServerClosed) {
			t.Errorf("Serve: expected ErrServerClosed, got %v", err)
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &tcpClient{t: t, c: conn}

	cer := d.NewRequest(d.CmdCapabilitiesExchange, 0, 1, 1,
		d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, "scscf1.home1.net"),
		d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"),
		d.Address(d.AVPHostIPAddress, 0, d.AVPFlagMandatory, conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr()),
		d.Unsigned32(d.AVPVendorID, 0, d.AVPFlagMandatory, 10415),
		d.UTF8String(d.AVPProductName, 0, 0, "Kamailio"),
		d.Grouped(d.AVPVendorSpecificApplicationID, 0, d.AVPFlagMandatory,
			d.Unsigned32(d.AVPVendorID, 0, d.AVPFlagMandatory, d.Vendor3GPP),
			d.Unsigned32(d.AVPAuthApplicationID, 0, d.AVPFlagMandatory, d.AppCx)))
	if rc := resultCode(t, c.exchange(cer)); rc != d.ResultSuccess {
		t.Fatalf("CEA: expected 2001, got %d", rc)
	}
	if rc := expResult(t, c.exchange(uar(impi, impu1))); rc != d.CxFirstRegistration {
		t.Fatalf("UAA: expected 2001 first registration, got %d", rc)
	}
	maa := c.exchange(mar(impi, impu1, nil))
	checkVector(t, maa, testProfileSQN()+1, testProfileSQN())
	if rc := expResult(t, c.exchange(uar(impi, impu1))); rc != d.CxFirstRegistration {
		t.Fatalf("second UAA before SAR: expected 2001 first registration, got %d", rc)
	}
	saa := c.exchange(sar(impi, impu1, SATRegistration))
	if rc := resultCode(t, saa); rc != d.ResultSuccess {
		t.Fatalf("SAA: expected 2001, got %d", rc)
	}
	ud, _ := saa.Find(d.AVPUserData, d.Vendor3GPP)
	checkUserProfile(t, ud.Data)
	dwr := d.NewRequest(d.CmdDeviceWatchdog, 0, 99, 99,
		d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, "scscf1.home1.net"),
		d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"))
	if rc := resultCode(t, c.exchange(dwr)); rc != d.ResultSuccess {
		t.Fatalf("DWA: expected 2001, got %d", rc)
	}
	dpr := d.NewRequest(d.CmdDisconnectPeer, 0, 100, 100,
		d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, "scscf1.home1.net"),
		d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"),
		d.Enumerated(d.AVPDisconnectCause, 0, d.AVPFlagMandatory, d.DisconnectRebooting))
	if rc := resultCode(t, c.exchange(dpr)); rc != d.ResultSuccess {
		t.Fatalf("DPA: expected 2001, got %d", rc)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after DPA: expected the HSS to close, got %v", err)
	}

	msgs := tr.Messages()
	wantCodes := []uint32{257, 257, 300, 300, 303, 303, 300, 300, 301, 301, 280, 280, 282, 282}
	if len(msgs) != len(wantCodes) {
		t.Fatalf("trace: expected %d messages, got %d", len(wantCodes), len(msgs))
	}
	for i, m := range msgs {
		hdr, err := d.ParseHeader(m.Raw)
		if err != nil || hdr.Code != wantCodes[i] {
			t.Fatalf("trace message %d: expected command %d, got %d (%v)", i+1, wantCodes[i], hdr.Code, err)
		}
		wantDir, isReq := trace.Sent, false
		if i%2 == 0 {
			wantDir, isReq = trace.Received, true
		}
		if m.Dir != wantDir || m.Proto != trace.Diameter || m.Role != "HSS" || m.Transport != "TCP" || (hdr.Flags&d.FlagRequest != 0) != isReq {
			t.Errorf("trace message %d: expected %s %v, got %+v", i+1, wantDir, isReq, m)
		}
		if m.Dir == trace.Received && m.Dst.String() != l.Addr().String() {
			t.Errorf("trace message %d: expected Dst %s, got %s", i+1, l.Addr(), m.Dst)
		}
	}
}

func TestTCPMalformedCx(t *testing.T) {
	h, _ := newHSS(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve(l)
	defer h.Close()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &tcpClient{t: t, c: conn}
	cer := d.NewRequest(d.CmdCapabilitiesExchange, 0, 1, 1,
		d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, "icscf.home1.net"),
		d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"),
		d.Unsigned32(d.AVPAuthApplicationID, 0, d.AVPFlagMandatory, d.AppCx))
	if rc := resultCode(t, c.exchange(cer)); rc != d.ResultSuccess {
		t.Fatalf("CEA: expected 2001, got %d", rc)
	}
	// A MAR whose SIP-Auth-Data-Item holds a member with a bad length.
	req := cxRequest(d.CmdMultimediaAuth, userName(impi), cx(d.AVPPublicIdentity, impu1),
		d.OctetString(d.AVPSIPAuthDataItem, d.Vendor3GPP, d.AVPFlagMandatory, []byte{0, 0, 2, 0x60, 0xc0, 0, 0, 0x40, 0, 0, 0x28, 0xaf}))
	if rc := resultCode(t, c.exchange(req)); rc != d.ResultInvalidAVPLength {
		t.Fatalf("MAR with a broken grouped AVP: expected 5014, got %d", rc)
	}
	// An Unsigned32 of 2 bytes.
	req = cxRequest(d.CmdMultimediaAuth, userName(impi), cx(d.AVPPublicIdentity, impu1),
		d.OctetString(d.AVPSIPNumberAuthItems, d.Vendor3GPP, d.AVPFlagMandatory, []byte{0, 1}))
	if rc := resultCode(t, c.exchange(req)); rc != d.ResultInvalidAVPLength {
		t.Fatalf("MAR with a 2-byte SIP-Number-Auth-Items: expected 5014, got %d", rc)
	}
	// Still serving.
	if rc := expResult(t, c.exchange(uar(impi, impu1))); rc != d.CxFirstRegistration {
		t.Fatalf("UAA after errors: expected 2001, got %d", rc)
	}
}

func BenchmarkMAA(b *testing.B) {
	h, _ := newHSS(b, nil)
	maa := h.ServeDiameter(mar(impi, impu1, nil), d.Peer{})
	raw, err := maa.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := maa.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			m, err := d.Unmarshal(raw)
			if err != nil {
				b.Fatal(err)
			}
			item, _ := m.Find(d.AVPSIPAuthDataItem, d.Vendor3GPP)
			if _, err := item.Group(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestPeersAndWaitPeers(t *testing.T) {
	cfg, err := ConfigFromProfile(testProfile(), "hss.home1.net", "home1.net")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Peers = []string{"icscf1.home1.net", "scscf1.home1.net"}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve(l)
	defer h.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	missing := h.WaitPeers(ctx, cfg.Peers)
	cancel()
	if !reflect.DeepEqual(missing, cfg.Peers) {
		t.Fatalf("WaitPeers with nobody connected: expected both missing, got %v", missing)
	}
	connect := func(host string) (*tcpClient, uint32) {
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c := &tcpClient{t: t, c: conn}
		cer := d.NewRequest(d.CmdCapabilitiesExchange, 0, 1, 1,
			d.DiameterIdentity(d.AVPOriginHost, 0, d.AVPFlagMandatory, host),
			d.DiameterIdentity(d.AVPOriginRealm, 0, d.AVPFlagMandatory, "home1.net"),
			d.Address(d.AVPHostIPAddress, 0, d.AVPFlagMandatory, conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr()),
			d.Unsigned32(d.AVPVendorID, 0, d.AVPFlagMandatory, 10415),
			d.UTF8String(d.AVPProductName, 0, 0, "Kamailio"),
			d.Unsigned32(d.AVPAuthApplicationID, 0, d.AVPFlagMandatory, d.AppCx))
		return c, resultCode(t, c.exchange(cer))
	}
	if _, rc := connect("pcscf.elsewhere.net"); rc != d.ResultUnknownPeer {
		t.Errorf("CER from a peer not in Peers: expected 3010 DIAMETER_UNKNOWN_PEER, got %d", rc)
	}
	if _, rc := connect("scscf1.home1.net"); rc != d.ResultSuccess {
		t.Fatalf("CER from a listed peer: expected 2001, got %d", rc)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if missing := h.WaitPeers(ctx, []string{"scscf1.home1.net"}); missing != nil {
		t.Errorf("WaitPeers(scscf1) after its CER: expected none missing, got %v", missing)
	}
	done := make(chan []string, 1)
	go func() { done <- h.WaitPeers(ctx, cfg.Peers) }()
	if _, rc := connect("icscf1.home1.net"); rc != d.ResultSuccess {
		t.Fatalf("CER from the I-CSCF: expected 2001, got %d", rc)
	}
	if missing := <-done; missing != nil {
		t.Errorf("WaitPeers(both) once both connected: expected none missing, got %v", missing)
	}
}
