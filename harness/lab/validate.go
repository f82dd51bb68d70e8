package lab

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Validate checks every field and returns the first problem, in the order of
// the YAML file, as a *FieldError; nil when the profile is usable.
//
// It expects: profile "a322" or "ts24229"; sut.pcscf empty, host:port (an
// IPv4 address, a bracketed IPv6 address, or a host name; port 1-65535) or a
// domain without a port (discovered per RFC 3263); sut.dns empty or IP:port;
// sut.transport "udp" or "tcp"; a registrar SIP URI; an IMPI; at least one
// IMPU, each a sip:, sips: or tel: URI; K 128-bit hex; exactly one of OP and
// OPc, 128-bit hex; AMF 16-bit hex; SQN 48-bit hex; ue.address an IP literal
// of the same family as sut.pcscf when that is an IP literal; ports 0-65535,
// the protected ones distinct when both are set; SPIs 256 or more (RFC 4303
// 2.1) and distinct; expiry values above 0; vcc_app.uri a SIP URI;
// vcc_app.listen IP:port; accept_from at least one IP literal; hss.listen
// empty or IP:port, and then hss.icscf_peer and hss.scscf_peer Diameter
// identities; hss.origin_host a host name; node names host names;
// timeouts.step and hss.peer_timeout above 0. Validate does not look at this
// host: CheckHost does. No string may hold control characters: the
// values go into SIP headers.
func (p *Profile) Validate() error {
	for _, l := range p.leaves() {
		if err := p.checkText(l); err != nil {
			return err
		}
		if check, ok := fieldChecks[l.path]; ok {
			if problem := check(p); problem != "" {
				return p.fieldError(l.path, problem)
			}
		}
		if check, ok := listChecks[l.path]; ok {
			for i, s := range l.v.Interface().([]string) {
				if problem := check(s); problem != "" {
					return p.fieldError(fmt.Sprintf("%s[%d]", l.path, i), problem)
				}
			}
		}
	}
	return nil
}

func (p *Profile) fieldError(path, problem string) error {
	where := p.src[path]
	if (where == originDefault || where == originRoute) && path == "ue.address" {
		// A default that clashes with a given sut.pcscf: point at the latter.
		where = p.src["sut.pcscf"]
	}
	if where == "" && slices.Contains(keyPaths, path) {
		// A default K, OP or OPc was dropped because another was given: point
		// at the one given.
		for _, k := range keyPaths {
			if w := p.src[k]; w != "" && w != originDefault {
				where = w
				break
			}
		}
	}
	if where == "" {
		if base, _, ok := strings.Cut(path, "["); ok {
			where = p.src[base]
		}
	}
	return &FieldError{Where: where, Field: path, Problem: problem}
}

// checkText rejects control characters in string fields and list elements.
func (p *Profile) checkText(l leaf) error {
	var vals []string
	switch {
	case l.v.Type() == secretType:
		return nil // hex checks cover secrets without printing them
	case l.v.Kind() == reflect.String:
		vals = []string{l.v.String()}
	case l.v.Kind() == reflect.Slice:
		vals = l.v.Interface().([]string)
	}
	for i, s := range vals {
		for j, r := range s {
			if r < 0x20 || r == 0x7f {
				path := l.path
				if l.v.Kind() == reflect.Slice {
					path = fmt.Sprintf("%s[%d]", l.path, i)
				}
				return p.fieldError(path, fmt.Sprintf("expected no control characters (the value goes into SIP headers), saw %U at byte %d", r, j))
			}
		}
	}
	return nil
}

