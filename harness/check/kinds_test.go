package check

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

func rule(kind scenario.Kind, header string, f func(r *scenario.Rule)) scenario.Rule {
	r := scenario.Rule{ID: "T/" + header, Table: "T", Step: "7", Header: header, Statement: "s", Kind: kind, Min: -1, Max: -1, Request: ""}
	if f != nil {
		f(&r)
	}
	return r
}

func TestKinds(t *testing.T) {
	in := seedInput("a322")
	m7 := string(in.Messages["7"].Raw)
	m10 := string(in.Messages["10"].Raw)
	type tc struct {
		name       string
		r          scenario.Rule
		step, good string
		bad        func(string) string
	}
	rp := func(s, old, new string) func(string) string {
		return func(string) string { return strings.Replace(s, old, new, 1) }
	}
	on10 := func(r *scenario.Rule) { r.Step, r.Request = "10", "7" }
	cases := []tc{
		{"start-line", rule(scenario.KindStartLine, "Request-Line", func(r *scenario.Rule) { r.Start.Method = "REGISTER"; r.Start.RequestURI = "{{registrar}}" }), "7", m7, rp(m7, "REGISTER sip:registrar", "REGISTER sip:other")},
		{"start-line status", rule(scenario.KindStartLine, "Status-Line", func(r *scenario.Rule) { on10(r); r.Start.Status = "200"; r.Start.Reason = "OK" }), "10", m10, rp(m10, "200 OK", "202 OK")},
		{"present", rule(scenario.KindPresent, "Security-Verify", nil), "7", m7, rp(m7, "Security-Verify", "X-Verify")},
		{"present param", rule(scenario.KindPresent, "To", func(r *scenario.Rule) { on10(r); r.Part = "param:tag" }), "10", m10, rp(m10, ";tag=409sp3", "")},
		{"absent", rule(scenario.KindAbsent, "Record-Route", nil), "7", m7, rp(m7, "Supported: path", "Record-Route: <sip:p;lr>")},
		{"count", rule(scenario.KindCount, "Via", func(r *scenario.Rule) { r.Min, r.Max = 1, 1 }), "7", m7, rp(m7, via7, via7+"\r\n"+via7)},
		{"equals", rule(scenario.KindEquals, "Max-Forwards", func(r *scenario.Rule) { r.Value = "70" }), "7", m7, rp(m7, "Max-Forwards: 70", "Max-Forwards: 69")},
		{"equals compact form", rule(scenario.KindEquals, "Call-ID", func(r *scenario.Rule) { r.Value = "apb03a0s09dkjdfglkj49111" }), "7", strings.Replace(m7, "Call-ID:", "i:", 1), rp(m7, "Call-ID: apb03", "i: xpb03")},
		{"matches", rule(scenario.KindMatches, "Authorization", func(r *scenario.Rule) {
			r.Part, r.Pattern = "digest:response", "^[0-9a-f]{32}$"
			r.Regexp = regexp.MustCompile(r.Pattern)
		}), "7", m7, rp(m7, "6629fae4", "6629FAE4")},
		{"matches templated", rule(scenario.KindMatches, "Via", func(r *scenario.Rule) { r.Pattern = `^SIP/2\.0/UDP {{ue_host}}:` }), "7", m7, rp(m7, "UDP [::1]", "UDP [::2]")},
		{"one-of", rule(scenario.KindOneOf, "Security-Client", func(r *scenario.Rule) { r.Part, r.Values = "param:alg", []string{"hmac-sha-1-96", "hmac-md5-96"} }), "7", m7, rp(m7, "alg=hmac-sha-1-96; spi-c=2", "alg=des; spi-c=2")},
		{"uri part", rule(scenario.KindEquals, "Contact", func(r *scenario.Rule) { r.Part, r.Value = "uri.port", "{{ue_port_s}}" }), "7", m7, rp(m7, "<sip:[::1]:1357", "<sip:[::1]:1358")},
		{"via part", rule(scenario.KindEquals, "Via", func(r *scenario.Rule) { r.Part, r.Value = "param:comp", "sigcomp" }), "7", m7, rp(m7, "1357;comp=sigcomp;branch", "1357;branch")},
		{"members", rule(scenario.KindMembers, "P-Associated-URI", func(r *scenario.Rule) { on10(r); r.Values = []string{"{{impus}}"} }), "10", m10, rp(m10, ", <tel:+1-212-555-1111>", "")},
		{"same-as", rule(scenario.KindSameAs, "Call-ID", func(r *scenario.Rule) { r.Ref = &scenario.Ref{Step: "2", Header: "Call-ID"} }), "7", m7, rp(m7, "Call-ID: apb", "Call-ID: xpb")},
		{"same-as list", rule(scenario.KindSameAs, "Security-Verify", func(r *scenario.Rule) {
			r.Index = "all"
			r.Ref = &scenario.Ref{Step: "5", Header: "Security-Server", Index: "all"}
		}), "7", m7, rp(m7, "Security-Verify: ipsec-3gpp; q=0.1", "Security-Verify: ipsec-3gpp; q=0.2")},
		{"via-echo", rule(scenario.KindViaEcho, "Via", on10), "10", m10, rp(m10, "branch=z9hG4bKnashds8", "branch=z9hG4bKnashds9")},
		{"compare ref", rule(scenario.KindCompare, "CSeq", func(r *scenario.Rule) {
			r.Part, r.Op, r.Offset = "cseq.seq", "eq", 1
			r.Ref = &scenario.Ref{Step: "2", Header: "CSeq", Part: "cseq.seq"}
		}), "7", m7, rp(m7, "CSeq: 2", "CSeq: 3")},
		{"compare value", rule(scenario.KindCompare, "Contact", func(r *scenario.Rule) { on10(r); r.Part, r.Op, r.Value = "param:expires", "le", "{{expires}}" }), "10", m10, rp(m10, "expires=600000", "expires=600001")},
		{"date", rule(scenario.KindDate, "Date", on10), "10", m10, rp(m10, "11 Jul 2001", "11 July 2001")},
		{"date weekday", rule(scenario.KindDate, "Date", on10), "10", m10, rp(m10, "Wed, 11", "Thu, 11")},
		{"date gmt", rule(scenario.KindDate, "Date", on10), "10", m10, rp(m10, "08:49:37 GMT", "08:49:37 UTC")},
		{"nonce", rule(scenario.KindNonce, "Authorization", func(r *scenario.Rule) { r.Part, r.MinBytes = "digest:nonce", 32 }), "7", m7, rp(m7, nonce, "c2hvcnQ=")},
		{"envelope", rule(scenario.KindEnvelope, "Envelope", func(r *scenario.Rule) { r.Part, r.Value = "src.port", "{{ue_port_c}}" }), "7", m7, nil},
		{"envelope ip", rule(scenario.KindEnvelope, "Envelope", func(r *scenario.Rule) { r.Part, r.Value = "src.ip", "{{ue_host}}" }), "7", m7, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			good := seedInput("a322")
			good.Messages[c.step] = withRaw(good.Messages[c.step], c.good)
			if got := Evaluate([]scenario.Rule{c.r}, good)[0]; got.Verdict != Pass {
				t.Fatalf("good message: %s (expected %q observed %q: %s)", got.Verdict, got.Expected, got.Observed, got.Reason)
			}
			bad := seedInput("a322")
			if c.bad != nil {
				b := c.bad("")
				if b == c.good {
					t.Fatal("the mutation changed nothing")
				}
				bad.Messages[c.step] = withRaw(bad.Messages[c.step], b)
			} else {
				m := bad.Messages[c.step]
				m.Src = netip.MustParseAddrPort("192.0.2.1:5062")
				bad.Messages[c.step] = m
			}
			got := Evaluate([]scenario.Rule{c.r}, bad)[0]
			if got.Verdict != Fail || got.Reason == "" || got.Expected == "" {
				t.Fatalf("bad message: %s (expected %q observed %q reason %q), want fail with a reason", got.Verdict, got.Expected, got.Observed, got.Reason)
			}
		})
	}
}

