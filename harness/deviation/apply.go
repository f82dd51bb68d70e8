package deviation

import (
	"fmt"
	"strconv"
	"strings"

	"imsconform/harness/sipmsg"
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

// Apply performs the header edits of ds on m, the message model a role is
// about to send, in place and in order. Deviations that are not header edits
// are ignored (see IsHeaderEdit); pass only those of the message's step (see
// For). Every edit is checked first: when one is invalid, m is left as it was
// and the error says which. A start line that no longer reads as one is
// still written as given (Bytes). Content-Length is written with the body's
// length unless a deviation sets or adds it.
func Apply(ds []Deviation, m *sipmsg.Message) error {
	if m == nil {
		return fmt.Errorf("deviation: expected a SIP message, got nil")
	}
	edits, err := headerEdits(ds)
	if err != nil {
		return err
	}
	apply(edits, m)
	return nil
}

// ApplyRaw performs the header edits of ds on a serialized message and
// returns the new text (raw is not modified). It accepts any text, even text
// that does not parse as SIP (sipmsg.Loose reads it): the start line is the
// first line, headers are "Name: value" lines up to the first empty line,
// and the rest is the body. Lines are rejoined with CRLF; a present
// Content-Length is set to the body length unless a deviation sets it.
// Invalid deviations are skipped.
func ApplyRaw(ds []Deviation, raw []byte) []byte {
	edits := validEdits(ds)
	if len(edits) == 0 {
		return append([]byte(nil), raw...)
	}
	m := sipmsg.Loose(raw)
	apply(edits, m)
	return m.Bytes()
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

// apply performs valid header edits on m.
func apply(edits []Deviation, m *sipmsg.Message) {
	for _, d := range edits {
		want := sipmsg.CanonicalName(d.Header)
		match := func(h sipmsg.Header) bool { return h.Name != "" && strings.EqualFold(h.Key, want) }
		switch d.Action {
		case StartLine:
			_ = m.SetStartLine(d.Value) // written as given even when it reads as no start line
		case DropHeader:
			m.Del(d.Header)
		case SetHeader:
			found := false
			for i := range m.Headers {
				if match(m.Headers[i]) {
					m.Headers[i].Value = d.Value
					found = true
				}
			}
			if !found {
				m.Append(d.Header, d.Value)
			}
			m.KeepLength = m.KeepLength || want == "Content-Length"
		case AddHeader:
			m.Append(d.Header, d.Value)
			m.KeepLength = m.KeepLength || want == "Content-Length"
		case DropParam, SetParam:
			for i := range m.Headers {
				if match(m.Headers[i]) {
					m.Headers[i].Value = editParams(m.Headers[i].Value, d)
				}
			}
		}
	}
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

// Outgoing applies ds to the message a role is about to send: the header
// edits in place on m, and the behaviours no-answer (send is false: nothing
// goes) and malformed (raw holds the deviation's Value, or Garbage, to send
// instead of m). raw is nil when m itself is to be sent.
func Outgoing(ds []Deviation, m *sipmsg.Message) (raw []byte, send bool) {
	if len(ds) == 0 {
		return nil, true
	}
	if Has(ds, NoAnswer) {
		return nil, false
	}
	if d, ok := Find(ds, Malformed); ok {
		if d.Value != "" {
			return []byte(d.Value), true
		}
		return []byte(Garbage), true
	}
	apply(validEdits(ds), m)
	return nil, true
}

// validEdits returns the header edits of ds that are valid.
func validEdits(ds []Deviation) []Deviation {
	var out []Deviation
	for _, d := range ds {
		if IsHeaderEdit(d.Action) && validate(d) == nil {
			out = append(out, d)
		}
	}
	return out
}
