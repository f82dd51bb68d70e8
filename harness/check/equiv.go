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
//
// The comparison a rule makes is chosen when it compiles (eqFor), from its
// header and part; the values compared are taken apart once per evaluation
// (parses), the lab's once per run (Plan).

// eqKind is how two fields of a header's part compare.
type eqKind uint8

const (
	eqText       eqKind = iota // a token, or a quoted-string (sameText)
	eqURI                      // RFC 3261 19.1.4, RFC 3966 4
	eqHost                     // a host: names case-insensitively, addresses by value
	eqHostPort                 // host and port
	eqUser                     // userinfo: case-sensitively, escapes decoded
	eqNumber                   // decimal numbers by value
	eqExact                    // as written (methods, display names)
	eqCallID                   // RFC 3261 20.8
	eqCSeq                     // number by value, method exactly
	eqVia                      // sameVia
	eqNameAddr                 // From, To, Contact and the like (RFC 3261 20.20)
	eqParamValue               // token;params, the parameters as a set
	eqDigest                   // credentials and challenges (RFC 2617 1.2)
	eqWords                    // any other value: white space folded
)

// eqFor chooses the comparison of a part of a header (canonical name).
func eqFor(header, part string) eqKind {
	switch {
	case part == "uri":
		return eqURI
	case part == "uri.host" || part == "via.host":
		return eqHost
	case part == "uri.hostport" || part == "via.sent-by":
		return eqHostPort
	case part == "uri.user":
		return eqUser
	case part == "uri.port" || part == "via.port" || part == "cseq.seq" || part == "expiry":
		return eqNumber
	case part == "cseq.method" || part == "display":
		return eqExact
	case part != "" && part != "value":
		// tokens (scheme, transport, mechanism, parameter values, aka.*):
		// case-insensitive unless quoted (RFC 3261 7.3.1; RFC 2617 1.2 for
		// the auth-scheme).
		return eqText
	}
	switch {
	case header == "Call-ID":
		return eqCallID
	case header == "CSeq":
		return eqCSeq
	case header == "Via":
		return eqVia
	case numericHeaders[header]:
		return eqNumber
	case nameAddrHeaders[header]:
		return eqNameAddr
	case paramHeaders[header]:
		return eqParamValue
	case header == "Authorization" || header == "WWW-Authenticate" || header == "Proxy-Authorization" ||
		header == "Proxy-Authenticate" || header == "Authentication-Info":
		return eqDigest
	}
	return eqWords
}

// equivalent compares two fields as eq says.
func (e *evaluator) equivalent(eq eqKind, a, b field) bool {
	switch eq {
	case eqURI:
		return sameURIEntry(formOf(e, uriForm, a), formOf(e, uriForm, b), a.text, b.text)
	case eqHost:
		return sameHost(a.text, b.text)
	case eqHostPort:
		ha, pa := cutPort(a.text)
		hb, pb := cutPort(b.text)
		return sameHost(ha, hb) && sameNumber(pa, pb)
	case eqUser:
		// RFC 3261 19.1.4: userinfo compares case-sensitively, an escaped
		// character as the character.
		return unescape(a.text) == unescape(b.text)
	case eqNumber:
		return sameNumber(a.text, b.text)
	case eqExact:
		// RFC 3261 7.1, 20.16: methods are case-sensitive; a display name
		// is text for people, compared as written.
		return a.text == b.text
	case eqCallID:
		// RFC 3261 20.8: Call-IDs are case-sensitive, compared byte by byte.
		return strings.TrimSpace(a.text) == strings.TrimSpace(b.text)
	case eqCSeq:
		na, ma, okA := twoFields(a.text)
		nb, mb, okB := twoFields(b.text)
		return okA && okB && sameNumber(na, nb) && ma == mb
	case eqVia:
		return sameVia(formOf(e, viaForm, a), formOf(e, viaForm, b), a.text, b.text)
	case eqNameAddr:
		return sameNameAddr(formOf(e, nameAddrForm, a), formOf(e, nameAddrForm, b), a.text, b.text)
	case eqParamValue:
		return sameParamValue(formOf(e, paramValueForm, a), formOf(e, paramValueForm, b))
	case eqDigest:
		return sameDigest(formOf(e, digestForm, a), formOf(e, digestForm, b), a.text, b.text)
	case eqWords:
		return sameWords(a.text, b.text)
	}
	return sameText(a, b)
}

// sameText compares tokens case-insensitively and quoted-strings exactly
// (RFC 3261 7.3.1).
func sameText(a, b field) bool {
	if a.text == b.text {
		return true
	}
	if a.quoted || b.quoted {
		return a.text == b.text
	}
	return strings.EqualFold(a.text, b.text)
}

