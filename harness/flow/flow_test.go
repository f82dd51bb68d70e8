package flow

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
)

func testLab(ip, transport string) *lab.Profile {
	l := lab.DefaultFor(ip)
	l.SUT.Transport = transport
	l.Timeouts.Step = 2 * time.Second
	return l
}

var allVars = []string{"impu", "impus", "tel_impu", "impi", "realm", "registrar", "home_domain", "transport",
	"ue_ip", "ue_host", "ue_port", "ue_port_c", "ue_port_s", "ue_spi_c", "ue_spi_s", "sigcomp", "ipsec", "pani",
	"expires", "preference", "pcscf_name", "icscf_name", "scscf_name", "visited_network_id", "vccapp_uri",
	"vccapp_host", "pcscf_entry", "profile", "hss_realm", "hss_host", "icscf_diameter_host", "scscf_diameter_host", "scscf_uri"}

func mustParse(t *testing.T, r *Result, step string) *sipmsg.Message {
	t.Helper()
	m, ok := r.Messages[step]
	if !ok {
		t.Fatalf("step %s: expected a message, missing: %s", step, r.Missing[step])
	}
	p, err := sipmsg.Parse(m.Raw)
	if err != nil {
		t.Fatalf("step %s: %v", step, err)
	}
	return p
}

func TestFullFlow(t *testing.T) {
	for _, tc := range []struct{ ip, transport string }{
		{"::1", "udp"}, {"127.0.0.1", "udp"}, {"::1", "tcp"}, {"127.0.0.1", "tcp"},
	} {
		t.Run(tc.transport+"/"+tc.ip, func(t *testing.T) {
			r := Run(context.Background(), Options{Lab: testLab(tc.ip, tc.transport)})
			if r.Err != nil {
				t.Fatalf("harness error: %v", r.Err)
			}
			if len(r.Missing) != 0 {
				t.Fatalf("expected no missing step, got %v", r.Missing)
			}
			for _, s := range Steps {
				if _, ok := r.Messages[s]; !ok {
					t.Errorf("step %s missing", s)
				}
			}
			if mustParse(t, r, "10").StatusCode != 200 || mustParse(t, r, "13").StatusCode != 200 || mustParse(t, r, "5").StatusCode != 401 {
				t.Error("expected 401 at 5, 200 at 10 and 13")
			}
			if r.Messages["10"].Seq != r.Messages["14"].Seq {
				t.Error("expected 10 and 14 to be the same message")
			}
			want := map[string]string{"5.autn": "valid", "12.impu": "sip:user1_public1@home1.net", "12.status": "registered", "12.accepted": "true"}
			for k, v := range want {
				if r.Facts[k] != v {
					t.Errorf("fact %s: expected %q, got %q", k, v, r.Facts[k])
				}
			}
			for _, k := range []string{"12.contact", "12.expires", "12.preference"} {
				if _, ok := r.Facts[k]; !ok {
					t.Errorf("fact %s: expected set", k)
				}
			}
			for _, k := range allVars {
				if _, ok := r.Vars[k]; !ok {
					t.Errorf("var %s: expected set", k)
				}
			}
			for _, k := range []string{"ue_port", "ue_port_c", "ue_port_s", "vccapp_host", "pcscf_entry", "impu", "ue_host", "scscf_names", "resync"} {
				if r.Vars[k] == "" || r.Vars[k] == "0" {
					t.Errorf("var %s: expected a value, got %q", k, r.Vars[k])
				}
			}
			if r.Vars["transport"] != strings.ToUpper(tc.transport) || r.Vars["ue_ip"] != tc.ip {
				t.Errorf("vars: expected transport %s and ue_ip %s, got %s %s", tc.transport, tc.ip, r.Vars["transport"], r.Vars["ue_ip"])
			}
			if !strings.HasPrefix(r.Target, "embedded reference core (P-CSCF ") {
				t.Errorf("target: got %q", r.Target)
			}
			for _, m := range r.Trace.Messages() {
				if m.Note != "" {
					t.Errorf("trace %d: unexpected note %q", m.Seq, m.Note)
				}
			}
		})
	}
}

func run(t *testing.T, step time.Duration, ds ...deviation.Deviation) *Result {
	t.Helper()
	l := testLab("::1", "udp")
	l.Timeouts.Step = step
	r := Run(context.Background(), Options{Lab: l, Deviations: ds})
	if r.Err != nil {
		t.Fatalf("harness error: %v", r.Err)
	}
	return r
}

