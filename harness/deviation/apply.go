package deviation

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// IsHeaderEdit reports whether a is one of the header edits (drop-header,
// set-header, add-header, drop-param, set-param, start-line), which Apply and
// ApplyRaw perform. The other actions are behaviours of the role that sends
// the step's message; Apply and ApplyRaw leave them to it.
func IsHeaderEdit(a Action) bool {
	switch a {
	case DropHeader, SetHeader, AddHeader, DropParam, SetParam, StartLine:
		return true
	}
	return false
}

// Has reports whether ds holds a deviation with action a (for any step).
func Has(ds []Deviation, a Action) bool {
	for _, d := range ds {
		if d.Action == a {
			return true
		}
	}
	return false
}

// Find returns the first deviation of ds with action a, and whether there is one.
func Find(ds []Deviation, a Action) (Deviation, bool) {
	for _, d := range ds {
		if d.Action == a {
			return d, true
		}
	}
	return Deviation{}, false
}

// validate checks that a header edit names what it needs.
func validate(d Deviation) error {
	switch d.Action {
	case DropHeader, SetHeader, AddHeader:
		if d.Header == "" {
			return fmt.Errorf("deviation step %s %s: expected a header name, got none", d.Step, d.Action)
		}
	case DropParam, SetParam:
		if d.Header == "" || d.Param == "" {
			return fmt.Errorf("deviation step %s %s: expected a header and a param name, got header %q param %q", d.Step, d.Action, d.Header, d.Param)
		}
	case StartLine:
		if d.Value == "" {
			return fmt.Errorf("deviation step %s %s: expected a start line in value, got none", d.Step, d.Action)
		}
	}
	if strings.ContainsAny(d.Header, ":\r\n") || strings.ContainsAny(d.Param, "\r\n") {
		return fmt.Errorf("deviation step %s %s: expected a header/param name without ':' or line breaks, got header %q param %q", d.Step, d.Action, d.Header, d.Param)
	}
	return nil
}

// Apply performs the header edits of ds on msg in place, in order. Deviations
// that are not header edits are ignored (see IsHeaderEdit); pass only those of
// the message's step (see For).
//
// The edits are made on the message's text and the result is parsed back into
// msg, so the typed headers sipgo keeps (Via, From, CSeq…) stay consistent. A
// present Content-Length is set to the body length unless a deviation sets
// it. When the edited text no longer parses as SIP, or a start-line edit
// turns a request into a response (or back), msg is left unchanged and an
// error says so: send ApplyRaw's bytes instead.
func Apply(ds []Deviation, msg sip.Message) error {
	if msg == nil {
		return fmt.Errorf("deviation: expected a SIP message, got nil")
	}
	edits, err := headerEdits(ds)
	if err != nil {
		return err
	}
	if len(edits) == 0 {
		return nil
	}
	out := applyText(edits, []byte(msg.String()))
	parsed, err := sip.ParseMessage(out)
	if err != nil {
		return fmt.Errorf("deviation: expected the edited message to parse as SIP, got %v (send the bytes of ApplyRaw instead)", err)
	}
	switch m := msg.(type) {
	case *sip.Request:
		p, ok := parsed.(*sip.Request)
		if !ok {
			return fmt.Errorf("deviation: expected the edited message to stay a request, got a response (send the bytes of ApplyRaw instead)")
		}
		m.Method, m.Recipient, m.SipVersion = p.Method, p.Recipient, p.SipVersion
		replaceContent(&m.MessageData, &p.MessageData, p.Headers())
	case *sip.Response:
		p, ok := parsed.(*sip.Response)
		if !ok {
			return fmt.Errorf("deviation: expected the edited message to stay a response, got a request (send the bytes of ApplyRaw instead)")
		}
		m.StatusCode, m.Reason, m.SipVersion = p.StatusCode, p.Reason, p.SipVersion
		replaceContent(&m.MessageData, &p.MessageData, p.Headers())
	default:
		return fmt.Errorf("deviation: expected *sip.Request or *sip.Response, got %T", msg)
	}
	return nil
}

func replaceContent(dst, src *sip.MessageData, hdrs []sip.Header) {
	dst.SetBody(src.Body())
	for {
		hs := dst.Headers()
		if len(hs) == 0 {
			break
		}
		if !dst.RemoveHeader(hs[0].Name()) {
			break
		}
	}
	for _, h := range hdrs {
		dst.AppendHeader(h)
	}
}

