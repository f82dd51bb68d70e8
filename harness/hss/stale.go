package hss

import (
	"fmt"
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
	if next == nil {
		return nil, fmt.Errorf("hss: stale first vector: expected a VectorSource to follow it, got nil")
	}
	sub := s
	sub.SQN = "ffffffffffff" // SQN_HE at 2^48-1: the first vector wraps to SQN 0
	stale, err := VectorsFromProfile(sub, nil)
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
