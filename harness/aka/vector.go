package aka

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
)

// ErrMACFailure is wrapped by the error returned when MAC-A in an AUTN, or
// MAC-S in an AUTS, is not the one the key computes (TS 33.102 6.3.3).
var ErrMACFailure = errors.New("MAC failure")

// ErrSyncFailure is wrapped by the error returned when the SQN in an AUTN is
// not fresh (TS 33.102 6.3.3 and annex C). The error is a *SyncFailureError
// and carries the AUTS the UE sends back.
var ErrSyncFailure = errors.New("synchronisation failure")

// DefaultDelta is the freshness window used when a delta of 0 is given: an
// SQN is accepted when it is greater than the highest accepted SQN and at
// most DefaultDelta above it (TS 33.102 annex C.2.2, parameter Δ).
const DefaultDelta = 1 << 28

// SQNFromUint64 encodes the low 48 bits of n as an SQN, big-endian.
func SQNFromUint64(n uint64) [SQNLen]byte {
	var s [SQNLen]byte
	for i := SQNLen - 1; i >= 0; i-- {
		s[i] = byte(n)
		n >>= 8
	}
	return s
}

// SQNToUint64 decodes a big-endian 48-bit SQN.
func SQNToUint64(s [SQNLen]byte) uint64 {
	var n uint64
	for _, b := range s {
		n = n<<8 | uint64(b)
	}
	return n
}

// Vector is an authentication vector as the network (HSS/AuC) builds it
// (TS 33.102 6.3.2). XRES, CK and IK are key material; fmt output redacts
// them and shows RAND and AUTN, which travel in clear.
type Vector struct {
	RAND [RANDLen]byte
	XRES [RESLen]byte
	CK   [KeyLen]byte
	IK   [KeyLen]byte
	AK   [AKLen]byte
	AUTN [AUTNLen]byte
}

// String never shows XRES, CK or IK.
func (v Vector) String() string {
	return fmt.Sprintf("aka.Vector{RAND:%x AUTN:%x XRES:%s CK:%s IK:%s}", v.RAND, v.AUTN, redacted, redacted, redacted)
}

// GoString never shows XRES, CK or IK.
func (v Vector) GoString() string { return v.String() }

// Format prints the redacted String for every verb.
func (v Vector) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }

// GenerateVector builds the authentication vector for RAND, SQN and AMF:
// XRES = f2, CK = f3, IK = f4, AK = f5 and AUTN = SQN ⊕ AK ‖ AMF ‖ MAC-A.
func (m *Milenage) GenerateVector(rand [RANDLen]byte, sqn [SQNLen]byte, amf [AMFLen]byte) Vector {
	o := m.F2345(rand)
	mac := m.F1(rand, sqn, amf)
	v := Vector{RAND: rand, XRES: o.RES, CK: o.CK, IK: o.IK, AK: o.AK}
	subtle.XORBytes(v.AUTN[0:6], sqn[:], o.AK[:])
	copy(v.AUTN[6:8], amf[:])
	copy(v.AUTN[8:16], mac[:])
	return v
}

// Auth is what the UE obtains from an accepted AUTN: the SQN and AMF it
// carried, and RES, CK and IK. RES, CK and IK are key material; fmt output
// redacts them.
type Auth struct {
	SQN [SQNLen]byte
	AMF [AMFLen]byte
	RES [RESLen]byte
	CK  [KeyLen]byte
	IK  [KeyLen]byte
}

// String never shows RES, CK or IK.
func (a Auth) String() string {
	return fmt.Sprintf("aka.Auth{SQN:%x AMF:%x RES:%s CK:%s IK:%s}", a.SQN, a.AMF, redacted, redacted, redacted)
}

// GoString never shows RES, CK or IK.
func (a Auth) GoString() string { return a.String() }

// Format prints the redacted String for every verb.
func (a Auth) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// SyncFailureError reports an AUTN whose SQN is not fresh. It matches
// ErrSyncFailure with errors.Is and carries the AUTS for the re-synchronisation
// request (TS 33.102 6.3.3, 6.3.5).
type SyncFailureError struct {
	SQN   [SQNLen]byte  // the SQN recovered from AUTN
	SQNMS [SQNLen]byte  // the highest SQN the UE had accepted
	Delta uint64        // the freshness window that was applied
	AUTS  [AUTSLen]byte // SQN_MS ⊕ AK* ‖ MAC-S
}

func (e *SyncFailureError) Error() string {
	return fmt.Sprintf("aka: %v: expected an SQN greater than the highest accepted SQN %x and at most %d above it, got SQN %x",
		ErrSyncFailure, e.SQNMS, e.Delta, e.SQN)
}

// Is reports whether target is ErrSyncFailure.
func (e *SyncFailureError) Is(target error) bool { return target == ErrSyncFailure }

// fresh reports whether sqn is greater than sqnMS and at most delta above it.
func fresh(sqn, sqnMS [SQNLen]byte, delta uint64) bool {
	s, ms := SQNToUint64(sqn), SQNToUint64(sqnMS)
	return s > ms && s-ms <= delta
}

