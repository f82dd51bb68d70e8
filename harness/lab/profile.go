// Package lab describes one lab: the system under test's entry point, the home
// domain, the subscriber, the UE's addresses and protected ports, the mock VCC
// Application, timeouts and the scenario profile. It loads the lab profile YAML
// file, applies flag and environment overrides, and validates it.
//
// Secrets (K, OP, OPc) are held as Secret, which never prints.
//
// No lab file means the embedded reference core: Default returns that profile.
package lab

import "time"

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
	Core       Core       `yaml:"core"`
	Timeouts   Timeouts   `yaml:"timeouts"`
}

// SUT is the system under test's entry point: the P-CSCF. An empty PCSCF means
// the embedded reference core, started by the harness.
type SUT struct {
	PCSCF     string `yaml:"pcscf"`     // host:port, e.g. "[::1]:5060" or "127.0.0.1:5060"
	Transport string `yaml:"transport"` // "udp" or "tcp"
	// IPsec says whether the SUT's P-CSCF sets up real IPsec SAs for sec-agree.
	// When false, the rules that depend on real SAs are "none".
	IPsec bool `yaml:"ipsec"`
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
	Sigcomp bool   `yaml:"sigcomp"` // put comp=sigcomp in Via and Contact
	// AccessNetworkInfo is the P-Access-Network-Info value.
	AccessNetworkInfo string `yaml:"access_network_info"`
	Expires           int    `yaml:"expires"` // requested registration expiry, seconds
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

// Core names the SUT's nodes as they appear in messages (Path, Service-Route,
// Via, P-Visited-Network-ID). The reference core uses them; against a lab they
// are what the checks expect.
type Core struct {
	PCSCFName        string `yaml:"pcscf_name"` // e.g. pcscf1.visited1.net
	ICSCFName        string `yaml:"icscf_name"` // e.g. icscf1_p.home1.net
	SCSCFName        string `yaml:"scscf_name"` // e.g. scscf1.home1.net
	VisitedNetworkID string `yaml:"visited_network_id"`
	MaxExpires       int    `yaml:"max_expires"` // registration expiry the reference core grants at most
}

// Timeouts bound each step.
type Timeouts struct {
	Step time.Duration `yaml:"step"` // how long to wait for each expected message
}
