package check

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"imsconform/harness/sipmsg"
)

// SIP equivalence: two values a rule compares are equal when SIP says they
// are, not when their bytes are. Where a clause defines the comparison it is
// cited; elsewhere RFC 3261 7.3.1 holds: names are case-insensitive, and so
// are values and parameter values unless they are quoted-strings.

// equivalent compares two fields of the named header and part.
func (e *evaluator) equivalent(header, part string, a, b field) bool {
	switch {
	case part == "uri":
		return e.sameURI(a.text, b.text)
	case part == "uri.host" || part == "via.host":
		return sameHost(a.text, b.text)
	case part == "uri.hostport" || part == "via.sent-by":
		ha, pa := cutPort(a.text)
		hb, pb := cutPort(b.text)
		return sameHost(ha, hb) && sameNumber(pa, pb)
	case part == "uri.user":
		// RFC 3261 19.1.4: userinfo compares case-sensitively, an escaped
		// character as the character.
		return unescape(a.text) == unescape(b.text)
	case part == "uri.port" || part == "via.port" || part == "cseq.seq" || part == "expiry":
		return sameNumber(a.text, b.text)
	case part == "cseq.method" || part == "display":
		// RFC 3261 7.1, 20.16: methods are case-sensitive; a display name
		// is text for people, compared as written.
		return a.text == b.text
	case part == "" || part == "value":
		return e.sameValue(header, a.text, b.text)
	}
	// tokens (scheme, transport, mechanism, parameter values, aka.*):
	// case-insensitive unless quoted (RFC 3261 7.3.1; RFC 2617 1.2 for the
	// auth-scheme).
	return sameText(a, b)
}

// sameText compares tokens case-insensitively and quoted-strings exactly
// (RFC 3261 7.3.1).
func sameText(a, b field) bool {
	if a.quoted || b.quoted {
		return a.text == b.text
	}
	return strings.EqualFold(a.text, b.text)
}

// sameNumber compares decimal numbers by value ("0068" is 68); text that is
// not a number compares as written.
func sameNumber(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a == b
	}
	return x == y
}

// cutPort splits "host:port" (an IPv6 reference keeps its brackets).
func cutPort(hp string) (host, port string) {
	if strings.HasPrefix(hp, "[") {
		if i := strings.IndexByte(hp, ']'); i >= 0 {
			return hp[:i+1], strings.TrimPrefix(hp[i+1:], ":")
		}
		return hp, ""
	}
	if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		return hp[:i], hp[i+1:]
	}
	return hp, ""
}

