// Package sipmsg gives read access to a captured SIP message from its raw
// bytes: the start line, the header lines in order with their line numbers,
// and helpers that take header values apart (parameters, Digest challenges
// and credentials, name-addr and URIs, Via).
//
// It is the harness's one SIP grammar: the check engine reads captured
// messages with it, the transport decides with it what parses as SIP, and the
// roles (UE, VCC Application, reference core) build, edit and write the
// messages they send with it (NewRequest, NewResponse, Set, PrependVia,
// PopVia, Bytes...).
//
// It keeps values exactly as they were on the wire (no re-encoding, no
// normalisation beyond unfolding continuation lines), accepts CRLF or bare LF
// line ends, and reports a message it cannot read with an error that says
// where and why. It never panics. It is not a SIP stack: it does not validate
// grammar beyond what it needs to find the fields, and it knows nothing of
// sockets or transactions (harness/transport does).
package sipmsg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Message is a parsed SIP message. Values are as sent.
type Message struct {
	Request    bool   // true for a request, false for a response
	StartLine  string // the first line as sent, without its line end
	Method     string // request only, e.g. "REGISTER"
	RequestURI string // request only
	Version    string // "SIP/2.0"
	StatusCode int    // response only
	Reason     string // response only, e.g. "Unauthorized"
	Headers    []Header
	Body       []byte
	// KeepLength makes Bytes write Content-Length as it stands instead of
	// the body's length (a deviation that sets it on purpose).
	KeepLength bool
}

// Header is one header line (continuation lines unfolded into it).
type Header struct {
	Name  string // as written, e.g. "v" or "VIA"
	Key   string // canonical full name, e.g. "Via"
	Value string // trimmed, folded lines joined by one space
	Line  int    // 1-based line number in the message (the start line is 1)
}

// Value is one element of a header's value list.
type Value struct {
	Text string
	Line int
}

var compact = map[string]string{
	"a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
	"e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact", "k": "Supported",
	"l": "Content-Length", "m": "Contact", "n": "Identity-Info", "o": "Event", "r": "Refer-To",
	"s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
}

// known maps a lower-case full name to its conventional spelling; exact
// holds the conventional spellings themselves, so that a name already
// written that way is found without lower-casing it.
var known, exact = func() (map[string]string, map[string]string) {
	m, x := map[string]string{}, map[string]string{}
	for _, n := range []string{
		"Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length",
		"Content-Type", "Content-Encoding", "Expires", "Authorization", "WWW-Authenticate",
		"Proxy-Authenticate", "Proxy-Authorization", "Authentication-Info", "Security-Client",
		"Security-Server", "Security-Verify", "Require", "Proxy-Require", "Supported", "Path",
		"Service-Route", "Route", "Record-Route", "Date", "P-Associated-URI", "P-Access-Network-Info",
		"P-Visited-Network-ID", "P-Charging-Vector", "P-Charging-Function-Addresses", "Allow",
		"User-Agent", "Server", "Subject", "Event", "Accept-Contact", "Reject-Contact",
		"Request-Disposition", "Identity", "Identity-Info", "Refer-To", "Referred-By",
		"Session-Expires", "Allow-Events", "Unsupported", "Retry-After", "Timestamp", "Warning",
		"P-Asserted-Identity", "P-Preferred-Identity", "Organization", "Accept", "Min-Expires",
	} {
		m[strings.ToLower(n)] = n
		x[n] = n
	}
	return m, x
}()

// notList names headers whose value is one item even when it holds commas.
var notList = map[string]bool{
	"WWW-Authenticate": true, "Authorization": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Authentication-Info": true, "Date": true, "Subject": true,
	"User-Agent": true, "Server": true, "Organization": true, "Call-ID": true, "CSeq": true,
	"Content-Length": true, "Content-Type": true, "Max-Forwards": true, "Expires": true,
	"Retry-After": true, "Timestamp": true, "Min-Expires": true,
}

// CanonicalName returns the full, conventionally spelled name of a header
// name given in any case or in compact form ("v" -> "Via", "call-id" ->
// "Call-ID"). Unknown names are returned as given.
func CanonicalName(name string) string {
	n := strings.TrimSpace(name)
	if c, ok := exact[n]; ok {
		return c
	}
	l := strings.ToLower(n)
	if c, ok := compact[l]; ok {
		return c
	}
	if c, ok := known[l]; ok {
		return c
	}
	return n
}

// IsList reports whether values of the header are split on commas.
func IsList(name string) bool { return !notList[CanonicalName(name)] }

// Parse reads one SIP message from raw. It accepts CRLF or LF line ends and
// a missing blank line at the end of the headers.
func Parse(raw []byte) (*Message, error) { return read(raw, true) }

// Loose reads any text as a message to edit (a deviation may have to edit
// bytes that are not SIP): the first line is the start line, whatever it
// holds (its fields are filled when it reads as a start line); a header line
// that Parse would refuse is kept as a line with no Name whose Value is the
// line as written, and Bytes writes it back so. It never fails.
func Loose(raw []byte) *Message {
	m, _ := read(raw, false)
	return m
}

