package flow

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
)

// freePort returns a port on ip that was free a moment ago on UDP and TCP
// both (the roles bind the two on one port, whatever the lab's transport;
// network says nothing more).
func freePort(t *testing.T, network, ip string) int {
	t.Helper()
	for range 32 {
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		c.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatalf("no port free for UDP and TCP on %s after 32 tries", ip)
	return 0
}

func diag(r *Result, code string) string {
	for _, d := range r.Diagnostics {
		if d.Code == code {
			return d.Message
		}
	}
	return ""
}

// dnsServer answers for ims.test: NAPTR to _sip._udp.ims.test, SRV to
// pcscf.ims.test:port, A 127.0.0.1; NXDOMAIN for anything else.
func dnsServer(t *testing.T, port int) string {
	t.Helper()
	rrs := map[string]string{
		"ims.test./NAPTR":          `ims.test. 60 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.ims.test.`,
		"_sip._udp.ims.test./SRV":  "_sip._udp.ims.test. 60 IN SRV 10 10 " + strconv.Itoa(port) + " pcscf.ims.test.",
		"pcscf.ims.test./A":        "pcscf.ims.test. 60 IN A 127.0.0.1",
		"pcscf.ims.test./AAAA":     "",
		"_sip._udp.ims.test./AAAA": "",
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		k := strings.ToLower(q.Question[0].Name) + "/" + dns.TypeToString[q.Question[0].Qtype]
		line, ok := rrs[k]
		switch {
		case !ok && !strings.HasSuffix(strings.ToLower(q.Question[0].Name), "ims.test."):
			m.Rcode = dns.RcodeNameError
		case line != "":
			rr, _ := dns.NewRR(line)
			m.Answer = []dns.RR{rr}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// labCore starts the reference core as a lab on 127.0.0.1 (in-memory HSS)
// and a lab profile whose VCC Application it sends step 11 to.
func labCore(t *testing.T) (*lab.Profile, *refcore.Core) {
	t.Helper()
	l := testLab("127.0.0.1", "udp")
	l.VCCApp.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t, "udp", "127.0.0.1"))
	core, err := refcore.Start(context.Background(), refcore.Config{Lab: l, Host: "127.0.0.1", Transport: "udp",
		VCCApp: netip.MustParseAddrPort(l.VCCApp.Listen)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	return l, core
}

// TestDiscoveredLabRegistersAndDeregisters runs the flow against a lab
// P-CSCF named by a domain only: RFC 3263 discovery against a DNS server on
// loopback, the registration, and the de-registration that ends the run.
func TestDiscoveredLabRegistersAndDeregisters(t *testing.T) {
	l, core := labCore(t)
	l.SUT.PCSCF = "ims.test"
	l.SUT.DNS = dnsServer(t, int(core.PCSCF().Port()))
	r := Run(context.Background(), Options{Lab: l})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Discovery == nil || r.Discovery.Method != "RFC 3263" || r.Discovery.Chosen() != core.PCSCF() {
		t.Fatalf("discovery: expected RFC 3263 to find %s, got %+v", core.PCSCF(), r.Discovery)
	}
	steps := strings.Join(r.Discovery.Steps, "\n")
	for _, s := range []string{"NAPTR ims.test: SIP+D2U", "SRV _sip._udp.ims.test: pcscf.ims.test:", "A pcscf.ims.test: 127.0.0.1", "chose " + core.PCSCF().String()} {
		if !strings.Contains(steps, s) {
			t.Errorf("discovery steps: expected %q in\n%s", s, steps)
		}
	}
	if want := "lab P-CSCF ims.test → " + core.PCSCF().String() + " (RFC 3263)"; r.Target != want || r.Vars["pcscf_entry"] != core.PCSCF().String() {
		t.Errorf("target %q, pcscf_entry %q; want %q", r.Target, r.Vars["pcscf_entry"], want)
	}
	for _, s := range Steps {
		if _, ok := r.Messages[s]; !ok {
			t.Errorf("step %s: missing: %s", s, r.Missing[s])
		}
	}
	d := r.Deregistration
	if d == nil || d.Status != 200 || d.Err != "" {
		t.Fatalf("de-registration: expected a 200 OK, got %+v", d)
	}
	last := 0
	for _, m := range r.Messages {
		last = max(last, m.Seq)
	}
	sawExpires0 := false
	for _, m := range d.Messages {
		if m.Seq <= last {
			t.Errorf("de-registration message #%d comes before the last step's message #%d", m.Seq, last)
		}
		if p, err := sipmsg.Parse(m.Raw); err == nil && p.Request {
			// TS 24.229 5.1.1.6: the Contact's expires parameter set to 0,
			// an Authorization from the registration's challenge.
			if !strings.HasSuffix(header(p, "Contact"), ";expires=0") || len(p.Lines("Authorization")) != 1 {
				t.Errorf("de-registration REGISTER: expected Contact ;expires=0 and an Authorization, got Contact %q and %d Authorization", header(p, "Contact"), len(p.Lines("Authorization")))
			}
			sawExpires0 = true
		}
	}
	if !sawExpires0 {
		t.Error("expected a REGISTER in the de-registration")
	}
	if len(d.ThirdParty) != 2 {
		t.Errorf("expected the S-CSCF's de-registration of the VCC Application and its 200, got %d messages", len(d.ThirdParty))
	}
	if len(r.Diagnostics) != 0 {
		t.Errorf("expected no diagnostic, got %v", r.Diagnostics)
	}
}

func TestUnresolvedPCSCF(t *testing.T) {
	l := testLab("127.0.0.1", "udp")
	l.SUT.PCSCF = "nowhere.example.test"
	l.SUT.DNS = dnsServer(t, 5060)
	r := Run(context.Background(), Options{Lab: l})
	if r.Err != nil {
		t.Fatalf("an unresolved P-CSCF is the lab's, not a harness error: %v", r.Err)
	}
	msg := diag(r, DiagUnresolved)
	if !strings.Contains(msg, "the P-CSCF nowhere.example.test does not resolve") || len(r.Diagnostics) != 1 {
		t.Errorf("expected one %s diagnostic, got %v", DiagUnresolved, r.Diagnostics)
	}
	if !strings.Contains(r.Missing["5"], "does not resolve") || !strings.Contains(r.Missing["2"], "not sent") {
		t.Errorf("missing: %v", r.Missing)
	}
	if r.Discovery == nil || len(r.Discovery.Steps) == 0 {
		t.Errorf("expected the discovery's steps to be kept, got %+v", r.Discovery)
	}
	if len(r.Trace.Messages()) != 0 {
		t.Errorf("expected nothing sent, got %d messages", len(r.Trace.Messages()))
	}
}

func TestNothingListensAtThePCSCF(t *testing.T) {
	t.Run("tcp refused", func(t *testing.T) {
		l := testLab("127.0.0.1", "tcp")
		l.SUT.PCSCF = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp", "127.0.0.1"))
		r := Run(context.Background(), Options{Lab: l})
		if r.Err != nil {
			t.Fatalf("a P-CSCF that refuses is the SUT's failure, not a harness error: %v", r.Err)
		}
		if msg := diag(r, DiagUnreachable); !strings.Contains(msg, "nothing listens at the P-CSCF "+l.SUT.PCSCF+" over TCP (connection refused)") {
			t.Errorf("expected the %s diagnostic, got %v", DiagUnreachable, r.Diagnostics)
		}
		if !strings.Contains(r.Missing["5"], "connection refused") {
			t.Errorf("step 5: %q", r.Missing["5"])
		}
	})
	t.Run("udp port unreachable", func(t *testing.T) {
		// Nothing bound there: the kernel answers the REGISTER with ICMP
		// port unreachable, which ends the exchange long before the step
		// timeout.
		l := testLab("127.0.0.1", "udp")
		l.SUT.PCSCF = "127.0.0.1:" + strconv.Itoa(freePort(t, "udp", "127.0.0.1"))
		l.Timeouts.Step = time.Hour
		r := Run(context.Background(), Options{Lab: l})
		if msg := diag(r, DiagUnreachable); !strings.Contains(msg, "nothing listens at the P-CSCF "+l.SUT.PCSCF+" over UDP (ICMP port unreachable)") {
			t.Errorf("expected the %s diagnostic, got %v", DiagUnreachable, r.Diagnostics)
		}
		if diag(r, DiagNoAnswer) != "" {
			t.Errorf("an unreachable P-CSCF is not also one that did not answer: %v", r.Diagnostics)
		}
		if _, sent := r.Messages["2"]; !sent || !strings.Contains(r.Missing["5"], "ICMP port unreachable") {
			t.Errorf("step 2 sent %v, step 5: %q", sent, r.Missing["5"])
		}
	})
	t.Run("udp silent", func(t *testing.T) {
		// A socket that reads and never answers.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		l := testLab("127.0.0.1", "udp")
		l.SUT.PCSCF = pc.LocalAddr().String()
		l.Timeouts.Step = 300 * time.Millisecond
		r := Run(context.Background(), Options{Lab: l})
		if msg := diag(r, DiagNoAnswer); !strings.Contains(msg, "nothing answered at the P-CSCF "+l.SUT.PCSCF+" over UDP") {
			t.Errorf("expected the %s diagnostic, got %v", DiagNoAnswer, r.Diagnostics)
		}
	})
}

func TestDiagnosticsOfTheRegistration(t *testing.T) {
	r := run(t, 500*time.Millisecond, deviation.Deviation{Step: "5", Action: deviation.BadMAC})
	if msg := diag(r, DiagKeys); !strings.Contains(msg, "MAC-A wrong") || !strings.Contains(msg, "the SUT changed RAND or AUTN") {
		t.Errorf("bad-mac with the harness's HSS: expected %s naming the SUT, got %v", DiagKeys, r.Diagnostics)
	}
	if r.Deregistration != nil {
		t.Errorf("an unregistered run does not de-register, got %+v", r.Deregistration)
	}
	r = run(t, 500*time.Millisecond, deviation.Deviation{Step: "5", Action: deviation.Malformed})
	if msg := diag(r, DiagUnparseable); !strings.Contains(msg, "SIP message(s) that do not parse") {
		t.Errorf("malformed 401: expected %s, got %v", DiagUnparseable, r.Diagnostics)
	}
}

// TestLabHSS has the harness play the HSS for a lab: the HSS listens at
// hss.listen, accepts only the lab's I-CSCF and S-CSCF, the run waits for
// both before step 2 and says which did not come.
func TestLabHSS(t *testing.T) {
	l, core := labCore(t)
	l.SUT.PCSCF = core.PCSCF().String()
	l.HSS.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp", "127.0.0.1"))
	l.HSS.OriginHost, l.HSS.OriginRealm = "hss.lab.test", "lab.test"
	l.HSS.ICSCFPeer, l.HSS.SCSCFPeer = "icscf.lab.test", "scscf.lab.test"
	l.HSS.PeerTimeout = time.Second
	hssAddr := netip.MustParseAddrPort(l.HSS.Listen)

	// The lab's S-CSCF connects (retrying until the run has started the
	// HSS); a stranger is refused; the I-CSCF never comes.
	refused := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		dial := func(host string) (*diameter.Client, error) {
			for {
				c, err := diameter.Dial(ctx, hssAddr, diameter.ClientConfig{OriginHost: host, OriginRealm: "lab.test",
					VendorID: diameter.Vendor3GPP, Applications: []diameter.Application{diameter.CxApplication}})
				if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "refused") {
					return c, err
				}
				time.Sleep(20 * time.Millisecond) // the HSS is not listening yet: poll, as cdp does every Tc
			}
		}
		if c, err := dial("scscf.lab.test"); err == nil {
			defer c.Close()
		}
		_, err := dial("stranger.lab.test")
		refused <- err
		<-ctx.Done()
	}()
	r := Run(context.Background(), Options{Lab: l})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := <-refused; err == nil || !strings.Contains(err.Error(), "3010") && !strings.Contains(err.Error(), "UNKNOWN_PEER") {
		t.Errorf("a CER from a peer not in the hss section: expected DIAMETER_UNKNOWN_PEER, got %v", err)
	}
	msg := diag(r, DiagHSSPeer)
	if !strings.Contains(msg, "the I-CSCF (Origin-Host icscf.lab.test) did not connect to the HSS at "+l.HSS.Listen+" within 1s") || strings.Contains(msg, "S-CSCF") {
		t.Errorf("expected the I-CSCF, and only it, named in %s, got %v", DiagHSSPeer, r.Diagnostics)
	}
	want := map[string]string{"cx_observed": "true", "hss_host": "hss.lab.test", "hss_realm": "lab.test",
		"icscf_diameter_host": "icscf.lab.test", "scscf_diameter_host": "scscf.lab.test", "scscf_uri": "sip:scscf1.home1.net"}
	for k, v := range want {
		if r.Vars[k] != v {
			t.Errorf("var %s: %q, want %q", k, r.Vars[k], v)
		}
	}
	cers := 0
	for _, m := range r.Trace.Messages() {
		if h, err := diameter.ParseHeader(m.Raw); m.Proto == trace.Diameter && err == nil && h.Code == diameter.CmdCapabilitiesExchange && m.Dir == trace.Received {
			cers++
		}
	}
	if cers != 2 {
		t.Errorf("expected the HSS to record 2 CERs (the S-CSCF's, the stranger's), got %d", cers)
	}
	// The reference core used its in-memory HSS: no Cx request came, and the
	// Cx steps say why they are missing.
	if _, ok := r.Messages["3.UAR"]; ok || r.Missing["3.UAR"] == "" || r.Missing["3.UAR"] == notPlayed {
		t.Errorf("3.UAR: expected missing for the lab's own reason, got %q", r.Missing["3.UAR"])
	}
}

func header(p *sipmsg.Message, name string) string {
	if ls := p.Lines(name); len(ls) > 0 {
		return ls[0].Value
	}
	return ""
}

// TestDeregistrationFailureIsReported: a P-CSCF that forbids the
// de-registration; the run says so, with the answer.
func TestDeregistrationFailureIsReported(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := sipmsg.Parse(buf[:n])
			if err != nil || !req.Request {
				continue
			}
			resp := "SIP/2.0 403 Forbidden\r\n"
			for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
				for _, l := range req.Lines(h) {
					resp += h + ": " + l.Value + "\r\n"
				}
			}
			pc.WriteTo([]byte(resp+"Content-Length: 0\r\n\r\n"), from)
		}
	}()
	l := testLab("127.0.0.1", "udp")
	u, err := ue.New(ue.Options{Lab: l, PCSCF: netip.MustParseAddrPort(pc.LocalAddr().String()), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	res := &Result{Vars: map[string]string{}, Trace: u.Trace()}
	deregister(context.Background(), res, u, &ue.Registration{CallID: "c1", FromTag: "f1", CSeq: 2}, false, nil, time.Second)
	d := res.Deregistration
	if d == nil || d.Status != 403 || d.Err != `answered "SIP/2.0 403 Forbidden"` || len(d.Messages) != 2 {
		t.Fatalf("expected the 403 recorded with the REGISTER, got %+v", d)
	}
	if msg := diag(res, DiagDeregistration); !strings.Contains(msg, `failed: answered "SIP/2.0 403 Forbidden"; the lab may still hold the registration`) {
		t.Errorf("expected the %s diagnostic, got %v", DiagDeregistration, res.Diagnostics)
	}
}