func TestBadMAC(t *testing.T) {
	r := run(t, 500*time.Millisecond, deviation.Deviation{Step: "5", Action: deviation.BadMAC})
	if r.Facts["5.autn"] != "bad-mac" {
		t.Errorf("5.autn: expected bad-mac, got %q", r.Facts["5.autn"])
	}
	if _, ok := r.Messages["7"]; ok || r.Missing["7"] == "" {
		t.Errorf("step 7: expected missing, got %v", r.Missing)
	}
	if _, ok := r.Messages["5"]; !ok {
		t.Error("step 5: expected the 401")
	}
	for _, s := range []string{"10", "14", "11", "13"} {
		if r.Missing[s] == "" {
			t.Errorf("step %s: expected missing", s)
		}
	}
	sent := 0
	for _, m := range r.Trace.Messages() {
		if m.Role == "UE" && m.Dir == "sent" {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("expected the UE to send one REGISTER, got %d", sent)
	}
}

func TestStaleSQN(t *testing.T) {
	r := run(t, 2*time.Second, deviation.Deviation{Step: "5", Action: deviation.StaleSQN})
	if len(r.Missing) != 0 {
		t.Fatalf("expected success after AUTS, missing %v", r.Missing)
	}
	if r.Facts["5.autn"] != "valid" || r.Facts["5.auts"] != "1" {
		t.Errorf("expected 5.autn valid and one AUTS, got %v", r.Facts)
	}
	auts := false
	for _, m := range r.Trace.Messages() {
		if m.Role == "UE" && m.Dir == "sent" && strings.Contains(string(m.Raw), "auts=") {
			auts = true
		}
	}
	if !auts {
		t.Error("expected a REGISTER with auts in the trace")
	}
	first, last := r.Messages["5.resync"], r.Messages["5"]
	if r.Vars["resync"] != "true" || first.Raw == nil || first.Seq >= last.Seq {
		t.Errorf("expected step 5.resync, the 401 before step 5's, and var resync true; got seq %d and %d, resync %q", first.Seq, last.Seq, r.Vars["resync"])
	}
}

// TestStaleSQNReplayRAND: with stale-sqn=replay-rand the HSS's vector after
// the re-synchronisation repeats the RAND the UE rejected; the UE accepts
// it (its SQN is fresh) and both challenges are in the run.
func TestStaleSQNReplayRAND(t *testing.T) {
	r := run(t, 2*time.Second, deviation.Deviation{Step: "5", Action: deviation.StaleSQN, Value: deviation.ReplayRAND})
	if r.Facts["5.autn"] != "valid" || r.Facts["5.auts"] != "1" || r.Vars["resync"] != "true" {
		t.Fatalf("expected one AUTS and the second challenge valid, got facts %v, resync %q", r.Facts, r.Vars["resync"])
	}
	rand := func(step string) string {
		s := string(r.Messages[step].Raw)
		i := strings.Index(s, `nonce="`)
		if i < 0 {
			t.Fatalf("step %s: no nonce in %q", step, s)
		}
		return s[i+7 : i+7+22] // base64 of the first 16 bytes, RAND
	}
	if rand("5") != rand("5.resync") {
		t.Errorf("expected the same RAND in both challenges, got %s and %s", rand("5.resync"), rand("5"))
	}
}

func TestNoAnswer(t *testing.T) {
	for _, step := range []string{"5", "10", "11"} {
		t.Run(step, func(t *testing.T) {
			r := run(t, 600*time.Millisecond, deviation.Deviation{Step: step, Action: deviation.NoAnswer})
			if got := r.Missing[step]; got != "not received within 600ms" {
				t.Errorf("step %s: expected missing \"not received within 600ms\", got %q (all: %v)", step, got, r.Missing)
			}
			if step == "10" && r.Missing["14"] == "" {
				t.Error("step 14: expected missing with 10")
			}
		})
	}
}

func TestReject403(t *testing.T) {
	r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "10", Action: deviation.Reject403})
	if p := mustParse(t, r, "10"); p.StatusCode != 403 {
		t.Errorf("step 10: expected 403, got %d", p.StatusCode)
	}
}

func TestMalformed(t *testing.T) {
	r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "5", Action: deviation.Malformed})
	if _, ok := r.Messages["5"]; ok {
		t.Error("step 5: expected missing")
	}
	found := false
	for _, m := range r.Trace.Messages() {
		if m.Role == "UE" && m.Dir == "received" && strings.HasPrefix(m.Note, "does not parse as SIP") {
			found = true
		}
	}
	if !found {
		t.Error("expected a trace entry that does not parse")
	}
}