var fieldChecks = map[string]func(p *Profile) string{
	"profile": func(p *Profile) string {
		if p.Profile != "a322" && p.Profile != "ts24229" {
			return fmt.Sprintf(`expected "a322" or "ts24229", saw %s`, quote(p.Profile))
		}
		return ""
	},
	"sut.pcscf": func(p *Profile) string {
		if p.SUT.PCSCF == "" {
			return ""
		}
		if isDomain(p.SUT.PCSCF) {
			return "" // discovered per RFC 3263
		}
		return checkHostPort(p.SUT.PCSCF, true, 1)
	},
	"sut.ipsec": func(p *Profile) string {
		if p.SUT.IPsec && !p.SUT.SecAgree {
			return "expected sut.sec_agree true with sut.ipsec true: the IPsec SAs are the outcome of the security agreement (TS 33.203 7.1), saw sut.sec_agree false"
		}
		return ""
	},
	"sut.dns": func(p *Profile) string {
		if p.SUT.DNS == "" {
			return ""
		}
		return checkHostPort(p.SUT.DNS, false, 1)
	},
	"sut.transport": func(p *Profile) string {
		if p.SUT.Transport != "udp" && p.SUT.Transport != "tcp" {
			return fmt.Sprintf(`expected "udp" or "tcp", saw %s`, quote(p.SUT.Transport))
		}
		return ""
	},
	"home_domain": func(p *Profile) string {
		return checkName(p.HomeDomain, "the home network's domain name, e.g. home1.net")
	},
	"realm": func(p *Profile) string {
		if p.Realm == "" {
			return "expected the Digest realm, e.g. registrar.home1.net, saw nothing"
		}
		return ""
	},
	"registrar": func(p *Profile) string { return checkURI(p.Registrar, false) },
	"subscriber.impi": func(p *Profile) string {
		switch {
		case p.Subscriber.IMPI == "":
			return "expected the private user identity, e.g. user1_private@home1.net, saw nothing"
		case strings.ContainsAny(p.Subscriber.IMPI, " \t"):
			return fmt.Sprintf("expected a private user identity without spaces, saw %s", quote(p.Subscriber.IMPI))
		}
		return ""
	},
	"subscriber.impus": func(p *Profile) string {
		if len(p.Subscriber.IMPUs) == 0 {
			return "expected at least one public user identity (sip:, sips: or tel: URI), saw none"
		}
		return ""
	},
	"subscriber.k": func(p *Profile) string {
		if p.Subscriber.K.IsZero() {
			return "expected the subscriber key K, 32 hex digits (128 bits), saw none (giving op or opc drops the default k: give k too)"
		}
		return checkHex(p.Subscriber.K.Reveal(), 128)
	},
	"subscriber.op": func(p *Profile) string {
		if p.Subscriber.OP.IsZero() {
			if p.Subscriber.OPc.IsZero() {
				return "expected exactly one of op and opc, saw neither"
			}
			return ""
		}
		return checkHex(p.Subscriber.OP.Reveal(), 128)
	},
	"subscriber.opc": func(p *Profile) string {
		if p.Subscriber.OPc.IsZero() {
			return ""
		}
		if !p.Subscriber.OP.IsZero() {
			where := p.src["subscriber.op"]
			if where == "" {
				where = "elsewhere"
			}
			return fmt.Sprintf("expected exactly one of op and opc, saw both (op from %s)", where)
		}
		return checkHex(p.Subscriber.OPc.Reveal(), 128)
	},
	"subscriber.amf": func(p *Profile) string { return checkHex(p.Subscriber.AMF, 16) },
	"subscriber.sqn": func(p *Profile) string { return checkHex(p.Subscriber.SQN, 48) },
	"ue.address": func(p *Profile) string {
		if p.noRoute != "" && p.src["ue.address"] == originDefault {
			return p.noRoute
		}
		a, problem := checkIP(p.UE.Address)
		if problem != "" {
			return problem
		}
		if host, _, err := net.SplitHostPort(p.SUT.PCSCF); err == nil {
			if s, err := netip.ParseAddr(host); err == nil && s.Unmap().Is4() != a.Unmap().Is4() {
				from := p.src["sut.pcscf"]
				if p.src["ue.address"] == originDefault {
					from = "the default; set ue.address"
				}
				return fmt.Sprintf("expected an address of the same IP family as sut.pcscf %s, saw %s (%s)", quote(p.SUT.PCSCF), quote(p.UE.Address), from)
			}
		}
		return ""
	},
	"ue.port":   func(p *Profile) string { return checkPort(p.UE.Port, 0) },
	"ue.port_c": func(p *Profile) string { return checkPort(p.UE.PortC, 0) },
	"ue.port_s": func(p *Profile) string {
		if problem := checkPort(p.UE.PortS, 0); problem != "" {
			return problem
		}
		if p.UE.PortS != 0 && p.UE.PortS == p.UE.PortC {
			return fmt.Sprintf("expected a protected server port other than port_c, saw %d for both (TS 33.203 7.1)", p.UE.PortS)
		}
		return ""
	},
	"ue.spi_c": func(p *Profile) string { return checkSPI(p.UE.SPIC) },
	"ue.spi_s": func(p *Profile) string {
		if problem := checkSPI(p.UE.SPIS); problem != "" {
			return problem
		}
		if p.UE.SPIS == p.UE.SPIC {
			return fmt.Sprintf("expected an SPI other than spi_c, saw %d for both (TS 33.203 7.1)", p.UE.SPIS)
		}
		return ""
	},
	"ue.expires": func(p *Profile) string { return checkPositive(p.UE.Expires, "seconds") },
	"vcc_app.listen": func(p *Profile) string {
		return checkHostPort(p.VCCApp.Listen, false, 0)
	},
	"vcc_app.uri": func(p *Profile) string { return checkURI(p.VCCApp.URI, false) },
	"vcc_app.accept_from": func(p *Profile) string {
		if len(p.VCCApp.AcceptFrom) == 0 {
			return "expected at least one source IP address the mock VCC Application accepts REGISTERs from, saw none"
		}
		return ""
	},
	"hss.listen": func(p *Profile) string {
		if p.HSS.Listen == "" {
			return ""
		}
		return checkHostPort(p.HSS.Listen, false, 1)
	},
	"hss.origin_host": func(p *Profile) string {
		return checkName(p.HSS.OriginHost, "the HSS's Diameter identity (Origin-Host), e.g. hss.home1.net")
	},
	"hss.origin_realm": func(p *Profile) string {
		if p.HSS.OriginRealm == "" {
			return ""
		}
		return checkName(p.HSS.OriginRealm, "the HSS's Diameter realm (Origin-Realm), e.g. home1.net")
	},
	"hss.icscf_peer": func(p *Profile) string { return checkPeer(p, p.HSS.ICSCFPeer, "I-CSCF") },
	"hss.scscf_peer": func(p *Profile) string { return checkPeer(p, p.HSS.SCSCFPeer, "S-CSCF") },
	"hss.server_name": func(p *Profile) string {
		if p.HSS.ServerName == "" {
			return ""
		}
		return checkURI(p.HSS.ServerName, false)
	},
	"hss.peer_timeout": func(p *Profile) string {
		if p.HSS.PeerTimeout <= 0 {
			return fmt.Sprintf(`expected a duration above 0 such as "10s", saw %s`, p.HSS.PeerTimeout)
		}
		return ""
	},
	"core.pcscf_name": func(p *Profile) string {
		return checkNodeHost(p.Core.PCSCFName, "the P-CSCF's host name, e.g. pcscf1.visited1.net or an IP address")
	},
	"core.icscf_name": func(p *Profile) string {
		return checkNodeHost(p.Core.ICSCFName, "the I-CSCF's host name, e.g. icscf1_p.home1.net or an IP address")
	},
	"core.scscf_name": func(p *Profile) string {
		return checkNodeHost(p.Core.SCSCFName, "the S-CSCF's host name, e.g. scscf1.home1.net or an IP address")
	},
	"core.visited_network_id": func(p *Profile) string {
		if p.Core.VisitedNetworkID == "" {
			return `expected the P-Visited-Network-ID value, e.g. visited1.net, saw nothing`
		}
		return ""
	},
	"core.max_expires": func(p *Profile) string { return checkPositive(p.Core.MaxExpires, "seconds") },
	"timeouts.step": func(p *Profile) string {
		if p.Timeouts.Step <= 0 {
			return fmt.Sprintf(`expected a duration above 0 such as "5s", saw %s`, p.Timeouts.Step)
		}
		return ""
	},
}

