package kamailio

import (
	"embed"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"imsconform/harness/lab"
)

// Diameter identities of the nodes (the cdp Origin-Host and peer FQDNs). In
// SIP the CSCFs are named by their addresses (Via, Path, Service-Route):
// Kamailio will not advertise a name it cannot resolve, and the lab has no
// DNS, so the lab profile states the addresses as the core's names.
const (
	PCSCFName        = "pcscf.kamailio.test"
	ICSCFName        = "icscf.kamailio.test"
	SCSCFName        = "scscf.kamailio.test"
	HSSName          = "hss.kamailio.test"
	VisitedNetworkID = "visited.kamailio.test"
)

// Default addresses and ports: every node on its own loopback address. A
// lab on other addresses (another host, a network namespace, IPv6) gives
// them in Config.Addrs.
var (
	DefaultPCSCF  = netip.MustParseAddr("127.0.0.2")
	DefaultICSCF  = netip.MustParseAddr("127.0.0.3")
	DefaultSCSCF  = netip.MustParseAddr("127.0.0.4")
	DefaultHSS    = netip.MustParseAddr("127.0.0.5")
	DefaultVCCApp = netip.MustParseAddr("127.0.0.6")
	DefaultUE     = netip.MustParseAddr("127.0.0.1")
)

const (
	DefaultSIPPort      = 5060
	DefaultHSSPort      = 3868
	DefaultReadyTimeout = 20 * time.Second
	DefaultMaxExpires   = 3600
	// DefaultTc is cdp's Tc, in seconds: how often it retries a lost
	// connection to the HSS (and, when idle, sends a DWR). The harness plays
	// the HSS per run, so a short Tc lets the CSCFs reconnect soon after a
	// run starts the HSS.
	DefaultTc = 2
	// DefaultDebug is Kamailio's log level (2: info). ims_auth is held at
	// warnings whatever the level: it logs digest values at info.
	DefaultDebug = 2
)

// Packages are the Debian packages the lab needs (the presence modules are
// required by ims_usrloc_scscf even for registration only).
var Packages = []string{"kamailio", "kamailio-ims-modules", "kamailio-presence-modules"}

// Addrs are the addresses of the lab's nodes: the CSCFs' (Kamailio binds
// them), and the HSS's, the VCC Application's and the UE's (the harness
// binds them, on this host or in another network namespace). All of one IP
// family.
type Addrs struct {
	PCSCF, ICSCF, SCSCF, HSS, VCCApp, UE netip.Addr
}

// Config configures a lab. The zero value is usable: defaults everywhere.
type Config struct {
	// Install lets Start run apt-get (update once, then install Packages)
	// when kamailio or one of its IMS modules is missing.
	Install bool
	// Dir receives the configurations and the logs; "" means a new
	// temporary directory, removed by Stop unless KeepDir is set.
	Dir     string
	KeepDir bool
	// Lab gives the subscriber (IMPI, IMPUs, K, OP/OPc, AMF, SQN), the home
	// domain, realm, registrar, the UE's settings and the scenario profile;
	// nil means lab.DefaultFor("127.0.0.1"). Its SUT, core names, VCC
	// Application and UE address are replaced by the lab's.
	Lab *lab.Profile
	// Addrs override the default addresses field by field.
	Addrs Addrs
	// SIPPort is every CSCF's and the VCC Application's UDP port; 0 means
	// DefaultSIPPort.
	SIPPort int
	// HSSPort is the HSS's Diameter TCP port; 0 means DefaultHSSPort.
	HSSPort int
	// MaxExpires is the S-CSCF's max_expires; 0 means DefaultMaxExpires.
	MaxExpires int
	// Debug is Kamailio's log level; 0 means DefaultDebug.
	Debug int
	// ReadyTimeout bounds the wait for each CSCF; 0 means
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Tc is cdp's Tc in seconds; 0 means DefaultTc.
	Tc int
	// Logf, when set, gets one line per bring-up and teardown event.
	Logf func(format string, args ...any)
}

//go:embed templates/*.tmpl
var templates embed.FS

var tmpl = template.Must(template.New("").Option("missingkey=error").ParseFS(templates, "templates/*.tmpl"))

