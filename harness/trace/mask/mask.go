// Package mask overwrites the authentication vectors in captured messages,
// for reports that leave the lab (the suite's --mask-vectors): RAND, AUTN,
// XRES/RES, CK, IK and AUTS, wherever SIP or Diameter Cx carries them, byte
// for byte with '*', so that every length, and so every framing, stays as
// captured and Wireshark still dissects the message. It records each value it
// masked, so that text derived from the messages (a rule's observed value)
// can be masked too (Masker.Text).
//
// What it masks:
//   - Diameter (TS 29.229 6.3, at any depth of grouped AVPs): SIP-Authenticate
//     (RAND‖AUTN), SIP-Authorization (XRES in an MAA, RAND‖AUTS in a
//     re-synchronising MAR), Confidentiality-Key (CK), Integrity-Key (IK), and
//     any other AVP the dictionary marks Secret;
//   - SIP, in WWW-Authenticate, Proxy-Authenticate, Authorization,
//     Proxy-Authorization, Authentication-Info and Proxy-Authentication-Info:
//     the parameters nonce (base64 of RAND‖AUTN), response (the digest of
//     RES), auts, ck and ik (TS 24.229: the S-CSCF's 401 to the P-CSCF carries
//     CK and IK, which the P-CSCF removes; a P-CSCF that does not leaks them),
//     rspauth and nextnonce.
//
// K, OP and OPc never travel in a message; they are not this package's
// concern (lab.Secret keeps them out of every output). It does not judge or
// parse messages beyond finding those values, and never fails: bytes that do
// not parse are left as they are, except for what can be found in them.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
	"sync"

	"imsconform/harness/diameter"
	"imsconform/harness/trace"
)

// Fill is the byte every masked byte becomes.
const Fill = '*'

// minText is the shortest masked value Text replaces in free text: a shorter
// one would mask unrelated text.
const minText = 8

// authHeaders are the SIP headers that carry Digest parameters, lower case.
var authHeaders = map[string]bool{
	"www-authenticate": true, "proxy-authenticate": true, "authorization": true,
	"proxy-authorization": true, "authentication-info": true, "proxy-authentication-info": true,
}

// vectorParams are the Digest parameters that carry vector material, lower case.
var vectorParams = map[string]bool{
	"nonce": true, "response": true, "auts": true, "ck": true, "ik": true, "rspauth": true, "nextnonce": true,
}

// Vector reports whether the Diameter AVP (code, vendor) carries vector
// material.
func Vector(code, vendor uint32) bool {
	if vendor == diameter.Vendor3GPP {
		switch code {
		case diameter.AVPSIPAuthenticate, diameter.AVPSIPAuthorization, diameter.AVPConfidentialityKey, diameter.AVPIntegrityKey:
			return true
		}
	}
	def, ok := diameter.Default.Lookup(code, vendor)
	return ok && def.Secret
}

// Masker masks messages and remembers what it masked. It is safe for
// concurrent use.
type Masker struct {
	mu     sync.Mutex
	values map[string]bool
	rep    *strings.Replacer // built on first Text after a change
}

// New returns a Masker that has masked nothing yet.
func New() *Masker { return &Masker{values: map[string]bool{}} }

// Messages returns copies of msgs with their vector material masked.
func (k *Masker) Messages(msgs []trace.Message) []trace.Message {
	out := make([]trace.Message, len(msgs))
	for i, m := range msgs {
		out[i] = k.Message(m)
	}
	return out
}

// Message returns a copy of m with its vector material masked (Raw is a new
// slice; m is not changed).
func (k *Masker) Message(m trace.Message) trace.Message {
	raw := append([]byte(nil), m.Raw...)
	var found [][]byte
	if m.Proto == trace.Diameter {
		found = maskDiameter(raw)
	} else {
		found = maskSIP(raw)
	}
	m.Raw = raw
	if len(found) > 0 {
		k.mu.Lock()
		for _, v := range found {
			k.remember(v, m.Proto == trace.Diameter)
		}
		k.mu.Unlock()
	}
	return m
}

// remember records v in the forms text may show it in. The caller holds mu.
func (k *Masker) remember(v []byte, binary bool) {
	add := func(s string) {
		if len(s) >= minText && !k.values[s] {
			k.values[s] = true
			k.rep = nil
		}
	}
	hexes := func(b []byte) {
		for _, p := range [][]byte{b, b[:min(len(b), 16)], b[min(len(b), 16):min(len(b), 32)]} {
			add(hex.EncodeToString(p))
			add(strings.ToUpper(hex.EncodeToString(p)))
		}
	}
	if binary {
		// RAND‖AUTN (SIP-Authenticate) also as its two halves.
		hexes(v)
		add(base64.StdEncoding.EncodeToString(v))
		return
	}
	add(string(v))
	// A nonce is base64 of RAND‖AUTN‖…: its bytes in hex too, RAND and
	// AUTN apart.
	if b, err := base64.StdEncoding.DecodeString(string(v)); err == nil && len(b) >= minText/2 {
		hexes(b)
	}
}

