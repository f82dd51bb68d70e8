// Package discovery finds the address the UE sends its REGISTERs to: the
// P-CSCF the lab names as sut.pcscf. An IP literal with a port is used as it
// is; a host name with a port is resolved to its A/AAAA records; a domain
// without a port is discovered as RFC 3263 4 locates a SIP server (NAPTR,
// then SRV, then A/AAAA), which TS 24.229 9.2.1 allows for P-CSCF discovery.
// Every answer is written down (Result.Steps), so that a report can say what
// was resolved and why that address was taken.
//
// It is not a general SIP resolver: no TLS (SIPS+D2T and _sips are skipped:
// the harness speaks UDP and TCP only), no SCTP, no failover between the
// targets it returns (the run uses the first; the others are recorded), no
// caching. It sends DNS queries and nothing else.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultPort is the SIP port over UDP and TCP (RFC 3261 19.1.2), used when a
// name has no SRV record.
const DefaultPort = 5060

// DefaultTimeout bounds one DNS query.
const DefaultTimeout = 3 * time.Second

// Services are the NAPTR services of RFC 3263 4.1 this package follows, by
// transport.
var Services = map[string]string{"udp": "SIP+D2U", "tcp": "SIP+D2T"}

// Resolver resolves sut.pcscf. The zero value uses the system's resolver
// (/etc/hosts, nsswitch) for A/AAAA and the name servers of
// /etc/resolv.conf for NAPTR and SRV.
type Resolver struct {
	// Server is the DNS server (host:port) every query goes to; "" means the
	// system's, as above.
	Server string
	// Timeout bounds one query; 0 means DefaultTimeout.
	Timeout time.Duration
	// ResolvConf is the resolver configuration read when Server is ""; ""
	// means /etc/resolv.conf.
	ResolvConf string
}

// Family restricts the addresses taken: the UE can reach only its own IP
// family.
type Family int

const (
	Any  Family = iota // IPv6 first, then IPv4
	IPv4               // A records only
	IPv6               // AAAA records only
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "IPv4 or IPv6"
}

// FamilyOf is the family of the UE's address a: IPv4 or IPv6, Any when a is
// not valid.
func FamilyOf(a netip.Addr) Family {
	switch {
	case !a.IsValid():
		return Any
	case a.Unmap().Is4():
		return IPv4
	}
	return IPv6
}

// Result is what Resolve found.
type Result struct {
	// Input is sut.pcscf as the lab gave it.
	Input string
	// Method says how it was resolved: "literal" (an IP address and port,
	// nothing to resolve), "A/AAAA" (a host name with a port) or "RFC 3263"
	// (a domain: NAPTR, SRV, A/AAAA).
	Method string
	// Targets are the addresses found, in the order of preference; the run
	// uses the first.
	Targets []netip.AddrPort
	// Steps say, one line each, what was asked and answered, in order, and
	// why the first target was chosen.
	Steps []string
}

// Chosen is the first target, or the zero value when there is none.
func (r *Result) Chosen() netip.AddrPort {
	if r == nil || len(r.Targets) == 0 {
		return netip.AddrPort{}
	}
	return r.Targets[0]
}

// Error is a failed resolution: the name, what was asked, and why nothing
// usable came back.
type Error struct {
	Name    string // the name that did not resolve
	Problem string // what was expected and what was seen
}

func (e *Error) Error() string { return fmt.Sprintf("resolving %s: %s", e.Name, e.Problem) }

// Resolve finds the P-CSCF's address for pcscf, reached over transport
// ("udp" or "tcp") from an address of family fam. On error the Result still
// holds the steps taken; the error is an *Error.
func (r *Resolver) Resolve(ctx context.Context, pcscf, transport string, fam Family) (*Result, error) {
	res := &Result{Input: pcscf}
	transport = strings.ToLower(transport)
	if transport == "" {
		transport = "udp"
	}
	if _, ok := Services[transport]; !ok {
		return res, &Error{Name: pcscf, Problem: fmt.Sprintf("expected transport udp or tcp, saw %q", transport)}
	}
	if ap, err := netip.ParseAddrPort(pcscf); err == nil {
		res.Method = "literal"
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		res.Targets = []netip.AddrPort{ap}
		res.Steps = append(res.Steps, fmt.Sprintf("%s is an IP address and port: nothing to resolve", ap))
		return res, nil
	}
	if host, port, err := net.SplitHostPort(pcscf); err == nil {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return res, &Error{Name: pcscf, Problem: fmt.Sprintf("expected a port from 1 to 65535, saw %q", port)}
		}
		res.Method = "A/AAAA"
		res.Steps = append(res.Steps, fmt.Sprintf("%s has a port: A/AAAA lookup of %s (RFC 3263 4.2), no NAPTR or SRV", pcscf, host))
		addrs, err := r.lookupHost(ctx, res, host, fam)
		if err != nil {
			return res, err
		}
		for _, a := range addrs {
			res.Targets = append(res.Targets, netip.AddrPortFrom(a, uint16(p)))
		}
		res.Steps = append(res.Steps, fmt.Sprintf("chose %s: the first address", res.Targets[0]))
		return res, nil
	}
	if _, err := netip.ParseAddr(pcscf); err == nil {
		return res, &Error{Name: pcscf, Problem: "expected host:port for an IP address (RFC 3263 discovery is for a domain), saw no port"}
	}
	res.Method = "RFC 3263"
	return res, r.discover(ctx, res, strings.TrimSuffix(pcscf, "."), transport, fam)
}

