package refcore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"imsconform/harness/aka"
	"imsconform/harness/lab"
)

// hss is the in-memory HSS/AuC: the one subscriber of the lab profile, its
// Milenage key and the SQN of its next authentication vector.
type hss struct {
	impi  string
	impus []string
	m     *aka.Milenage
	amf   [aka.AMFLen]byte

	mu  sync.Mutex
	sqn uint64 // SQN of the next vector
}

func decodeHex(what, s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != n {
		// Never echo the value: it may be key material.
		return nil, fmt.Errorf("refcore: subscriber %s: expected %d hex digits, got %d characters that are not", what, 2*n, len(s))
	}
	return b, nil
}

func newHSS(s lab.Subscriber) (*hss, error) {
	k, err := decodeHex("k", s.K.Reveal(), aka.KeyLen)
	if err != nil {
		return nil, err
	}
	var op, opc []byte
	switch {
	case !s.OPc.IsZero():
		if opc, err = decodeHex("opc", s.OPc.Reveal(), aka.KeyLen); err != nil {
			return nil, err
		}
	case !s.OP.IsZero():
		if op, err = decodeHex("op", s.OP.Reveal(), aka.KeyLen); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("refcore: subscriber: expected op or opc, got neither")
	}
	m, err := aka.NewMilenage(k, op, opc)
	if err != nil {
		return nil, fmt.Errorf("refcore: subscriber: %w", err)
	}
	h := &hss{impi: s.IMPI, impus: append([]string(nil), s.IMPUs...), m: m}
	amf := s.AMF
	if amf == "" {
		amf = "8000"
	}
	a, err := decodeHex("amf", amf, aka.AMFLen)
	if err != nil {
		return nil, err
	}
	copy(h.amf[:], a)
	h.sqn = 1
	if s.SQN != "" {
		b, err := decodeHex("sqn", s.SQN, aka.SQNLen)
		if err != nil {
			return nil, err
		}
		h.sqn = aka.SQNToUint64([aka.SQNLen]byte(b))
	}
	return h, nil
}

// knows answers the user-registration-status query: is impu a public
// identity of impi?
func (h *hss) knows(impi, impu string) bool {
	if impi != "" && impi != h.impi {
		return false
	}
	for _, u := range h.impus {
		if strings.EqualFold(u, impu) {
			return true
		}
	}
	return false
}

// vector builds the next authentication vector. stale gives it SQN 0, which
// no USIM accepts as fresh; badMAC corrupts MAC-A in AUTN.
func (h *hss) vector(stale, badMAC bool) aka.Vector {
	var r [aka.RANDLen]byte
	_, _ = rand.Read(r[:])
	h.mu.Lock()
	sqn := h.sqn
	h.sqn++
	h.mu.Unlock()
	if stale {
		sqn = 0
	}
	v := h.m.GenerateVector(r, aka.SQNFromUint64(sqn), h.amf)
	if badMAC {
		for i := 8; i < 16; i++ {
			v.AUTN[i] ^= 0xa5
		}
	}
	return v
}

// resync re-synchronises the SQN from an AUTS (TS 33.102 6.3.5): the next
// vector carries SQN_MS + 1.
func (h *hss) resync(r [aka.RANDLen]byte, auts [aka.AUTSLen]byte) error {
	sqnMS, err := h.m.VerifyAUTS(r, auts)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.sqn = aka.SQNToUint64(sqnMS) + 1
	h.mu.Unlock()
	return nil
}