// ApplyRaw performs the header edits of ds on a serialized SIP message and
// returns the new text (raw is not modified). It accepts any text, even text
// that does not parse as SIP: the start line is the first line, headers are
// "Name: value" lines up to the first empty line, and the rest is the body.
// Lines are rejoined with CRLF; a present Content-Length is set to the body
// length unless a deviation sets it. Invalid deviations are skipped.
func ApplyRaw(ds []Deviation, raw []byte) []byte {
	var edits []Deviation
	for _, d := range ds {
		if IsHeaderEdit(d.Action) && validate(d) == nil {
			edits = append(edits, d)
		}
	}
	if len(edits) == 0 {
		return append([]byte(nil), raw...)
	}
	return applyText(edits, raw)
}

func headerEdits(ds []Deviation) ([]Deviation, error) {
	var edits []Deviation
	for _, d := range ds {
		if !IsHeaderEdit(d.Action) {
			continue
		}
		if err := validate(d); err != nil {
			return nil, err
		}
		edits = append(edits, d)
	}
	return edits, nil
}

// compact maps RFC 3261 7.3.3 compact forms (and a few RFC 3841/3892/4028 ones)
// to full names, lower case.
var compact = map[string]string{
	"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
	"c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
	"v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
	"x": "session-expires", "a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
}

func canonName(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if full, ok := compact[n]; ok {
		return full
	}
	return n
}

type line struct {
	name  string // as written; "" for a line without a colon
	value string // trimmed value
	text  string // the whole line, for lines without a colon
}

func (l line) String() string {
	if l.name == "" {
		return l.text
	}
	return l.name + ": " + l.value
}

func applyText(edits []Deviation, raw []byte) []byte {
	head, body := splitMessage(raw)
	rawLines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	start := rawLines[0]
	var lines []line
	for _, l := range rawLines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 0 {
			// Folded continuation (RFC 3261 7.3.1): join it to the previous line.
			p := &lines[len(lines)-1]
			if p.name != "" {
				p.value += " " + strings.TrimSpace(l)
			} else {
				p.text += " " + strings.TrimSpace(l)
			}
			continue
		}
		if l == "" {
			continue
		}
		if i := strings.IndexByte(l, ':'); i > 0 {
			lines = append(lines, line{name: strings.TrimSpace(l[:i]), value: strings.TrimSpace(l[i+1:])})
		} else {
			lines = append(lines, line{text: l})
		}
	}
	setsLength := false
	for _, d := range edits {
		want := canonName(d.Header)
		match := func(l line) bool { return l.name != "" && canonName(l.name) == want }
		switch d.Action {
		case StartLine:
			start = d.Value
		case DropHeader:
			kept := lines[:0]
			for _, l := range lines {
				if !match(l) {
					kept = append(kept, l)
				}
			}
			lines = kept
		case SetHeader:
			found := false
			for i := range lines {
				if match(lines[i]) {
					lines[i].value = d.Value
					found = true
				}
			}
			if !found {
				lines = append(lines, line{name: d.Header, value: d.Value})
			}
			if want == "content-length" {
				setsLength = true
			}
		case AddHeader:
			lines = append(lines, line{name: d.Header, value: d.Value})
			if want == "content-length" {
				setsLength = true
			}
		case DropParam, SetParam:
			for i := range lines {
				if match(lines[i]) {
					lines[i].value = editParams(lines[i].value, d)
				}
			}
		}
	}
	if !setsLength {
		for i := range lines {
			if lines[i].name != "" && canonName(lines[i].name) == "content-length" {
				lines[i].value = strconv.Itoa(len(body))
			}
		}
	}
	var b bytes.Buffer
	b.WriteString(start)
	b.WriteString("\r\n")
	for _, l := range lines {
		b.WriteString(l.String())
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// splitMessage splits raw at the first empty line.
func splitMessage(raw []byte) (head string, body []byte) {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return string(raw[:i]), append([]byte(nil), raw[i+4:]...)
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return string(raw[:i]), append([]byte(nil), raw[i+2:]...)
	}
	return strings.TrimRight(string(raw), "\r\n"), nil
}

// isAuthValue reports whether a value is a challenge or credentials: an
// auth scheme token followed by a comma-separated parameter list
// (RFC 3261 25.1 challenge/credentials), e.g. `Digest realm="x", nonce="y"`.
func isAuthValue(v string) (scheme, rest string, ok bool) {
	i := strings.IndexAny(v, " \t")
	if i <= 0 {
		return "", "", false
	}
	scheme = v[:i]
	for _, c := range scheme {
		if c == '=' || c == ';' || c == ',' || c == '<' || c == '"' || c == '/' || c == ':' {
			return "", "", false
		}
	}
	rest = strings.TrimSpace(v[i:])
	if j := strings.IndexByte(rest, '='); j <= 0 {
		if rest != "" {
			return "", "", false
		}
	}
	return scheme, rest, true
}

