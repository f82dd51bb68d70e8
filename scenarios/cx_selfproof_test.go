package scenarios_test

import (
	"testing"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/selfproof"
	"imsconform/harness/trace"
	"imsconform/scenarios"
)

// cxRequests are the Cx requests of a conformant core, keyed by step, with
// the vars that go with them.
func cxRequests() (map[string]*diameter.Message, map[string]string) {
	str := func(code uint32, s string) diameter.AVP {
		return diameter.UTF8String(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, s)
	}
	enum := func(code uint32, v int32) diameter.AVP {
		return diameter.Enumerated(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
	}
	req := func(code uint32, origin string, more ...diameter.AVP) *diameter.Message {
		return diameter.NewRequest(code, diameter.AppCx, 1, 2,
			diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, origin+";1;1"),
			diameter.Grouped(diameter.AVPVendorSpecificApplicationID, 0, diameter.AVPFlagMandatory,
				diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, diameter.Vendor3GPP),
				diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx)),
			diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, 1),
			diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, origin),
			diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
			diameter.DiameterIdentity(diameter.AVPDestinationRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
			diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net"),
			str(diameter.AVPPublicIdentity, "sip:user1_public1@home1.net")).Add(more...)
	}
	uar := func() *diameter.Message {
		return req(diameter.CmdUserAuthorization, "icscf.home1.net",
			diameter.OctetString(diameter.AVPVisitedNetworkIdentifier, diameter.Vendor3GPP, diameter.AVPFlagMandatory, []byte("visited1.net")),
			enum(diameter.AVPUserAuthorizationType, 0))
	}
	msgs := map[string]*diameter.Message{
		"3.UAR": uar(),
		"3.MAR": req(diameter.CmdMultimediaAuth, "scscf.home1.net",
			diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory, str(diameter.AVPSIPAuthenticationScheme, "Digest-AKAv1-MD5")),
			diameter.Unsigned32(diameter.AVPSIPNumberAuthItems, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 1),
			str(diameter.AVPServerName, "sip:scscf.home1.net")),
		"8.UAR": uar(),
		"9.SAR": req(diameter.CmdServerAssignment, "scscf.home1.net", str(diameter.AVPServerName, "sip:scscf.home1.net"),
			enum(diameter.AVPServerAssignmentType, 1), enum(diameter.AVPUserDataAlreadyAvailable, 0)),
	}
	vars := map[string]string{"cx_observed": "true", "hss_realm": "home1.net", "impi": "user1_private@home1.net",
		"impu": "sip:user1_public1@home1.net", "visited_network_id": "visited1.net",
		"icscf_diameter_host": "icscf.home1.net", "scscf_diameter_host": "scscf.home1.net", "scscf_uri": "sip:scscf.home1.net"}
	return msgs, vars
}

// TestCxCandidatesBreakTheirRules is the self-proof of the Cx rules without
// a flow: for each, the AVP edits selfproof.Candidates proposes, applied by
// deviation.ApplyAVPs as the reference core applies them, make the rule
// fail; a rule on the Diameter header is proposed no-answer, a request
// never sent.
func TestCxCandidatesBreakTheirRules(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	input := func(edit string, ds []deviation.Deviation) check.Input {
		msgs, vars := cxRequests()
		in := check.Input{Messages: map[string]trace.Message{}, Missing: map[string]string{}, Vars: vars}
		for step, m := range msgs {
			if step == edit {
				if deviation.Has(ds, deviation.NoAnswer) {
					in.Missing[step] = "not sent (no-answer)"
					continue
				}
				if err := deviation.ApplyAVPs(ds, m, nil); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			raw, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			in.Messages[step] = trace.Message{Proto: trace.Diameter, Raw: raw}
		}
		return in
	}
	n := 0
	for _, r := range s.AllRules() {
		if r.Protocol != scenario.ProtoDiameter {
			continue
		}
		n++
		if v := check.Evaluate([]scenario.Rule{r}, input("", nil))[0]; v.Verdict != check.Pass {
			t.Errorf("%s: clean: %s (%s)", r.ID, v.Verdict, v.Reason)
			continue
		}
		cands := selfproof.Candidates(r)
		proven := false
		for _, d := range cands {
			if d.Step != r.Step {
				t.Errorf("%s: candidate for step %s", r.ID, d.Step)
			}
			if check.Evaluate([]scenario.Rule{r}, input(r.Step, []deviation.Deviation{d}))[0].Verdict == check.Fail {
				proven = true
				if r.Kind == scenario.KindStartLine != (d.Action == deviation.NoAnswer) {
					t.Errorf("%s: proven by %s, want no-answer only for the Diameter header", r.ID, d.Action)
				}
				break
			}
		}
		if !proven {
			t.Errorf("%s: none of %d candidates makes it fail", r.ID, len(cands))
		}
	}
	if n == 0 {
		t.Fatal("no Diameter rules")
	}
}
