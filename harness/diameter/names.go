package diameter

import (
	"strconv"
	"strings"
)

// LookupName returns the definition of the AVP called name (as in the
// dictionary, e.g. "Visited-Network-Identifier"; compared without regard to
// case).
func (d *Dictionary) LookupName(name string) (AVPDef, bool) {
	if d == nil {
		return AVPDef{}, false
	}
	for _, def := range d.defs {
		if strings.EqualFold(def.Name, name) {
			return def, true
		}
	}
	return AVPDef{}, false
}

// AVPName returns the dictionary name of an AVP, or "AVP <code>" (with
// "/<vendor>" for a vendor AVP) when the dictionary does not know it.
func (d *Dictionary) AVPName(code, vendor uint32) string {
	if def, ok := d.Lookup(code, vendor); ok {
		return def.Name
	}
	if vendor != 0 {
		return "AVP " + strconv.FormatUint(uint64(code), 10) + "/" + strconv.FormatUint(uint64(vendor), 10)
	}
	return "AVP " + strconv.FormatUint(uint64(code), 10)
}
