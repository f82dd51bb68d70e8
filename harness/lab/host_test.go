package lab

import (
	"net/netip"
	"strings"
	"testing"
)

// notLocal returns a documentation address (RFC 5737, RFC 3849) of family v6
// or v4 that this host does not have. No packet is sent to it.
func notLocal(t *testing.T, v6 bool) string {
	t.Helper()
	cands := []string{"198.51.100.250", "198.51.100.251", "203.0.113.250"}
	if v6 {
		cands = []string{"2001:db8:ffff::250", "2001:db8:fffe::251"}
	}
	for _, c := range cands {
		if checkLocal(netip.MustParseAddr(c)) != "" {
			return c
		}
	}
	t.Fatalf("every candidate of %v is an address of this host", cands)
	return ""
}

func TestNonLocalAddressIsOneLoadErrorWithFileAndLine(t *testing.T) {
	bad4, bad6 := notLocal(t, false), notLocal(t, true)
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"ue v4", "sut:\n  pcscf: 127.0.0.2:5060\nue:\n  address: " + bad4 + "\n",
			"lab.yaml:4: ue.address: expected an address of this host, saw " + bad4 + ": binding it failed: no interface of this host (or of its network namespace) has it (see ip addr)"},
		{"ue v6", "sut:\n  pcscf: ims.example.net\nue:\n  address: \"" + bad6 + "\"\n",
			"lab.yaml:4: ue.address: expected an address of this host, saw " + bad6 + ": binding it failed"},
		{"vcc app", "sut:\n  pcscf: 127.0.0.2:5060\nue:\n  address: 127.0.0.1\nvcc_app:\n  listen: " + bad4 + ":5060\n",
			"lab.yaml:6: vcc_app.listen: expected an address of this host, saw " + bad4},
		{"hss", "sut:\n  pcscf: 127.0.0.2:5060\nue:\n  address: 127.0.0.1\nvcc_app:\n  listen: 127.0.0.1:0\nhss:\n  listen: \"[" + bad6 + "]:3868\"\n  icscf_peer: icscf.lab.test\n  scscf_peer: scscf.lab.test\n",
			"lab.yaml:8: hss.listen: expected an address of this host, saw " + bad6},
		{"unspecified", "sut:\n  pcscf: 127.0.0.2:5060\nue:\n  address: 0.0.0.0\n",
			"lab.yaml:4: ue.address: expected an address of this host, saw the unspecified address 0.0.0.0"},
		{"embedded core is loopback only", "ue:\n  address: " + bad4 + "\nvcc_app:\n  listen: " + bad4 + ":0\n",
			"lab.yaml:2: ue.address: expected a loopback address (127.0.0.0/8 or ::1): the embedded reference core (sut.pcscf empty) runs on loopback only"},
		{"loopback reaches loopback only", "sut:\n  pcscf: " + bad4 + ":5060\nue:\n  address: 127.0.0.1\n",
			"lab.yaml:4: ue.address: expected an address that reaches sut.pcscf " + bad4 + ":5060 (lab.yaml:2), saw \"127.0.0.1\": a loopback address reaches only loopback"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("lab.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("Parse error\n got %s\nwant %s…", err, c.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("expected one line, got %q", err)
			}
		})
	}
}

func TestUEAddressDefaultsToTheRouteToThePCSCF(t *testing.T) {
	for pcscf, want := range map[string]string{"127.0.0.2:5060": "127.0.0.1", "[::1]:5060": "::1"} {
		if pcscf == "[::1]:5060" && Loopback() != "::1" {
			continue // no IPv6 loopback on this machine
		}
		p, err := Resolve("", nil, map[string]string{"sut.pcscf": pcscf})
		if err != nil {
			t.Fatalf("Resolve(sut.pcscf=%s) = %v", pcscf, err)
		}
		if p.UE.Address != want {
			t.Errorf("sut.pcscf %s: ue.address %q, want %q (the source of the route)", pcscf, p.UE.Address, want)
		}
		if !p.IsDefault("ue.address") || p.Origin("ue.address") != originRoute {
			t.Errorf("sut.pcscf %s: ue.address origin %q, want %q", pcscf, p.Origin("ue.address"), originRoute)
		}
	}
	// A given ue.address is kept.
	p, err := Resolve("", nil, map[string]string{"sut.pcscf": "127.0.0.2:5060", "ue.address": "127.0.0.7"})
	if err != nil {
		t.Fatal(err)
	}
	if p.UE.Address != "127.0.0.7" || p.IsDefault("ue.address") {
		t.Errorf("a given ue.address must stay: %q (default %v)", p.UE.Address, p.IsDefault("ue.address"))
	}
	// The embedded core keeps the loopback default.
	if p, err := Resolve("", nil, nil); err != nil || !netip.MustParseAddr(p.UE.Address).IsLoopback() {
		t.Errorf("Resolve() = %v, %v; want a loopback ue.address", p, err)
	}
}

func TestDomainPCSCFIsDiscoveredNotRefused(t *testing.T) {
	p, err := Parse("lab.yaml", []byte("sut:\n  pcscf: ims.example.net\n  dns: 127.0.0.1:5353\nue:\n  address: 127.0.0.1\n"))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if p.SUT.PCSCF != "ims.example.net" || p.SUT.DNS != "127.0.0.1:5353" {
		t.Errorf("sut = %+v", p.SUT)
	}
}

func TestCheckReach(t *testing.T) {
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	if err := CheckReach(lo4, netip.MustParseAddrPort("127.0.0.2:5060")); err != nil {
		t.Errorf("loopback to loopback: %v", err)
	}
	if err := CheckReach(lo4, netip.MustParseAddrPort("[::1]:5060")); err == nil || !strings.Contains(err.Error(), "different IP families") {
		t.Errorf("v4 to v6: %v", err)
	}
	if err := CheckReach(lo6, netip.MustParseAddrPort("[2001:db8::1]:5060")); err == nil || !strings.Contains(err.Error(), "a loopback address reaches only loopback") {
		t.Errorf("::1 to 2001:db8::1: %v", err)
	}
	if a, err := RouteSource(netip.MustParseAddr("127.0.0.3")); err != nil || !a.IsLoopback() {
		t.Errorf("RouteSource(127.0.0.3) = %v, %v; want a loopback address", a, err)
	}
}

func TestHSSSection(t *testing.T) {
	p, err := Parse("lab.yaml", []byte("sut:\n  pcscf: 127.0.0.2:5060\nhss:\n  listen: 127.0.0.5:3868\n  icscf_peer: icscf.lab.test\n  scscf_peer: scscf.lab.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HSS.Plays() || p.HSSRealm() != "home1.net" || p.HSSServerName() != "sip:scscf1.home1.net" || p.HSS.OriginHost != "hss.home1.net" {
		t.Errorf("hss: %+v realm %q server name %q", p.HSS, p.HSSRealm(), p.HSSServerName())
	}
	if Default().HSS.Plays() {
		t.Error("the default lab must not have the harness play an HSS for a lab")
	}
}
