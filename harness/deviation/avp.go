package deviation

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/diameter"
)

// The Cx steps: the Diameter requests the reference core's I-CSCF and
// S-CSCF send to the HSS in the flow (TS 24.206 A.3.2.2 steps 3, 8 and 9).
// Their deviations are AVP edits and no-answer, applied by the core to the
// request before it is sent.
const (
	StepUAR3 = "3.UAR" // the first UAR (I-CSCF, initial REGISTER)
	StepMAR3 = "3.MAR" // the first MAR (S-CSCF)
	StepUAR8 = "8.UAR" // the UAR of the REGISTER of step 7
	StepSAR9 = "9.SAR" // the SAR after a successful authentication
)

// CxSteps lists the Cx step ids in flow order.
var CxSteps = []string{StepUAR3, StepMAR3, StepUAR8, StepSAR9}

// IsCxStep reports whether step is one of CxSteps.
func IsCxStep(step string) bool {
	for _, s := range CxSteps {
		if s == step {
			return true
		}
	}
	return false
}

// IsAVPEdit reports whether a is an action ApplyAVPs performs on a Cx
// request: drop-header, set-header or add-header, with Header naming an AVP.
func IsAVPEdit(a Action) bool { return a == DropHeader || a == SetHeader || a == AddHeader }

// AVPPath resolves the Header of an AVP edit to dictionary definitions: an
// AVP name as the dictionary spells it ("Visited-Network-Identifier"), or
// names joined by "/" for an AVP inside grouped AVPs
// ("SIP-Auth-Data-Item/SIP-Authentication-Scheme"). Names are compared
// without regard to case. Every name but the last must be a Grouped AVP.
func AVPPath(dict *diameter.Dictionary, header string) ([]diameter.AVPDef, error) {
	if dict == nil {
		dict = diameter.Default
	}
	if strings.TrimSpace(header) == "" {
		return nil, errors.New("expected an AVP name, got none")
	}
	names := strings.Split(header, "/")
	path := make([]diameter.AVPDef, 0, len(names))
	for i, n := range names {
		def, ok := dict.LookupName(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("expected an AVP name of the Diameter dictionary, got %q", n)
		}
		if i < len(names)-1 && def.Type != diameter.TypeGrouped {
			return nil, fmt.Errorf("expected %s to be a grouped AVP to look inside, got a %s", def.Name, def.Type)
		}
		path = append(path, def)
	}
	return path, nil
}

// ApplyAVPs performs the AVP edits of ds on the Diameter request m in place,
// in order; other actions (no-answer) are left to the sender. Pass only the
// deviations of m's step (see For). dict nil means diameter.Default.
//
//   - drop-header removes every AVP with that name (inside every instance of
//     its grouped parents, for a path);
//   - set-header replaces the data of every such AVP with Value, encoded for
//     the AVP's type, or adds one when there is none (creating its grouped
//     parent when that is absent too);
//   - add-header appends one more (inside every instance of its parent).
//
// Value is encoded as the dictionary types the AVP: a string for
// UTF8String and DiameterIdentity, a decimal number for Unsigned32,
// Integer32, Enumerated, Unsigned64 and Time (seconds since 1900), an IP
// literal for Address, and for OctetString and Grouped the string's bytes,
// or the bytes of hex digits after "0x". A value that does not fit the type
// (a word for an Unsigned32, 4294967296) is sent as its bytes: the AVP is
// then malformed on purpose.
//
// An edit whose AVP name the dictionary does not know, or whose grouped
// parent does not decode, is skipped; the error names it.
func ApplyAVPs(ds []Deviation, m *diameter.Message, dict *diameter.Dictionary) error {
	if m == nil {
		return errors.New("deviation: expected a Diameter message, got nil")
	}
	if dict == nil {
		dict = diameter.Default
	}
	var errs []error
	for _, d := range ds {
		if !IsAVPEdit(d.Action) {
			continue
		}
		path, err := AVPPath(dict, d.Header)
		if err != nil {
			errs = append(errs, fmt.Errorf("deviation %s: %w", d, err))
			continue
		}
		out, err := editAVPs(m.AVPs, path, d, dict)
		if err != nil {
			errs = append(errs, fmt.Errorf("deviation %s: %w", d, err))
			continue
		}
		m.AVPs = out
	}
	return errors.Join(errs...)
}

func editAVPs(avps []diameter.AVP, path []diameter.AVPDef, d Deviation, dict *diameter.Dictionary) ([]diameter.AVP, error) {
	def := path[0]
	match := func(a diameter.AVP) bool { return a.Code == def.Code && a.Vendor() == def.Vendor }
	out := make([]diameter.AVP, 0, len(avps)+1)
	if len(path) == 1 {
		found := false
		for _, a := range avps {
			if !match(a) {
				out = append(out, a)
				continue
			}
			found = true
			switch d.Action {
			case DropHeader:
				continue
			case SetHeader:
				a.Data = EncodeAVPValue(def, d.Value)
			}
			out = append(out, a)
		}
		if d.Action == AddHeader || (d.Action == SetHeader && !found) {
			a, _ := dict.New(def.Code, def.Vendor, EncodeAVPValue(def, d.Value))
			out = append(out, a)
		}
		return out, nil
	}
	found := false
	for _, a := range avps {
		if !match(a) {
			out = append(out, a)
			continue
		}
		found = true
		members, err := a.Group()
		if err != nil {
			return nil, fmt.Errorf("expected %s to decode as a grouped AVP, got %v", def.Name, err)
		}
		members, err = editAVPs(members, path[1:], d, dict)
		if err != nil {
			return nil, err
		}
		out = append(out, regroup(a, members))
	}
	if !found && d.Action != DropHeader {
		members, err := editAVPs(nil, path[1:], d, dict)
		if err != nil {
			return nil, err
		}
		g, _ := dict.New(def.Code, def.Vendor, nil)
		out = append(out, regroup(g, members))
	}
	return out, nil
}

// regroup returns g with members as its data.
func regroup(g diameter.AVP, members []diameter.AVP) diameter.AVP {
	var data []byte
	for _, m := range members {
		b, err := m.Marshal()
		if err != nil {
			continue
		}
		data = append(data, b...)
	}
	g.Data = data
	return g
}

// EncodeAVPValue encodes v for an AVP of def's type, as ApplyAVPs does.
func EncodeAVPValue(def diameter.AVPDef, v string) []byte {
	switch def.Type {
	case diameter.TypeUTF8String, diameter.TypeDiameterIdentity:
		return []byte(v)
	case diameter.TypeUnsigned32:
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			return binary.BigEndian.AppendUint32(nil, uint32(n))
		}
	case diameter.TypeInteger32, diameter.TypeEnumerated:
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return binary.BigEndian.AppendUint32(nil, uint32(int32(n)))
		}
	case diameter.TypeUnsigned64:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return binary.BigEndian.AppendUint64(nil, n)
		}
	case diameter.TypeTime:
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			return binary.BigEndian.AppendUint32(nil, uint32(n))
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return diameter.Time(def.Code, def.Vendor, 0, t).Data
		}
	case diameter.TypeAddress:
		if ip, err := netip.ParseAddr(v); err == nil {
			return diameter.Address(def.Code, def.Vendor, 0, ip).Data
		}
	case diameter.TypeOctetString, diameter.TypeGrouped:
		if h, ok := strings.CutPrefix(v, "0x"); ok {
			if b, err := hex.DecodeString(h); err == nil {
				return b
			}
		}
	}
	return []byte(v)
}
