package sipmsg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// A Message is also the model a role edits and sends: a start line, header
// lines in order (a line keeps the name as written and its value; a comma
// list on one line stays one line), a body. A message read by Parse keeps the
// text the peer sent, so that a forwarded message changes only where the
// forwarder changes it. Edits keep Line numbers of the lines they do not
// touch; new lines have Line 0.

// NewRequest returns a request "METHOD uri SIP/2.0" with no header lines.
func NewRequest(method, uri string) *Message {
	return &Message{Request: true, Method: method, RequestURI: uri, Version: "SIP/2.0",
		StartLine: method + " " + uri + " SIP/2.0"}
}

// NewResponse returns the response code/reason to req as RFC 3261 8.2.6.2
// builds it: req's Via lines, From, To (with ;tag=tag added when To has no
// tag and code is above 100), Call-ID and CSeq, as received, then
// Content-Length: 0. Headers a role adds go between them with InsertBefore
// and InsertAfter.
func NewResponse(req *Message, code int, reason, tag string) *Message {
	r := &Message{Version: "SIP/2.0", StatusCode: code, Reason: reason,
		StartLine: "SIP/2.0 " + strconv.Itoa(code) + " " + reason}
	for _, h := range req.Lines("Via") {
		r.Append("Via", h.Value)
	}
	r.Append("From", req.Get("From"))
	to := req.Get("To")
	if na, err := ParseNameAddr(to); code > 100 && tag != "" && (err != nil || !na.Params.has("tag")) {
		to += ";tag=" + tag
	}
	r.Append("To", to)
	r.Append("Call-ID", req.Get("Call-ID"))
	r.Append("CSeq", req.Get("CSeq"))
	r.Append("Content-Length", "0")
	return r
}

func (ps Params) has(name string) bool {
	_, ok := ps.Get(name)
	return ok
}

// Get returns the value of the first line of the named header (any case,
// compact or full form), or "".
func (m *Message) Get(name string) string {
	if i := m.index(name, 0); i >= 0 {
		return m.Headers[i].Value
	}
	return ""
}

// index returns the index of the first line of the named header at or after
// from, or -1.
func (m *Message) index(name string, from int) int {
	k := CanonicalName(name)
	for i := from; i < len(m.Headers); i++ {
		if h := &m.Headers[i]; h.Name != "" && (h.Key == k || strings.EqualFold(h.Key, k)) {
			return i
		}
	}
	return -1
}

func header(name, value string) Header {
	return Header{Name: name, Key: CanonicalName(name), Value: value}
}

// Append adds a header line at the end.
func (m *Message) Append(name, value string) {
	m.Headers = append(m.Headers, header(name, value))
}

// InsertBefore inserts a line before the first line of header before (at the
// end when there is none).
func (m *Message) InsertBefore(before, name, value string) {
	i := m.index(before, 0)
	if i < 0 {
		i = len(m.Headers)
	}
	m.insert(i, header(name, value))
}

// InsertAfter inserts a line after the last line of header after (at the end
// when there is none).
func (m *Message) InsertAfter(after, name, value string) {
	i := len(m.Headers)
	for j := m.index(after, 0); j >= 0; j = m.index(after, j+1) {
		i = j + 1
	}
	m.insert(i, header(name, value))
}

func (m *Message) insert(i int, h Header) {
	m.Headers = append(m.Headers, Header{})
	copy(m.Headers[i+1:], m.Headers[i:])
	m.Headers[i] = h
}

// Set gives the named header the one value: the first line gets it and the
// other lines go; with no line, one is inserted before Content-Length (at the
// end when there is none).
func (m *Message) Set(name, value string) {
	i := m.index(name, 0)
	if i < 0 {
		m.InsertBefore("Content-Length", name, value)
		return
	}
	m.Headers[i].Value = value
	for j := m.index(name, i+1); j >= 0; j = m.index(name, j) {
		m.Headers = append(m.Headers[:j], m.Headers[j+1:]...)
	}
}

// Del removes every line of the named header and returns how many it removed.
func (m *Message) Del(name string) int {
	kept, n := m.Headers[:0], 0
	k := CanonicalName(name)
	for _, h := range m.Headers {
		if h.Name != "" && (h.Key == k || strings.EqualFold(h.Key, k)) {
			n++
			continue
		}
		kept = append(kept, h)
	}
	m.Headers = kept
	return n
}

