package refcore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// hdr is one header field value. Via, and any header whose values were
// comma-joined on one line, are kept as one hdr per value only for Via.
type hdr struct {
	name  string
	value string
}

// message is the core's own editable view of a SIP message: start line,
// header fields in order, body. It keeps the text the peer sent (names,
// order, values) so that a forwarded message changes only where the core
// changes it.
type message struct {
	start  string
	req    bool
	method string // request method
	ruri   string // request-URI
	status int    // response status
	hdrs   []hdr
	body   []byte
}

var compactNames = map[string]string{
	"i": "Call-ID", "m": "Contact", "l": "Content-Length", "c": "Content-Type",
	"f": "From", "k": "Supported", "t": "To", "v": "Via", "e": "Content-Encoding", "s": "Subject",
}

// parseMessage validates raw with sipgo's parser and splits it for editing.
func parseMessage(raw []byte) (*message, error) {
	pm, err := sip.ParseMessage(raw)
	if err != nil {
		return nil, fmt.Errorf("expected a SIP message, got %d bytes that do not parse: %v", len(raw), err)
	}
	m := &message{}
	head, body := raw, []byte(nil)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head, body = raw[:i], raw[i+4:]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head, body = raw[:i], raw[i+2:]
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	m.start = strings.TrimSpace(lines[0])
	switch r := pm.(type) {
	case *sip.Request:
		m.req, m.method, m.ruri = true, string(r.Method), r.Recipient.String()
		if f := strings.Fields(m.start); len(f) == 3 {
			m.ruri = f[1]
		}
	case *sip.Response:
		m.status = r.StatusCode
	}
	var joined []hdr
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(joined) > 0 {
			joined[len(joined)-1].value += " " + strings.TrimSpace(l)
			continue
		}
		i := strings.IndexByte(l, ':')
		if i <= 0 {
			continue
		}
		name := strings.TrimSpace(l[:i])
		if full, ok := compactNames[strings.ToLower(name)]; ok {
			name = full
		}
		joined = append(joined, hdr{name, strings.TrimSpace(l[i+1:])})
	}
	for _, h := range joined {
		if strings.EqualFold(h.name, "Via") {
			for _, v := range splitComma(h.value) {
				m.hdrs = append(m.hdrs, hdr{"Via", v})
			}
			continue
		}
		m.hdrs = append(m.hdrs, h)
	}
	// The body is what Content-Length says (a datagram may carry trailing bytes).
	if cl := m.get("Content-Length"); cl != "" {
		if n, err := strconv.Atoi(cl); err == nil && n >= 0 && n <= len(body) {
			body = body[:n]
		}
	}
	m.body = append([]byte(nil), body...)
	return m, nil
}

// splitComma splits a header value at commas outside quotes and <>.
func splitComma(s string) []string {
	var out []string
	inQ, inA := false, false
	last := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQ:
			i++
		case c == '"':
			inQ = !inQ
		case c == '<' && !inQ:
			inA = true
		case c == '>' && !inQ:
			inA = false
		case c == ',' && !inQ && !inA:
			out = append(out, strings.TrimSpace(s[last:i]))
			last = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[last:]))
}

func (m *message) get(name string) string {
	for _, h := range m.hdrs {
		if strings.EqualFold(h.name, name) {
			return h.value
		}
	}
	return ""
}

func (m *message) has(name string) bool {
	for _, h := range m.hdrs {
		if strings.EqualFold(h.name, name) {
			return true
		}
	}
	return false
}

func (m *message) all(name string) []string {
	var out []string
	for _, h := range m.hdrs {
		if strings.EqualFold(h.name, name) {
			out = append(out, h.value)
		}
	}
	return out
}

func (m *message) del(name string) {
	kept := m.hdrs[:0]
	for _, h := range m.hdrs {
		if !strings.EqualFold(h.name, name) {
			kept = append(kept, h)
		}
	}
	m.hdrs = kept
}

// set replaces the first name header's value (dropping the others), or
// inserts it before Content-Length (or at the end).
func (m *message) set(name, value string) {
	for i, h := range m.hdrs {
		if strings.EqualFold(h.name, name) {
			m.hdrs[i].value = value
			rest := m.hdrs[:i+1]
			for _, o := range m.hdrs[i+1:] {
				if !strings.EqualFold(o.name, name) {
					rest = append(rest, o)
				}
			}
			m.hdrs = rest
			return
		}
	}
	m.insertBefore("Content-Length", name, value)
}

// insertBefore inserts name: value before the first header called before
// (at the end when there is none).
func (m *message) insertBefore(before, name, value string) {
	for i, h := range m.hdrs {
		if strings.EqualFold(h.name, before) {
			m.hdrs = append(m.hdrs[:i], append([]hdr{{name, value}}, m.hdrs[i:]...)...)
			return
		}
	}
	m.hdrs = append(m.hdrs, hdr{name, value})
}