// values are what the templates see. None of them is a secret.
type values struct {
	Dir                                 string
	Debug                               int
	PCSCF, ICSCF, SCSCF, HSS            string
	SIPPort, HSSPort, MaxExpires        int
	PCSCFName, ICSCFName, SCSCFName     string
	HomeDomain, Realm, VisitedNetworkID string
	Role, FQDN, Src                     string
	Tc                                  int
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	def := func(a *netip.Addr, d netip.Addr) {
		if !a.IsValid() {
			*a = d
		}
	}
	def(&c.Addrs.PCSCF, DefaultPCSCF)
	def(&c.Addrs.ICSCF, DefaultICSCF)
	def(&c.Addrs.SCSCF, DefaultSCSCF)
	def(&c.Addrs.HSS, DefaultHSS)
	def(&c.Addrs.VCCApp, DefaultVCCApp)
	def(&c.Addrs.UE, DefaultUE)
	if c.SIPPort == 0 {
		c.SIPPort = DefaultSIPPort
	}
	if c.HSSPort == 0 {
		c.HSSPort = DefaultHSSPort
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = DefaultMaxExpires
	}
	if c.Debug == 0 {
		c.Debug = DefaultDebug
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.Tc <= 0 {
		c.Tc = DefaultTc
	}
	if c.Lab == nil {
		c.Lab = lab.DefaultFor(DefaultUE.String())
	}
	return c
}

// check says what is wrong with a defaulted config.
func (c Config) check() error {
	addrs := map[string]netip.Addr{"P-CSCF": c.Addrs.PCSCF, "I-CSCF": c.Addrs.ICSCF, "S-CSCF": c.Addrs.SCSCF,
		"HSS": c.Addrs.HSS, "VCC Application": c.Addrs.VCCApp, "UE": c.Addrs.UE}
	seen := map[netip.Addr]string{}
	v4 := c.Addrs.PCSCF.Unmap().Is4()
	for _, role := range []string{"P-CSCF", "I-CSCF", "S-CSCF", "VCC Application", "HSS", "UE"} {
		a := addrs[role]
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("kamailio: %s address: expected one unicast IPv4 or IPv6 address, got %s", role, a)
		}
		if a.Is4() != v4 {
			return fmt.Errorf("kamailio: %s address: expected the P-CSCF's IP family, got %s beside the P-CSCF's %s", role, a, c.Addrs.PCSCF)
		}
		// Every CSCF and the VCC Application listen on SIPPort: each needs
		// an address of its own. The HSS and the UE use other ports.
		if other, dup := seen[a]; dup && role != "HSS" && role != "UE" {
			return fmt.Errorf("kamailio: %s address: expected an address of its own, got %s, also the %s's", role, a, other)
		}
		if _, dup := seen[a]; !dup {
			seen[a] = role
		}
	}
	for name, p := range map[string]int{"SIPPort": c.SIPPort, "HSSPort": c.HSSPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("kamailio: %s: expected a port from 1 to 65535, got %d", name, p)
		}
	}
	l := c.Lab
	for name, v := range map[string]string{"home_domain": l.HomeDomain, "realm": l.Realm} {
		if v == "" || strings.ContainsAny(v, "\"\\\r\n \t") {
			return fmt.Errorf("kamailio: lab %s: expected a domain name without quotes, backslashes or spaces, got %q", name, v)
		}
	}
	if l.Subscriber.IMPI == "" || len(l.Subscriber.IMPUs) == 0 {
		return fmt.Errorf("kamailio: lab subscriber: expected an IMPI and at least one IMPU, got IMPI %q and %d IMPUs", l.Subscriber.IMPI, len(l.Subscriber.IMPUs))
	}
	return nil
}

// URIHost is a as it stands in a SIP URI, a Via or a Kamailio listen line:
// an IPv6 address in brackets.
func URIHost(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}