// Text returns s with every value the Masker has masked (as written, in hex
// and base64) overwritten with Fill.
func (k *Masker) Text(s string) string {
	k.mu.Lock()
	if k.rep == nil {
		if len(k.values) == 0 {
			k.mu.Unlock()
			return s
		}
		vs := make([]string, 0, len(k.values))
		for v := range k.values {
			vs = append(vs, v)
		}
		sort.Slice(vs, func(i, j int) bool { // longest first, so that a value inside another is not matched first
			if len(vs[i]) != len(vs[j]) {
				return len(vs[i]) > len(vs[j])
			}
			return vs[i] < vs[j]
		})
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, strings.Repeat(string(Fill), len(v)))
		}
		k.rep = strings.NewReplacer(pairs...)
	}
	rep := k.rep
	k.mu.Unlock()
	return rep.Replace(s)
}

// maskSIP masks the vector parameters of the Digest headers of a SIP
// message in place and returns copies of the values it masked.
func maskSIP(raw []byte) [][]byte {
	end := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		end = i
	}
	if i := bytes.Index(raw[:end], []byte("\n\n")); i >= 0 {
		end = i
	}
	var found [][]byte
	// Lines: the start line first, then one header per line, continued on
	// lines that start with a space or a tab (RFC 3261 7.3.1).
	pos := bytes.IndexByte(raw[:end], '\n') + 1
	if pos == 0 {
		return nil
	}
	for pos < end {
		lineEnd := nextLine(raw, pos, end)
		colon := bytes.IndexByte(raw[pos:lineEnd], ':')
		extent := lineEnd
		for extent < end && (raw[extent] == ' ' || raw[extent] == '\t') {
			extent = nextLine(raw, extent, end)
		}
		if colon >= 0 && authHeaders[strings.ToLower(strings.TrimSpace(string(raw[pos:pos+colon])))] {
			found = append(found, maskParams(raw[pos+colon+1:extent])...)
		}
		pos = extent
	}
	return found
}

// nextLine returns the index just after the line starting at i (after its
// '\n'), or end.
func nextLine(raw []byte, i, end int) int {
	if j := bytes.IndexByte(raw[i:end], '\n'); j >= 0 {
		return i + j + 1
	}
	return end
}

// maskParams masks the vector parameters of one header value: `Digest
// a=b, c="d"` and more challenges after commas.
func maskParams(v []byte) [][]byte {
	var found [][]byte
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	i := 0
	for i < len(v) {
		for i < len(v) && (space(v[i]) || v[i] == ',' || v[i] == ';') {
			i++
		}
		start := i
		for i < len(v) && !space(v[i]) && v[i] != '=' && v[i] != ',' && v[i] != ';' && v[i] != '"' {
			i++
		}
		name := strings.ToLower(string(v[start:i]))
		j := i
		for j < len(v) && space(v[j]) {
			j++
		}
		if j >= len(v) || v[j] != '=' {
			if i == start { // a stray quote or the like: step over it
				i++
			}
			continue
		}
		j++
		for j < len(v) && space(v[j]) {
			j++
		}
		vs, ve := j, j
		if j < len(v) && v[j] == '"' {
			vs = j + 1
			ve = vs
			for ve < len(v) && v[ve] != '"' {
				if v[ve] == '\\' && ve+1 < len(v) {
					ve++
				}
				ve++
			}
			ve = min(ve, len(v))
			i = min(ve+1, len(v))
		} else {
			for ve < len(v) && !space(v[ve]) && v[ve] != ',' && v[ve] != ';' {
				ve++
			}
			i = ve
		}
		if vectorParams[name] && ve > vs {
			found = append(found, bytes.Clone(v[vs:ve]))
			for x := vs; x < ve; x++ {
				if v[x] != '\r' && v[x] != '\n' {
					v[x] = Fill
				}
			}
		}
	}
	return found
}

// maskDiameter masks the vector AVPs of a Diameter message in place (as far
// as its lengths can be followed) and returns copies of their data.
func maskDiameter(raw []byte) [][]byte {
	if len(raw) < diameter.HeaderLen || raw[0] != diameter.Version {
		return nil
	}
	n := int(raw[1])<<16 | int(raw[2])<<8 | int(raw[3])
	return maskAVPs(raw[diameter.HeaderLen:min(max(n, diameter.HeaderLen), len(raw))], 0)
}

func maskAVPs(b []byte, depth int) [][]byte {
	var found [][]byte
	for len(b) >= 8 && depth <= 16 {
		code := binary.BigEndian.Uint32(b)
		flags := b[4]
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		hdr := 8
		var vendor uint32
		if flags&diameter.AVPFlagVendor != 0 {
			hdr = 12
			if len(b) < 12 {
				return found
			}
			vendor = binary.BigEndian.Uint32(b[8:])
		}
		if l < hdr {
			return found
		}
		data := b[hdr:min(l, len(b))]
		if Vector(code, vendor) {
			found = append(found, bytes.Clone(data))
			for i := range data {
				data[i] = Fill
			}
		} else if def, ok := diameter.Default.Lookup(code, vendor); ok && def.Type == diameter.TypeGrouped {
			found = append(found, maskAVPs(data, depth+1)...)
		}
		next := (l + 3) &^ 3
		if next > len(b) {
			return found
		}
		b = b[next:]
	}
	return found
}