func TestHeaderEdits(t *testing.T) {
	r := run(t, 2*time.Second,
		deviation.Deviation{Step: "5", Action: deviation.DropHeader, Header: "Security-Server"},
		deviation.Deviation{Step: "10", Action: deviation.SetHeader, Header: "P-Associated-URI", Value: "<sip:nobody@home1.net>"},
		deviation.Deviation{Step: "11", Action: deviation.SetHeader, Header: "Max-Forwards", Value: "3"},
		deviation.Deviation{Step: "2", Action: deviation.DropHeader, Header: "P-Access-Network-Info"},
		deviation.Deviation{Step: "13", Action: deviation.SetParam, Header: "Contact", Param: "expires", Value: "1"},
	)
	if mustParse(t, r, "5").Has("Security-Server") {
		t.Error("step 5: expected no Security-Server")
	}
	if got := mustParse(t, r, "10").Lines("P-Associated-URI"); len(got) != 1 || got[0].Value != "<sip:nobody@home1.net>" {
		t.Errorf("step 10: expected the edited P-Associated-URI, got %v", got)
	}
	if got := mustParse(t, r, "11").Lines("Max-Forwards"); len(got) != 1 || got[0].Value != "3" {
		t.Errorf("step 11: expected Max-Forwards 3, got %v", got)
	}
	if mustParse(t, r, "2").Has("P-Access-Network-Info") {
		t.Error("step 2: expected no P-Access-Network-Info")
	}
	if got := mustParse(t, r, "13").Lines("Contact"); len(got) != 1 || !strings.HasSuffix(got[0].Value, ";expires=1") {
		t.Errorf("step 13: expected Contact expires=1, got %v", got)
	}
}

func TestWrongRES(t *testing.T) {
	r := run(t, 600*time.Millisecond, deviation.Deviation{Step: "7", Action: deviation.WrongRES})
	p := mustParse(t, r, "10")
	if p.StatusCode < 400 {
		t.Errorf("step 10: expected a rejection of the wrong response, got %d", p.StatusCode)
	}
}

func TestForbiddenAtVCCApp(t *testing.T) {
	l := testLab("127.0.0.1", "udp")
	l.VCCApp.AcceptFrom = []string{"::1"}
	r := Run(context.Background(), Options{Lab: l})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if p := mustParse(t, r, "13"); p.StatusCode != 403 {
		t.Errorf("step 13: expected 403, got %d", p.StatusCode)
	}
	if got := r.Facts["12.accepted"]; !strings.HasPrefix(got, "false: ") || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("12.accepted: expected false naming the source, got %q", got)
	}
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := testLab("::1", "udp")
	l.Timeouts.Step = 5 * time.Second
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	r := Run(ctx, Options{Lab: l, Deviations: []deviation.Deviation{{Step: "5", Action: deviation.NoAnswer}}})
	if time.Since(start) > 2*time.Second {
		t.Errorf("expected Run to return soon after cancel, took %s", time.Since(start))
	}
	for _, s := range []string{"5", "11"} {
		if r.Missing[s] != "interrupted" {
			t.Errorf("step %s: expected interrupted, got %q", s, r.Missing[s])
		}
	}
}

func TestNoSecretsInResult(t *testing.T) {
	l := testLab("::1", "udp")
	r := Run(context.Background(), Options{Lab: l, Deviations: []deviation.Deviation{{Step: "5", Action: deviation.BadMAC}}})
	all := fmt.Sprint(r.Facts, r.Missing, r.Vars, r.Err)
	for _, m := range r.Trace.Messages() {
		all += string(m.Raw) + m.Note
	}
	for _, s := range []string{l.Subscriber.K.Reveal(), l.Subscriber.OP.Reveal()} {
		if strings.Contains(strings.ToLower(all), s) {
			t.Error("a secret appears in the result")
		}
	}
}

func TestUEWithholds(t *testing.T) {
	r := run(t, 300*time.Millisecond, deviation.Deviation{Step: "7", Action: deviation.NoAnswer})
	if _, ok := r.Messages["5"]; !ok {
		t.Fatal("step 5: expected the 401")
	}
	if got := r.Missing["7"]; got != "not sent: a no-answer deviation of the UE withholds it" {
		t.Errorf("step 7: got %q", got)
	}
}