// PrependVia puts v on top of the Via list, as a line of its own (RFC 3261
// 16.6 step 8).
func (m *Message) PrependVia(v string) {
	i := m.index("Via", 0)
	if i < 0 {
		i = 0
	}
	m.insert(i, header("Via", v))
}

// PopVia removes the top Via value and returns it ("" when there is none);
// the other values of its line stay as written (RFC 3261 16.7 step 3).
func (m *Message) PopVia() string {
	i := m.index("Via", 0)
	if i < 0 {
		return ""
	}
	v := m.Headers[i].Value
	c := indexOutside(v, ",")
	if c < 0 {
		m.Headers = append(m.Headers[:i], m.Headers[i+1:]...)
		return strings.TrimSpace(v)
	}
	m.Headers[i].Value = strings.TrimSpace(v[c+1:])
	return strings.TrimSpace(v[:c])
}

// TopVia returns the top Via value, as written and taken apart.
func (m *Message) TopVia() (string, *Via, error) {
	i := m.index("Via", 0)
	if i < 0 {
		return "", nil, fmt.Errorf("sipmsg: expected a Via header, saw none")
	}
	top := m.Headers[i].Value
	if c := indexOutside(top, ","); c >= 0 {
		top = top[:c]
	}
	top = strings.TrimSpace(top)
	v, err := ParseVia(top)
	return top, v, err
}

// SetViaTransport sets the transport of the top Via's sent-protocol (the Via
// must say what was used, RFC 3261 18.1.1); the other values of its line stay
// as written.
func (m *Message) SetViaTransport(transport string) error {
	i := m.index("Via", 0)
	if i < 0 {
		return fmt.Errorf("sipmsg: expected a Via header, saw none")
	}
	line := m.Headers[i].Value
	top, rest := line, ""
	if c := indexOutside(line, ","); c >= 0 {
		top, rest = line[:c], line[c:]
	}
	v, err := ParseVia(top)
	if err != nil {
		return err
	}
	params := ""
	if sc := indexOutside(top, ";"); sc >= 0 {
		params = top[sc:]
	}
	m.Headers[i].Value = v.Protocol + "/" + transport + " " + v.SentBy() + params + rest
	return nil
}

// Branch returns the branch parameter of the top Via ("" when there is none).
func (m *Message) Branch() string {
	_, v, err := m.TopVia()
	if err != nil {
		return ""
	}
	b, _ := v.Params.Get("branch")
	return b
}

// CSeq returns the sequence number and method of the CSeq header.
func (m *Message) CSeq() (uint32, string, error) {
	v := m.Get("CSeq")
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, "", fmt.Errorf("sipmsg: expected CSeq \"number METHOD\", saw %s", show(v))
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, "", fmt.Errorf("sipmsg: expected a CSeq number of 0 to 2**32-1, saw %s", show(f[0]))
	}
	return uint32(n), f[1], nil
}

// SetStartLine replaces the start line and reads its fields again. A line
// that is no start line is still written as given (a deviation may want
// that); the error says why it does not read, and the fields are then zero.
func (m *Message) SetStartLine(s string) error {
	m.StartLine = s
	m.Request, m.Method, m.RequestURI, m.Version, m.StatusCode, m.Reason = false, "", "", "", 0, ""
	if err := m.parseStart(s); err != nil {
		m.Request, m.Method, m.RequestURI, m.Version, m.StatusCode, m.Reason = false, "", "", "", 0, ""
		return err
	}
	return nil
}

// Clone returns a deep copy.
func (m *Message) Clone() *Message {
	c := *m
	c.Headers = append([]Header(nil), m.Headers...)
	c.Body = append([]byte(nil), m.Body...)
	return &c
}

// Bytes writes the message: the start line, each header line as
// "Name: value" (a line with no Name as its Value), an empty line and the
// body, with CRLF line ends. Every Content-Length line gets the body's length
// unless KeepLength is set.
func (m *Message) Bytes() []byte {
	n := len(m.StartLine) + len(m.Body) + 4
	for _, h := range m.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	var b bytes.Buffer
	b.Grow(n + 8)
	b.WriteString(m.StartLine)
	b.WriteString("\r\n")
	for _, h := range m.Headers {
		if h.Name == "" {
			b.WriteString(h.Value)
			b.WriteString("\r\n")
			continue
		}
		b.WriteString(h.Name)
		b.WriteString(": ")
		if h.Key == "Content-Length" && !m.KeepLength {
			b.WriteString(strconv.Itoa(len(m.Body)))
		} else {
			b.WriteString(h.Value)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.Body)
	return b.Bytes()
}