func withRaw(m trace.Message, raw string) trace.Message { m.Raw = []byte(raw); return m }

func TestFact(t *testing.T) {
	r := rule(scenario.KindFact, "Store", func(r *scenario.Rule) { r.Step, r.Fact, r.Value = "11", "12.impu", "{{impu}}" })
	in := seedInput("a322")
	if v := Evaluate([]scenario.Rule{r}, in)[0].Verdict; v != Pass {
		t.Fatalf("got %s, want pass", v)
	}
	in.Facts["12.impu"] = "sip:other@home1.net"
	if v := Evaluate([]scenario.Rule{r}, in)[0].Verdict; v != Fail {
		t.Fatalf("got %s, want fail", v)
	}
	delete(in.Facts, "12.impu")
	if v := Evaluate([]scenario.Rule{r}, in)[0].Verdict; v != Inconc {
		t.Fatalf("no fact: got %s, want inconc", v)
	}
	in.Missing["12"] = "the VCC Application received no REGISTER within 5s"
	res := Evaluate([]scenario.Rule{r}, in)[0]
	if res.Verdict != Fail || res.Reason != in.Missing["12"] {
		t.Fatalf("missing step: got %s %q, want fail with the flow's reason", res.Verdict, res.Reason)
	}
}

func TestVerdictsForAbsentAndBrokenInput(t *testing.T) {
	eq := rule(scenario.KindEquals, "Max-Forwards", func(r *scenario.Rule) { r.Value = "70" })
	ref := rule(scenario.KindSameAs, "Call-ID", func(r *scenario.Rule) { r.Ref = &scenario.Ref{Step: "2", Header: "Call-ID"} })
	cond := rule(scenario.KindEquals, "Via", func(r *scenario.Rule) {
		r.Part, r.Value = "param:comp", "sigcomp"
		r.When = []scenario.Condition{{Var: "sigcomp", Value: "true"}}
	})
	tmpl := rule(scenario.KindEquals, "Max-Forwards", func(r *scenario.Rule) { r.Value = "{{nosuch}}" })

	in := seedInput("a322")
	delete(in.Messages, "7")
	in.Missing["7"] = "not received within 5s"
	res := Evaluate([]scenario.Rule{eq}, in)[0]
	if res.Verdict != Fail || res.Reason != "not received within 5s" {
		t.Errorf("missing message: %s %q", res.Verdict, res.Reason)
	}

	in = seedInput("a322")
	in.Messages["7"] = withRaw(in.Messages["7"], "GARBAGE\r\n\r\n")
	res = Evaluate([]scenario.Rule{eq}, in)[0]
	if res.Verdict != Fail || !strings.Contains(res.Reason, "line 1") || res.MsgSeq != 5 {
		t.Errorf("unparseable message: %s %q seq %d", res.Verdict, res.Reason, res.MsgSeq)
	}

	in = seedInput("a322")
	delete(in.Messages, "2")
	in.Missing["2"] = "not sent: bind failed"
	res = Evaluate([]scenario.Rule{ref}, in)[0]
	if res.Verdict != Inconc || !strings.Contains(res.Reason, "not sent: bind failed") {
		t.Errorf("missing reference: %s %q", res.Verdict, res.Reason)
	}

	in = seedInput("a322")
	in.Vars["sigcomp"] = "false"
	res = Evaluate([]scenario.Rule{cond}, in)[0]
	if res.Verdict != None || res.Reason != "sigcomp is off in this lab" {
		t.Errorf("condition: %s %q", res.Verdict, res.Reason)
	}

	res = Evaluate([]scenario.Rule{tmpl}, seedInput("a322"))[0]
	if res.Verdict != Error || !strings.Contains(res.Reason, "nosuch") {
		t.Errorf("unfilled variable: %s %q", res.Verdict, res.Reason)
	}
}