// discover runs RFC 3263 4.1 and 4.2 for domain: NAPTR, then SRV, then
// A/AAAA of each SRV target; without NAPTR the SRV name of the transport;
// without SRV the domain's own A/AAAA at DefaultPort.
func (r *Resolver) discover(ctx context.Context, res *Result, domain, transport string, fam Family) error {
	service := Services[transport]
	srvNames := []string{}
	naptrs, err := r.query(ctx, domain, dns.TypeNAPTR)
	switch {
	case err != nil:
		res.Steps = append(res.Steps, fmt.Sprintf("NAPTR %s: %v", domain, err))
		return &Error{Name: domain, Problem: "NAPTR query failed: " + err.Error()}
	case len(naptrs) == 0:
		res.Steps = append(res.Steps, fmt.Sprintf("NAPTR %s: no records", domain))
	default:
		var recs []*dns.NAPTR
		for _, rr := range naptrs {
			if n, ok := rr.(*dns.NAPTR); ok {
				recs = append(recs, n)
			}
		}
		// RFC 3403 4.1 / RFC 3263 4.1: lowest order first, then lowest
		// preference.
		sort.SliceStable(recs, func(i, j int) bool {
			if recs[i].Order != recs[j].Order {
				return recs[i].Order < recs[j].Order
			}
			return recs[i].Preference < recs[j].Preference
		})
		var seen []string
		for _, n := range recs {
			seen = append(seen, fmt.Sprintf("%s (order %d, pref %d, flags %q) -> %s", n.Service, n.Order, n.Preference, n.Flags, strings.TrimSuffix(n.Replacement, ".")))
			if strings.EqualFold(n.Service, service) && strings.EqualFold(n.Flags, "s") {
				srvNames = append(srvNames, strings.TrimSuffix(n.Replacement, "."))
			}
		}
		res.Steps = append(res.Steps, fmt.Sprintf("NAPTR %s: %s", domain, strings.Join(seen, "; ")))
		if len(srvNames) == 0 {
			res.Steps = append(res.Steps, fmt.Sprintf("no NAPTR record offers %s with flag \"s\" (the lab's transport is %s)", service, transport))
		} else {
			res.Steps = append(res.Steps, fmt.Sprintf("took the %s records, in order: %s", service, strings.Join(srvNames, ", ")))
		}
	}
	if len(srvNames) == 0 {
		// RFC 3263 4.1: no (usable) NAPTR: query SRV for the transport.
		name := "_sip._" + transport + "." + domain
		srvNames = []string{name}
		res.Steps = append(res.Steps, fmt.Sprintf("SRV %s (RFC 3263 4.1, no NAPTR for %s)", name, service))
	}
	var srvs []*dns.SRV
	for _, name := range srvNames {
		rrs, err := r.query(ctx, name, dns.TypeSRV)
		if err != nil {
			res.Steps = append(res.Steps, fmt.Sprintf("SRV %s: %v", name, err))
			return &Error{Name: name, Problem: "SRV query failed: " + err.Error()}
		}
		var got []*dns.SRV
		for _, rr := range rrs {
			if s, ok := rr.(*dns.SRV); ok && s.Target != "." {
				got = append(got, s)
			}
		}
		sortSRV(got)
		if len(got) == 0 {
			res.Steps = append(res.Steps, fmt.Sprintf("SRV %s: no records", name))
			continue
		}
		var parts []string
		for _, s := range got {
			parts = append(parts, fmt.Sprintf("%s:%d (priority %d, weight %d)", strings.TrimSuffix(s.Target, "."), s.Port, s.Priority, s.Weight))
		}
		res.Steps = append(res.Steps, fmt.Sprintf("SRV %s: %s", name, strings.Join(parts, "; ")))
		srvs = append(srvs, got...)
	}
	if len(srvs) == 0 {
		// RFC 3263 4.2: no SRV: the domain's own A/AAAA, default port.
		res.Steps = append(res.Steps, fmt.Sprintf("no SRV record: A/AAAA of %s at port %d (RFC 3263 4.2)", domain, DefaultPort))
		addrs, err := r.lookupHost(ctx, res, domain, fam)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			res.Targets = append(res.Targets, netip.AddrPortFrom(a, DefaultPort))
		}
		res.Steps = append(res.Steps, fmt.Sprintf("chose %s: the first address of %s", res.Targets[0], domain))
		return nil
	}
	var lastErr error
	for _, s := range srvs {
		target := strings.TrimSuffix(s.Target, ".")
		addrs, err := r.lookupHost(ctx, res, target, fam)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			res.Targets = append(res.Targets, netip.AddrPortFrom(a, s.Port))
		}
	}
	if len(res.Targets) == 0 {
		if lastErr == nil {
			lastErr = &Error{Name: domain, Problem: "expected an address for an SRV target, saw none"}
		}
		return lastErr
	}
	res.Steps = append(res.Steps, fmt.Sprintf("chose %s: the first address of the SRV target with the lowest priority and the highest weight", res.Targets[0]))
	return nil
}