// splitTop splits s at sep where sep is outside quotes and angle brackets.
func splitTop(s string, sep byte) []string {
	var out []string
	inQ, inA, esc := false, false, false
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inQ && c == '\\':
			esc = true
		case c == '"':
			inQ = !inQ
		case !inQ && c == '<':
			inA = true
		case !inQ && c == '>':
			inA = false
		case !inQ && !inA && c == sep:
			out = append(out, s[last:i])
			last = i + 1
		}
	}
	return append(out, s[last:])
}

func paramName(p string) string {
	p = strings.TrimSpace(p)
	if i := strings.IndexByte(p, '='); i >= 0 {
		p = p[:i]
	}
	return strings.ToLower(strings.TrimSpace(p))
}

// formatParam renders name=value; when the old value was quoted and the new
// one is not, it is quoted too (so a Digest nonce stays a quoted string).
func formatParam(name, value, old string) string {
	if value == "" {
		return name
	}
	oldV := old
	if i := strings.IndexByte(old, '='); i >= 0 {
		oldV = strings.TrimSpace(old[i+1:])
	} else {
		oldV = ""
	}
	if strings.HasPrefix(oldV, `"`) && !strings.HasPrefix(value, `"`) {
		value = strconv.Quote(value)
	}
	return name + "=" + value
}

func editParams(value string, d Deviation) string {
	if scheme, rest, ok := isAuthValue(value); ok {
		var ps []string
		if rest != "" {
			ps = splitTop(rest, ',')
		}
		return scheme + " " + strings.Join(editParamList(ps, d), ", ")
	}
	vals := splitTop(value, ',')
	for i, v := range vals {
		vals[i] = editSemiParams(strings.TrimSpace(v), d)
	}
	return strings.Join(vals, ", ")
}

// editParamList applies a drop-param or set-param deviation to a list of
// name[=value] parameters: set-param replaces the parameter (keeping its
// quoting) or appends it when absent; drop-param removes it.
func editParamList(ps []string, d Deviation) []string {
	want := strings.ToLower(d.Param)
	found := false
	var out []string
	for _, p := range ps {
		if paramName(p) == want {
			found = true
			if d.Action == SetParam {
				out = append(out, formatParam(d.Param, d.Value, strings.TrimSpace(p)))
			}
			continue
		}
		out = append(out, strings.TrimSpace(p))
	}
	if d.Action == SetParam && !found {
		out = append(out, formatParam(d.Param, d.Value, ""))
	}
	return out
}

// editSemiParams edits the ;-parameters of one header value. For a value
// with a <...> address the parameters are those after '>'; otherwise those
// after the first ';'.
func editSemiParams(v string, d Deviation) string {
	base, params := v, ""
	if strings.HasPrefix(v, "<") || (strings.Contains(v, "<") && !strings.Contains(v[:strings.IndexByte(v, '<')], ";")) {
		if j := strings.LastIndexByte(v, '>'); j >= 0 {
			base, params = v[:j+1], v[j+1:]
		}
	} else {
		parts := splitTop(v, ';')
		base = parts[0]
		if len(parts) > 1 {
			params = ";" + strings.Join(parts[1:], ";")
		}
	}
	var ps []string
	if strings.TrimSpace(params) != "" {
		ps = splitTop(strings.TrimSpace(params), ';')[1:]
	}
	spaced := strings.Contains(params, "; ")
	out := editParamList(ps, d)
	sep := ";"
	if spaced {
		sep = "; "
	}
	base = strings.TrimRight(base, " ")
	if len(out) == 0 {
		return base
	}
	return base + sep + strings.Join(out, sep)
}

// Garbage is what a malformed deviation sends when it gives no Value: bytes
// that cannot parse as SIP.
const Garbage = "\x00\x01 this is not SIP\r\n\r\n"

// Outgoing applies ds to the raw message a role is about to send: the header
// edits on its text (so that everything not edited stays as built), and the
// behaviours no-answer (it reports not to send) and malformed (it returns the
// deviation's Value, or Garbage, instead of the message).
func Outgoing(ds []Deviation, raw []byte) ([]byte, bool) {
	if len(ds) == 0 {
		return raw, true
	}
	if Has(ds, NoAnswer) {
		return raw, false
	}
	if d, ok := Find(ds, Malformed); ok {
		if d.Value != "" {
			return []byte(d.Value), true
		}
		return []byte(Garbage), true
	}
	return ApplyRaw(ds, raw), true
}
