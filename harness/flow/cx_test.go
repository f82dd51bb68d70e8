package flow

import (
	"context"
	"strings"
	"testing"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// cxMsg decodes the captured request of a Cx step.
func cxMsg(t *testing.T, r *Result, step string, code uint32) *diameter.Message {
	t.Helper()
	m, ok := r.Messages[step]
	if !ok {
		t.Fatalf("step %s: expected a Cx request, missing: %s", step, r.Missing[step])
	}
	if m.Proto != trace.Diameter || m.Role != "HSS" || m.Dir != trace.Received || m.Transport != "TCP" {
		t.Errorf("step %s: expected a Diameter message received by the HSS over TCP, got %s %s %s %s", step, m.Proto, m.Role, m.Dir, m.Transport)
	}
	dm, err := diameter.Unmarshal(m.Raw)
	if err != nil {
		t.Fatalf("step %s: %v", step, err)
	}
	if !dm.IsRequest() || dm.Code != code || dm.ApplicationID != diameter.AppCx {
		t.Fatalf("step %s: expected request %d of application %d, got code %d app %d request %v", step, code, diameter.AppCx, dm.Code, dm.ApplicationID, dm.IsRequest())
	}
	return dm
}

// avps returns the AVPs at a path of dictionary names.
func avps(t *testing.T, avs []diameter.AVP, path string) []diameter.AVP {
	t.Helper()
	defs, err := deviation.AVPPath(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	cur := avs
	for i, def := range defs {
		found := diameter.FindAllAVPs(cur, def.Code, def.Vendor)
		if i == len(defs)-1 {
			return found
		}
		cur = nil
		for _, g := range found {
			ms, err := g.Group()
			if err != nil {
				t.Fatalf("%s: %v", def.Name, err)
			}
			cur = append(cur, ms...)
		}
	}
	return nil
}

func str(t *testing.T, dm *diameter.Message, path string) string {
	t.Helper()
	got := avps(t, dm.AVPs, path)
	if len(got) != 1 {
		t.Errorf("%s: expected one, got %d", path, len(got))
		return ""
	}
	return string(got[0].Data)
}

func num(t *testing.T, dm *diameter.Message, path string) int64 {
	t.Helper()
	got := avps(t, dm.AVPs, path)
	if len(got) != 1 {
		t.Errorf("%s: expected one, got %d", path, len(got))
		return -1
	}
	v, err := got[0].Uint32()
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return -1
	}
	return int64(v)
}

// answerOf returns the answer the HSS sent to the captured request req.
func answerOf(t *testing.T, r *Result, req trace.Message) *diameter.Message {
	t.Helper()
	h, _ := diameter.ParseHeader(req.Raw)
	for _, m := range r.Trace.Messages() {
		if m.Proto != trace.Diameter || m.Dir != trace.Sent || m.Seq < req.Seq {
			continue
		}
		a, err := diameter.Unmarshal(m.Raw)
		if err == nil && !a.IsRequest() && a.HopByHop == h.HopByHop && a.Code == h.Code {
			return a
		}
	}
	t.Fatalf("expected an answer to the request of seq %d, got none", req.Seq)
	return nil
}

// checkCommon checks the AVPs every Cx request of the core carries.
func checkCommon(t *testing.T, r *Result, step string, dm *diameter.Message, host string) {
	t.Helper()
	if sid := str(t, dm, "Session-Id"); !strings.HasPrefix(sid, host+";") {
		t.Errorf("%s Session-Id: expected %q;..., got %q", step, host, sid)
	}
	if dm.AVPs[0].Code != diameter.AVPSessionID {
		t.Errorf("%s: expected Session-Id first, got AVP %d", step, dm.AVPs[0].Code)
	}
	want := map[string]string{"Origin-Host": host, "Origin-Realm": "home1.net", "Destination-Realm": "home1.net",
		"User-Name": "user1_private@home1.net", "Public-Identity": "sip:user1_public1@home1.net"}
	for k, v := range want {
		if got := str(t, dm, k); got != v {
			t.Errorf("%s %s: expected %q, got %q", step, k, v, got)
		}
	}
	if got := num(t, dm, "Vendor-Specific-Application-Id/Vendor-Id"); got != 10415 {
		t.Errorf("%s Vendor-Specific-Application-Id/Vendor-Id: expected 10415, got %d", step, got)
	}
	if got := num(t, dm, "Vendor-Specific-Application-Id/Auth-Application-Id"); got != 16777216 {
		t.Errorf("%s Vendor-Specific-Application-Id/Auth-Application-Id: expected 16777216, got %d", step, got)
	}
	if got := num(t, dm, "Auth-Session-State"); got != 1 {
		t.Errorf("%s Auth-Session-State: expected 1 (NO_STATE_MAINTAINED), got %d", step, got)
	}
}

func TestCxSteps(t *testing.T) {
	for _, tc := range []struct{ ip, transport string }{{"127.0.0.1", "udp"}, {"::1", "udp"}, {"::1", "tcp"}} {
		t.Run(tc.transport+"/"+tc.ip, func(t *testing.T) {
			r := Run(context.Background(), Options{Lab: testLab(tc.ip, tc.transport)})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if len(r.Missing) != 0 {
				t.Fatalf("expected no missing step, got %v", r.Missing)
			}
			wantVars := map[string]string{"hss_realm": "home1.net", "hss_host": "hss.home1.net",
				"icscf_diameter_host": "icscf1_p.home1.net", "scscf_diameter_host": "scscf1.home1.net", "scscf_uri": "sip:scscf1.home1.net"}
			for k, v := range wantVars {
				if r.Vars[k] != v {
					t.Errorf("var %s: expected %q, got %q", k, v, r.Vars[k])
				}
			}
			for _, step := range []string{"3.UAR", "8.UAR"} {
				dm := cxMsg(t, r, step, diameter.CmdUserAuthorization)
				checkCommon(t, r, step, dm, r.Vars["icscf_diameter_host"])
				if got := str(t, dm, "Visited-Network-Identifier"); got != "visited1.net" {
					t.Errorf("%s Visited-Network-Identifier: expected visited1.net, got %q", step, got)
				}
				if got := num(t, dm, "User-Authorization-Type"); got != 0 {
					t.Errorf("%s User-Authorization-Type: expected 0, got %d", step, got)
				}
				if code, _ := diameter.ResultOf(answerOf(t, r, r.Messages[step])); code != 2001 && code != 2002 {
					t.Errorf("%s: expected the UAA to succeed, got %d", step, code)
				}
			}
			for _, step := range CxSteps {
				dm, _ := diameter.Unmarshal(r.Messages[step].Raw)
				if err := diameter.Default.Validate(dm); err != nil {
					t.Errorf("step %s: %v", step, err)
				}
			}
			if u3, u8, s7 := r.Messages["3.UAR"].Seq, r.Messages["8.UAR"].Seq, r.Messages["7"].Seq; !(u3 < s7 && s7 < u8) {
				t.Errorf("expected 3.UAR before step 7 before 8.UAR, got seqs %d %d %d", u3, s7, u8)
			}
			mar := cxMsg(t, r, "3.MAR", diameter.CmdMultimediaAuth)
			checkCommon(t, r, "3.MAR", mar, r.Vars["scscf_diameter_host"])
			if got := num(t, mar, "SIP-Number-Auth-Items"); got != 1 {
				t.Errorf("3.MAR SIP-Number-Auth-Items: expected 1, got %d", got)
			}
			if got := str(t, mar, "SIP-Auth-Data-Item/SIP-Authentication-Scheme"); got != "Digest-AKAv1-MD5" {
				t.Errorf("3.MAR SIP-Authentication-Scheme: expected Digest-AKAv1-MD5, got %q", got)
			}
			if got := avps(t, mar.AVPs, "SIP-Auth-Data-Item/SIP-Authorization"); len(got) != 0 {
				t.Errorf("3.MAR: expected no SIP-Authorization outside a resync, got %d", len(got))
			}
			if got := str(t, mar, "Server-Name"); got != r.Vars["scscf_uri"] {
				t.Errorf("3.MAR Server-Name: expected %q, got %q", r.Vars["scscf_uri"], got)
			}
			// The 401 carries the MAA's vector: RAND‖AUTN as its nonce.
			maa := answerOf(t, r, r.Messages["3.MAR"])
			sa := avps(t, maa.AVPs, "SIP-Auth-Data-Item/SIP-Authenticate")
			w := mustParse(t, r, "5").Lines("WWW-Authenticate")[0]
			if len(sa) != 1 || !strings.Contains(w.Value, `nonce="`+aka.Nonce{RAND: [16]byte(sa[0].Data[:16]), AUTN: [16]byte(sa[0].Data[16:])}.Encode()+`"`) {
				t.Errorf("step 5: expected the nonce of the MAA's SIP-Authenticate, got %q", w.Value)
			}
			sar := cxMsg(t, r, "9.SAR", diameter.CmdServerAssignment)
			checkCommon(t, r, "9.SAR", sar, r.Vars["scscf_diameter_host"])
			if got := num(t, sar, "Server-Assignment-Type"); got != 1 {
				t.Errorf("9.SAR Server-Assignment-Type: expected 1, got %d", got)
			}
			if got := num(t, sar, "User-Data-Already-Available"); got != 0 {
				t.Errorf("9.SAR User-Data-Already-Available: expected 0, got %d", got)
			}
			if got := str(t, sar, "Server-Name"); got != r.Vars["scscf_uri"] {
				t.Errorf("9.SAR Server-Name: expected %q, got %q", r.Vars["scscf_uri"], got)
			}
			if r.Messages["9.SAR"].Seq > r.Messages["10"].Seq {
				t.Error("expected the SAR before the 200 OK")
			}
			pau := mustParse(t, r, "10").Lines("P-Associated-URI")
			if len(pau) != 1 || pau[0].Value != "<sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>, <sip:user1_public3@home1.net>, <tel:+1-212-555-1111>" {
				t.Errorf("step 10: expected the profile's IMPUs in P-Associated-URI, got %v", pau)
			}
		})
	}
}

func TestCxStaleSQNResyncsOverMAR(t *testing.T) {
	r := run(t, 2*time.Second, deviation.Deviation{Step: "5", Action: deviation.StaleSQN})
	if len(r.Missing) != 0 {
		t.Fatalf("expected success after AUTS, missing %v", r.Missing)
	}
	var mars []*diameter.Message
	for _, m := range r.Trace.Messages() {
		if m.Seq > r.Messages["10"].Seq {
			break // the de-registration that ends the run may be challenged again
		}
		if h, err := diameter.ParseHeader(m.Raw); m.Proto == trace.Diameter && m.Dir == trace.Received && err == nil && h.Code == diameter.CmdMultimediaAuth {
			dm, _ := diameter.Unmarshal(m.Raw)
			mars = append(mars, dm)
		}
	}
	if len(mars) != 2 {
		t.Fatalf("expected two MARs (first, resync), got %d", len(mars))
	}
	// The resync MAR carries RAND of the first challenge ‖ the UE's AUTS.
	first := r.Trace.Messages()
	var nonce, auts string
	for _, m := range first {
		if m.Role != "UE" || m.Proto != trace.SIP {
			continue
		}
		p, err := sipmsg.Parse(m.Raw)
		if err != nil {
			continue
		}
		if l := p.Lines("WWW-Authenticate"); nonce == "" && len(l) > 0 {
			nonce = between(l[0].Value, `nonce="`, `"`)
		}
		if l := p.Lines("Authorization"); auts == "" && len(l) > 0 && strings.Contains(l[0].Value, "auts=") {
			auts = between(l[0].Value, `auts="`, `"`)
		}
	}
	n, err := aka.ParseNonce(nonce)
	if err != nil || auts == "" {
		t.Fatalf("expected the first nonce and an auts in the trace, got %q %q (%v)", nonce, auts, err)
	}
	sa := avps(t, mars[1].AVPs, "SIP-Auth-Data-Item/SIP-Authorization")
	if len(sa) != 1 || len(sa[0].Data) != 30 || string(sa[0].Data[:16]) != string(n.RAND[:]) {
		t.Fatalf("resync MAR: expected SIP-Authorization = RAND of the first challenge ‖ AUTS (30 bytes), got %d AVPs", len(sa))
	}
	if str(t, mars[1], "SIP-Auth-Data-Item/SIP-Authentication-Scheme") != "Digest-AKAv1-MD5" {
		t.Error("resync MAR: expected the scheme Digest-AKAv1-MD5")
	}
	if got := avps(t, cxMsg(t, r, "3.MAR", diameter.CmdMultimediaAuth).AVPs, "SIP-Auth-Data-Item/SIP-Authorization"); len(got) != 0 {
		t.Error("3.MAR: expected the first MAR, without SIP-Authorization")
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestCxBadMAC(t *testing.T) {
	r := run(t, 500*time.Millisecond, deviation.Deviation{Step: "5", Action: deviation.BadMAC})
	if r.Facts["5.autn"] != "bad-mac" {
		t.Errorf("5.autn: expected bad-mac, got %q", r.Facts["5.autn"])
	}
	cxMsg(t, r, "3.UAR", diameter.CmdUserAuthorization)
	cxMsg(t, r, "3.MAR", diameter.CmdMultimediaAuth)
	for _, s := range []string{"8.UAR", "9.SAR"} {
		if got := r.Missing[s]; !strings.HasPrefix(got, "not due: no REGISTER with a challenge response was sent (step 7 not sent: AUTN of the 401 failed verification (MAC-A wrong)") || r.NotDue[s] != got {
			t.Errorf("%s: got %q (not due: %q)", s, got, r.NotDue[s])
		}
	}
}

func TestCxDeviationsAtTheWire(t *testing.T) {
	t.Run("edits the SUT survives", func(t *testing.T) {
		r := run(t, 2*time.Second,
			deviation.Deviation{Step: "3.UAR", Action: deviation.DropHeader, Header: "Visited-Network-Identifier"},
			deviation.Deviation{Step: "3.UAR", Action: deviation.SetHeader, Header: "User-Authorization-Type", Value: "2"},
			deviation.Deviation{Step: "3.MAR", Action: deviation.DropHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme"},
			deviation.Deviation{Step: "8.UAR", Action: deviation.AddHeader, Header: "Public-Identity", Value: "sip:extra@home1.net"},
			deviation.Deviation{Step: "9.SAR", Action: deviation.SetHeader, Header: "User-Data-Already-Available", Value: "1"},
		)
		if len(r.Missing) != 0 {
			t.Fatalf("expected the flow to complete, missing %v", r.Missing)
		}
		u3 := cxMsg(t, r, "3.UAR", diameter.CmdUserAuthorization)
		if len(avps(t, u3.AVPs, "Visited-Network-Identifier")) != 0 {
			t.Error("3.UAR: expected no Visited-Network-Identifier")
		}
		if got := num(t, u3, "User-Authorization-Type"); got != 2 {
			t.Errorf("3.UAR User-Authorization-Type: expected 2, got %d", got)
		}
		m3 := cxMsg(t, r, "3.MAR", diameter.CmdMultimediaAuth)
		if len(avps(t, m3.AVPs, "SIP-Auth-Data-Item")) != 1 || len(avps(t, m3.AVPs, "SIP-Auth-Data-Item/SIP-Authentication-Scheme")) != 0 {
			t.Error("3.MAR: expected a SIP-Auth-Data-Item without SIP-Authentication-Scheme")
		}
		u8 := cxMsg(t, r, "8.UAR", diameter.CmdUserAuthorization)
		if got := avps(t, u8.AVPs, "Public-Identity"); len(got) != 2 || string(got[1].Data) != "sip:extra@home1.net" {
			t.Errorf("8.UAR: expected a second Public-Identity sip:extra@home1.net, got %d", len(got))
		}
		if got := avps(t, cxMsg(t, r, "3.UAR", diameter.CmdUserAuthorization).AVPs, "Public-Identity"); len(got) != 1 {
			t.Error("3.UAR: expected the 8.UAR edit not to touch it")
		}
		if got := num(t, cxMsg(t, r, "9.SAR", diameter.CmdServerAssignment), "User-Data-Already-Available"); got != 1 {
			t.Errorf("9.SAR User-Data-Already-Available: expected 1, got %d", got)
		}
		// No profile in the SAA and none before: only the registered IMPU.
		if pau := mustParse(t, r, "10").Lines("P-Associated-URI"); len(pau) != 1 || pau[0].Value != "<sip:user1_public1@home1.net>" {
			t.Errorf("step 10: expected only the registered IMPU, got %v", pau)
		}
	})
	t.Run("wrong scheme is refused", func(t *testing.T) {
		r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "3.MAR", Action: deviation.SetHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme", Value: "Digest-MD5"})
		if got := str(t, cxMsg(t, r, "3.MAR", diameter.CmdMultimediaAuth), "SIP-Auth-Data-Item/SIP-Authentication-Scheme"); got != "Digest-MD5" {
			t.Errorf("3.MAR: expected the scheme Digest-MD5, got %q", got)
		}
		if got := r.Missing["5"]; !strings.Contains(got, "403 Forbidden") {
			t.Errorf("step 5: expected a 403 instead, got %q", got)
		}
	})
	t.Run("malformed value", func(t *testing.T) {
		r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "9.SAR", Action: deviation.SetHeader, Header: "Server-Assignment-Type", Value: "4294967296"})
		got := avps(t, cxMsg(t, r, "9.SAR", diameter.CmdServerAssignment).AVPs, "Server-Assignment-Type")
		if len(got) != 1 || string(got[0].Data) != "4294967296" {
			t.Errorf("9.SAR: expected the bytes of 4294967296 as Server-Assignment-Type, got %v", got)
		}
		if p := mustParse(t, r, "10"); p.StatusCode != 500 {
			t.Errorf("step 10: expected 500 after the HSS refused the SAR, got %d", p.StatusCode)
		}
	})
	t.Run("9.SAR no-answer", func(t *testing.T) {
		r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "9.SAR", Action: deviation.NoAnswer})
		if _, ok := r.Messages["9.SAR"]; ok {
			t.Error("9.SAR: expected none")
		}
		if got := r.Missing["9.SAR"]; got != `not received: the REGISTER of step 7 was answered with "SIP/2.0 480 Temporarily Unavailable" before it` {
			t.Errorf("9.SAR: got %q", got)
		}
		if p := mustParse(t, r, "10"); p.StatusCode != 480 {
			t.Errorf("step 10: expected 480, got %d", p.StatusCode)
		}
		cxMsg(t, r, "8.UAR", diameter.CmdUserAuthorization)
	})
	t.Run("3.UAR no-answer", func(t *testing.T) {
		r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "3.UAR", Action: deviation.NoAnswer})
		for _, s := range []string{"3.UAR", "3.MAR"} {
			if got := r.Missing[s]; got != `not received: the REGISTER of step 2 was answered with "SIP/2.0 480 Temporarily Unavailable" before it` {
				t.Errorf("%s: got %q", s, got)
			}
		}
		for _, m := range r.Trace.Messages() {
			if h, err := diameter.ParseHeader(m.Raw); m.Proto == trace.Diameter && err == nil && h.Code == diameter.CmdUserAuthorization {
				t.Error("expected no UAR on the wire")
			}
		}
	})
}

func TestCxNotObservedInALab(t *testing.T) {
	l := testLab("127.0.0.1", "udp")
	l.SUT.PCSCF = "127.0.0.1:9" // nothing answers: the flow is not the point here
	l.Timeouts.Step = 200 * time.Millisecond
	r := Run(context.Background(), Options{Lab: l})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, s := range CxSteps {
		if _, ok := r.Messages[s]; ok {
			t.Errorf("%s: expected absent", s)
		}
		if got := r.Missing[s]; got != notPlayed {
			t.Errorf("%s: got %q", s, got)
		}
	}
	for _, k := range []string{"hss_realm", "hss_host", "icscf_diameter_host", "scscf_diameter_host", "scscf_uri"} {
		if v, ok := r.Vars[k]; !ok || v != "" {
			t.Errorf("var %s: expected set and empty, got %q %v", k, v, ok)
		}
	}
	for _, m := range r.Trace.Messages() {
		if m.Proto == trace.Diameter {
			t.Error("expected no Diameter in the trace")
		}
	}
}