// VerifyAUTN does what the USIM does with RAND and AUTN (TS 33.102 6.3.3):
// it recovers SQN with AK = f5(RAND), checks MAC-A (an error wrapping
// ErrMACFailure on mismatch), then checks that SQN is greater than sqnMS, the
// highest SQN accepted so far, and at most delta above it (a
// *SyncFailureError, which wraps ErrSyncFailure and carries the AUTS, when not).
// A delta of 0 means DefaultDelta. On success it returns RES, CK and IK.
func (m *Milenage) VerifyAUTN(rand [RANDLen]byte, autn [AUTNLen]byte, sqnMS [SQNLen]byte, delta uint64) (Auth, error) {
	if delta == 0 {
		delta = DefaultDelta
	}
	o := m.F2345(rand)
	var a Auth
	subtle.XORBytes(a.SQN[:], autn[0:6], o.AK[:])
	copy(a.AMF[:], autn[6:8])
	xmac := m.F1(rand, a.SQN, a.AMF)
	if subtle.ConstantTimeCompare(xmac[:], autn[8:16]) != 1 {
		return Auth{}, fmt.Errorf("aka: %w: expected MAC-A of AUTN to equal XMAC-A computed from K, RAND, SQN and AMF, got MAC-A %x which does not", ErrMACFailure, autn[8:16])
	}
	if !fresh(a.SQN, sqnMS, delta) {
		return Auth{}, &SyncFailureError{SQN: a.SQN, SQNMS: sqnMS, Delta: delta, AUTS: m.GenerateAUTS(rand, sqnMS)}
	}
	a.RES, a.CK, a.IK = o.RES, o.CK, o.IK
	return a, nil
}

// resyncAMF is the dummy AMF of MAC-S (TS 33.102 6.3.3).
var resyncAMF = [AMFLen]byte{0, 0}

// GenerateAUTS builds the AUTS the UE returns on a synchronisation failure:
// AUTS = SQN_MS ⊕ AK* ‖ MAC-S, with AK* = f5*(RAND) and
// MAC-S = f1*(SQN_MS, RAND, AMF = 0000) (TS 33.102 6.3.3).
func (m *Milenage) GenerateAUTS(rand [RANDLen]byte, sqnMS [SQNLen]byte) [AUTSLen]byte {
	var auts [AUTSLen]byte
	akStar := m.F5Star(rand)
	subtle.XORBytes(auts[0:6], sqnMS[:], akStar[:])
	macS := m.F1Star(rand, sqnMS, resyncAMF)
	copy(auts[6:14], macS[:])
	return auts
}

// VerifyAUTS does what the HSS/AuC does with a re-synchronisation request
// (TS 33.102 6.3.5): it recovers SQN_MS from AUTS with AK* = f5*(RAND) and
// checks MAC-S (an error wrapping ErrMACFailure on mismatch).
func (m *Milenage) VerifyAUTS(rand [RANDLen]byte, auts [AUTSLen]byte) ([SQNLen]byte, error) {
	var sqnMS [SQNLen]byte
	akStar := m.F5Star(rand)
	subtle.XORBytes(sqnMS[:], auts[0:6], akStar[:])
	xmacS := m.F1Star(rand, sqnMS, resyncAMF)
	if subtle.ConstantTimeCompare(xmacS[:], auts[6:14]) != 1 {
		return [SQNLen]byte{}, fmt.Errorf("aka: %w: expected MAC-S of AUTS to equal XMAC-S computed from K, RAND, SQN_MS and AMF 0000, got MAC-S %x which does not", ErrMACFailure, auts[6:14])
	}
	return sqnMS, nil
}

// USIM is the UE side with state: a Milenage key and the highest SQN it has
// accepted. It is safe for concurrent use. Its fmt output shows no key.
type USIM struct {
	m     *Milenage
	delta uint64

	mu    sync.Mutex
	sqnMS [SQNLen]byte
}

// NewUSIM returns a USIM that has accepted no SQN above sqnMS and applies the
// freshness window delta (0 means DefaultDelta).
func NewUSIM(m *Milenage, sqnMS [SQNLen]byte, delta uint64) *USIM {
	if delta == 0 {
		delta = DefaultDelta
	}
	return &USIM{m: m, delta: delta, sqnMS: sqnMS}
}

// SQNMS returns the highest SQN accepted so far.
func (u *USIM) SQNMS() [SQNLen]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sqnMS
}

// Authenticate verifies AUTN as VerifyAUTN does against the highest SQN
// accepted so far and, when it is accepted, makes its SQN the highest.
func (u *USIM) Authenticate(rand [RANDLen]byte, autn [AUTNLen]byte) (Auth, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, err := u.m.VerifyAUTN(rand, autn, u.sqnMS, u.delta)
	if err != nil {
		return Auth{}, err
	}
	u.sqnMS = a.SQN
	return a, nil
}

// String never shows key material.
func (u *USIM) String() string {
	return fmt.Sprintf("aka.USIM{K:%s OPc:%s SQN_MS:%x delta:%d}", redacted, redacted, u.SQNMS(), u.delta)
}

// GoString never shows key material.
func (u *USIM) GoString() string { return u.String() }

// Format prints the redacted String for every verb.
func (u *USIM) Format(f fmt.State, _ rune) { fmt.Fprint(f, u.String()) }
