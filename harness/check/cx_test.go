package check

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// The Cx requests of a conformant core for the seed's subscriber, as the
// HSS emulator would capture them.
var (
	icscfCx = netip.MustParseAddrPort("[::1]:3868")
	scscfCx = netip.MustParseAddrPort("[::1]:3869")
	hssCx   = netip.MustParseAddrPort("[::1]:3870")
)

func cxVars(v map[string]string) {
	v["hss_realm"], v["hss_host"] = "home1.net", "hss.home1.net"
	v["icscf_diameter_host"], v["scscf_diameter_host"] = "icscf1_p.home1.net", "scscf1.home1.net"
	v["scscf_uri"], v["cx_observed"] = "sip:scscf1.home1.net", "true"
}

func cxStr(code uint32, s string) diameter.AVP {
	return diameter.UTF8String(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, s)
}

func cxU32(code uint32, v uint32) diameter.AVP {
	return diameter.Unsigned32(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, v)
}

// cxRequest is a Cx request with the AVPs every Cx request starts with
// (TS 29.229 6.1) followed by more.
func cxRequest(code uint32, session, origin string, more ...diameter.AVP) []byte {
	m := diameter.NewRequest(code, diameter.AppCx, 7, 9,
		diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, session),
		diameter.Grouped(diameter.AVPVendorSpecificApplicationID, 0, diameter.AVPFlagMandatory,
			diameter.Unsigned32(diameter.AVPVendorID, 0, diameter.AVPFlagMandatory, diameter.Vendor3GPP),
			diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx)),
		diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, diameter.AuthSessionStateNoStateMaintained),
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, origin),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
		diameter.DiameterIdentity(diameter.AVPDestinationRealm, 0, diameter.AVPFlagMandatory, "home1.net"),
	)
	m.Add(more...)
	b, err := m.Marshal()
	if err != nil {
		panic(err) // a broken test fixture
	}
	return b
}

func uar(session string) []byte {
	return cxRequest(diameter.CmdUserAuthorization, session, "icscf1_p.home1.net",
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net"),
		cxStr(diameter.AVPPublicIdentity, "sip:user1_public1@home1.net"),
		diameter.OctetString(diameter.AVPVisitedNetworkIdentifier, diameter.Vendor3GPP, diameter.AVPFlagMandatory, []byte(`"Visited Network Number 1"`)),
		diameter.Enumerated(diameter.AVPUserAuthorizationType, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 0))
}

func mar() []byte {
	return cxRequest(diameter.CmdMultimediaAuth, "scscf1.home1.net;1;2", "scscf1.home1.net",
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net"),
		cxStr(diameter.AVPPublicIdentity, "sip:user1_public1@home1.net"),
		diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory,
			cxStr(diameter.AVPSIPAuthenticationScheme, "Digest-AKAv1-MD5")),
		cxU32(diameter.AVPSIPNumberAuthItems, 1),
		cxStr(diameter.AVPServerName, "sip:scscf1.home1.net"))
}

func sar() []byte {
	return cxRequest(diameter.CmdServerAssignment, "scscf1.home1.net;1;3", "scscf1.home1.net",
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net"),
		cxStr(diameter.AVPPublicIdentity, "sip:user1_public1@home1.net"),
		cxStr(diameter.AVPServerName, "sip:scscf1.home1.net"),
		diameter.Enumerated(diameter.AVPServerAssignmentType, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 1),
		diameter.Enumerated(diameter.AVPUserDataAlreadyAvailable, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 0))
}

func dmsg(seq int, src, dst netip.AddrPort, raw []byte) trace.Message {
	return trace.Message{Seq: seq, Proto: trace.Diameter, Transport: "TCP", Dir: trace.Received, Role: "HSS", Src: src, Dst: dst, Raw: raw}
}

// addCx files the Cx requests of steps 3, 8 and 9 into in.
func addCx(in Input) {
	in.Messages["3.UAR"] = dmsg(2, icscfCx, hssCx, uar("icscf1_p.home1.net;1;1"))
	in.Messages["3.MAR"] = dmsg(3, scscfCx, hssCx, mar())
	in.Messages["8.UAR"] = dmsg(6, icscfCx, hssCx, uar("icscf1_p.home1.net;1;4"))
	in.Messages["9.SAR"] = dmsg(7, scscfCx, hssCx, sar())
	cxVars(in.Vars)
}

func cxRules(t testing.TB, profile string) []scenario.Rule {
	t.Helper()
	rules, err := loadTS24206(t).Rules(profile)
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario.Rule
	for _, r := range rules {
		if r.Protocol == scenario.ProtoDiameter {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("the scenario has no Diameter rules")
	}
	return out
}

// TestCxNotObserved: without the harness's HSS no Cx request is captured,
// and every Cx rule is none with the reason the flow gives, whether the run
// says cx_observed false or says nothing of it.
func TestCxNotObserved(t *testing.T) {
	rules := cxRules(t, "a322")
	for name, edit := range map[string]func(map[string]string){
		"false": func(v map[string]string) { v["cx_observed"] = "false" },
		"unset": func(v map[string]string) { delete(v, "cx_observed") },
	} {
		in := seedInput("a322")
		edit(in.Vars)
		for _, r := range Evaluate(rules, in) {
			if r.Verdict != None || r.Reason != "Cx not observed: the harness does not play the HSS in this lab" {
				t.Errorf("cx_observed %s: %s: %s %q, want none with the Cx reason", name, r.RuleID, r.Verdict, r.Reason)
			}
		}
	}
}

// TestCxMissing: with the harness playing the HSS, a Cx request that never
// came fails its rules with the flow's reason.
func TestCxMissing(t *testing.T) {
	rules := cxRules(t, "a322")
	in := seedInput("a322")
	delete(in.Messages, "9.SAR")
	in.Missing["9.SAR"] = "the HSS received no SAR within 5s"
	for i, r := range Evaluate(rules, in) {
		if rules[i].Step != "9.SAR" {
			continue
		}
		if r.Verdict != Fail || r.Reason != in.Missing["9.SAR"] {
			t.Errorf("%s: %s %q, want fail with the flow's reason", r.RuleID, r.Verdict, r.Reason)
		}
	}
}

// TestCxUndecodable: a Diameter message that does not decode fails every
// rule on it with the decode error as the reason.
func TestCxUndecodable(t *testing.T) {
	rules := cxRules(t, "a322")
	in := seedInput("a322")
	raw := append([]byte(nil), in.Messages["3.MAR"].Raw...)
	raw[0] = 2 // version 2
	in.Messages["3.MAR"] = withRaw(in.Messages["3.MAR"], string(raw))
	n := 0
	for i, r := range Evaluate(rules, in) {
		switch {
		case rules[i].Step == "3.MAR":
			n++
			if r.Verdict != Fail || !strings.Contains(r.Reason, "expected version 1, got 2") || r.Observed != "undecodable Diameter message" {
				t.Errorf("%s: %s %q %q, want fail with the decode error", r.RuleID, r.Verdict, r.Observed, r.Reason)
			}
		case rules[i].Step == "9.SAR" && rules[i].Ref != nil:
			if r.Verdict != Inconc || !strings.Contains(r.Reason, "expected version 1") {
				t.Errorf("%s: %s %q, want inconc: its reference does not decode", r.RuleID, r.Verdict, r.Reason)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rule on step 3.MAR")
	}
}

// TestDiameterKinds: each kind on an AVP passes on a conformant request and
// fails, with a reason, when the AVP is changed.
func TestDiameterKinds(t *testing.T) {
	on := func(step string, kind scenario.Kind, header string, f func(r *scenario.Rule)) scenario.Rule {
		r := scenario.Rule{ID: "T/" + header, Table: "T", Step: step, Header: header, Statement: "s", Kind: kind, Min: -1, Max: -1, Protocol: scenario.ProtoDiameter}
		if f != nil {
			f(&r)
		}
		return r
	}
	user := diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net")
	impu := cxStr(diameter.AVPPublicIdentity, "sip:user1_public1@home1.net")
	item := func(scheme string) diameter.AVP {
		return diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory, cxStr(diameter.AVPSIPAuthenticationScheme, scheme))
	}
	marWith := func(avps ...diameter.AVP) []byte {
		return cxRequest(diameter.CmdMultimediaAuth, "s;1", "scscf1.home1.net", avps...)
	}
	cases := []struct {
		name string
		r    scenario.Rule
		bad  []byte
	}{
		{"command", on("3.MAR", scenario.KindStartLine, "Diameter-Header", func(r *scenario.Rule) { r.Start.Command = "303" }),
			cxRequest(diameter.CmdServerAssignment, "s;1", "scscf1.home1.net")},
		{"request flag", on("3.MAR", scenario.KindStartLine, "Diameter-Header", func(r *scenario.Rule) { r.Start.RequestFlag = "true" }),
			func() []byte { b := mar(); b[4] &^= diameter.FlagRequest; return b }()},
		{"application", on("3.MAR", scenario.KindStartLine, "Diameter-Header", func(r *scenario.Rule) { r.Start.Application = "16777216" }),
			func() []byte { b := mar(); b[11] ^= 1; return b }()},
		{"present", on("3.MAR", scenario.KindPresent, "Server-Name", nil), marWith(user, impu, item("Digest-AKAv1-MD5"))},
		{"absent", on("3.MAR", scenario.KindAbsent, "Destination-Host", nil),
			marWith(diameter.DiameterIdentity(diameter.AVPDestinationHost, 0, diameter.AVPFlagMandatory, "hss.home1.net"))},
		{"count", on("3.MAR", scenario.KindCount, "Public-Identity", func(r *scenario.Rule) { r.Min, r.Max = 1, 1 }), marWith(impu, impu)},
		{"equals text", on("3.MAR", scenario.KindEquals, "User-Name", func(r *scenario.Rule) { r.Value = "{{impi}}" }),
			marWith(diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "other@home1.net"))},
		{"equals number", on("3.MAR", scenario.KindEquals, "SIP-Number-Auth-Items", func(r *scenario.Rule) { r.Value = "1" }),
			marWith(cxU32(diameter.AVPSIPNumberAuthItems, 2))},
		{"equals in a group", on("3.MAR", scenario.KindEquals, "SIP-Auth-Data-Item/SIP-Authentication-Scheme", func(r *scenario.Rule) { r.Value = "Digest-AKAv1-MD5" }),
			marWith(item("Digest-MD5"))},
		{"equals malformed number", on("3.MAR", scenario.KindEquals, "SIP-Number-Auth-Items", func(r *scenario.Rule) { r.Value = "1" }),
			marWith(diameter.OctetString(diameter.AVPSIPNumberAuthItems, diameter.Vendor3GPP, diameter.AVPFlagMandatory, []byte{1}))},
		{"matches", on("3.MAR", scenario.KindMatches, "Server-Name", func(r *scenario.Rule) { r.Pattern = `^sips?:` }),
			marWith(cxStr(diameter.AVPServerName, "scscf1.home1.net"))},
		{"one-of", on("3.MAR", scenario.KindOneOf, "Auth-Session-State", func(r *scenario.Rule) { r.Values, r.Index = []string{"1"}, "all" }),
			cxRequest(diameter.CmdMultimediaAuth, "s;1", "o", diameter.Enumerated(diameter.AVPAuthSessionState, 0, diameter.AVPFlagMandatory, 0))},
		{"compare", on("3.MAR", scenario.KindCompare, "SIP-Number-Auth-Items", func(r *scenario.Rule) { r.Op, r.Value = "ge", "1" }),
			marWith(cxU32(diameter.AVPSIPNumberAuthItems, 0))},
		{"same-as", on("9.SAR", scenario.KindSameAs, "Server-Name", func(r *scenario.Rule) { r.Ref = &scenario.Ref{Step: "3.MAR", Header: "Server-Name"} }),
			cxRequest(diameter.CmdServerAssignment, "s;1", "o", cxStr(diameter.AVPServerName, "sip:other.home1.net"))},
		{"contains", on("3.MAR", scenario.KindContains, "Public-Identity", func(r *scenario.Rule) { r.Value = "{{impu}}" }),
			marWith(cxStr(diameter.AVPPublicIdentity, "sip:other@home1.net"))},
		{"text part", on("3.UAR", scenario.KindEquals, "Visited-Network-Identifier", func(r *scenario.Rule) { r.Part, r.Value = "text", "{{visited_network_id}}" }),
			cxRequest(diameter.CmdUserAuthorization, "s;1", "o", diameter.OctetString(diameter.AVPVisitedNetworkIdentifier, diameter.Vendor3GPP, diameter.AVPFlagMandatory, []byte("other")))},
		{"hex part", on("3.UAR", scenario.KindEquals, "Visited-Network-Identifier", func(r *scenario.Rule) {
			r.Part, r.Value = "hex", hex.EncodeToString([]byte(`"Visited Network Number 1"`))
		}), cxRequest(diameter.CmdUserAuthorization, "s;1", "o", diameter.OctetString(diameter.AVPVisitedNetworkIdentifier, diameter.Vendor3GPP, diameter.AVPFlagMandatory, []byte("other")))},
		{"optional", on("3.UAR", scenario.KindOneOf, "User-Authorization-Type", func(r *scenario.Rule) { r.Values, r.Optional = []string{"0"}, true }),
			cxRequest(diameter.CmdUserAuthorization, "s;1", "o", diameter.Enumerated(diameter.AVPUserAuthorizationType, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 2))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			good := seedInput("a322")
			if got := Evaluate([]scenario.Rule{c.r}, good)[0]; got.Verdict != Pass {
				t.Fatalf("good message: %s (expected %q observed %q: %s)", got.Verdict, got.Expected, got.Observed, got.Reason)
			}
			bad := seedInput("a322")
			bad.Messages[c.r.Step] = withRaw(bad.Messages[c.r.Step], string(c.bad))
			got := Evaluate([]scenario.Rule{c.r}, bad)[0]
			if got.Verdict != Fail || got.Reason == "" || got.Expected == "" {
				t.Fatalf("bad message: %s (expected %q observed %q reason %q), want fail with a reason", got.Verdict, got.Expected, got.Observed, got.Reason)
			}
		})
	}
	// An optional AVP that is absent passes.
	r := on("3.UAR", scenario.KindOneOf, "User-Authorization-Type", func(r *scenario.Rule) { r.Values, r.Optional = []string{"0"}, true })
	in := seedInput("a322")
	in.Messages["3.UAR"] = withRaw(in.Messages["3.UAR"], string(cxRequest(diameter.CmdUserAuthorization, "s;1", "o")))
	if got := Evaluate([]scenario.Rule{r}, in)[0]; got.Verdict != Pass {
		t.Errorf("optional AVP absent: %s %q, want pass", got.Verdict, got.Reason)
	}
}

// TestDiameterRendering: values are rendered by the AVP's dictionary type.
func TestDiameterRendering(t *testing.T) {
	in := seedInput("a322")
	for header, want := range map[string]string{
		"User-Name":                                "user1_private@home1.net",
		"Auth-Session-State":                       "1",
		"SIP-Number-Auth-Items":                    "1",
		"Visited-Network-Identifier":               hex.EncodeToString([]byte(`"Visited Network Number 1"`)),
		"Vendor-Specific-Application-Id/Vendor-Id": "10415",
	} {
		step := "3.MAR"
		if header == "Visited-Network-Identifier" {
			step = "3.UAR"
		}
		r := scenario.Rule{ID: "T/" + header, Step: step, Header: header, Statement: "s", Kind: scenario.KindEquals, Value: want, Min: -1, Max: -1}
		if got := Evaluate([]scenario.Rule{r}, in)[0]; got.Verdict != Pass {
			t.Errorf("%s: %s: observed %q, want %q", header, got.Verdict, got.Observed, want)
		}
	}
}
