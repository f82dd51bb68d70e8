package hss

import (
	"fmt"
	"io"
	"sync/atomic"

	"imsconform/harness/lab"
)

// StaleFirst returns a VectorSource whose first vector carries SQN 0, which
// no USIM accepts as fresh (its SQN_MS is never below 0), and which hands
// every later vector and every re-synchronisation to next. It plays an HSS
// whose SQN is behind the UE's: the UE answers the first challenge with an
// AUTS (TS 33.102 6.3.5), and next re-synchronises from it. s is the
// subscriber of next (its K, OP or OPc and AMF make the stale vector).
func StaleFirst(s lab.Subscriber, next VectorSource) (VectorSource, error) {
	return StaleFirstRAND(s, next, nil)
}

// StaleFirstRAND is StaleFirst whose stale vector draws its RAND from
// random (nil: crypto/rand). Given the FixedRAND that next draws from too,
// it plays an HSS that replays the rejected RAND after the
// re-synchronisation, which a core must not (TS 33.102 6.3.5).
func StaleFirstRAND(s lab.Subscriber, next VectorSource, random io.Reader) (VectorSource, error) {
	if next == nil {
		return nil, fmt.Errorf("hss: stale first vector: expected a VectorSource to follow it, got nil")
	}
	sub := s
	sub.SQN = "ffffffffffff" // SQN_HE at 2^48-1: the first vector wraps to SQN 0
	stale, err := VectorsFromProfile(sub, random)
	if err != nil {
		return nil, err
	}
	return &staleFirst{stale: stale, next: next}, nil
}

type staleFirst struct {
	stale *MilenageVectors
	next  VectorSource
	used  atomic.Bool
}

// Vector implements VectorSource.
func (s *staleFirst) Vector(impi string) (Vector, error) {
	if s.used.CompareAndSwap(false, true) {
		return s.stale.Vector(impi)
	}
	return s.next.Vector(impi)
}

// Resync implements VectorSource.
func (s *staleFirst) Resync(impi string, rnd, auts []byte) error {
	return s.next.Resync(impi, rnd, auts)
}

// String never shows key material.
func (s *staleFirst) String() string {
	return fmt.Sprintf("hss.StaleFirst{used:%v next:%v}", s.used.Load(), s.next)
}

// FixedRAND returns a source of RAND that gives rand over and over: every
// vector drawn from it carries the same RAND. For deviations only.
func FixedRAND(rand [16]byte) io.Reader { return &fixedRAND{rand: rand} }

type fixedRAND struct {
	rand [16]byte
	off  int
}

func (f *fixedRAND) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = f.rand[f.off]
		f.off = (f.off + 1) % len(f.rand)
	}
	return len(p), nil
}
