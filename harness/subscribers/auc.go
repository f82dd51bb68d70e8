package subscribers

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"sync"

	"imsconform/harness/aka"
)

// AuC is the authentication centre of a population: the SQN of each
// subscriber's next vector (SQN_HE, TS 33.102 6.3.2) and its Milenage
// vectors. The embedded reference core's HSS and the HSS emulator each run
// one for the Set they serve. It is safe for concurrent use.
type AuC struct {
	set  *Set
	rand io.Reader

	mu  sync.Mutex
	sqn map[int]uint64 // index → SQN_HE, for the subscribers that got a vector (the rest are at the Set's SQN)
}

// maxRANDDraws bounds the draws for a RES without a zero byte
// (AvoidZeroRES): each has a chance of about 97 %.
const maxRANDDraws = 64

// NewAuC returns the AuC of s; random is the source of RAND (nil:
// crypto/rand).
func NewAuC(s *Set, random io.Reader) *AuC {
	if random == nil {
		random = rand.Reader
	}
	return &AuC{set: s, rand: random, sqn: map[int]uint64{}}
}

// Vector returns the i-th subscriber's next authentication vector: SQN_HE
// advanced by one, a fresh RAND (redrawn while RES holds a zero byte when
// the Set avoids that).
func (a *AuC) Vector(i int) (aka.Vector, error) {
	if i < 0 || i >= a.set.n {
		return aka.Vector{}, fmt.Errorf("subscribers: expected a subscriber index below %d, saw %d", a.set.n, i)
	}
	m := a.set.Milenage(i)
	a.mu.Lock()
	sqn, ok := a.sqn[i]
	if !ok {
		sqn = a.set.sqn
	}
	sqn = (sqn + 1) & (1<<48 - 1)
	a.sqn[i] = sqn
	a.mu.Unlock()
	var r [aka.RANDLen]byte
	for draw := 0; ; draw++ {
		if _, err := io.ReadFull(a.rand, r[:]); err != nil {
			return aka.Vector{}, fmt.Errorf("subscribers: RAND: expected %d random bytes: %w", aka.RANDLen, err)
		}
		v := m.GenerateVector(r, aka.SQNFromUint64(sqn), a.set.amf)
		if !a.set.avoidZeroRES || bytes.IndexByte(v.XRES[:], 0) < 0 || draw == maxRANDDraws {
			return v, nil
		}
	}
}

// Resync re-synchronises the i-th subscriber from an AUTS (TS 33.102
// 6.3.5): MAC-S is checked, and its next vector carries SQN_MS + 1.
func (a *AuC) Resync(i int, rnd [aka.RANDLen]byte, auts [aka.AUTSLen]byte) error {
	if i < 0 || i >= a.set.n {
		return fmt.Errorf("subscribers: expected a subscriber index below %d, saw %d", a.set.n, i)
	}
	sqnMS, err := a.set.Milenage(i).VerifyAUTS(rnd, auts)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.sqn[i] = aka.SQNToUint64(sqnMS)
	a.mu.Unlock()
	return nil
}

// SQN returns the i-th subscriber's SQN_HE, the SQN of its last vector.
func (a *AuC) SQN(i int) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.sqn[i]; ok {
		return s
	}
	return a.set.sqn
}
