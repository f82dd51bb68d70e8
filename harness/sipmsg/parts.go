package sipmsg

import (
	"fmt"
	"strconv"
	"strings"
)

// Param is one ";name=value" (or ";flag") parameter, or one Digest
// auth-param. Value is unquoted; Quoted says whether it was quoted.
type Param struct {
	Name     string
	Value    string
	HasValue bool
	Quoted   bool
}

// Params is an ordered parameter list.
type Params []Param

// Get returns the value of the first parameter named name (case-insensitive)
// and whether it is there.
func (ps Params) Get(name string) (string, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// indexOutside returns the index of the first byte in set outside double
// quotes and angle brackets, or -1.
func indexOutside(s, set string) int {
	if set == "" {
		return -1
	}
	if plain(s, set) {
		return strings.IndexByte(s, set[0]) // nothing quoted, nothing in brackets
	}
	return scanOutside(s, set)
}

// plain reports whether s quotes nothing and brackets nothing, so that the
// first byte of a one-byte set (no quote or bracket itself) in s is outside
// quotes and brackets; so is it in every tail of s.
func plain(s, set string) bool {
	return len(set) == 1 && set[0] != '"' && set[0] != '<' && set[0] != '>' &&
		strings.IndexByte(s, '"') < 0 && strings.IndexByte(s, '<') < 0
}

// nextOutside is indexOutside of s, a tail of a text that plain says is so
// when isPlain.
func nextOutside(s, set string, isPlain bool) int {
	if isPlain {
		return strings.IndexByte(s, set[0])
	}
	return indexOutside(s, set)
}

// scanOutside is indexOutside, byte by byte.
func scanOutside(s, set string) int {
	quoted, angle := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case !angle && (c == set[0] || len(set) > 1 && strings.IndexByte(set[1:], c) >= 0):
			return i
		}
	}
	return -1
}

// SplitParams splits "head;a=b;c" into "head" and its parameters. Semicolons
// inside quotes and angle brackets do not split.
func SplitParams(s string) (string, Params) { return SplitParamsAppend(nil, s) }

// SplitParamsAppend is SplitParams appending the parameters to dst, so that
// a reader taking many values apart reuses one slice's storage.
func SplitParamsAppend(dst Params, s string) (string, Params) {
	i := indexOutside(s, ";")
	if i < 0 {
		return strings.TrimSpace(s), dst
	}
	return strings.TrimSpace(s[:i]), appendParams(dst, s[i+1:], ";")
}

// AppendParams appends the parameters of "a=b;c" (no head: SplitParams of
// ";a=b;c") to dst.
func AppendParams(dst Params, s string) Params { return appendParams(dst, s, ";") }

func parseParams(s, sep string) Params { return appendParams(nil, s, sep) }

// appendParams appends the parameters of s, separated by a byte of sep, to ps.
func appendParams(ps Params, s, sep string) Params {
	isPlain := plain(s, sep)
	for s != "" {
		i := nextOutside(s, sep, isPlain)
		item := s
		if i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p := Param{Name: item}
		if eq := strings.IndexByte(item, '='); eq >= 0 {
			p.Name, p.HasValue = strings.TrimSpace(item[:eq]), true
			p.Value, p.Quoted = unquote(strings.TrimSpace(item[eq+1:]))
		}
		ps = append(ps, p)
	}
	return ps
}

// Unquote returns a quoted-string's content with its escapes resolved, or v
// as it is when it is not quoted.
func Unquote(v string) string {
	s, _ := unquote(strings.TrimSpace(v))
	return s
}

func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v, false
	}
	if strings.IndexByte(v[1:len(v)-1], '\\') < 0 {
		return v[1 : len(v)-1], true
	}
	var b strings.Builder
	b.Grow(len(v) - 2)
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), true
}

// Digest is a Digest challenge (WWW-Authenticate) or credentials
// (Authorization): the scheme and its comma-separated auth-params.
type Digest struct {
	Scheme string
	Params Params
}