// The algorithms of TS 33.203 7.2 the harness's ESP implements
// (harness/esp, whose names these are), for ue.sec_algorithms.
var (
	secIntegrity  = []string{"hmac-sha-1-96", "hmac-md5-96"}
	secEncryption = []string{"null", "aes-cbc", "des-ede3-cbc"}
)

// checkSecAlgorithm expects "ALG" or "ALG/EALG".
func checkSecAlgorithm(s string) string {
	alg, ealg, hasE := strings.Cut(s, "/")
	if !slices.Contains(secIntegrity, strings.ToLower(alg)) {
		return fmt.Sprintf("expected an integrity algorithm among %s, optionally /EALG, saw %s", strings.Join(secIntegrity, ", "), quote(s))
	}
	if hasE && !slices.Contains(secEncryption, strings.ToLower(ealg)) {
		return fmt.Sprintf("expected an encryption algorithm among %s after /, saw %s", strings.Join(secEncryption, ", "), quote(s))
	}
	return ""
}

var listChecks = map[string]func(s string) string{
	"ue.sec_algorithms": checkSecAlgorithm,
	"subscriber.impus":  func(s string) string { return checkURI(s, true) },
	"vcc_app.accept_from": func(s string) string {
		_, problem := checkIP(s)
		return problem
	},
	"core.pcscf_names": func(s string) string {
		return checkNodeHost(s, "a further name of the P-CSCF: a host name or an IP address")
	},
	"core.icscf_names": func(s string) string {
		return checkNodeHost(s, "a further name of the I-CSCF: a host name or an IP address")
	},
	"core.scscf_names": func(s string) string {
		return checkNodeHost(s, "a further name of the S-CSCF: a host name or an IP address")
	},
}