// sortSRV orders SRV records by priority, then by weight, highest first.
// RFC 2782 picks among equal priorities at random by weight; a conformance
// run must be repeatable, so this is the order of the most likely pick.
func sortSRV(s []*dns.SRV) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Priority != s[j].Priority {
			return s[i].Priority < s[j].Priority
		}
		return s[i].Weight > s[j].Weight
	})
}

// lookupHost returns the addresses of host of family fam (IPv6 first for
// Any), through the system resolver or r.Server.
func (r *Resolver) lookupHost(ctx context.Context, res *Result, host string, fam Family) ([]netip.Addr, error) {
	var v4, v6 []netip.Addr
	if r.Server == "" {
		ctx, cancel := context.WithTimeout(ctx, r.timeout())
		defer cancel()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			var de *net.DNSError
			why := err.Error()
			if errors.As(err, &de) && de.IsNotFound {
				why = "no such host"
			}
			res.Steps = append(res.Steps, fmt.Sprintf("A/AAAA %s (system resolver): %s", host, why))
			return nil, &Error{Name: host, Problem: fmt.Sprintf("expected an address from the system resolver, saw %s", why)}
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				v4 = append(v4, a)
			} else {
				v6 = append(v6, a)
			}
		}
		res.Steps = append(res.Steps, fmt.Sprintf("A/AAAA %s (system resolver): %s", host, addrList(append(append([]netip.Addr{}, v6...), v4...))))
	} else {
		// Both types are asked whatever fam is, so that an answer of the
		// other family can be named in the error.
		for _, qt := range []uint16{dns.TypeAAAA, dns.TypeA} {
			rrs, err := r.query(ctx, host, qt)
			name := dns.TypeToString[qt]
			if err != nil {
				res.Steps = append(res.Steps, fmt.Sprintf("%s %s: %v", name, host, err))
				return nil, &Error{Name: host, Problem: name + " query failed: " + err.Error()}
			}
			var got []netip.Addr
			for _, rr := range rrs {
				switch a := rr.(type) {
				case *dns.A:
					if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
						got = append(got, ip)
					}
				case *dns.AAAA:
					if ip, ok := netip.AddrFromSlice(a.AAAA.To16()); ok {
						got = append(got, ip)
					}
				}
			}
			res.Steps = append(res.Steps, fmt.Sprintf("%s %s: %s", name, host, addrList(got)))
			if qt == dns.TypeA {
				v4 = got
			} else {
				v6 = got
			}
		}
	}
	var out []netip.Addr
	switch fam {
	case IPv4:
		out = v4
	case IPv6:
		out = v6
	default:
		out = append(v6, v4...)
	}
	if len(out) == 0 {
		problem := "expected an A or AAAA record, saw none"
		if fam != Any && len(v4)+len(v6) > 0 {
			problem = fmt.Sprintf("expected an %s address (the UE's family), saw only %s", fam, addrList(append(v6, v4...)))
		}
		return nil, &Error{Name: host, Problem: problem}
	}
	return out, nil
}

func addrList(as []netip.Addr) string {
	if len(as) == 0 {
		return "no records"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// servers returns the name servers to ask.
func (r *Resolver) servers() ([]string, error) {
	if r.Server != "" {
		return []string{r.Server}, nil
	}
	path := r.ResolvConf
	if path == "" {
		path = "/etc/resolv.conf"
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the name servers of %s: %w", path, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("%s names no name server", path)
	}
	out := make([]string, len(cc.Servers))
	for i, s := range cc.Servers {
		out[i] = net.JoinHostPort(s, cc.Port)
	}
	return out, nil
}

// query asks for name's records of type t and returns the answers of that
// type (CNAMEs in between are followed by the server, as RFC 1034 4.3.2
// has a recursive server do). NXDOMAIN and an empty answer give no records
// and no error; any other failure is an error. Over UDP, a truncated answer
// is asked again over TCP.
func (r *Resolver) query(ctx context.Context, name string, t uint16) ([]dns.RR, error) {
	servers, err := r.servers()
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	m.RecursionDesired = true
	var lastErr error
	for _, srv := range servers {
		c := &dns.Client{Timeout: r.timeout()}
		in, _, err := c.ExchangeContext(ctx, m, srv)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, m, srv)
		}
		if err != nil {
			lastErr = fmt.Errorf("no answer from %s: %v", srv, err)
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			lastErr = fmt.Errorf("%s answered %s", srv, dns.RcodeToString[in.Rcode])
			continue
		}
		var out []dns.RR
		for _, rr := range in.Answer {
			if rr.Header().Rrtype == t {
				out = append(out, rr)
			}
		}
		return out, nil
	}
	return nil, lastErr
}