// ParseDigest reads `Digest a="b", c=d`.
func ParseDigest(s string) (*Digest, error) {
	d := &Digest{}
	if err := ParseDigestInto(d, s); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseDigestInto is ParseDigest into d, reusing the storage of d.Params.
// On an error d holds nothing of use.
func ParseDigestInto(d *Digest, s string) error {
	s = strings.TrimSpace(s)
	sp := strings.IndexAny(s, " \t")
	if sp <= 0 {
		return fmt.Errorf("sipmsg: expected a scheme and parameters like `Digest realm=\"...\"`, saw %s", show(s))
	}
	*d = Digest{Scheme: s[:sp], Params: appendParams(d.Params[:0], s[sp+1:], ",")}
	for _, p := range d.Params {
		if !p.HasValue {
			return fmt.Errorf("sipmsg: expected name=value in %s parameters, saw %s", d.Scheme, show(p.Name))
		}
	}
	return nil
}

// URI is a SIP, SIPS or tel URI taken apart; other schemes keep only Scheme
// and Opaque.
type URI struct {
	Raw      string
	Scheme   string // lower case
	User     string // user part (sip) or the telephone-subscriber number (tel)
	Password string
	Host     string // as written; an IPv6 reference keeps its brackets
	Port     string // as written, "" when absent
	Params   Params
	Headers  string // after '?', as written
	Opaque   string // everything after "scheme:" for other schemes
}

// HostPort is Host, or Host:Port when a port is there.
func (u *URI) HostPort() string {
	if u.Port == "" {
		return u.Host
	}
	return u.Host + ":" + u.Port
}

// ParseURI reads a sip:, sips: or tel: URI (others: scheme and opaque part).
func ParseURI(s string) (*URI, error) {
	u := &URI{}
	if err := ParseURIInto(u, s); err != nil {
		return nil, err
	}
	return u, nil
}

// ParseURIInto is ParseURI into u, reusing the storage of u.Params. On an
// error u holds nothing of use.
func ParseURIInto(u *URI, s string) error {
	s = strings.TrimSpace(s)
	c := strings.IndexByte(s, ':')
	if c <= 0 {
		return fmt.Errorf("sipmsg: expected a URI \"scheme:...\", saw %s", show(s))
	}
	*u = URI{Raw: s, Scheme: strings.ToLower(s[:c]), Params: u.Params[:0]}
	rest := s[c+1:]
	switch u.Scheme {
	case "tel":
		u.User, u.Params = SplitParamsAppend(u.Params, rest)
		if u.User == "" {
			return fmt.Errorf("sipmsg: expected a telephone number after \"tel:\", saw %s", show(s))
		}
		return nil
	case "sip", "sips":
	default:
		u.Opaque = rest
		return nil
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest, u.Headers = rest[:q], rest[q+1:]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		u.User, rest = rest[:at], rest[at+1:]
		if pw := strings.IndexByte(u.User, ':'); pw >= 0 {
			u.User, u.Password = u.User[:pw], u.User[pw+1:]
		}
	}
	hp, params := rest, ""
	if sc := strings.IndexByte(rest, ';'); sc >= 0 {
		hp, params = rest[:sc], rest[sc+1:]
	}
	host, port, err := splitHostPort(hp)
	if err != nil {
		return fmt.Errorf("sipmsg: in URI %s: %w", show(s), err)
	}
	u.Host, u.Port, u.Params = host, port, appendParams(u.Params, params, ";")
	return nil
}

func splitHostPort(hp string) (host, port string, err error) {
	hp = strings.TrimSpace(hp)
	if hp == "" {
		return "", "", fmt.Errorf("expected a host, saw nothing")
	}
	if hp[0] == '[' {
		e := strings.IndexByte(hp, ']')
		if e < 0 {
			return "", "", fmt.Errorf("expected ']' closing the IPv6 reference, saw %s", show(hp))
		}
		rest := hp[e+1:]
		host = hp[:e+1]
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' {
			return "", "", fmt.Errorf("expected ':port' after %s, saw %s", host, show(rest))
		}
		port = rest[1:]
	} else if c := strings.LastIndexByte(hp, ':'); c >= 0 {
		host, port = hp[:c], hp[c+1:]
	} else {
		return hp, "", nil
	}
	if host == "" {
		return "", "", fmt.Errorf("expected a host before the port, saw %s", show(hp))
	}
	if n, e := strconv.Atoi(port); e != nil || n < 0 || n > 65535 {
		return "", "", fmt.Errorf("expected a port number 0-65535, saw %s", show(port))
	}
	return host, port, nil
}

// NameAddr is a name-addr (`"Display" <uri>;params`) or an addr-spec
// (`uri;params`, where the parameters belong to the header).
type NameAddr struct {
	Display   string
	URI       *URI
	Bracketed bool
	Params    Params
}

// ParseNameAddr reads one From/To/Contact/Path/... value.
func ParseNameAddr(s string) (*NameAddr, error) {
	na := &NameAddr{}
	if err := ParseNameAddrInto(na, s); err != nil {
		return nil, err
	}
	return na, nil
}