// checkPeer expects the Diameter identity of a CSCF when the harness plays
// the HSS for a lab.
func checkPeer(p *Profile, s, role string) string {
	if s == "" {
		if p.HSS.Plays() {
			return fmt.Sprintf("expected the %s's Diameter identity (the Origin-Host of its CER), e.g. %s1.home1.net, since hss.listen is set; saw nothing", role, strings.ToLower(strings.ReplaceAll(role, "-", "")))
		}
		return ""
	}
	return checkName(s, "the "+role+"'s Diameter identity (Origin-Host), e.g. "+strings.ToLower(strings.ReplaceAll(role, "-", ""))+"1.home1.net")
}

// checkHex expects bits/4 hex digits. It never prints s: s may be a key.
func checkHex(s string, bits int) string {
	want := bits / 4
	if len(s) != want {
		return fmt.Sprintf("expected %d hex digits (%d bits), saw %d characters", want, bits, len(s))
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Sprintf("expected %d hex digits (%d bits), saw a non-hex character at position %d", want, bits, i+1)
		}
	}
	return ""
}

func checkPort(port, min int) string {
	if port < min || port > 65535 {
		return fmt.Sprintf("expected a port from %d to 65535, saw %d", min, port)
	}
	return ""
}

func checkSPI(spi uint32) string {
	if spi < 256 {
		return fmt.Sprintf("expected an SPI of 256 or more (RFC 4303 2.1 reserves 0-255), saw %d", spi)
	}
	return ""
}

func checkPositive(n int, unit string) string {
	if n <= 0 {
		return fmt.Sprintf("expected a number of %s above 0, saw %d", unit, n)
	}
	return ""
}

// checkIP expects a bare IP literal.
func checkIP(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		hint := ""
		if strings.HasPrefix(s, "[") {
			hint = " (no brackets)"
		} else if _, _, err := net.SplitHostPort(s); err == nil {
			hint = " (no port)"
		}
		return a, fmt.Sprintf("expected an IP address such as ::1 or 127.0.0.1%s, saw %s", hint, quote(s))
	}
	return a, ""
}

