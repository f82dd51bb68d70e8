package check

import (
	"encoding/binary"
	"strconv"
	"strings"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// canFailDiameter mutates a captured Diameter request until rule r fails:
// for a rule on the Diameter header, the command code, the R flag and the
// Application-Id; for a rule on an AVP, dropping it, changing its value
// (text, numbers, the rule's own value), duplicating it and adding it where
// it is absent. Each mutation is re-encoded, so the message still decodes:
// a rule must fail on the field, not on a broken message. fails reports
// whether the rule fails on the mutated bytes.
func canFailDiameter(r scenario.Rule, base trace.Message, fails func([]byte) bool) bool {
	if _, err := diameter.Unmarshal(base.Raw); err != nil {
		return false
	}
	try := func(edit func(m *diameter.Message)) bool {
		c, _ := diameter.Unmarshal(base.Raw)
		edit(c)
		b, err := c.Marshal()
		return err == nil && fails(b)
	}
	if r.Kind == scenario.KindStartLine {
		for _, edit := range []func(m *diameter.Message){
			func(m *diameter.Message) { m.Code++ },
			func(m *diameter.Message) { m.Flags ^= diameter.FlagRequest },
			func(m *diameter.Message) { m.ApplicationID++ },
		} {
			if try(edit) {
				return true
			}
		}
		return false
	}
	path, err := scenario.DiameterPath(r.Header)
	if err != nil {
		return false
	}
	leaf := path[len(path)-1]
	var values [][]byte
	for _, v := range []string{"zz9", "99", "0", r.Value} {
		if v != "" && !strings.Contains(v, "{{") {
			values = append(values, encodeAs(leaf, v))
		}
	}
	edits := []func([]diameter.AVP) []diameter.AVP{
		func(l []diameter.AVP) []diameter.AVP { // drop
			var out []diameter.AVP
			for _, a := range l {
				if !is(a, leaf) {
					out = append(out, a)
				}
			}
			return out
		},
		func(l []diameter.AVP) []diameter.AVP { // duplicate
			for _, a := range l {
				if is(a, leaf) {
					return append(l, a)
				}
			}
			return l
		},
	}
	for _, v := range values {
		edits = append(edits, func(l []diameter.AVP) []diameter.AVP { // change, or add when absent
			found := false
			for i := range l {
				if is(l[i], leaf) {
					l[i].Data, found = v, true
				}
			}
			if !found {
				l = append(l, diameter.AVP{Code: leaf.Code, Flags: leaf.Flags, VendorID: leaf.Vendor, Data: v})
			}
			return l
		})
	}
	for _, edit := range edits {
		if try(func(m *diameter.Message) { m.AVPs = editAt(m.AVPs, path, edit) }) {
			return true
		}
	}
	return false
}

func is(a diameter.AVP, def diameter.AVPDef) bool {
	return a.Code == def.Code && a.Vendor() == def.Vendor
}

// editAt applies edit to the list of AVPs that holds path's last AVP: the
// top level, or the members of every instance of the groups on the path.
func editAt(avps []diameter.AVP, path []diameter.AVPDef, edit func([]diameter.AVP) []diameter.AVP) []diameter.AVP {
	if len(path) == 1 {
		return edit(append([]diameter.AVP(nil), avps...))
	}
	out := append([]diameter.AVP(nil), avps...)
	for i, a := range out {
		if !is(a, path[0]) {
			continue
		}
		members, err := a.Group()
		if err != nil {
			continue
		}
		out[i] = diameter.Grouped(a.Code, a.Vendor(), a.Flags, editAt(members, path[1:], edit)...)
	}
	return out
}

// encodeAs writes text as the AVP type holds it: a number for the numeric
// types (4 or 8 bytes), the bytes of the text otherwise.
func encodeAs(def diameter.AVPDef, text string) []byte {
	switch def.Type {
	case diameter.TypeUnsigned32, diameter.TypeInteger32, diameter.TypeEnumerated:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return binary.BigEndian.AppendUint32(nil, uint32(n))
		}
	case diameter.TypeUnsigned64:
		if n, err := strconv.ParseUint(text, 10, 64); err == nil {
			return binary.BigEndian.AppendUint64(nil, n)
		}
	}
	return []byte(text)
}
