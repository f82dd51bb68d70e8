package lab

import (
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValidAndHoldsTheSeedValues(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"profile", p.Profile, "a322"},
		{"sut.pcscf", p.SUT.PCSCF, ""},
		{"sut.transport", p.SUT.Transport, "udp"},
		{"home_domain", p.HomeDomain, "home1.net"},
		{"realm", p.Realm, "registrar.home1.net"},
		{"registrar", p.Registrar, "sip:registrar.home1.net"},
		{"subscriber.impi", p.Subscriber.IMPI, "user1_private@home1.net"},
		{"subscriber.impus", p.Subscriber.IMPUs, []string{"sip:user1_public1@home1.net", "sip:user1_public2@home1.net", "sip:user1_public3@home1.net", "tel:+1-212-555-1111"}},
		{"subscriber.k", p.Subscriber.K.Reveal(), "465b5ce8b199b49faa5f0a2ee238a6bc"},
		{"subscriber.op", p.Subscriber.OP.Reveal(), "cdc202d5123e20f62b6d676ac72cb318"},
		{"subscriber.opc", p.Subscriber.OPc.IsZero(), true},
		{"subscriber.amf", p.Subscriber.AMF, "b9b9"},
		{"subscriber.sqn", p.Subscriber.SQN, "000000000020"},
		{"ue.address", p.UE.Address, "::1"},
		{"ue.ports", [3]int{p.UE.Port, p.UE.PortC, p.UE.PortS}, [3]int{0, 0, 0}},
		{"ue.spi_c", p.UE.SPIC, uint32(23456789)},
		{"ue.spi_s", p.UE.SPIS, uint32(12345678)},
		{"ue.sigcomp", p.UE.Sigcomp, false},
		{"ue.access_network_info", p.UE.AccessNetworkInfo, "3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11"},
		{"ue.expires", p.UE.Expires, 600000},
		{"vcc_app.listen", p.VCCApp.Listen, "[::1]:0"},
		{"vcc_app.uri", p.VCCApp.URI, "sip:vccapp.home1.net"},
		{"vcc_app.accept_from", p.VCCApp.AcceptFrom, []string{"::1", "127.0.0.1"}},
		{"core.pcscf_name", p.Core.PCSCFName, "pcscf1.visited1.net"},
		{"core.icscf_name", p.Core.ICSCFName, "icscf1_p.home1.net"},
		{"core.scscf_name", p.Core.SCSCFName, "scscf1.home1.net"},
		{"core.visited_network_id", p.Core.VisitedNetworkID, "visited1.net"},
		{"core.max_expires", p.Core.MaxExpires, 600000},
		{"timeouts.step", p.Timeouts.Step, 32 * time.Second},
		{"origin", p.Origin("sut.pcscf"), "default"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Default() %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultForIPv4LoopbackIsValid(t *testing.T) {
	p := DefaultFor("127.0.0.1")
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultFor(127.0.0.1).Validate() = %v", err)
	}
	if p.UE.Address != "127.0.0.1" || p.VCCApp.Listen != "127.0.0.1:0" {
		t.Errorf("DefaultFor(127.0.0.1): ue.address %q, vcc_app.listen %q; want 127.0.0.1 and 127.0.0.1:0", p.UE.Address, p.VCCApp.Listen)
	}
	if q := DefaultFor("10.1.2.3"); !slices.Contains(q.VCCApp.AcceptFrom, "10.1.2.3") {
		t.Errorf("DefaultFor(10.1.2.3).VCCApp.AcceptFrom = %v, want it to hold 10.1.2.3", q.VCCApp.AcceptFrom)
	}
}

func TestLoopbackCanBeBound(t *testing.T) {
	ip := Loopback()
	if ip != "::1" && ip != "127.0.0.1" {
		t.Fatalf("Loopback() = %q, want ::1 or 127.0.0.1", ip)
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("Loopback() = %q but binding it fails: %v", ip, err)
	}
	c.Close()
}

func TestLoadExampleLabFile(t *testing.T) {
	path := filepath.Join("..", "..", "lab.example.yaml")
	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s) = %v", path, err)
	}
	if p.SUT.PCSCF != "127.0.0.1:5060" || p.SUT.Transport != "udp" {
		t.Errorf("sut = %+v, want pcscf 127.0.0.1:5060 over udp", p.SUT)
	}
	if p.UE.Address != "127.0.0.1" || p.VCCApp.Listen != "127.0.0.1:5070" {
		t.Errorf("ue.address %q, vcc_app.listen %q; want 127.0.0.1, 127.0.0.1:5070", p.UE.Address, p.VCCApp.Listen)
	}
	if !reflect.DeepEqual(p.VCCApp.AcceptFrom, []string{"127.0.0.1"}) {
		t.Errorf("vcc_app.accept_from = %v, want [127.0.0.1]", p.VCCApp.AcceptFrom)
	}
	if p.Subscriber.SQN != "000000000020" {
		t.Errorf("subscriber.sqn = %q, want 000000000020", p.Subscriber.SQN)
	}
	if o := p.Origin("sut.pcscf"); !strings.HasPrefix(o, path+":") {
		t.Errorf("Origin(sut.pcscf) = %q, want %s:<line>", o, path)
	}
	// Every field of the profile is shown (and so explained) in the example.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Paths() {
		leafKey := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), leafKey+":") {
			t.Errorf("lab.example.yaml does not show field %s", key)
		}
	}
}

func TestLoadNamesTheFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(path, []byte("profile: a322\nsut:\n  transport: sctp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:3: sut.transport: expected "udp" or "tcp", saw "sctp"`
	if err == nil || err.Error() != want {
		t.Fatalf("Load = %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml: expected a readable lab file") {
		t.Errorf("Load(missing) = %v, want an error naming the file", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"bad profile", "profile: a323\n", `lab.yaml:1: profile: expected "a322" or "ts24229", saw "a323"`},
		{"short k", "subscriber:\n  impi: a@b\n  k: 465b5ce8b199b49faa5f0a2ee238a6\n", "lab.yaml:3: subscriber.k: expected 32 hex digits (128 bits), saw 30 characters"},
		{"non-hex op", "subscriber:\n  k: 465b5ce8b199b49faa5f0a2ee238a6bc\n  op: cdc202d5123e20f62b6d676ac72cb31z\n", "lab.yaml:3: subscriber.op: expected 32 hex digits (128 bits), saw a non-hex character at position 32"},
		{"op and opc", "subscriber:\n  k: 465b5ce8b199b49faa5f0a2ee238a6bc\n  op: cdc202d5123e20f62b6d676ac72cb318\n  opc: cd63cb71954a9f4e48a5994e37a02baf\n", "lab.yaml:4: subscriber.opc: expected exactly one of op and opc, saw both (op from lab.yaml:3)"},
		{"k without op", "subscriber:\n  k: 465b5ce8b199b49faa5f0a2ee238a6bc\n", "lab.yaml:2: subscriber.op: expected exactly one of op and opc, saw neither"},
		{"amf", "subscriber:\n  amf: 80000\n", "lab.yaml:2: subscriber.amf: expected 4 hex digits (16 bits), saw 5 characters"},
		{"sqn", "subscriber:\n  sqn: 20\n", "lab.yaml:2: subscriber.sqn: expected 12 hex digits (48 bits), saw 2 characters"},
		{"unknown field", "sut:\n  pcsf: 127.0.0.1:5060\n", "lab.yaml:2: sut.pcsf: unknown field; expected one of pcscf, transport, sec_agree, ipsec, dns"},
		{"unknown top field", "prfile: a322\n", "lab.yaml:1: prfile: unknown field; expected one of profile, sut,"},
		{"duplicate", "profile: a322\nprofile: ts24229\n", "lab.yaml:2: profile: expected each field once, saw it again (first at line 1)"},
		{"pcscf no port", "sut:\n  pcscf: 127.0.0.1\n", `lab.yaml:2: sut.pcscf: expected host:port with an IPv4 address, a bracketed IPv6 address or a host name (e.g. 127.0.0.1:5060 or [::1]:5060), saw "127.0.0.1" with no port`},
		{"pcscf bare v6", "sut:\n  pcscf: ::1:5060\n", `lab.yaml:2: sut.pcscf: expected host:port`},
		{"pcscf bracketed v4", "sut:\n  pcscf: \"[127.0.0.1]:5060\"\n", `only an IPv6 address goes in brackets`},
		{"pcscf port", "sut:\n  pcscf: pcscf.lab:70000\n", `saw port "70000"; expected 1 to 65535`},
		{"pcscf family", "sut:\n  pcscf: 127.0.0.1:5060\nue:\n  address: \"::1\"\n", `lab.yaml:4: ue.address: expected an address of the same IP family as sut.pcscf "127.0.0.1:5060", saw "::1" (lab.yaml:2)`},
		{"pcscf single label", "sut:\n  pcscf: pcscf\n", `lab.yaml:2: sut.pcscf: expected host:port with an IPv4 address, a bracketed IPv6 address or a host name (e.g. 127.0.0.1:5060 or [::1]:5060), saw "pcscf" with no port`},
		{"dns", "sut:\n  dns: ns.lab:53\n", `lab.yaml:2: sut.dns: expected host:port with an IPv4 address or a bracketed IPv6 address`},
		{"hss listen", "hss:\n  listen: 127.0.0.1:0\n", `lab.yaml:2: hss.listen: expected host:port with an IPv4 address or a bracketed IPv6 address (e.g. 127.0.0.1:5060 or [::1]:5060), saw port "0"; expected 1 to 65535`},
		{"hss peers", "sut:\n  pcscf: 127.0.0.2:5060\nhss:\n  listen: 127.0.0.1:3868\n  icscf_peer: icscf.lab\n", `hss.scscf_peer: expected the S-CSCF's Diameter identity (the Origin-Host of its CER), e.g. scscf1.home1.net, since hss.listen is set; saw nothing`},
		{"hss origin host", "hss:\n  origin_host: \"\"\n", `lab.yaml:2: hss.origin_host: expected the HSS's Diameter identity (Origin-Host)`},
		{"hss server name", "hss:\n  server_name: scscf.lab\n", `lab.yaml:2: hss.server_name: expected a SIP URI`},
		{"hss peer timeout", "hss:\n  peer_timeout: 0s\n", `lab.yaml:2: hss.peer_timeout: expected a duration above 0`},
		{"impus empty", "subscriber:\n  impus: []\n", "lab.yaml:2: subscriber.impus: expected at least one public user identity"},
		{"impu scheme", "subscriber:\n  impus:\n    - sip:a@home1.net\n    - mailto:a@home1.net\n", `lab.yaml:4: subscriber.impus[1]: expected a sip:, sips: or tel: URI`},
		{"impus scalar", "subscriber:\n  impus: sip:a@home1.net\n", "lab.yaml:2: subscriber.impus: expected a list of strings (write [x] for one), saw a string"},
		{"impi empty", "subscriber:\n  impi: \"\"\n", "lab.yaml:2: subscriber.impi: expected the private user identity"},
		{"ue address", "ue:\n  address: \"[::1]\"\n", `lab.yaml:2: ue.address: expected an IP address such as ::1 or 127.0.0.1 (no brackets), saw "[::1]"`},
		{"ue port range", "ue:\n  port_c: 65536\n", "lab.yaml:2: ue.port_c: expected a port from 0 to 65535, saw 65536"},
		{"ue port type", "ue:\n  port: five\n", `lab.yaml:2: ue.port: expected an integer, saw "five"`},
		{"spi negative", "ue:\n  spi_c: -1\n", "lab.yaml:2: ue.spi_c: expected an integer from 0 to 4294967295, saw -1"},
		{"spi reserved", "ue:\n  spi_s: 7\n", "lab.yaml:2: ue.spi_s: expected an SPI of 256 or more"},
		{"expires", "ue:\n  expires: 0\n", "lab.yaml:2: ue.expires: expected a number of seconds above 0, saw 0"},
		{"sigcomp", "ue:\n  sigcomp: maybe\n", `lab.yaml:2: ue.sigcomp: expected true or false, saw "maybe"`},
		{"vcc uri", "vcc_app:\n  uri: vccapp.home1.net\n", `lab.yaml:2: vcc_app.uri: expected a SIP URI such as sip:user@home1.net, saw "vccapp.home1.net"`},
		{"vcc listen name", "vcc_app:\n  listen: localhost:5070\n", `lab.yaml:2: vcc_app.listen: expected host:port with an IPv4 address or a bracketed IPv6 address`},
		{"accept_from", "vcc_app:\n  accept_from: [\"::1\", 10.0.0.300]\n", `lab.yaml:2: vcc_app.accept_from[1]: expected an IP address`},
		{"step zero", "timeouts:\n  step: 0s\n", `lab.yaml:2: timeouts.step: expected a duration above 0 such as "5s", saw 0s`},
		{"step bare number", "timeouts:\n  step: 5\n", `lab.yaml:2: timeouts.step: expected a duration with a unit such as "5s", saw a integer`},
		{"step garbage", "timeouts:\n  step: soon\n", `lab.yaml:2: timeouts.step: expected a duration such as "5s" or "1m30s", saw "soon"`},
		{"section not mapping", "sut: [a]\n", "lab.yaml:1: sut: expected a mapping, saw a list"},
		{"control char", "ue:\n  access_network_info: \"a\\r\\nVia: x\"\n", "lab.yaml:2: ue.access_network_info: expected no control characters"},
		{"syntax", "sut:\n  pcscf: [\n", "lab.yaml:2: expected valid YAML: did not find expected node content"},
		{"empty", "", "lab.yaml: expected a mapping of lab settings, saw an empty file"},
		{"not a mapping", "- a\n- b\n", "lab.yaml:1: expected a mapping of lab settings, saw a list"},
		{"two documents", "profile: a322\n---\nprofile: a322\n", "lab.yaml:2: expected one YAML document, saw a second"},
		{"merge key", "base: &b {pcscf: 127.0.0.1:5060}\n", "lab.yaml:1: base: unknown field"},
		{"family given", "sut:\n  pcscf: \"[::1]:5060\"\nue:\n  address: 127.0.0.1\n", `lab.yaml:4: ue.address: expected an address of the same IP family as sut.pcscf "[::1]:5060", saw "127.0.0.1" (lab.yaml:2)`},
		{"transport", "sut:\n  transport: sctp\n", `lab.yaml:2: sut.transport: expected "udp" or "tcp", saw "sctp"`},
		{"registrar", "registrar: registrar.home1.net\n", `lab.yaml:1: registrar: expected a SIP URI`},
		{"core name", "core:\n  scscf_name: \"scscf 1\"\n", `lab.yaml:2: core.scscf_name: expected the S-CSCF's host name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("lab.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want error containing %q", p, c.want)
			}
			if p != nil {
				t.Errorf("Parse returned a profile with the error %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error\n got %s\nwant it to contain %s", err, c.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
			if strings.Count(err.Error(), "lab.yaml") > 2 {
				t.Errorf("error %q looks like several errors, want one", err)
			}
		})
	}
}

func TestParseAcceptsForms(t *testing.T) {
	cases := []struct {
		name, yaml string
		check      func(p *Profile) bool
	}{
		{"bracketed v6 pcscf", "sut:\n  pcscf: \"[::1]:5060\"\n  transport: TCP\n", func(p *Profile) bool { return p.SUT.PCSCF == "[::1]:5060" && p.SUT.Transport == "tcp" }},
		{"named pcscf", "sut:\n  pcscf: pcscf1.visited1.net:5060\n", func(p *Profile) bool { return p.SUT.PCSCF == "pcscf1.visited1.net:5060" }},
		{"opc instead of op", "subscriber:\n  k: 465b5ce8b199b49faa5f0a2ee238a6bc\n  opc: cd63cb71954a9f4e48a5994e37a02baf\n", func(p *Profile) bool {
			return p.Subscriber.OP.IsZero() && p.Subscriber.OPc.Reveal() == "cd63cb71954a9f4e48a5994e37a02baf"
		}},
		{"null leaves the default", "sut:\n  pcscf:\nue:\n", func(p *Profile) bool { return p.SUT.PCSCF == "" && p.UE.Address == "::1" }},
		{"hex spi and unquoted sqn", "ue:\n  spi_c: 0x1000\nsubscriber:\n  sqn: 000000000021\n  amf: 8000\n", func(p *Profile) bool {
			return p.UE.SPIC == 0x1000 && p.Subscriber.SQN == "000000000021" && p.Subscriber.AMF == "8000"
		}},
		{"alias", "home_domain: &d home2.net\ncore:\n  visited_network_id: *d\n", func(p *Profile) bool { return p.Core.VisitedNetworkID == "home2.net" }},
		{"lists replace", "vcc_app:\n  accept_from: [10.0.0.1]\n", func(p *Profile) bool { return reflect.DeepEqual(p.VCCApp.AcceptFrom, []string{"10.0.0.1"}) }},
		{"tel and sips impus", "subscriber:\n  impus: [\"sips:u@[2001:db8::1]:5061;transport=tcp\", \"tel:+44-20-7946-0000;phone-context=home1.net\"]\n", func(p *Profile) bool { return len(p.Subscriber.IMPUs) == 2 }},
		{"duration", "timeouts:\n  step: 1m30s\n", func(p *Profile) bool { return p.Timeouts.Step == 90*time.Second }},
		{"ts24229", "profile: TS24229\n", func(p *Profile) bool { return p.Profile == "ts24229" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse("lab.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if !c.check(p) {
				t.Errorf("Parse(%q) gave %+v", c.yaml, p)
			}
		})
	}
}

func TestDefaultsFillOnlyWhatTheFileLeavesOut(t *testing.T) {
	p, err := Parse("lab.yaml", []byte("sut:\n  pcscf: 127.0.0.10:5060\nue:\n  address: 127.0.0.20\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if p.SUT.PCSCF != "127.0.0.10:5060" || p.UE.Address != "127.0.0.20" {
		t.Errorf("file values lost: %+v %+v", p.SUT, p.UE)
	}
	if p.Subscriber.IMPI != d.Subscriber.IMPI || p.Subscriber.K.Reveal() != d.Subscriber.K.Reveal() || p.Timeouts != d.Timeouts || p.SUT.Transport != "udp" {
		t.Errorf("defaults not filled: %+v", p)
	}
	if got := p.Origin("ue.address"); got != "lab.yaml:4" {
		t.Errorf("Origin(ue.address) = %q, want lab.yaml:4", got)
	}
	if got := p.Origin("ue.port"); got != "default" {
		t.Errorf("Origin(ue.port) = %q, want default", got)
	}
}

func TestOverrideEnvironmentAndFlags(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"IMSCONFORM_SUT_PCSCF=127.0.0.11:5060",
		"IMSCONFORM_UE_ADDRESS=127.0.0.12",
		"IMSCONFORM_UE_PORT_C=5100",
		"IMSCONFORM_VCC_APP_ACCEPT_FROM=127.0.0.11, 127.0.0.13",
		"IMSCONFORM_REQUIRE_TOOLS=1",
		"IMSCONFORM_LAB=x.yaml",
		"IMSCONFORM_SUBSCRIBER_OPC=cd63cb71954a9f4e48a5994e37a02baf",
		"IMSCONFORM_SUBSCRIBER_K=465b5ce8b199b49faa5f0a2ee238a6bc",
	}
	set := FromEnv(env)
	want := map[string]string{
		"sut.pcscf":           "127.0.0.11:5060",
		"ue.address":          "127.0.0.12",
		"ue.port_c":           "5100",
		"vcc_app.accept_from": "127.0.0.11, 127.0.0.13",
		"subscriber.opc":      "cd63cb71954a9f4e48a5994e37a02baf",
		"subscriber.k":        "465b5ce8b199b49faa5f0a2ee238a6bc",
	}
	if !reflect.DeepEqual(set, want) {
		t.Fatalf("FromEnv = %v, want %v", set, want)
	}

	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	f := RegisterFlags(fs)
	if err := fs.Parse([]string{"-set", "sut.pcscf=127.0.0.19:5070", "-set", "sut.transport=tcp", "-set", "timeouts.step=2s"}); err != nil {
		t.Fatal(err)
	}
	p, err := f.Profile(slices.DeleteFunc(slices.Clone(env), func(s string) bool { return strings.HasPrefix(s, "IMSCONFORM_LAB=") }))
	if err != nil {
		t.Fatalf("Flags.Profile = %v", err)
	}
	if p.SUT.PCSCF != "127.0.0.19:5070" {
		t.Errorf("sut.pcscf = %q, want the flag's 127.0.0.19:5070 (flags win over the environment)", p.SUT.PCSCF)
	}
	if p.UE.Address != "127.0.0.12" || p.UE.PortC != 5100 || p.SUT.Transport != "tcp" || p.Timeouts.Step != 2*time.Second {
		t.Errorf("overrides not applied: %+v %+v %+v", p.UE, p.SUT, p.Timeouts)
	}
	if !reflect.DeepEqual(p.VCCApp.AcceptFrom, []string{"127.0.0.11", "127.0.0.13"}) {
		t.Errorf("vcc_app.accept_from = %v", p.VCCApp.AcceptFrom)
	}
	if !p.Subscriber.OP.IsZero() || p.Subscriber.OPc.IsZero() {
		t.Errorf("setting opc should drop the default op")
	}
	if got := p.Origin("sut.pcscf"); got != "flag -set sut.pcscf" {
		t.Errorf("Origin(sut.pcscf) = %q", got)
	}

	// The lab file comes from -lab or IMSCONFORM_LAB, under env and flags.
	path := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(path, []byte("sut:\n  pcscf: 127.0.0.15:5060\n  transport: udp\nue:\n  address: 127.0.0.16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = (&Flags{Set: Settings{"ue.port": "5062"}}).Profile([]string{"IMSCONFORM_LAB=" + path, "IMSCONFORM_SUT_TRANSPORT=tcp"})
	if err != nil {
		t.Fatalf("Profile with IMSCONFORM_LAB = %v", err)
	}
	if p.SUT.PCSCF != "127.0.0.15:5060" || p.SUT.Transport != "tcp" || p.UE.Port != 5062 {
		t.Errorf("file+env+flag = %+v %+v", p.SUT, p.UE)
	}
}

func TestOverrideErrors(t *testing.T) {
	cases := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"sut.pcsf": "x"}, "override sut.pcsf: sut.pcsf: unknown field; expected one of profile, sut.pcscf"},
		{map[string]string{"ue.port": "x"}, `override ue.port: ue.port: expected an integer, saw "x"`},
		{map[string]string{"ue.port": "-1"}, `override ue.port: ue.port: expected a port from 0 to 65535, saw -1`},
		{map[string]string{"timeouts.step": "5"}, `override timeouts.step: timeouts.step: expected a duration such as "5s" or "1m30s", saw "5"`},
		{map[string]string{"ue.sigcomp": "yes"}, `expected true or false, saw "yes"`},
		{map[string]string{"subscriber.k": "465b5ce8b199b49faa5f0a2ee238a6bc", "subscriber.op": "", "subscriber.opc": ""}, "subscriber.op: expected exactly one of op and opc, saw neither"},
		{map[string]string{"subscriber.opc": "cd63cb71954a9f4e48a5994e37a02baf"}, "override subscriber.opc: subscriber.k: expected the subscriber key K, 32 hex digits (128 bits), saw none"},
	}
	for _, c := range cases {
		err := Default().Override(c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Override(%v) = %v, want %s", c.set, err, c.want)
		}
	}
	_, err := Resolve("", []string{"IMSCONFORM_UE_EXPIRES=0"}, nil)
	if err == nil || err.Error() != "environment IMSCONFORM_UE_EXPIRES: ue.expires: expected a number of seconds above 0, saw 0" {
		t.Errorf("Resolve with a bad environment value = %v", err)
	}
	if err := Default().Override(map[string]string{"sut.pcscf": ""}); err != nil {
		t.Errorf("Override(sut.pcscf=\"\") = %v, want nil (the reference core)", err)
	}
}

func TestSetFlag(t *testing.T) {
	s := Settings{}
	if err := s.Set("nokey"); err == nil || !strings.Contains(err.Error(), `expected key=value, saw "nokey"`) {
		t.Errorf("Set(nokey) = %v", err)
	}
	if err := s.Set("ue.prot=1"); err == nil || !strings.Contains(err.Error(), `saw "ue.prot"`) {
		t.Errorf("Set(ue.prot=1) = %v", err)
	}
	if err := s.Set("subscriber.k=465b5ce8b199b49faa5f0a2ee238a6bc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("465b5ce8b199b49faa5f0a2ee238a6bc"); err == nil || strings.Contains(err.Error(), "465b5ce8") {
		t.Errorf("Set(<key hex>) = %v, want an error without the hex", err)
	}
	if got := s.String(); got != "subscriber.k=[redacted]" {
		t.Errorf("Settings.String() = %q, want subscriber.k=[redacted]", got)
	}
	if EnvName("ue.port_c") != "IMSCONFORM_UE_PORT_C" {
		t.Errorf("EnvName(ue.port_c) = %q", EnvName("ue.port_c"))
	}
}
