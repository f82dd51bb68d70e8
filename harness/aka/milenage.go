package aka

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// Lengths in bytes of the Milenage inputs and outputs (TS 35.206 section 2).
const (
	KeyLen  = 16 // K, OP, OPc, CK, IK
	RANDLen = 16
	SQNLen  = 6
	AMFLen  = 2
	MACLen  = 8 // MAC-A, MAC-S
	RESLen  = 8 // f2 output as specified (64 bits)
	AKLen   = 6
	AUTNLen = SQNLen + AMFLen + MACLen // 16
	AUTSLen = SQNLen + MACLen          // 14
)

// redacted stands in for key material in fmt output.
const redacted = "[redacted]"

// Milenage is the Milenage algorithm set keyed with one subscriber's K and
// OPc. It is safe for concurrent use. Its fmt output never shows K or OPc.
type Milenage struct {
	block cipher.Block
	opc   [KeyLen]byte
}

// NewMilenage keys Milenage with K and exactly one of OP and OPc (pass nil
// for the other). When OP is given, OPc is derived from it.
func NewMilenage(k, op, opc []byte) (*Milenage, error) {
	if len(k) != KeyLen {
		return nil, fmt.Errorf("aka: K: expected %d bytes, got %d", KeyLen, len(k))
	}
	switch {
	case op != nil && opc != nil:
		return nil, fmt.Errorf("aka: expected exactly one of OP and OPc, got both")
	case op == nil && opc == nil:
		return nil, fmt.Errorf("aka: expected exactly one of OP and OPc, got neither")
	case op != nil && len(op) != KeyLen:
		return nil, fmt.Errorf("aka: OP: expected %d bytes, got %d", KeyLen, len(op))
	case opc != nil && len(opc) != KeyLen:
		return nil, fmt.Errorf("aka: OPc: expected %d bytes, got %d", KeyLen, len(opc))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		// Unreachable with a 16-byte key; the AES error carries no key bytes.
		return nil, fmt.Errorf("aka: AES-128 with K: %w", err)
	}
	m := &Milenage{block: block}
	if op != nil {
		m.opc = deriveOPc(block, op)
	} else {
		copy(m.opc[:], opc)
	}
	return m, nil
}

// ComputeOPc derives OPc = E_K(OP) ⊕ OP (TS 35.206 section 4.1).
func ComputeOPc(k, op []byte) ([KeyLen]byte, error) {
	if len(k) != KeyLen {
		return [KeyLen]byte{}, fmt.Errorf("aka: K: expected %d bytes, got %d", KeyLen, len(k))
	}
	if len(op) != KeyLen {
		return [KeyLen]byte{}, fmt.Errorf("aka: OP: expected %d bytes, got %d", KeyLen, len(op))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return [KeyLen]byte{}, fmt.Errorf("aka: AES-128 with K: %w", err)
	}
	return deriveOPc(block, op), nil
}

func deriveOPc(block cipher.Block, op []byte) [KeyLen]byte {
	var opc [KeyLen]byte
	block.Encrypt(opc[:], op)
	subtle.XORBytes(opc[:], opc[:], op)
	return opc
}

// OPc returns the OPc in use (derived or given). It is key material.
func (m *Milenage) OPc() [KeyLen]byte { return m.opc }

// String never shows key material.
func (m *Milenage) String() string { return "aka.Milenage{K:" + redacted + " OPc:" + redacted + "}" }

// GoString never shows key material.
func (m *Milenage) GoString() string { return m.String() }

// Format prints the redacted String for every verb.
func (m *Milenage) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// temp returns TEMP = E_K(RAND ⊕ OPc).
func (m *Milenage) temp(rand *[RANDLen]byte) [16]byte {
	var t [16]byte
	subtle.XORBytes(t[:], rand[:], m.opc[:])
	m.block.Encrypt(t[:], t[:])
	return t
}