// sameWords compares texts with their white space folded: the same words
// (strings.Fields) in the same order.
func sameWords(a, b string) bool {
	if a == b {
		return true
	}
	if !isASCII(a) || !isASCII(b) {
		return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
	}
	i, j := 0, 0
	for {
		for i < len(a) && asciiSpace(a[i]) {
			i++
		}
		for j < len(b) && asciiSpace(b[j]) {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		for i < len(a) && j < len(b) && !asciiSpace(a[i]) && !asciiSpace(b[j]) {
			if a[i] != b[j] {
				return false
			}
			i, j = i+1, j+1
		}
		if (i < len(a) && !asciiSpace(a[i])) || (j < len(b) && !asciiSpace(b[j])) {
			return false // one word is longer
		}
	}
}

// sameNumber compares decimal numbers by value ("0068" is 68); text that is
// not a number compares as written.
func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	x, okA := uintOf(a)
	y, okB := uintOf(b)
	if !okA || !okB {
		return a == b
	}
	return x == y
}

// uintOf reads a decimal number as strconv.ParseUint(s, 10, 64) does,
// without the error it allocates for text that is not one.
func uintOf(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		if len(s) > 20 && strings.TrimLeft(s, "0123456789") == "" {
			n, err := strconv.ParseUint(s, 10, 64) // leading zeros
			return n, err == nil
		}
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false // beyond 64 bits
		}
		n = n*10 + d
	}
	return n, true
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
	if a == b {
		return true
	}
	ia, okA := addrOf(strings.Trim(strings.TrimSpace(a), "[]"))
	ib, okB := addrOf(strings.Trim(strings.TrimSpace(b), "[]"))
	if okA && okB {
		return ia.Unmap() == ib.Unmap()
	}
	if okA || okB {
		// RFC 3261 19.1.4: an address never matches a name, even one
		// that resolves to it.
		return false
	}
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// addrOf is netip.ParseAddr, answering a host name without the error it
// allocates: text with no ':' is an IPv4 address only when it holds
// nothing but digits and dots.
func addrOf(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, ':') < 0 {
		for i := 0; i < len(s); i++ {
			if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
				return netip.Addr{}, false
			}
		}
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
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

// sameURI compares two URIs: sip and sips as RFC 3261 19.1.4 does, tel as
// RFC 3966 4 does (visual separators aside, RFC 3966 5.1.1), other schemes
// case-insensitively as written.
func (e *evaluator) sameURI(a, b string) bool {
	return sameURIEntry(lookup(e, uriForm, a), lookup(e, uriForm, b), a, b)
}

// sameURIEntry is sameURI of a and b taken apart (ia, ib).
func sameURIEntry(ia, ib *entry[uriRef], a, b string) bool {
	if ia.err != nil || ib.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	return sameParsedURI(ia.v.u, ib.v.u)
}

func sameParsedURI(ua, ub *sipmsg.URI) bool {
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
	return (ua.Headers == "" && ub.Headers == "") || sameHeaders(ua.Headers, ub.Headers)
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
	if !sameTelDigits(a.User, b.User) || len(a.Params) != len(b.Params) {
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

// sameTelDigits is telDigits(a) == telDigits(b), without building them
// for ASCII numbers without escapes.
func sameTelDigits(a, b string) bool {
	if !isASCII(a) || !isASCII(b) || strings.IndexByte(a, '%') >= 0 || strings.IndexByte(b, '%') >= 0 {
		return telDigits(a) == telDigits(b)
	}
	i, j := 0, 0
	for {
		for i < len(a) && telSeparator(a[i]) {
			i++
		}
		for j < len(b) && telSeparator(b[j]) {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if lower(a[i]) != lower(b[j]) {
			return false
		}
		i, j = i+1, j+1
	}
}

func telSeparator(c byte) bool { return c == '-' || c == '.' || c == '(' || c == ')' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
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

// sameNameAddr compares From, To, Contact and the like as RFC 3261 20.20
// and 20.39 compare From and To: the URIs match and the parameters both
// carry match; the display name, angle brackets and an extension parameter
// only one carries do not count. A tag (RFC 3261 19.3) counts when either
// carries one.
func sameNameAddr(xa, xb *entry[sipmsg.NameAddr], a, b string) bool {
	if xa.err != nil || xb.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	na, nb := &xa.v, &xb.v
	if !sameParsedURI(na.URI, nb.URI) {
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
func sameParamValue(pa, pb *entry[paramValue]) bool {
	ta, qa := unquote(pa.v.head)
	tb, qb := unquote(pb.v.head)
	return sameText(field{text: ta, quoted: qa}, field{text: tb, quoted: qb}) && sameParams(pa.v.params, pb.v.params)
}

// paramValue is a value taken apart as "token;params", or as parameters
// alone when the token holds a '=' (P-Charging-Vector).
type paramValue struct {
	head   string
	params sipmsg.Params
}

func splitParamValue(x *paramValue, v string) {
	x.head, x.params = sipmsg.SplitParamsAppend(x.params[:0], v)
	if strings.Contains(x.head, "=") && !strings.Contains(x.head, "<") && !strings.HasPrefix(x.head, `"`) {
		x.head, x.params = "", sipmsg.AppendParams(x.params[:0], v)
	}
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
func sameDigest(da, db *entry[sipmsg.Digest], a, b string) bool {
	if da.err != nil || db.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	return strings.EqualFold(da.v.Scheme, db.v.Scheme) && sameParams(da.v.Params, db.v.Params)
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
func sameVia(xa, xb *entry[sipmsg.Via], a, b string) bool {
	if xa.err != nil || xb.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	va, vb := &xa.v, &xb.v
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