// insertAfter inserts name: value after the last header called after (at the
// end when there is none).
func (m *message) insertAfter(after, name, value string) {
	for i := len(m.hdrs) - 1; i >= 0; i-- {
		if strings.EqualFold(m.hdrs[i].name, after) {
			m.hdrs = append(m.hdrs[:i+1], append([]hdr{{name, value}}, m.hdrs[i+1:]...)...)
			return
		}
	}
	m.hdrs = append(m.hdrs, hdr{name, value})
}

// prependVia puts v on top of the Via list.
func (m *message) prependVia(v string) {
	for i, h := range m.hdrs {
		if strings.EqualFold(h.name, "Via") {
			m.hdrs = append(m.hdrs[:i], append([]hdr{{"Via", v}}, m.hdrs[i:]...)...)
			return
		}
	}
	m.hdrs = append([]hdr{{"Via", v}}, m.hdrs...)
}

// popVia removes and returns the top Via.
func (m *message) popVia() string {
	for i, h := range m.hdrs {
		if strings.EqualFold(h.name, "Via") {
			m.hdrs = append(m.hdrs[:i], m.hdrs[i+1:]...)
			return h.value
		}
	}
	return ""
}

// bytes renders the message; a Content-Length field gets the body length.
func (m *message) bytes() []byte {
	var b bytes.Buffer
	b.WriteString(m.start)
	b.WriteString("\r\n")
	for _, h := range m.hdrs {
		v := h.value
		if strings.EqualFold(h.name, "Content-Length") {
			v = strconv.Itoa(len(m.body))
		}
		b.WriteString(h.name)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.body)
	return b.Bytes()
}

// clone returns a deep copy.
func (m *message) clone() *message {
	c := *m
	c.hdrs = append([]hdr(nil), m.hdrs...)
	c.body = append([]byte(nil), m.body...)
	return &c
}

// params returns the ;-parameters of a header value (after the <...> address
// when there is one), names lower-cased, values unquoted.
func params(v string) map[string]string {
	out := map[string]string{}
	if j := strings.LastIndexByte(v, '>'); j >= 0 && strings.Contains(v[:j], "<") {
		v = v[j+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i:]
	} else {
		return out
	}
	for _, p := range strings.Split(v, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, val, _ := strings.Cut(p, "=")
		out[strings.ToLower(strings.TrimSpace(name))] = unquote(strings.TrimSpace(val))
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		s = strings.ReplaceAll(s, `\"`, `"`)
		s = strings.ReplaceAll(s, `\\`, `\`)
	}
	return s
}

// digestParams parses `Digest a=b, c="d"` into lower-case names and
// unquoted values. ok is false when the scheme is not Digest.
func digestParams(v string) (map[string]string, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, false
	}
	out := map[string]string{}
	for _, p := range splitComma(rest) {
		name, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(name))] = unquote(strings.TrimSpace(val))
	}
	return out, true
}

// dropDigestParams removes the named parameters from a Digest value.
func dropDigestParams(v string, names ...string) string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	var kept []string
	for _, p := range splitComma(rest) {
		n, _, _ := strings.Cut(p, "=")
		drop := false
		for _, d := range names {
			drop = drop || strings.EqualFold(strings.TrimSpace(n), d)
		}
		if !drop && p != "" {
			kept = append(kept, p)
		}
	}
	return scheme + " " + strings.Join(kept, ", ")
}

// via is a parsed Via value.
type via struct {
	transport string // UDP, TCP
	host      string // without brackets
	port      int    // 0 = absent
	params    map[string]string
}

func parseVia(v string) (via, bool) {
	proto, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return via{}, false
	}
	parts := strings.Split(proto, "/")
	if len(parts) != 3 {
		return via{}, false
	}
	out := via{transport: strings.ToUpper(parts[2]), params: params(rest)}
	sentBy := strings.TrimSpace(rest)
	if i := strings.IndexByte(sentBy, ';'); i >= 0 {
		sentBy = strings.TrimSpace(sentBy[:i])
	}
	if strings.HasPrefix(sentBy, "[") {
		j := strings.IndexByte(sentBy, ']')
		if j < 0 {
			return via{}, false
		}
		out.host = sentBy[1:j]
		sentBy = sentBy[j+1:]
		if strings.HasPrefix(sentBy, ":") {
			p, err := strconv.Atoi(sentBy[1:])
			if err != nil || p <= 0 || p > 65535 {
				return via{}, false
			}
			out.port = p
		}
		return out, out.host != ""
	}
	host, port, hasPort := strings.Cut(sentBy, ":")
	out.host = host
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return via{}, false
		}
		out.port = p
	}
	return out, out.host != ""
}

// addrOf returns the IP of a Via host when it is an IP literal.
func (v via) addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(v.host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// uriOf returns the URI inside <...>, or the value up to the first ';'.
func uriOf(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[:i]
	}
	return v
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newBranch() string { return "z9hG4bK" + randHex(8) }

// cseqMethod returns the method of a CSeq value, and its number.
func cseqOf(v string) (int, string, bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, "", false
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0, "", false
	}
	return n, f[1], true
}
