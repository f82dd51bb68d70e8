package hss

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"imsconform/harness/aka"
	"imsconform/harness/lab"
)

// Vector is one authentication vector as Cx carries it in a
// SIP-Auth-Data-Item (TS 29.229 6.3.9 to 6.3.13). XRES, CK and IK are key
// material: fmt output of a Vector never shows them.
type Vector struct {
	RAND []byte // 16 bytes
	AUTN []byte // 16 bytes
	XRES []byte
	CK   []byte // 16 bytes
	IK   []byte // 16 bytes
}

// String shows RAND and AUTN only.
func (v Vector) String() string {
	return fmt.Sprintf("hss.Vector{RAND:%x AUTN:%x XRES:[redacted] CK:[redacted] IK:[redacted]}", v.RAND, v.AUTN)
}

// GoString shows RAND and AUTN only.
func (v Vector) GoString() string { return v.String() }

// Format prints String for every verb.
func (v Vector) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }

// VectorSource produces authentication vectors for an IMPI (the AuC).
type VectorSource interface {
	// Vector returns a fresh vector for impi, advancing its SQN.
	Vector(impi string) (Vector, error)
	// Resync handles a re-synchronisation request: rand is the RAND the UE
	// rejected and auts its AUTS (TS 33.102 6.3.5). After it, Vector issues
	// SQNs above the UE's SQN_MS.
	Resync(impi string, rand, auts []byte) error
}

// MilenageVectors is a VectorSource for one subscriber, with Milenage
// (TS 35.206) through harness/aka. SQN_HE is the highest SQN issued: each
// vector increments it by one first, so the first vector carries the
// starting SQN + 1. It is safe for concurrent use; fmt output shows no key.
type MilenageVectors struct {
	impi string
	m    *aka.Milenage
	amf  [aka.AMFLen]byte
	rand io.Reader

	mu  sync.Mutex
	sqn uint64 // SQN_HE, 48 bits
}

// NewMilenageVectors returns the vector source of impi with the keyed
// Milenage m, the AMF, the starting SQN_HE and a source of RAND (nil means
// crypto/rand).
func NewMilenageVectors(impi string, m *aka.Milenage, amf [aka.AMFLen]byte, sqn uint64, random io.Reader) *MilenageVectors {
	if random == nil {
		random = rand.Reader
	}
	return &MilenageVectors{impi: impi, m: m, amf: amf, rand: random, sqn: sqn & (1<<48 - 1)}
}

// VectorsFromProfile builds the vector source of the lab subscriber: K, OP
// or OPc, AMF and SQN from the profile (hex). Errors name the field, never
// its value.
func VectorsFromProfile(s lab.Subscriber, random io.Reader) (*MilenageVectors, error) {
	k, err := hexField("subscriber.k", s.K.Reveal(), aka.KeyLen)
	if err != nil {
		return nil, err
	}
	var op, opc []byte
	if !s.OPc.IsZero() {
		if opc, err = hexField("subscriber.opc", s.OPc.Reveal(), aka.KeyLen); err != nil {
			return nil, err
		}
	} else if op, err = hexField("subscriber.op", s.OP.Reveal(), aka.KeyLen); err != nil {
		return nil, err
	}
	m, err := aka.NewMilenage(k, op, opc)
	if err != nil {
		return nil, err
	}
	amfB, err := hexField("subscriber.amf", s.AMF, aka.AMFLen)
	if err != nil {
		return nil, err
	}
	sqnB, err := hexField("subscriber.sqn", s.SQN, aka.SQNLen)
	if err != nil {
		return nil, err
	}
	return NewMilenageVectors(s.IMPI, m, [aka.AMFLen]byte(amfB), aka.SQNToUint64([aka.SQNLen]byte(sqnB)), random), nil
}

// hexField decodes a hex field of n bytes; errors never show the value.
func hexField(name, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("hss: %s: expected %d bytes of hex, got %d characters that are not hex", name, n, len(s))
	}
	if len(b) != n {
		return nil, fmt.Errorf("hss: %s: expected %d bytes of hex, got %d bytes", name, n, len(b))
	}
	return b, nil
}

// SQN returns SQN_HE, the highest SQN issued so far.
func (v *MilenageVectors) SQN() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sqn
}

func (v *MilenageVectors) check(impi string) error {
	if impi != v.impi {
		return fmt.Errorf("hss: expected IMPI %q, got %q", v.impi, impi)
	}
	return nil
}

// Vector implements VectorSource.
func (v *MilenageVectors) Vector(impi string) (Vector, error) {
	if err := v.check(impi); err != nil {
		return Vector{}, err
	}
	var r [aka.RANDLen]byte
	if _, err := io.ReadFull(v.rand, r[:]); err != nil {
		return Vector{}, fmt.Errorf("hss: RAND: expected %d random bytes: %w", aka.RANDLen, err)
	}
	v.mu.Lock()
	v.sqn = (v.sqn + 1) & (1<<48 - 1)
	sqn := v.sqn
	v.mu.Unlock()
	av := v.m.GenerateVector(r, aka.SQNFromUint64(sqn), v.amf)
	return Vector{RAND: av.RAND[:], AUTN: av.AUTN[:], XRES: av.XRES[:], CK: av.CK[:], IK: av.IK[:]}, nil
}

// Resync implements VectorSource: it checks MAC-S and sets SQN_HE to the
// UE's SQN_MS, so the next vector carries SQN_MS + 1 (TS 33.102 6.3.5).
func (v *MilenageVectors) Resync(impi string, rnd, auts []byte) error {
	if err := v.check(impi); err != nil {
		return err
	}
	if len(rnd) != aka.RANDLen || len(auts) != aka.AUTSLen {
		return fmt.Errorf("hss: resync: expected RAND of %d bytes and AUTS of %d, got %d and %d", aka.RANDLen, aka.AUTSLen, len(rnd), len(auts))
	}
	sqnMS, err := v.m.VerifyAUTS([aka.RANDLen]byte(rnd), [aka.AUTSLen]byte(auts))
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.sqn = aka.SQNToUint64(sqnMS)
	v.mu.Unlock()
	return nil
}

// String never shows key material.
func (v *MilenageVectors) String() string {
	return fmt.Sprintf("hss.MilenageVectors{IMPI:%q K:[redacted] OPc:[redacted] AMF:%x SQN:%d}", v.impi, v.amf, v.SQN())
}

// GoString never shows key material.
func (v *MilenageVectors) GoString() string { return v.String() }

// Format prints String for every verb.
func (v *MilenageVectors) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }
