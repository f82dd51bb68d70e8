// Package lab describes one lab: the system under test's entry point, the home
// domain, the subscriber, the UE's addresses and protected ports, the mock VCC
// Application, timeouts and the scenario profile. It loads the lab profile YAML
// file, applies flag and environment overrides, and validates it.
//
// Secrets (K, OP, OPc) are held as Secret, which never prints, and no error of
// this package holds a secret's value.
//
// No lab file means the embedded reference core: Default returns that profile.
//
// The address policy (CheckHost): the UE, the mock VCC Application and the
// HSS emulator bind addresses of this host the lab names, IPv4 or IPv6, and
// reach any SUT address or host name; only the embedded reference core is
// loopback-only. To check it the package binds a UDP socket for a moment and
// asks the kernel for routes (connecting a UDP socket); it sends nothing and
// starts nothing: the roles that use a profile do.
package lab

import (
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Profile is one lab, as read from its YAML file.
type Profile struct {
	// Profile names the scenario profile: "a322" (the tables as written, the
	// default) or "ts24229".
	Profile string `yaml:"profile"`

	SUT        SUT        `yaml:"sut"`
	HomeDomain string     `yaml:"home_domain"` // e.g. home1.net
	Realm      string     `yaml:"realm"`       // Digest realm, e.g. registrar.home1.net
	Registrar  string     `yaml:"registrar"`   // Request-URI of REGISTER, e.g. sip:registrar.home1.net
	Subscriber Subscriber `yaml:"subscriber"`
	UE         UE         `yaml:"ue"`
	VCCApp     VCCApp     `yaml:"vcc_app"`
	HSS        HSS        `yaml:"hss"`
	Core       Core       `yaml:"core"`
	Timeouts   Timeouts   `yaml:"timeouts"`

	// Subscribers is the population of a load run (see Subscribers).
	Subscribers Subscribers `yaml:"subscribers"`

	// src maps a field's YAML path ("sut.pcscf", "subscriber.impus[1]") to
	// where its value came from: "lab.yaml:12", "default", "environment
	// IMSCONFORM_SUT_PCSCF", "flag -set sut.pcscf". Errors name it.
	src map[string]string
	// noRoute says why a default ue.address could not be taken from the
	// route to an IP-literal sut.pcscf (settleUEAddress); "" otherwise.
	noRoute string
}

// SUT is the system under test's entry point: the P-CSCF. An empty PCSCF means
// the embedded reference core, started by the harness.
type SUT struct {
	PCSCF     string `yaml:"pcscf"`     // host:port, e.g. "[::1]:5060" or "127.0.0.1:5060"
	Transport string `yaml:"transport"` // "udp" or "tcp"
	// SecAgree says whether the SUT's P-CSCF takes part in the security
	// agreement of RFC 3329 / TS 33.203 (Security-Server in the 401, the
	// protected REGISTER's Security-Verify). A core run without it (Kamailio
	// without ims_ipsec_pcscf) states false, and the sec-agree rules are
	// "none" with that reason. Default true.
	SecAgree bool `yaml:"sec_agree"`
	// IPsec says whether the SUT's P-CSCF sets up real IPsec SAs for sec-agree.
	// When false, the rules that depend on real SAs are "none".
	IPsec bool `yaml:"ipsec"`
	// DNS is the DNS server (IP:port) that resolves a PCSCF given as a host
	// name or a domain (RFC 3263: NAPTR, SRV, A/AAAA); "" means the system's
	// resolver and the name servers of /etc/resolv.conf.
	DNS string `yaml:"dns"`
	// Name and Version name the product under test (e.g. "kamailio",
	// "5.6.3"): reports show them, an expectations file can be scoped to
	// them, and the UE's kept SQN is keyed by them. Both optional.
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

// Subscriber is the IMS subscription the UE registers.
type Subscriber struct {
	IMPI  string   `yaml:"impi"`  // private user identity, e.g. user1_private@home1.net
	IMPUs []string `yaml:"impus"` // public user identities; the first is registered; may include a tel URI
	K     Secret   `yaml:"k"`     // 128-bit subscriber key, hex
	OP    Secret   `yaml:"op"`    // operator variant, hex (give OP or OPc)
	OPc   Secret   `yaml:"opc"`   // OPc, hex
	AMF   string   `yaml:"amf"`   // 16-bit AMF, hex, e.g. "8000"
	SQN   string   `yaml:"sqn"`   // 48-bit starting SQN for the reference core's HSS, hex
}

// UE is the VCC UE the harness plays.
type UE struct {
	Address string `yaml:"address"` // IP literal the UE binds, e.g. "::1"
	Port    int    `yaml:"port"`    // unprotected port for the initial REGISTER; 0 = ephemeral
	PortC   int    `yaml:"port_c"`  // protected client port; 0 = ephemeral
	PortS   int    `yaml:"port_s"`  // protected server port; 0 = ephemeral
	SPIC    uint32 `yaml:"spi_c"`
	SPIS    uint32 `yaml:"spi_s"`
	// SecAlgorithms are what the UE offers in Security-Client, one
	// ipsec-3gpp mechanism each, in order: "ALG" or "ALG/EALG", ALG
	// hmac-sha-1-96 or hmac-md5-96, EALG null, aes-cbc or des-ede3-cbc
	// (TS 33.203 7.2); without EALG the mechanism names none, which
	// TS 24.229 7.2A.7 reads as null. Under sut.ipsec the SAs use what the
	// P-CSCF chose among them. Default: [hmac-sha-1-96], table A.3.2.2-2's.
	SecAlgorithms []string `yaml:"sec_algorithms"`
	Sigcomp       bool     `yaml:"sigcomp"` // put comp=sigcomp in Via and Contact
	// AccessNetworkInfo is the P-Access-Network-Info value.
	AccessNetworkInfo string `yaml:"access_network_info"`
	Expires           int    `yaml:"expires"` // requested registration expiry, seconds
	// SQNState is the file in which the UE keeps its SQN_MS per lab and IMPI
	// between runs, as a USIM does (harness/sqnstate): "" the default file
	// under the user's state directory, "off" keeps nothing. The embedded
	// reference core, whose HSS starts afresh every run, never uses it.
	SQNState string `yaml:"sqn_state"`
	// Preference is the user's domain-selection preference, carried to the VCC
	// Application where the SUT passes it on (e.g. "IMS" or "CS"); empty = none.
	Preference string `yaml:"preference"`
}

// VCCApp is the mock VCC Application.
type VCCApp struct {
	Listen     string   `yaml:"listen"`      // host:port it binds; port 0 = ephemeral
	URI        string   `yaml:"uri"`         // its SIP URI, e.g. sip:vccapp.home1.net
	AcceptFrom []string `yaml:"accept_from"` // source IPs whose REGISTERs it accepts; others get 403
}

// HSS is the Cx HSS emulator the harness plays for a lab (harness/hss), so
// that the lab's I-CSCF and S-CSCF, pointed at it, are judged on the Cx of
// steps 3, 8 and 9. An empty Listen means the harness does not play the HSS:
// the lab has its own and the Cx rules are "none". With the embedded
// reference core the harness always plays the HSS, on loopback, and this
// section is not used.
type HSS struct {
	// Listen is the IP:port the HSS binds for Diameter over TCP, an address
	// of this host that the lab's CSCFs connect to, e.g. 192.0.2.1:3868.
	Listen string `yaml:"listen"`
	// OriginHost and OriginRealm are the HSS's Diameter identity (RFC 6733
	// 6.3, 6.4), as the CSCFs' peer configuration names it; OriginRealm ""
	// means home_domain.
	OriginHost  string `yaml:"origin_host"`
	OriginRealm string `yaml:"origin_realm"`
	// ICSCFPeer and SCSCFPeer are the Origin-Hosts of the I-CSCF and the
	// S-CSCF: the peers whose CER the HSS accepts (any other gets
	// DIAMETER_UNKNOWN_PEER), whose connections the run waits for before
	// step 2, and the Origin-Host the Cx rules expect in their requests. They
	// may be equal (one node playing both).
	ICSCFPeer string `yaml:"icscf_peer"`
	SCSCFPeer string `yaml:"scscf_peer"`
	// ServerName is the S-CSCF's SIP URI: the Server-Name of the UAA and the
	// one the Cx rules expect in MAR and SAR; "" means sip: + core.scscf_name.
	ServerName string `yaml:"server_name"`
	// PeerTimeout bounds the wait for both peers' connections before step 2.
	PeerTimeout time.Duration `yaml:"peer_timeout"`
}

// Plays reports whether the lab has the harness play its HSS.
func (h HSS) Plays() bool { return h.Listen != "" }

// HSSRealm is hss.origin_realm, else the home domain.
func (p *Profile) HSSRealm() string {
	if p.HSS.OriginRealm != "" {
		return p.HSS.OriginRealm
	}
	return p.HomeDomain
}

// HSSServerName is hss.server_name, else sip: + core.scscf_name.
func (p *Profile) HSSServerName() string {
	if p.HSS.ServerName != "" {
		return p.HSS.ServerName
	}
	sn := p.Core.SCSCFName
	if !strings.HasPrefix(sn, "sip:") && !strings.HasPrefix(sn, "sips:") {
		sn = "sip:" + sn
	}
	return sn
}

// Core names the SUT's nodes as they appear in messages (Path, Service-Route,
// Via, P-Visited-Network-ID). The reference core uses them; against a lab they
// are what the checks expect.
//
// A node may be known by more than one name: RFC 3261 lets it put an address
// in its Via and a name in Service-Route, From or Contact. The *Names lists
// give such further names; the checks accept the node's name or any of them
// (see NameSets). Empty lists, the default, mean the one name alone.
type Core struct {
	PCSCFName        string   `yaml:"pcscf_name"` // e.g. pcscf1.visited1.net
	ICSCFName        string   `yaml:"icscf_name"` // e.g. icscf1_p.home1.net
	SCSCFName        string   `yaml:"scscf_name"` // e.g. scscf1.home1.net
	VisitedNetworkID string   `yaml:"visited_network_id"`
	MaxExpires       int      `yaml:"max_expires"` // registration expiry the reference core grants at most
	PCSCFNames       []string `yaml:"pcscf_names"` // further names of the P-CSCF, e.g. [192.0.2.2]
	ICSCFNames       []string `yaml:"icscf_names"` // further names of the I-CSCF
	SCSCFNames       []string `yaml:"scscf_names"` // further names of the S-CSCF, e.g. its Via address
}

// NameSets returns the set of names of each node, its *_name first and its
// further names after it, each once (host names compared without regard to
// case): P-CSCF, I-CSCF, S-CSCF.
func (c Core) NameSets() (pcscf, icscf, scscf []string) {
	return nameSet(c.PCSCFName, c.PCSCFNames), nameSet(c.ICSCFName, c.ICSCFNames), nameSet(c.SCSCFName, c.SCSCFNames)
}

func nameSet(name string, more []string) []string {
	var out []string
	for _, n := range append([]string{name}, more...) {
		if n == "" || slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, n) }) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// DefaultStep is timeouts.step's default: 32 s, RFC 3261's Timer F (64·T1
// with the default T1 of 500 ms), the time the UE's REGISTER transaction
// itself waits for a final response (17.1.2.2). A shorter wait would call a
// response missing that the transaction could still take: at 30 % loss on
// the UE's access link, a 5 s wait (4 transmissions) misses about one
// exchange in 15.
const DefaultStep = 32 * time.Second

// Timeouts bound each step.
type Timeouts struct {
	Step time.Duration `yaml:"step"` // how long to wait for each expected message
}

// DefaultPeerTimeout is hss.peer_timeout's default: twice Kamailio's
// default Tc (cdp reconnects every Tc seconds).
const DefaultPeerTimeout = 10 * time.Second

// Test set 1 of TS 35.208 (section 4.3): the reference core's subscriber.
const (
	defaultK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	defaultOP  = "cdc202d5123e20f62b6d676ac72cb318"
	defaultAMF = "b9b9"
	defaultSQN = "000000000020"
)

// Default returns the lab used when none is given: the embedded reference
// core on loopback, with the seed's names and identities (TS 24.206 A.3.2.2)
// and the subscriber of TS 35.208 test set 1. The UE is at ::1; on a machine
// without IPv6 loopback use DefaultFor(Loopback()).
//
//	profile: a322
//	sut: {pcscf: "" (start the reference core), transport: udp, sec_agree: true, ipsec: false,
//	  dns: "" (the system's resolver)}
//	home_domain: home1.net, realm: registrar.home1.net,
//	registrar: sip:registrar.home1.net
//	subscriber: impi user1_private@home1.net; impus sip:user1_public1@home1.net,
//	  sip:user1_public2@home1.net, sip:user1_public3@home1.net, tel:+1-212-555-1111;
//	  k/op: TS 35.208 test set 1; amf b9b9; sqn 000000000020
//	ue: address ::1, ports 0 (ephemeral), spi_c 23456789, spi_s 12345678,
//	  sigcomp false, access_network_info "3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11",
//	  expires 600000, preference ""
//	vcc_app: listen [::1]:0, uri sip:vccapp.home1.net, accept_from [::1, 127.0.0.1]
//	hss: listen "" (the harness plays no HSS for a lab), origin_host hss.home1.net,
//	  origin_realm "" (home_domain), icscf_peer "", scscf_peer "", server_name ""
//	  (sip: + core.scscf_name), peer_timeout 10s
//	core: pcscf1.visited1.net, icscf1_p.home1.net, scscf1.home1.net,
//	  visited_network_id visited1.net, max_expires 600000
//	timeouts: step 32s (DefaultStep)
//
// A lab file, the environment and flags override these field by field, with
// one exception: K, OP and OPc are one group. When any of them is given, the
// defaults of the others are dropped, so a lab's K is never paired with test
// set 1's OP.
func Default() *Profile { return DefaultFor("::1") }

// DefaultFor returns Default with the UE and the VCC Application on ip
// (e.g. "127.0.0.1"); ip is also added to vcc_app.accept_from.
func DefaultFor(ip string) *Profile {
	p := &Profile{
		Profile:    "a322",
		SUT:        SUT{PCSCF: "", Transport: "udp", SecAgree: true},
		HomeDomain: "home1.net",
		Realm:      "registrar.home1.net",
		Registrar:  "sip:registrar.home1.net",
		Subscriber: Subscriber{
			IMPI: "user1_private@home1.net",
			IMPUs: []string{
				"sip:user1_public1@home1.net",
				"sip:user1_public2@home1.net",
				"sip:user1_public3@home1.net",
				"tel:+1-212-555-1111",
			},
			K:   NewSecret(defaultK),
			OP:  NewSecret(defaultOP),
			AMF: defaultAMF,
			SQN: defaultSQN,
		},
		Subscribers: defaultSubscribers(),
		UE: UE{
			Address:           ip,
			SPIC:              23456789,
			SPIS:              12345678,
			SecAlgorithms:     []string{"hmac-sha-1-96"},
			AccessNetworkInfo: "3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11",
			Expires:           600000,
		},
		VCCApp: VCCApp{
			Listen:     net.JoinHostPort(ip, "0"),
			URI:        "sip:vccapp.home1.net",
			AcceptFrom: []string{"::1", "127.0.0.1"},
		},
		HSS: HSS{OriginHost: "hss.home1.net", PeerTimeout: DefaultPeerTimeout},
		Core: Core{
			PCSCFName:        "pcscf1.visited1.net",
			ICSCFName:        "icscf1_p.home1.net",
			SCSCFName:        "scscf1.home1.net",
			VisitedNetworkID: "visited1.net",
			MaxExpires:       600000,
		},
		Timeouts: Timeouts{Step: DefaultStep},
	}
	if !slices.Contains(p.VCCApp.AcceptFrom, ip) {
		p.VCCApp.AcceptFrom = append(p.VCCApp.AcceptFrom, ip)
	}
	p.src = map[string]string{}
	for _, l := range p.leaves() {
		p.src[l.path] = originDefault
	}
	return p
}

// Loopback returns "::1" when this machine can bind a UDP socket on [::1],
// else "127.0.0.1". It probes once per process.
func Loopback() string { return loopback() }

var loopback = sync.OnceValue(func() string {
	c, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		return "127.0.0.1"
	}
	_ = c.Close()
	return "::1"
})

// Redacted returns a deep copy of p whose K, OP and OPc hold "[redacted]"
// instead of the key (zero secrets stay zero, so a report still shows which
// of OP and OPc was given). Use it for anything that leaves the process.
func (p *Profile) Redacted() Profile {
	c := p.clone()
	for _, s := range []*Secret{&c.Subscriber.K, &c.Subscriber.OP, &c.Subscriber.OPc} {
		if !s.IsZero() {
			*s = NewSecret(redacted)
		}
	}
	return *c
}

// clone returns a deep copy of p.
func (p *Profile) clone() *Profile {
	c := *p
	c.Subscriber.IMPUs = slices.Clone(p.Subscriber.IMPUs)
	c.Subscribers.IMPUs = slices.Clone(p.Subscribers.IMPUs)
	c.UE.SecAlgorithms = slices.Clone(p.UE.SecAlgorithms)
	c.VCCApp.AcceptFrom = slices.Clone(p.VCCApp.AcceptFrom)
	c.Core.PCSCFNames = slices.Clone(p.Core.PCSCFNames)
	c.Core.ICSCFNames = slices.Clone(p.Core.ICSCFNames)
	c.Core.SCSCFNames = slices.Clone(p.Core.SCSCFNames)
	if p.src != nil {
		c.src = make(map[string]string, len(p.src))
		for k, v := range p.src {
			c.src[k] = v
		}
	}
	return &c
}

// Origin says where the value at path (e.g. "sut.pcscf") came from: a
// "file:line", "default", "environment IMSCONFORM_…" or "flag -set …"; ""
// when unknown (a Profile built in code).
func (p *Profile) Origin(path string) string { return p.src[path] }