// rotate returns x cyclically rotated left by rBytes bytes (rot of TS 35.206
// section 4.1, with r a multiple of 8 bits).
func rotate(x *[16]byte, rBytes int) [16]byte {
	var out [16]byte
	for i := range out {
		out[i] = x[(i+rBytes)%16]
	}
	return out
}

// out computes OUTn = E_K(rot(in ⊕ OPc, r) ⊕ c) ⊕ OPc, with the constant c
// whose last byte is cLast (c1..c5 of TS 35.206 section 4.1) and r in bytes.
func (m *Milenage) out(in *[16]byte, rBytes int, cLast byte) [16]byte {
	var x [16]byte
	subtle.XORBytes(x[:], in[:], m.opc[:])
	y := rotate(&x, rBytes)
	y[15] ^= cLast
	m.block.Encrypt(y[:], y[:])
	subtle.XORBytes(y[:], y[:], m.opc[:])
	return y
}

// out1 computes OUT1, whose halves are MAC-A and MAC-S.
func (m *Milenage) out1(rand *[RANDLen]byte, sqn *[SQNLen]byte, amf *[AMFLen]byte) [16]byte {
	t := m.temp(rand)
	var in1 [16]byte
	copy(in1[0:6], sqn[:])
	copy(in1[6:8], amf[:])
	copy(in1[8:14], sqn[:])
	copy(in1[14:16], amf[:])
	// OUT1 = E_K(TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1) ⊕ OPc, r1 = 64 bits, c1 = 0.
	var x [16]byte
	subtle.XORBytes(x[:], in1[:], m.opc[:])
	y := rotate(&x, 8)
	subtle.XORBytes(y[:], y[:], t[:])
	m.block.Encrypt(y[:], y[:])
	subtle.XORBytes(y[:], y[:], m.opc[:])
	return y
}

// F1 computes the network authentication code MAC-A.
func (m *Milenage) F1(rand [RANDLen]byte, sqn [SQNLen]byte, amf [AMFLen]byte) [MACLen]byte {
	o := m.out1(&rand, &sqn, &amf)
	return [MACLen]byte(o[0:8])
}

// F1Star computes the re-synchronisation authentication code MAC-S.
func (m *Milenage) F1Star(rand [RANDLen]byte, sqn [SQNLen]byte, amf [AMFLen]byte) [MACLen]byte {
	o := m.out1(&rand, &sqn, &amf)
	return [MACLen]byte(o[8:16])
}

// Outputs are the RAND-only Milenage functions f2, f3, f4 and f5. RES, CK and
// IK are key material; fmt output redacts them.
type Outputs struct {
	RES [RESLen]byte // f2
	CK  [KeyLen]byte // f3
	IK  [KeyLen]byte // f4
	AK  [AKLen]byte  // f5
}

// String never shows RES, CK or IK.
func (o Outputs) String() string {
	return fmt.Sprintf("aka.Outputs{RES:%s CK:%s IK:%s AK:%x}", redacted, redacted, redacted, o.AK)
}

// GoString never shows RES, CK or IK.
func (o Outputs) GoString() string { return o.String() }

// Format prints the redacted String for every verb.
func (o Outputs) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }

// F2345 computes f2 (RES), f3 (CK), f4 (IK) and f5 (AK) for RAND.
func (m *Milenage) F2345(rand [RANDLen]byte) Outputs {
	t := m.temp(&rand)
	var o Outputs
	out2 := m.out(&t, 0, 1) // r2 = 0, c2 = ...01
	copy(o.AK[:], out2[0:6])
	copy(o.RES[:], out2[8:16])
	o.CK = m.out(&t, 4, 2) // r3 = 32, c3 = ...02
	o.IK = m.out(&t, 8, 4) // r4 = 64, c4 = ...04
	return o
}

// F5Star computes AK*, the anonymity key for re-synchronisation.
func (m *Milenage) F5Star(rand [RANDLen]byte) [AKLen]byte {
	t := m.temp(&rand)
	out5 := m.out(&t, 12, 8) // r5 = 96, c5 = ...08
	return [AKLen]byte(out5[0:6])
}