// ParseNameAddrInto is ParseNameAddr into na, reusing na.URI (when set) and
// the storage of the parameters. On an error na holds nothing of use.
func ParseNameAddrInto(na *NameAddr, s string) error {
	s = strings.TrimSpace(s)
	u := na.URI
	if u == nil {
		u = &URI{}
	}
	*na = NameAddr{Params: na.Params[:0]}
	if strings.HasPrefix(s, "\"") || strings.Contains(s, "<") {
		lt := strings.IndexByte(s, '<')
		if strings.HasPrefix(s, "\"") {
			end := 1
			for ; end < len(s); end++ {
				if s[end] == '\\' {
					end++
				} else if s[end] == '"' {
					break
				}
			}
			if end >= len(s) {
				return fmt.Errorf("sipmsg: expected a closing '\"' in display name, saw %s", show(s))
			}
			na.Display, _ = unquote(s[:end+1])
			lt = strings.IndexByte(s[end+1:], '<')
			if lt >= 0 {
				lt += end + 1
			}
		} else if lt >= 0 {
			na.Display = strings.TrimSpace(s[:lt])
		}
		if lt < 0 {
			return fmt.Errorf("sipmsg: expected '<' before the URI, saw %s", show(s))
		}
		gt := strings.IndexByte(s[lt:], '>')
		if gt < 0 {
			return fmt.Errorf("sipmsg: expected '>' closing the URI, saw %s", show(s))
		}
		if err := ParseURIInto(u, s[lt+1:lt+gt]); err != nil {
			return err
		}
		na.URI, na.Bracketed = u, true
		rest := strings.TrimSpace(s[lt+gt+1:])
		if rest != "" {
			if rest[0] != ';' {
				return fmt.Errorf("sipmsg: expected ';' or end after '>', saw %s", show(rest))
			}
			na.Params = appendParams(na.Params, rest[1:], ";")
		}
		return nil
	}
	uri, params := s, ""
	if sc := strings.IndexByte(s, ';'); sc >= 0 {
		uri, params = s[:sc], s[sc+1:]
	}
	if err := ParseURIInto(u, uri); err != nil {
		return err
	}
	na.URI, na.Params = u, appendParams(na.Params, params, ";")
	return nil
}

// Via is one Via value taken apart.
type Via struct {
	Protocol  string // e.g. "SIP/2.0"
	Transport string // e.g. "UDP"
	Host      string // as written; IPv6 keeps its brackets
	Port      string // "" when absent
	Params    Params
}

// SentBy is host or host:port as written.
func (v *Via) SentBy() string {
	if v.Port == "" {
		return v.Host
	}
	return v.Host + ":" + v.Port
}

// ParseVia reads "SIP/2.0/UDP host:port;params".
func ParseVia(s string) (*Via, error) {
	v := &Via{}
	if err := ParseViaInto(v, s); err != nil {
		return nil, err
	}
	return v, nil
}

// ParseViaInto is ParseVia into v, reusing the storage of v.Params. On an
// error v holds nothing of use.
func ParseViaInto(v *Via, s string) error {
	head, ps := SplitParamsAppend(v.Params[:0], s)
	j := head
	if !spacedOnce(head) {
		// Collapse spaces around the slashes of sent-protocol.
		j = strings.Join(strings.Fields(head), " ")
		j = strings.ReplaceAll(strings.ReplaceAll(j, " /", "/"), "/ ", "/")
	}
	sp := strings.IndexByte(j, ' ')
	if sp < 0 {
		return fmt.Errorf("sipmsg: expected a Via \"SIP/2.0/transport sent-by\", saw %s", show(s))
	}
	proto := j[:sp]
	a := strings.IndexByte(proto, '/')
	b := a + 1 + strings.IndexByte(proto[a+1:], '/')
	if a <= 0 || b <= a+1 || b == len(proto)-1 || strings.IndexByte(proto[b+1:], '/') >= 0 {
		return fmt.Errorf("sipmsg: expected a Via sent-protocol \"SIP/2.0/transport\", saw %s", show(proto))
	}
	host, port, err := splitHostPort(j[sp+1:])
	if err != nil {
		return fmt.Errorf("sipmsg: in Via sent-by: %w", err)
	}
	*v = Via{Protocol: proto[:b], Transport: proto[b+1:], Host: host, Port: port, Params: ps}
	return nil
}

// spacedOnce reports whether s is already as ParseVia collapses it: ASCII,
// fields separated by one space, no space beside a slash.
func spacedOnce(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80 || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' ' || s[i-1] == '/' || s[i+1] == '/'):
			return false
		}
	}
	return true
}
