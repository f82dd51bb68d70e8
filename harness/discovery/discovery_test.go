package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zone is a test DNS server's data: records by name and type, in the
// presentation format of RFC 1035 5.
type zone map[string][]string

// serve runs an authoritative DNS server for z on 127.0.0.1, UDP and TCP on
// one port, and returns its address. Answers to names in big get so many
// records that a UDP answer is truncated.
func serve(t *testing.T, z zone, big map[string]bool) string {
	t.Helper()
	rrs := map[string][]dns.RR{}
	for _, lines := range z {
		for _, l := range lines {
			rr, err := dns.NewRR(l)
			if err != nil {
				t.Fatalf("zone line %q: %v", l, err)
			}
			k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
			rrs[k] = append(rrs[k], rr)
		}
	}
	var mu sync.Mutex
	var asked []string
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		name := strings.ToLower(q.Question[0].Name)
		mu.Lock()
		asked = append(asked, w.LocalAddr().Network()+" "+name)
		mu.Unlock()
		k := name + "/" + dns.TypeToString[q.Question[0].Qtype]
		m.Answer = rrs[k]
		known := false
		for key := range rrs {
			if strings.HasPrefix(key, name+"/") {
				known = true
			}
		}
		if !known {
			m.Rcode = dns.RcodeNameError
		}
		if big[strings.TrimSuffix(name, ".")] && w.LocalAddr().Network() == "udp" {
			m.Truncated = true
			m.Answer = nil
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

var labZone = zone{
	"ims": {
		`ims.test. 60 IN NAPTR 20 10 "s" "SIP+D2T" "" _sip._tcp.ims.test.`,
		`ims.test. 60 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.ims.test.`,
		`ims.test. 60 IN NAPTR 5 10 "s" "SIPS+D2T" "" _sips._tcp.ims.test.`,
		`_sip._udp.ims.test. 60 IN SRV 20 0 5060 pcscf2.ims.test.`,
		`_sip._udp.ims.test. 60 IN SRV 10 10 5070 pcscf1.ims.test.`,
		`_sip._udp.ims.test. 60 IN SRV 10 60 5080 pcscf3.ims.test.`,
		`_sip._tcp.ims.test. 60 IN SRV 10 10 5090 pcscf1.ims.test.`,
		`_sips._tcp.ims.test. 60 IN SRV 10 10 5061 pcscf1.ims.test.`,
		`pcscf1.ims.test. 60 IN A 192.0.2.11`,
		`pcscf1.ims.test. 60 IN AAAA 2001:db8::11`,
		`pcscf2.ims.test. 60 IN AAAA 2001:db8::12`,
		`pcscf3.ims.test. 60 IN A 192.0.2.13`,
	},
	"srv only": {
		`_sip._udp.srvonly.test. 60 IN SRV 10 10 5062 host.srvonly.test.`,
		`host.srvonly.test. 60 IN A 192.0.2.21`,
	},
	"bare": {
		`bare.test. 60 IN A 192.0.2.31`,
		`bare.test. 60 IN AAAA 2001:db8::31`,
	},
	"v4 only": {
		`v4.test. 60 IN A 192.0.2.41`,
	},
	"tcp only naptr": {
		`tcponly.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.tcponly.test.`,
		`_sip._udp.tcponly.test. 60 IN SRV 10 10 5064 h.tcponly.test.`,
		`h.tcponly.test. 60 IN A 192.0.2.51`,
	},
	"big": {
		`big.test. 60 IN A 192.0.2.61`,
	},
}

func TestResolve(t *testing.T) {
	srv := serve(t, labZone, map[string]bool{"big.test": true})
	r := &Resolver{Server: srv}
	for _, tc := range []struct {
		name, pcscf, transport string
		fam                    Family
		method                 string
		want                   []string // targets in order
		steps                  []string // substrings of the steps, in order
	}{
		{"literal v4", "192.0.2.10:5060", "udp", IPv4, "literal", []string{"192.0.2.10:5060"}, []string{"nothing to resolve"}},
		{"literal v6", "[2001:db8::10]:5060", "tcp", IPv6, "literal", []string{"[2001:db8::10]:5060"}, nil},
		{"host and port", "pcscf1.ims.test:5066", "udp", IPv6, "A/AAAA", []string{"[2001:db8::11]:5066"},
			[]string{"has a port: A/AAAA lookup", "AAAA pcscf1.ims.test: 2001:db8::11", "chose [2001:db8::11]:5066"}},
		{"host and port, any family", "pcscf1.ims.test:5066", "udp", Any, "A/AAAA", []string{"[2001:db8::11]:5066", "192.0.2.11:5066"}, nil},
		// NAPTR order 5 is SIPS (skipped), 10 is D2U: its SRV sorted by
		// priority then weight: pcscf3 (10/60), pcscf1 (10/10), pcscf2 (20);
		// pcscf2 has no A.
		{"naptr udp v4", "ims.test", "udp", IPv4, "RFC 3263", []string{"192.0.2.13:5080", "192.0.2.11:5070"},
			[]string{"NAPTR ims.test: SIPS+D2T (order 5", "took the SIP+D2U records, in order: _sip._udp.ims.test",
				"SRV _sip._udp.ims.test: pcscf3.ims.test:5080 (priority 10, weight 60); pcscf1.ims.test:5070", "chose 192.0.2.13:5080"}},
		{"naptr udp v6", "ims.test.", "udp", IPv6, "RFC 3263", []string{"[2001:db8::11]:5070", "[2001:db8::12]:5060"}, nil},
		{"naptr tcp", "ims.test", "tcp", IPv4, "RFC 3263", []string{"192.0.2.11:5090"}, []string{"took the SIP+D2T records"}},
		{"no naptr: srv", "srvonly.test", "udp", IPv4, "RFC 3263", []string{"192.0.2.21:5062"},
			[]string{"NAPTR srvonly.test: no records", "SRV _sip._udp.srvonly.test (RFC 3263 4.1"}},
		{"naptr without the transport: srv", "tcponly.test", "udp", IPv4, "RFC 3263", []string{"192.0.2.51:5064"},
			[]string{"no NAPTR record offers SIP+D2U", "SRV _sip._udp.tcponly.test"}},
		{"no naptr, no srv: a at 5060", "bare.test", "udp", IPv4, "RFC 3263", []string{"192.0.2.31:5060"},
			[]string{"SRV _sip._udp.bare.test: no records", "no SRV record: A/AAAA of bare.test at port 5060"}},
		{"truncated over udp: tcp", "big.test:5060", "udp", IPv4, "A/AAAA", []string{"192.0.2.61:5060"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Resolve(context.Background(), tc.pcscf, tc.transport, tc.fam)
			if err != nil {
				t.Fatalf("Resolve: %v\nsteps:\n  %s", err, strings.Join(res.Steps, "\n  "))
			}
			if res.Method != tc.method || res.Input != tc.pcscf {
				t.Errorf("method %q input %q, want %q %q", res.Method, res.Input, tc.method, tc.pcscf)
			}
			var got []string
			for _, a := range res.Targets {
				got = append(got, a.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("targets %v, want %v\nsteps:\n  %s", got, tc.want, strings.Join(res.Steps, "\n  "))
			}
			if res.Chosen().String() != tc.want[0] {
				t.Errorf("chosen %s, want %s", res.Chosen(), tc.want[0])
			}
			all := strings.Join(res.Steps, "\n")
			at := 0
			for _, s := range tc.steps {
				i := strings.Index(all[at:], s)
				if i < 0 {
					t.Errorf("steps: expected %q (after position %d), steps:\n%s", s, at, all)
					continue
				}
				at += i + len(s)
			}
		})
	}
}

func TestResolveFailures(t *testing.T) {
	srv := serve(t, labZone, nil)
	r := &Resolver{Server: srv}
	for _, tc := range []struct {
		name, pcscf string
		fam         Family
		problem     string
	}{
		{"nxdomain domain", "nowhere.test", Any, "expected an A or AAAA record, saw none"},
		{"nxdomain host", "nowhere.test:5060", IPv4, "expected an A or AAAA record, saw none"},
		{"wrong family", "v4.test:5060", IPv6, "expected an IPv6 address (the UE's family), saw only 192.0.2.41"},
		{"ip without port", "192.0.2.10", IPv4, "saw no port"},
		{"bad port", "v4.test:0", IPv4, "expected a port from 1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Resolve(context.Background(), tc.pcscf, "udp", tc.fam)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("expected a *discovery.Error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %q, want it to say %q", err, tc.problem)
			}
			if res == nil || res.Input != tc.pcscf || len(res.Targets) != 0 {
				t.Errorf("expected a result with the input and no target, got %+v", res)
			}
		})
	}
}

func TestNoServer(t *testing.T) {
	// A name server that does not answer: a UDP socket nobody reads.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := &Resolver{Server: pc.LocalAddr().String(), Timeout: 200 * time.Millisecond}
	res, err := r.Resolve(context.Background(), "ims.test", "udp", Any)
	if err == nil || !strings.Contains(err.Error(), "NAPTR query failed: no answer from "+pc.LocalAddr().String()) {
		t.Fatalf("expected a NAPTR failure naming the server, got %v", err)
	}
	if len(res.Steps) == 0 {
		t.Error("expected the failed step to be recorded")
	}
}

func TestResolvConf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.53\noptions timeout:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{ResolvConf: conf}
	servers, err := r.servers()
	if err != nil || len(servers) != 1 || servers[0] != "127.0.0.53:53" {
		t.Errorf("servers() = %v, %v; want [127.0.0.53:53]", servers, err)
	}
	r = &Resolver{ResolvConf: filepath.Join(t.TempDir(), "missing.conf")}
	if _, err := r.Resolve(context.Background(), "ims.test", "udp", Any); err == nil || !strings.Contains(err.Error(), "missing.conf") {
		t.Errorf("expected an error naming the missing resolver configuration, got %v", err)
	}
}

func TestSystemResolver(t *testing.T) {
	// localhost is in /etc/hosts on every Debian machine: the system
	// resolver answers it without a DNS query.
	r := &Resolver{}
	res, err := r.Resolve(context.Background(), "localhost:5060", "udp", IPv4)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if res.Chosen() != netip.MustParseAddrPort("127.0.0.1:5060") {
		t.Errorf("chosen %s, want 127.0.0.1:5060 (steps %v)", res.Chosen(), res.Steps)
	}
	if !strings.Contains(strings.Join(res.Steps, "\n"), "(system resolver)") {
		t.Errorf("steps should name the system resolver: %v", res.Steps)
	}
}

func TestFamilyOf(t *testing.T) {
	for a, want := range map[string]Family{"127.0.0.1": IPv4, "::ffff:192.0.2.1": IPv4, "2001:db8::1": IPv6, "::1": IPv6} {
		if got := FamilyOf(netip.MustParseAddr(a)); got != want {
			t.Errorf("FamilyOf(%s) = %s, want %s", a, got, want)
		}
	}
	if FamilyOf(netip.Addr{}) != Any {
		t.Error("FamilyOf(zero) should be Any")
	}
}
