package check

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"imsconform/harness/diameter"
	"imsconform/harness/sipmsg"
)

// avpValues are the AVPs a rule's header names in one Diameter message: the
// top-level AVPs of that name, or for "Group/Member" the members of that
// name inside every instance of the group, in message order.
type avpValues struct {
	def  diameter.AVPDef
	avps []diameter.AVP
	vals []sipmsg.Value // each AVP rendered by its type; Line is its 1-based position
	errs []error        // errs[i] is why avps[i] could not be rendered, nil when it could
	err  error          // the header names no AVP, or a group does not decode
}

// avpsOf collects the AVPs of m that header h names (see
// scenario.DiameterPath), into storage of the evaluator's.
func (e *evaluator) avpsOf(v *msgView, h *hdrInfo) *avpValues {
	m := v.dia
	a := e.newAVPValues()
	path, err := h.diameter.get(h.raw)
	if err != nil {
		a.err = err
		return a
	}
	a.def = path[len(path)-1]
	level := m.AVPs
	for i, def := range path {
		lo := len(e.avps)
		for j := range level {
			if x := &level[j]; x.Code == def.Code && x.Vendor() == def.Vendor {
				e.avps = append(e.avps, *x)
			}
		}
		found := e.avps[lo:len(e.avps):len(e.avps)]
		if i == len(path)-1 {
			a.avps = found
			break
		}
		lo = len(e.avps)
		for _, g := range found {
			var err error
			if e.avps, err = g.AppendGroup(e.avps); err != nil {
				a.err = fmt.Errorf("%s: %v", def.Name, err)
				return a
			}
		}
		level = e.avps[lo:len(e.avps):len(e.avps)]
	}
	for i, x := range a.avps {
		t, err := v.render(a.def, x)
		if err != nil {
			if len(a.errs) == 0 {
				a.errs = grow(a.errs, len(a.avps))
			}
			a.errs[i] = err
		}
		a.vals = append(a.vals, sipmsg.Value{Text: t, Line: i + 1})
	}
	return a
}

func (e *evaluator) newAVPValues() *avpValues {
	if e.navp == len(e.avpPool) {
		e.avpPool = append(e.avpPool, &avpValues{})
	}
	a := e.avpPool[e.navp]
	e.navp++
	clear(a.errs)
	*a = avpValues{vals: a.vals[:0], errs: a.errs[:0]}
	return a
}

// render writes an AVP's data as text by its dictionary type:
// UTF8String and DiameterIdentity as text, the numeric types in decimal,
// Address as an IP literal, Time in RFC 3339 (UTC), OctetString and
// Grouped in lower-case hex.
func (m *msgView) render(def diameter.AVPDef, a diameter.AVP) (string, error) {
	switch def.Type {
	case diameter.TypeUTF8String, diameter.TypeDiameterIdentity:
		if !utf8.Valid(a.Data) {
			return a.UTF8()
		}
		return m.text(a.Data), nil
	case diameter.TypeUnsigned32:
		v, err := a.Uint32()
		return strconv.FormatUint(uint64(v), 10), err
	case diameter.TypeUnsigned64:
		v, err := a.Uint64()
		return strconv.FormatUint(v, 10), err
	case diameter.TypeInteger32, diameter.TypeEnumerated:
		v, err := a.Int32()
		return strconv.FormatInt(int64(v), 10), err
	case diameter.TypeAddress:
		v, err := a.Addr()
		if err != nil {
			return "", err
		}
		return v.String(), nil
	case diameter.TypeTime:
		v, err := a.Time()
		return v.Format(time.RFC3339), err
	}
	return hex.EncodeToString(a.Data), nil
}