// sameHost compares hosts as RFC 3261 19.1.4 does: names case-insensitively
// (a final dot of a fully qualified name aside), IP addresses by value (an
// IPv6 reference in any of its textual forms, RFC 5954 4.1).
func sameHost(a, b string) bool {
	ia, errA := netip.ParseAddr(strings.Trim(strings.TrimSpace(a), "[]"))
	ib, errB := netip.ParseAddr(strings.Trim(strings.TrimSpace(b), "[]"))
	if errA == nil && errB == nil {
		return ia.Unmap() == ib.Unmap()
	}
	if errA == nil || errB == nil {
		// RFC 3261 19.1.4: an address never matches a name, even one
		// that resolves to it.
		return false
	}
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// unescape decodes %HH escapes (RFC 3261 19.1.4: an escaped character
// equals the character); a malformed escape stays as written.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// uriInfo is a URI taken apart once per Evaluate call.
type uriInfo struct {
	u   *sipmsg.URI
	err error
}

func (e *evaluator) uri(s string) *uriInfo {
	if i, ok := e.uris[s]; ok {
		return i
	}
	i := &uriInfo{}
	i.u, i.err = sipmsg.ParseURI(s)
	if e.uris == nil {
		e.uris = map[string]*uriInfo{}
	}
	e.uris[s] = i
	return i
}

// sameURI compares two URIs: sip and sips as RFC 3261 19.1.4 does, tel as
// RFC 3966 4 does (visual separators aside, RFC 3966 5.1.1), other schemes
// case-insensitively as written.
func (e *evaluator) sameURI(a, b string) bool {
	ia, ib := e.uri(a), e.uri(b)
	if ia.err != nil || ib.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	ua, ub := ia.u, ib.u
	if ua.Scheme != ub.Scheme {
		return false
	}
	switch ua.Scheme {
	case "tel":
		return sameTel(ua, ub)
	case "sip", "sips":
	default:
		return strings.EqualFold(ua.Opaque, ub.Opaque)
	}
	if unescape(ua.User) != unescape(ub.User) || unescape(ua.Password) != unescape(ub.Password) ||
		!sameHost(ua.Host, ub.Host) || (ua.Port == "") != (ub.Port == "") || !sameNumber(ua.Port, ub.Port) {
		return false
	}
	// RFC 3261 19.1.4: a uri-parameter in both must match; user, ttl,
	// method and maddr never match when only one URI has them; any other
	// parameter in only one URI is ignored.
	for _, p := range ua.Params {
		q, ok := paramOf(ub.Params, p.Name)
		if !ok {
			if isOneSided(p.Name) {
				return false
			}
			continue
		}
		if !strings.EqualFold(unescape(p.Value), unescape(q.Value)) {
			return false
		}
	}
	for _, q := range ub.Params {
		if _, ok := paramOf(ua.Params, q.Name); !ok && isOneSided(q.Name) {
			return false
		}
	}
	// Header components are never ignored: the same set in both.
	return sameHeaders(ua.Headers, ub.Headers)
}

func isOneSided(name string) bool {
	switch strings.ToLower(name) {
	case "user", "ttl", "method", "maddr":
		return true
	}
	return false
}

func paramOf(ps sipmsg.Params, name string) (sipmsg.Param, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return sipmsg.Param{}, false
}

func sameHeaders(a, b string) bool {
	split := func(s string) []string {
		var out []string
		for _, h := range strings.Split(s, "&") {
			if h != "" {
				name, val, _ := strings.Cut(h, "=")
				out = append(out, strings.ToLower(unescape(name))+"="+unescape(val))
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(split(a), split(b))
}

// sameTel compares tel URIs (RFC 3966 4): both global (a leading '+') or
// both local, the digits equal once the visual separators '-', '.', '(' and
// ')' are taken out (RFC 3966 5.1.1), and the same parameters by name in
// any order, case-insensitively.
func sameTel(a, b *sipmsg.URI) bool {
	if telDigits(a.User) != telDigits(b.User) || len(a.Params) != len(b.Params) {
		return false
	}
	for _, p := range a.Params {
		q, ok := paramOf(b.Params, p.Name)
		if !ok {
			return false
		}
		pv, qv := unescape(p.Value), unescape(q.Value)
		if strings.EqualFold(p.Name, "phone-context") {
			pv, qv = telDigits(pv), telDigits(qv)
		}
		if !strings.EqualFold(pv, qv) {
			return false
		}
	}
	return true
}

func telDigits(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		switch r {
		case '-', '.', '(', ')':
			return -1
		}
		return r
	}, unescape(s)))
}

// nameAddrHeaders hold a name-addr or addr-spec with header parameters.
var nameAddrHeaders = map[string]bool{
	"From": true, "To": true, "Contact": true, "Route": true, "Record-Route": true, "Path": true,
	"Service-Route": true, "P-Associated-URI": true, "P-Asserted-Identity": true,
	"P-Preferred-Identity": true, "Reply-To": true, "Refer-To": true, "Referred-By": true,
	"P-Called-Party-ID": true,
}

// paramHeaders hold a token (or quoted-string) and ;-parameters.
var paramHeaders = map[string]bool{
	"Security-Client": true, "Security-Server": true, "Security-Verify": true,
	"P-Access-Network-Info": true, "P-Charging-Vector": true, "P-Visited-Network-ID": true,
	"P-Charging-Function-Addresses": true, "Supported": true, "Require": true, "Proxy-Require": true,
	"Event": true, "Allow": true, "Content-Type": true, "Content-Encoding": true, "Unsupported": true,
}

// numericHeaders hold one decimal number.
var numericHeaders = map[string]bool{"Max-Forwards": true, "Content-Length": true, "Expires": true, "Min-Expires": true}

// unorderedHeaders are compared as sets of values: a list whose order
// carries no meaning (option tags, RFC 3261 20.37; the mechanisms of
// RFC 3329 2.2 carry their own preference q).
var unorderedHeaders = map[string]bool{
	"Security-Client": true, "Security-Server": true, "Security-Verify": true,
	"Supported": true, "Require": true, "Proxy-Require": true, "Allow": true,
}

// sameValue compares two whole values of a header as SIP defines the
// header's equality.
func (e *evaluator) sameValue(header, a, b string) bool {
	h := sipmsg.CanonicalName(header)
	switch {
	case h == "Call-ID":
		// RFC 3261 20.8: Call-IDs are case-sensitive, compared byte by byte.
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	case h == "CSeq":
		fa, fb := strings.Fields(a), strings.Fields(b)
		return len(fa) == 2 && len(fb) == 2 && sameNumber(fa[0], fb[0]) && fa[1] == fb[1]
	case h == "Via":
		return sameVia(a, b)
	case numericHeaders[h]:
		return sameNumber(a, b)
	case nameAddrHeaders[h]:
		return e.sameNameAddr(a, b)
	case paramHeaders[h]:
		return sameParamValue(a, b)
	case h == "Authorization" || h == "WWW-Authenticate" || h == "Proxy-Authorization" ||
		h == "Proxy-Authenticate" || h == "Authentication-Info":
		return sameDigest(a, b)
	}
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// sameNameAddr compares From, To, Contact and the like as RFC 3261 20.20
// and 20.39 compare From and To: the URIs match and the parameters both
// carry match; the display name, angle brackets and an extension parameter
// only one carries do not count. A tag (RFC 3261 19.3) counts when either
// carries one.
func (e *evaluator) sameNameAddr(a, b string) bool {
	na, errA := sipmsg.ParseNameAddr(a)
	nb, errB := sipmsg.ParseNameAddr(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	if !e.sameURI(na.URI.Raw, nb.URI.Raw) {
		return false
	}
	for _, p := range na.Params {
		q, ok := paramOf(nb.Params, p.Name)
		if !ok {
			if strings.EqualFold(p.Name, "tag") {
				return false
			}
			continue
		}
		if !sameText(field{text: p.Value, quoted: p.Quoted}, field{text: q.Value, quoted: q.Quoted}) {
			return false
		}
	}
	if _, ok := paramOf(nb.Params, "tag"); ok {
		if _, ok := paramOf(na.Params, "tag"); !ok {
			return false
		}
	}
	return true
}

// sameParamValue compares "token;a=b;c": the token, then the parameters as
// a set (RFC 3261 7.3.1: order does not matter, names are case-insensitive,
// values too unless quoted).
func sameParamValue(a, b string) bool {
	ha, pa := splitParamValue(a)
	hb, pb := splitParamValue(b)
	ta, qa := unquote(ha)
	tb, qb := unquote(hb)
	return sameText(field{text: ta, quoted: qa}, field{text: tb, quoted: qb}) && sameParams(pa, pb)
}

func splitParamValue(v string) (string, sipmsg.Params) {
	head, ps := sipmsg.SplitParams(v)
	if strings.Contains(head, "=") && !strings.Contains(head, "<") && !strings.HasPrefix(head, `"`) {
		_, ps = sipmsg.SplitParams(";" + v)
		head = ""
	}
	return head, ps
}

func sameParams(a, b sipmsg.Params) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		q, ok := paramOf(b, p.Name)
		if !ok || p.HasValue != q.HasValue || !sameText(field{text: p.Value, quoted: p.Quoted}, field{text: q.Value, quoted: q.Quoted}) {
			return false
		}
	}
	return true
}

// sameDigest compares credentials or challenges (RFC 2617 1.2, 3.2): the
// scheme case-insensitively, the auth-params as a set, quoted values
// exactly.
func sameDigest(a, b string) bool {
	da, errA := sipmsg.ParseDigest(a)
	db, errB := sipmsg.ParseDigest(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	return strings.EqualFold(da.Scheme, db.Scheme) && sameParams(da.Params, db.Params)
}

// viaAdded are the Via parameters a hop adds to a Via value it received
// (RFC 3261 18.2.1 received; RFC 3581 4 rport's value), which the response
// then carries back.
var viaAdded = map[string]bool{"received": true, "rport": true}

// sameVia compares a Via value of a request with the one a response (or a
// forwarded copy) carries: protocol and transport case-insensitively
// (RFC 3261 7.3.1), the sent-by by host and port, the branch and every
// other parameter both carry; received and rport may be added or filled in
// by the hop that received the request (RFC 3261 18.2.1, RFC 3581 4).
func sameVia(a, b string) bool {
	va, errA := sipmsg.ParseVia(a)
	vb, errB := sipmsg.ParseVia(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	if !strings.EqualFold(va.Protocol, vb.Protocol) || !strings.EqualFold(va.Transport, vb.Transport) ||
		!sameHost(va.Host, vb.Host) || (va.Port == "") != (vb.Port == "") || !sameNumber(va.Port, vb.Port) {
		return false
	}
	for _, pair := range [2][2]sipmsg.Params{{va.Params, vb.Params}, {vb.Params, va.Params}} {
		for _, p := range pair[0] {
			q, ok := paramOf(pair[1], p.Name)
			name := strings.ToLower(p.Name)
			switch {
			case viaAdded[name] && (!ok || !p.HasValue || !q.HasValue):
				// added by the receiving hop, or rport asked for and filled in
			case !ok:
				return false
			case !sameText(field{text: p.Value, quoted: p.Quoted}, field{text: q.Value, quoted: q.Quoted}):
				return false
			}
		}
	}
	return true
}
