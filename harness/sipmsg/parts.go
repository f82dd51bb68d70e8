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
		case !angle && strings.IndexByte(set, c) >= 0:
			return i
		}
	}
	return -1
}

// SplitParams splits "head;a=b;c" into "head" and its parameters. Semicolons
// inside quotes and angle brackets do not split.
func SplitParams(s string) (string, Params) {
	i := indexOutside(s, ";")
	if i < 0 {
		return strings.TrimSpace(s), nil
	}
	return strings.TrimSpace(s[:i]), parseParams(s[i+1:], ";")
}

func parseParams(s, sep string) Params {
	var ps Params
	for s != "" {
		i := indexOutside(s, sep)
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
	s = strings.TrimSpace(s)
	sp := strings.IndexAny(s, " \t")
	if sp <= 0 {
		return nil, fmt.Errorf("sipmsg: expected a scheme and parameters like `Digest realm=\"...\"`, saw %s", show(s))
	}
	d := &Digest{Scheme: s[:sp], Params: parseParams(s[sp+1:], ",")}
	for _, p := range d.Params {
		if !p.HasValue {
			return nil, fmt.Errorf("sipmsg: expected name=value in %s parameters, saw %s", d.Scheme, show(p.Name))
		}
	}
	return d, nil
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
	s = strings.TrimSpace(s)
	c := strings.IndexByte(s, ':')
	if c <= 0 {
		return nil, fmt.Errorf("sipmsg: expected a URI \"scheme:...\", saw %s", show(s))
	}
	u := &URI{Raw: s, Scheme: strings.ToLower(s[:c])}
	rest := s[c+1:]
	switch u.Scheme {
	case "tel":
		u.User, u.Params = SplitParams(rest)
		if u.User == "" {
			return nil, fmt.Errorf("sipmsg: expected a telephone number after \"tel:\", saw %s", show(s))
		}
		return u, nil
	case "sip", "sips":
	default:
		u.Opaque = rest
		return u, nil
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
		return nil, fmt.Errorf("sipmsg: in URI %s: %w", show(s), err)
	}
	u.Host, u.Port, u.Params = host, port, parseParams(params, ";")
	return u, nil
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
	s = strings.TrimSpace(s)
	na := &NameAddr{}
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
				return nil, fmt.Errorf("sipmsg: expected a closing '\"' in display name, saw %s", show(s))
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
			return nil, fmt.Errorf("sipmsg: expected '<' before the URI, saw %s", show(s))
		}
		gt := strings.IndexByte(s[lt:], '>')
		if gt < 0 {
			return nil, fmt.Errorf("sipmsg: expected '>' closing the URI, saw %s", show(s))
		}
		u, err := ParseURI(s[lt+1 : lt+gt])
		if err != nil {
			return nil, err
		}
		na.URI, na.Bracketed = u, true
		rest := strings.TrimSpace(s[lt+gt+1:])
		if rest != "" {
			if rest[0] != ';' {
				return nil, fmt.Errorf("sipmsg: expected ';' or end after '>', saw %s", show(rest))
			}
			na.Params = parseParams(rest[1:], ";")
		}
		return na, nil
	}
	uri, params := s, ""
	if sc := strings.IndexByte(s, ';'); sc >= 0 {
		uri, params = s[:sc], s[sc+1:]
	}
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	na.URI, na.Params = u, parseParams(params, ";")
	return na, nil
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
	head, ps := SplitParams(s)
	f := strings.Fields(head)
	// Collapse spaces around the slashes of sent-protocol.
	j := strings.Join(f, " ")
	j = strings.ReplaceAll(strings.ReplaceAll(j, " /", "/"), "/ ", "/")
	sp := strings.IndexByte(j, ' ')
	if sp < 0 {
		return nil, fmt.Errorf("sipmsg: expected a Via \"SIP/2.0/transport sent-by\", saw %s", show(s))
	}
	proto := strings.Split(j[:sp], "/")
	if len(proto) != 3 || proto[0] == "" || proto[1] == "" || proto[2] == "" {
		return nil, fmt.Errorf("sipmsg: expected a Via sent-protocol \"SIP/2.0/transport\", saw %s", show(j[:sp]))
	}
	host, port, err := splitHostPort(j[sp+1:])
	if err != nil {
		return nil, fmt.Errorf("sipmsg: in Via sent-by: %w", err)
	}
	return &Via{Protocol: proto[0] + "/" + proto[1], Transport: proto[2], Host: host, Port: port, Params: ps}, nil
}