// avpFields selects the AVPs of the selection's index and renders the part
// of each: "" or value by the AVP's type, text (the data as UTF-8) or hex.
func (e *evaluator) avpFields(v *msgView, a *avpValues, si *selInfo) error {
	if a.err != nil {
		return a.err
	}
	lo, hi, ok := si.index.span(len(a.avps))
	if !ok {
		return nil
	}
	for i := lo; i < hi; i++ {
		var t string
		switch si.raw {
		case "text":
			if !utf8.Valid(a.avps[i].Data) {
				return fmt.Errorf("AVP %s (#%d): expected data that is UTF-8 text, saw %d bytes that are not", a.def.Name, i+1, len(a.avps[i].Data))
			}
			t = v.text(a.avps[i].Data)
		case "hex":
			t = hex.EncodeToString(a.avps[i].Data)
		default:
			if len(a.errs) > 0 && a.errs[i] != nil {
				return fmt.Errorf("AVP %s (#%d): %v", a.def.Name, i+1, a.errs[i])
			}
			t = a.vals[i].Text
		}
		e.fs = append(e.fs, field{text: t, ok: true, line: i + 1, pos: i})
	}
	return nil
}

// text is data, bytes of the message, as text: a piece of the message
// made a string once.
func (m *msgView) text(data []byte) string {
	off := cap(m.raw) - cap(data) // data is raw[off:off+len(data)], as the decoder cut it
	if off < 0 || off+len(data) > len(m.raw) || !bytes.Equal(m.raw[off:off+len(data)], data) {
		return string(data)
	}
	if m.rawS == "" {
		m.rawS = string(m.raw)
	}
	return m.rawS[off : off+len(data)]
}

// diameterHeader judges the Diameter header (RFC 6733 3): command code, R
// flag and Application-Id.
func (e *evaluator) diameterHeader(c *crule, b *bound, v *msgView) outcome {
	r, m := c.r, v.dia
	start := len(e.buf)
	e.buf = strconv.AppendUint(append(e.buf, "command "...), uint64(m.Code), 10)
	e.buf = append(append(append(e.buf, ", flags "...), flagText(m.Flags)...), ", application "...)
	e.buf = strconv.AppendUint(e.buf, uint64(m.ApplicationID), 10)
	obsAll := e.span(start)
	if r.Start.Method != "" || r.Start.RequestURI != "" || r.Start.Version != "" || r.Start.Status != "" || r.Start.Reason != "" || r.Reason != nil {
		return fail(str("a SIP message"), obsAll, str("the message is Diameter"))
	}
	ok := true
	start = len(e.buf)
	for i, got := range [2]uint32{m.Code, m.ApplicationID} {
		k := 5 + i // command, application
		if c.tStart[k] < 0 {
			continue
		}
		want := &b.start[k]
		if want.err != nil {
			o := outcome{v: Error, expected: str([2]string{r.Start.Command, r.Start.Application}[i]), observed: obsAll, reason: str(want.err.Error())}
			return o
		}
		if len(e.buf) > start {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = strconv.AppendUint(append(e.buf, [2]string{"command ", "application "}[i]...), uint64(got), 10)
		ok = ok && isDecimal(strings.TrimSpace(want.s), uint64(got))
	}
	if r.Start.RequestFlag != "" {
		want := r.Start.RequestFlag == "true"
		if len(e.buf) > start {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = append(e.buf, rFlag(m.IsRequest())...)
		ok = ok && want == m.IsRequest()
	}
	obs := e.span(start)
	if ok {
		return pass(str(b.exp), obs)
	}
	return fail(str(b.exp), obs, str("the Diameter header differs"))
}

func rFlag(set bool) string {
	if set {
		return "R flag set (request)"
	}
	return "R flag clear (answer)"
}

// flagText writes command flags as RFC 6733 3 names them.
func flagText(f uint8) string { return flagTexts[f>>4] }

// flagTexts are the texts of the four command flags' combinations.
var flagTexts = func() (t [16]string) {
	for i := range t {
		t[i] = writeFlags(uint8(i) << 4)
	}
	return t
}()

func writeFlags(f uint8) string {
	var s []string
	for _, b := range []struct {
		bit  uint8
		name string
	}{{diameter.FlagRequest, "R"}, {diameter.FlagProxiable, "P"}, {diameter.FlagError, "E"}, {diameter.FlagRetransmit, "T"}} {
		if f&b.bit != 0 {
			s = append(s, b.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "")
}