// read is the one reader behind Parse (strict) and Loose.
func read(raw []byte, strict bool) (*Message, error) {
	if len(raw) == 0 && strict {
		return nil, fmt.Errorf("sipmsg: expected a SIP start line, saw an empty message")
	}
	head, body := raw, []byte(nil)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head, body = raw[:i], raw[i+4:]
	}
	if j := bytes.Index(head, []byte("\n\n")); j >= 0 {
		head, body = raw[:j], raw[j+2:]
	}
	if !strict && body == nil {
		head = bytes.TrimRight(head, "\r\n")
	}
	rest := string(head)
	next := func() string {
		l := rest
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			l, rest = rest[:j], rest[j+1:]
		} else {
			rest = ""
		}
		return strings.TrimSuffix(l, "\r")
	}
	n := strings.Count(rest, "\n") + 1
	first := next()
	m := &Message{Body: body, StartLine: first}
	if err := m.parseStart(first); err != nil {
		if strict {
			return nil, err
		}
		m.Request, m.Method, m.RequestURI, m.Version, m.StatusCode, m.Reason = false, "", "", "", 0, ""
	}
	m.Headers = make([]Header, 0, n-1)
	// A folded header's pieces are joined once, when the next header starts
	// (joining them one by one was quadratic in the number of lines).
	var fold []string
	unfold := func() {
		if fold != nil {
			m.Headers[len(m.Headers)-1].Value = strings.Join(fold, " ")
			fold = nil
		}
	}
	for i := 1; i < n; i++ {
		l := next()
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(m.Headers) == 0 {
				if strict {
					return nil, fmt.Errorf("sipmsg: line %d: expected a header line, saw a continuation line %s", i+1, show(l))
				}
				m.Headers = append(m.Headers, Header{Value: strings.TrimSpace(l), Line: i + 1})
				continue
			}
			if fold == nil {
				fold = []string{}
				if v := m.Headers[len(m.Headers)-1].Value; v != "" {
					fold = append(fold, v)
				}
			}
			if t := strings.TrimSpace(l); t != "" {
				fold = append(fold, t)
			}
			continue
		}
		unfold()
		c := strings.IndexByte(l, ':')
		if c < 0 {
			if strict {
				return nil, fmt.Errorf("sipmsg: line %d: expected a header \"Name: value\", saw %s", i+1, show(l))
			}
			m.Headers = append(m.Headers, Header{Value: l, Line: i + 1})
			continue
		}
		name := strings.TrimRight(l[:c], " \t")
		if name == "" || strings.ContainsAny(name, " \t") {
			if strict {
				return nil, fmt.Errorf("sipmsg: line %d: expected a header name before ':', saw %s", i+1, show(l))
			}
			m.Headers = append(m.Headers, Header{Value: l, Line: i + 1})
			continue
		}
		m.Headers = append(m.Headers, Header{Name: name, Key: CanonicalName(name), Value: strings.TrimSpace(l[c+1:]), Line: i + 1})
	}
	unfold()
	return m, nil
}

func (m *Message) parseStart(l string) error {
	if strings.HasPrefix(l, "SIP/") {
		f := strings.SplitN(l, " ", 3)
		if len(f) < 2 {
			return fmt.Errorf("sipmsg: line 1: expected a status line \"SIP/2.0 code reason\", saw %s", show(l))
		}
		code, err := strconv.Atoi(f[1])
		if err != nil || len(f[1]) != 3 {
			return fmt.Errorf("sipmsg: line 1: expected a 3-digit status code, saw %s", show(f[1]))
		}
		m.Version, m.StatusCode = f[0], code
		if len(f) == 3 {
			m.Reason = f[2]
		}
		return nil
	}
	f := strings.Split(l, " ")
	if len(f) != 3 || f[0] == "" || f[1] == "" || !strings.HasPrefix(f[2], "SIP/") {
		return fmt.Errorf("sipmsg: line 1: expected a request line \"METHOD Request-URI SIP/2.0\" or a status line, saw %s", show(l))
	}
	m.Request, m.Method, m.RequestURI, m.Version = true, f[0], f[1], f[2]
	return nil
}

func show(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}

// Lines returns the header lines of the named header (any case, compact or
// full form), in message order.
func (m *Message) Lines(name string) []Header {
	k := CanonicalName(name)
	var out []Header
	for i := range m.Headers {
		if m.Headers[i].Key == k || strings.EqualFold(m.Headers[i].Key, k) {
			out = append(out, m.Headers[i])
		}
	}
	return out
}

// Has reports whether the message has at least one line of the header.
func (m *Message) Has(name string) bool { return len(m.Lines(name)) > 0 }

// Values returns the header's values in order: for list headers, each line
// split on commas outside quotes and angle brackets; an empty line gives one
// empty value.
func (m *Message) Values(name string) []Value {
	k := CanonicalName(name)
	list := !notList[k]
	var out []Value
	for i := range m.Headers {
		h := &m.Headers[i]
		if h.Key != k && !strings.EqualFold(h.Key, k) {
			continue
		}
		out = AppendValues(out, h, list)
	}
	return out
}

// AppendValues appends the values of one header line to dst as Values gives
// them: split on commas when list (IsList of the header's name), else the
// whole value.
func AppendValues(dst []Value, h *Header, list bool) []Value {
	if !list {
		return append(dst, Value{Text: h.Value, Line: h.Line})
	}
	n := len(dst)
	eachItem(h.Value, func(p string) { dst = append(dst, Value{Text: p, Line: h.Line}) })
	if len(dst) == n {
		dst = append(dst, Value{Text: "", Line: h.Line})
	}
	return dst
}

// SplitList splits s on commas outside double quotes and angle brackets and
// trims each element; empty elements are dropped.
func SplitList(s string) []string {
	var out []string
	eachItem(s, func(p string) { out = append(out, p) })
	return out
}

// eachItem calls f with each element SplitList would return, in order.
func eachItem(s string, f func(string)) {
	isPlain := plain(s, ",")
	for {
		i := nextOutside(s, ",", isPlain)
		item := s
		if i >= 0 {
			item = s[:i]
		}
		if p := strings.TrimSpace(item); p != "" {
			f(p)
		}
		if i < 0 {
			return
		}
		s = s[i+1:]
	}
}
