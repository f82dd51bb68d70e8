package hss

import (
	"encoding/xml"
	"testing"

	"imsconform/harness/aka"
	d "imsconform/harness/diameter"
)

// The HSS holds a load run's population besides its subscriber: each member
// is known by its identities, gets vectors of its own keys and SQN, and has
// an assignment of its own.
func TestPopulationMembersAreServedApart(t *testing.T) {
	p := testProfile()
	p.Subscribers.Count = 100
	p.Subscribers.Keys = "derived"
	cfg, err := ConfigFromProfile(p, "hss.home1.net", "home1.net")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Population == nil || cfg.Population.Len() != 100 {
		t.Fatalf("ConfigFromProfile: population %v, want the lab's 100", cfg.Population)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.Population
	serve := func(req *d.Message) *d.Message {
		t.Helper()
		ans := h.ServeDiameter(roundTrip(t, "request", req), d.Peer{})
		checkAnswerHeader(t, req, ans)
		return ans
	}
	m0, m1 := set.IMPI(0), set.IMPI(1)

	// MAR: a vector the member's own USIM (derived keys) accepts.
	maa := serve(mar(m0, set.IMPU(0), nil))
	if rc := resultCode(t, maa); rc != d.ResultSuccess {
		t.Fatalf("MAA of member 0: %d", rc)
	}
	members, _ := maa.FindAll(d.AVPSIPAuthDataItem, d.Vendor3GPP)[0].Group()
	auth, _ := d.FindAVP(members, d.AVPSIPAuthenticate, d.Vendor3GPP)
	u := aka.NewUSIM(set.Milenage(0), aka.SQNFromUint64(0), 0)
	if _, err := u.Authenticate([16]byte(auth.Data[:16]), [16]byte(auth.Data[16:])); err != nil {
		t.Fatalf("member 0 rejects its vector: %v", err)
	}
	if _, err := aka.NewUSIM(set.Milenage(1), aka.SQNFromUint64(0), 0).Authenticate([16]byte(auth.Data[:16]), [16]byte(auth.Data[16:])); err == nil {
		t.Error("member 1 accepts member 0's vector: expected keys of its own")
	}

	// SAR of member 0 assigns member 0 only; its profile holds its IMPUs.
	saa := serve(sar(m0, set.IMPU(0), SATRegistration))
	ud, ok := saa.Find(d.AVPUserData, d.Vendor3GPP)
	if !ok {
		t.Fatal("SAA: no User-Data")
	}
	var prof imsSubscription
	if err := xml.Unmarshal(ud.Data, &prof); err != nil {
		t.Fatal(err)
	}
	if prof.PrivateID != m0 || len(prof.ServiceProfile.PublicIdentity) != 2 || prof.ServiceProfile.PublicIdentity[1].Identity != set.IMPUs(0)[1] {
		t.Errorf("member 0's profile: %+v", prof)
	}
	if rc := expResult(t, serve(uar(m0, set.IMPU(0)))); rc != d.CxSubsequentRegistration {
		t.Errorf("UAR of member 0 after its SAR: %d, want 2002", rc)
	}
	if rc := expResult(t, serve(uar(m1, set.IMPU(1)))); rc != d.CxFirstRegistration {
		t.Errorf("UAR of member 1: %d, want 2001 (member 0's SAR is not member 1's)", rc)
	}
	if h.AssignedServer() != "" {
		t.Errorf("the lab subscriber: expected no assignment, got %q", h.AssignedServer())
	}
	if rc := expResult(t, serve(uar(impi, impu1))); rc != d.CxFirstRegistration {
		t.Errorf("UAR of the lab subscriber: %d, want 2001", rc)
	}

	// Identities outside the population, or of two members.
	if rc := expResult(t, serve(uar("user000101_private@home1.net", "sip:user000101_public1@home1.net"))); rc != d.CxErrorUserUnknown {
		t.Errorf("UAR beyond the population: %d, want DIAMETER_ERROR_USER_UNKNOWN", rc)
	}
	if rc := expResult(t, serve(uar(m0, set.IMPU(1)))); rc != d.CxErrorIdentitiesDontMatch {
		t.Errorf("UAR of member 0's IMPI with member 1's IMPU: %d, want DIAMETER_ERROR_IDENTITIES_DONT_MATCH", rc)
	}
}