// values are the templates' values: the CSCFs' addresses in URI form
// ([v6]), the HSS's and cdp's source addresses bare (cdp resolves them with
// getaddrinfo).
func (c Config) values(dir string) values {
	return values{
		Dir: dir, Debug: c.Debug,
		PCSCF: URIHost(c.Addrs.PCSCF), ICSCF: URIHost(c.Addrs.ICSCF), SCSCF: URIHost(c.Addrs.SCSCF), HSS: c.Addrs.HSS.String(),
		SIPPort: c.SIPPort, HSSPort: c.HSSPort, MaxExpires: c.MaxExpires,
		PCSCFName: URIHost(c.Addrs.PCSCF), ICSCFName: URIHost(c.Addrs.ICSCF), SCSCFName: URIHost(c.Addrs.SCSCF),
		HomeDomain: c.Lab.HomeDomain, Realm: c.Lab.Realm, VisitedNetworkID: VisitedNetworkID,
		Tc: c.Tc,
	}
}

// SCSCFURI is the S-CSCF's SIP URI: its scscf_name, the Server-Name of the
// HSS's UAA and LIA, and the host of its Service-Route.
func (c Config) SCSCFURI() string {
	c = c.withDefaults()
	return "sip:" + netip.AddrPortFrom(c.Addrs.SCSCF, uint16(c.SIPPort)).String()
}

// VCCAppURI is the VCC Application's SIP URI, the iFC's ApplicationServer:
// an IP URI, since the lab has no DNS.
func (c Config) VCCAppURI() string {
	c = c.withDefaults()
	return "sip:" + netip.AddrPortFrom(c.Addrs.VCCApp, uint16(c.SIPPort)).String()
}

// WriteConfigs writes the lab's files into dir: pcscf.cfg, icscf.cfg,
// scscf.cfg, icscf.xml, scscf.xml and the db_text tables under db/. It
// writes no key material. It returns the paths written.
func WriteConfigs(c Config, dir string) ([]string, error) {
	c = c.withDefaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kamailio: config dir: %w", err)
	}
	if strings.ContainsAny(abs, "\"\\\r\n ") {
		return nil, fmt.Errorf("kamailio: config dir: expected a path without quotes, backslashes or spaces (it goes into the configurations), got %q", abs)
	}
	if err := os.MkdirAll(filepath.Join(abs, "db"), 0o755); err != nil {
		return nil, fmt.Errorf("kamailio: config dir: %w", err)
	}
	v := c.values(abs)
	var written []string
	write := func(name, tname string, v values) error {
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, tname, v); err != nil {
			return fmt.Errorf("kamailio: template %s: %w", tname, err)
		}
		p := filepath.Join(abs, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("kamailio: writing %s: %w", p, err)
		}
		written = append(written, p)
		return nil
	}
	for _, n := range []string{"pcscf", "icscf", "scscf"} {
		if err := write(n+".cfg", n+".cfg.tmpl", v); err != nil {
			return written, err
		}
	}
	for _, p := range []struct{ file, role, fqdn, src string }{
		{"icscf.xml", "I-CSCF", ICSCFName, c.Addrs.ICSCF.String()},
		{"scscf.xml", "S-CSCF", SCSCFName, c.Addrs.SCSCF.String()},
	} {
		pv := v
		pv.Role, pv.FQDN, pv.Src = p.role, p.fqdn, p.src
		if err := write(p.file, "cdp.xml.tmpl", pv); err != nil {
			return written, err
		}
	}
	// The I-CSCF's tables (db_text: a header line of column(type), then
	// rows with ':' between columns and '\:' inside a value).
	esc := func(s string) string { return strings.ReplaceAll(s, ":", `\:`) }
	tables := map[string]string{
		"nds_trusted_domains": "id(int,auto) trusted_domain(string)\n1:" + esc(VisitedNetworkID) + "\n2:" + esc(c.Lab.HomeDomain) + "\n",
		"s_cscf":              "id(int,auto) name(string) s_cscf_uri(string)\n1:" + esc(SCSCFName) + ":" + esc(c.SCSCFURI()) + "\n",
		"s_cscf_capabilities": "id(int,auto) id_s_cscf(int) capability(int)\n1:1:0\n",
	}
	for _, name := range []string{"nds_trusted_domains", "s_cscf", "s_cscf_capabilities"} {
		p := filepath.Join(abs, "db", name)
		if err := os.WriteFile(p, []byte(tables[name]), 0o644); err != nil {
			return written, fmt.Errorf("kamailio: writing %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}