// checkHostPort expects host:port: an IPv4 address, a bracketed IPv6
// address, or (when names) a host name; the port from minPort to 65535.
func checkHostPort(s string, names bool, minPort int) string {
	hosts := "an IPv4 address or a bracketed IPv6 address"
	if names {
		hosts = "an IPv4 address, a bracketed IPv6 address or a host name"
	}
	expected := fmt.Sprintf("expected host:port with %s (e.g. 127.0.0.1:5060 or [::1]:5060)", hosts)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil || !strings.Contains(s, ":") {
			return fmt.Sprintf("%s, saw %s with no port", expected, quote(s))
		}
		return fmt.Sprintf("%s, saw %s", expected, quote(s))
	}
	bracketed := strings.HasPrefix(s, "[")
	a, aerr := netip.ParseAddr(host)
	switch {
	case bracketed && (aerr != nil || !a.Is6()):
		return fmt.Sprintf("%s, saw %s: only an IPv6 address goes in brackets", expected, quote(s))
	case aerr == nil && a.Is6() && !bracketed:
		return fmt.Sprintf("%s, saw %s", expected, quote(s))
	case aerr != nil && !names:
		return fmt.Sprintf("%s, saw %s", expected, quote(s))
	case aerr != nil:
		if problem := checkName(host, "a host name"); problem != "" {
			return fmt.Sprintf("%s, saw %s: %s", expected, quote(s), problem)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.ContainsAny(port, "+-") || n < minPort || n > 65535 {
		return fmt.Sprintf("%s, saw port %s; expected %d to 65535", expected, quote(port), minPort)
	}
	return ""
}

// isDomain reports whether s is a host name of two labels or more without a
// port (not an IP address): a P-CSCF to discover per RFC 3263.
func isDomain(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil || strings.ContainsAny(s, ":[]") || !strings.Contains(strings.TrimSuffix(s, "."), ".") {
		return false
	}
	return checkName(s, "a domain") == ""
}

// checkName expects a host name: dot-separated labels of letters, digits,
// '-' and '_' (IMS node names such as icscf1_p.home1.net use '_').
// checkNodeHost accepts a host name or an IP literal (an IPv6 one in
// brackets, as it stands in a Via or a URI): a core whose nodes advertise
// addresses (Kamailio cannot advertise a name it cannot resolve) is named so.
func checkNodeHost(s, what string) string {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return ""
		}
		return fmt.Sprintf("expected %s, saw %s", what, quote(s))
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return ""
	}
	return checkName(s, what)
}

func checkName(s, what string) string {
	name := strings.TrimSuffix(s, ".")
	if name == "" {
		return fmt.Sprintf("expected %s, saw nothing", what)
	}
	if len(name) > 253 {
		return fmt.Sprintf("expected %s of at most 253 characters, saw %d", what, len(name))
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("expected %s, saw %s", what, quote(s))
		}
		for i := range len(l) {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("expected %s, saw %s", what, quote(s))
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return fmt.Sprintf("expected %s, saw %s, which is neither a name nor an IP address", what, quote(s))
	}
	return ""
}

// checkURI expects a SIP or SIPS URI (RFC 3261 19.1) with a host, or, when
// tel is true, also a tel URI (RFC 3966).
func checkURI(s string, tel bool) string {
	expected := "expected a SIP URI such as sip:user@home1.net"
	if tel {
		expected = "expected a sip:, sips: or tel: URI such as sip:user1_public1@home1.net or tel:+1-212-555-1111"
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Sprintf("%s, saw %s", expected, quote(s))
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
	case "tel":
		if !tel {
			return fmt.Sprintf("%s, saw %s", expected, quote(s))
		}
		num, _, _ := strings.Cut(rest, ";")
		digits := 0
		for i := range len(num) {
			c := num[i]
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '*', c == '#':
				digits++
			case c == '-' || c == '.' || c == '(' || c == ')' || (c == '+' && i == 0):
			default:
				return fmt.Sprintf("%s, saw %s: a tel URI holds digits and visual separators", expected, quote(s))
			}
		}
		if digits == 0 {
			return fmt.Sprintf("%s, saw %s with no number", expected, quote(s))
		}
		return ""
	default:
		return fmt.Sprintf("%s, saw %s", expected, quote(s))
	}
	hostport := rest
	if i := strings.IndexAny(hostport, ";?"); i >= 0 {
		hostport = hostport[:i]
	}
	if i := strings.LastIndex(hostport, "@"); i >= 0 {
		if i == 0 {
			return fmt.Sprintf("%s, saw %s with an empty user part", expected, quote(s))
		}
		hostport = hostport[i+1:]
	}
	if strings.ContainsAny(hostport, " \t") {
		return fmt.Sprintf("%s, saw %s with a space", expected, quote(s))
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
		if problem := checkHostPort(hostport, true, 1); problem != "" {
			return fmt.Sprintf("%s, saw %s: the host part is not host[:port]", expected, quote(s))
		}
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Sprintf("%s, saw %s: only an IPv6 address goes in brackets", expected, quote(s))
		}
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() && !strings.HasPrefix(hostport, "[") {
			return fmt.Sprintf("%s, saw %s: an IPv6 host goes in brackets", expected, quote(s))
		}
		return ""
	}
	if problem := checkName(host, "a host"); problem != "" {
		return fmt.Sprintf("%s, saw %s with no valid host", expected, quote(s))
	}
	return ""
}
