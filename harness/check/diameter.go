package check

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
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

// avpsOf collects the AVPs of m that header names (see scenario.DiameterPath).
func avpsOf(m *diameter.Message, header string) *avpValues {
	a := &avpValues{}
	path, err := scenario.DiameterPath(header)
	if err != nil {
		a.err = err
		return a
	}
	a.def = path[len(path)-1]
	level := m.AVPs
	for i, def := range path {
		found := diameter.FindAllAVPs(level, def.Code, def.Vendor)
		if i == len(path)-1 {
			a.avps = found
			break
		}
		var next []diameter.AVP
		for _, g := range found {
			members, err := g.Group()
			if err != nil {
				a.err = fmt.Errorf("%s: %v", def.Name, err)
				return a
			}
			next = append(next, members...)
		}
		level = next
	}
	a.vals = make([]sipmsg.Value, len(a.avps))
	for i, x := range a.avps {
		t, err := renderAVP(a.def, x)
		if err != nil {
			if a.errs == nil {
				a.errs = make([]error, len(a.avps))
			}
			a.errs[i] = err
		}
		a.vals[i] = sipmsg.Value{Text: t, Line: i + 1}
	}
	return a
}

// renderAVP writes an AVP's data as text by its dictionary type:
// UTF8String and DiameterIdentity as text, the numeric types in decimal,
// Address as an IP literal, Time in RFC 3339 (UTC), OctetString and
// Grouped in lower-case hex.
func renderAVP(def diameter.AVPDef, a diameter.AVP) (string, error) {
	switch def.Type {
	case diameter.TypeUTF8String, diameter.TypeDiameterIdentity:
		return a.UTF8()
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

// avpFields selects the AVPs of the index and renders the part of each:
// "" or value by the AVP's type, text (the data as UTF-8) or hex.
func (e *evaluator) avpFields(h *hdrMemo, index, part string) ([]field, error) {
	a := h.avp
	if a.err != nil {
		return nil, a.err
	}
	lo, hi, ok := indexRange(index, len(a.avps))
	if !ok {
		return nil, nil
	}
	out := e.newFields(hi - lo)
	for i := lo; i < hi; i++ {
		var t string
		switch part {
		case "text":
			if !utf8.Valid(a.avps[i].Data) {
				return nil, fmt.Errorf("AVP %s (#%d): expected data that is UTF-8 text, saw %d bytes that are not", a.def.Name, i+1, len(a.avps[i].Data))
			}
			t = string(a.avps[i].Data)
		case "hex":
			t = hex.EncodeToString(a.avps[i].Data)
		default:
			if a.errs != nil && a.errs[i] != nil {
				return nil, fmt.Errorf("AVP %s (#%d): %v", a.def.Name, i+1, a.errs[i])
			}
			t = a.vals[i].Text
		}
		out = append(out, field{text: t, ok: true, line: i + 1, pos: i})
	}
	return out, nil
}

// diameterHeader judges the Diameter header (RFC 6733 3): command code, R
// flag and Application-Id.
func (e *evaluator) diameterHeader(r *scenario.Rule, m *diameter.Message) outcome {
	obsAll := fmt.Sprintf("command %d, flags %s, application %d", m.Code, flagText(m.Flags), m.ApplicationID)
	if r.Start.Method != "" || r.Start.RequestURI != "" || r.Start.Version != "" || r.Start.Status != "" || r.Start.Reason != "" || r.Reason != nil {
		return fail("a SIP message", obsAll, "the message is Diameter")
	}
	var exp, obs []string
	ok := true
	for _, c := range [][3]string{{"command", r.Start.Command, strconv.FormatUint(uint64(m.Code), 10)},
		{"application", r.Start.Application, strconv.FormatUint(uint64(m.ApplicationID), 10)}} {
		if c[1] == "" {
			continue
		}
		want, err := e.expand(c[1])
		if err != nil {
			return outcome{v: Error, expected: c[1], observed: obsAll, reason: err.Error()}
		}
		exp = append(exp, c[0]+" "+want)
		obs = append(obs, c[0]+" "+c[2])
		ok = ok && strings.TrimSpace(want) == c[2]
	}
	if r.Start.RequestFlag != "" {
		want := r.Start.RequestFlag == "true"
		set := func(b bool) string {
			if b {
				return "R flag set (request)"
			}
			return "R flag clear (answer)"
		}
		exp = append(exp, set(want))
		obs = append(obs, set(m.IsRequest()))
		ok = ok && want == m.IsRequest()
	}
	return judge(ok, strings.Join(exp, ", "), strings.Join(obs, ", "), "the Diameter header differs")
}

// flagText writes command flags as RFC 6733 3 names them.
func flagText(f uint8) string {
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
