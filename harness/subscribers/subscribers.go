// Package subscribers is the population of a load run: N IMS subscribers
// whose identities follow a pattern (IMPI "user%06d_private@home1.net",
// IMPUs "sip:user%06d_public1@home1.net", "tel:+1212%07d") and whose keys
// are either the lab subscriber's, shared by all, or derived per subscriber
// by a stated derivation (DeriveK, DeriveOPc) that a SUT's HSS can be
// provisioned with (WriteCSV exports the N subscribers). The UE population,
// the embedded reference core's HSS and the HSS emulator all read the same
// Set, so that they provision the same N subscribers; a member is found
// from its IMPI or IMPU by reading the number back out of the pattern, so
// that a Set of a million subscribers holds no table.
//
// It also holds the authentication centre of a population (AuC): one SQN
// per subscriber and the Milenage vectors, for the HSSs that serve it.
//
// It is not a subscriber database: no profiles, no service data, no
// persistence. Key material (K, OP, OPc) never appears in its fmt output or
// errors; WriteCSV writes it, on purpose, into the provisioning file its
// caller names.
package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"imsconform/harness/aka"
)

// Key modes.
const (
	// KeysShared gives every subscriber the lab subscriber's K and OP (or
	// OPc).
	KeysShared = "shared"
	// KeysDerived gives subscriber n its own K and OPc (DeriveK, DeriveOPc).
	KeysDerived = "derived"
)

// Pattern is an identity with one decimal number in it, written with one
// %d verb (with an optional zero-padded width, %06d); %% stands for a
// literal %.
type Pattern struct {
	prefix, suffix string
	width          int
	src            string
}

// ParsePattern reads a pattern such as "user%06d_private@home1.net".
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{src: s}
	var b strings.Builder
	verbs := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '%' {
			b.WriteByte('%')
			i = j
			continue
		}
		zero := j < len(s) && s[j] == '0'
		if zero {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k >= len(s) || s[k] != 'd' || (zero && k == j) {
			return Pattern{}, fmt.Errorf("expected a %%d or %%0Nd verb (e.g. user%%06d@home1.net), saw %q at byte %d", s[i:min(len(s), k+1)], i)
		}
		if k > j {
			w, err := strconv.Atoi(s[j:k])
			if err != nil || w > 20 {
				return Pattern{}, fmt.Errorf("expected a width of at most 20 digits, saw %q", s[j:k])
			}
			if !zero {
				return Pattern{}, fmt.Errorf("expected a zero-padded width (%%0%sd), saw %%%sd: a space-padded number cannot be an identity", s[j:k], s[j:k])
			}
			p.width = w
		}
		verbs++
		if verbs > 1 {
			return Pattern{}, fmt.Errorf("expected one %%d verb, saw a second at byte %d", i)
		}
		p.prefix = b.String()
		b.Reset()
		i = k
	}
	if verbs == 0 {
		return Pattern{}, fmt.Errorf("expected one %%d verb (e.g. user%%06d@home1.net) that numbers the subscribers, saw none in %q", s)
	}
	p.suffix = b.String()
	return p, nil
}

// String is the pattern as written.
func (p Pattern) String() string { return p.src }

// Format writes the identity of number n (n ≥ 0).
func (p Pattern) Format(n int) string {
	d := strconv.Itoa(n)
	var b strings.Builder
	b.Grow(len(p.prefix) + len(p.suffix) + max(len(d), p.width))
	b.WriteString(p.prefix)
	for i := len(d); i < p.width; i++ {
		b.WriteByte('0')
	}
	b.WriteString(d)
	b.WriteString(p.suffix)
	return b.String()
}

// Number reads the number back out of an identity the pattern wrote; false
// when s is not one (the text around the number compares without regard to
// case, as URI schemes and host names do; the digits must be those Format
// writes).
func (p Pattern) Number(s string) (int, bool) {
	if len(s) < len(p.prefix)+len(p.suffix)+1 || !strings.EqualFold(s[:len(p.prefix)], p.prefix) || !strings.EqualFold(s[len(s)-len(p.suffix):], p.suffix) {
		return 0, false
	}
	d := s[len(p.prefix) : len(s)-len(p.suffix)]
	if len(d) > 18 || len(d) < p.width || (len(d) > p.width && len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	n := 0
	for i := range len(d) {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
		n = n*10 + int(d[i]-'0')
	}
	return n, true
}

// Config describes a population.
type Config struct {
	// Count is N; First the number of the first subscriber (the i-th has
	// number First+i).
	Count, First int
	// IMPI and IMPUs are patterns (ParsePattern); the first IMPU is the one
	// registered, the others its implicit registration set.
	IMPI  string
	IMPUs []string
	// Keys is KeysShared or KeysDerived.
	Keys string
	// K and exactly one of OP and OPc (16 bytes each): every subscriber's
	// with KeysShared, the roots of the derivation with KeysDerived.
	K, OP, OPc []byte
	AMF        [aka.AMFLen]byte
	// SQN is the HSS's starting SQN for every subscriber.
	SQN uint64
	// AvoidZeroRES has the HSSs draw another RAND when RES would hold a
	// zero byte: SIPp 3.6.1 handles RES as a C string and cuts such a RES
	// short (about 3 % of vectors). For benchmarks beside SIPp only.
	AvoidZeroRES bool
}

// Set is a population. It is immutable and safe for concurrent use; its
// fmt output shows no key.
type Set struct {
	n, first     int
	impi         Pattern
	impus        []Pattern
	derived      bool
	k, op, opc   []byte
	shared       *aka.Milenage
	amf          [aka.AMFLen]byte
	sqn          uint64
	avoidZeroRES bool
}

// New checks c and returns its Set. Errors never hold key material.
func New(c Config) (*Set, error) {
	if c.Count < 1 {
		return nil, fmt.Errorf("subscribers: expected a count of 1 or more, saw %d", c.Count)
	}
	if c.First < 0 {
		return nil, fmt.Errorf("subscribers: expected a first number of 0 or more, saw %d", c.First)
	}
	if c.First > (1<<53)-c.Count {
		return nil, fmt.Errorf("subscribers: first %d and count %d go beyond the numbers an identity holds", c.First, c.Count)
	}
	s := &Set{n: c.Count, first: c.First, amf: c.AMF, sqn: c.SQN & (1<<48 - 1), avoidZeroRES: c.AvoidZeroRES}
	var err error
	if s.impi, err = ParsePattern(c.IMPI); err != nil {
		return nil, fmt.Errorf("subscribers: impi: %w", err)
	}
	if len(c.IMPUs) == 0 {
		return nil, errors.New("subscribers: impus: expected at least one pattern, saw none")
	}
	for i, u := range c.IMPUs {
		p, err := ParsePattern(u)
		if err != nil {
			return nil, fmt.Errorf("subscribers: impus[%d]: %w", i, err)
		}
		s.impus = append(s.impus, p)
	}
	switch c.Keys {
	case KeysShared, "":
	case KeysDerived:
		s.derived = true
	default:
		return nil, fmt.Errorf("subscribers: keys: expected %q or %q, saw %q", KeysShared, KeysDerived, c.Keys)
	}
	if len(c.K) != aka.KeyLen {
		return nil, fmt.Errorf("subscribers: k: expected %d bytes, saw %d", aka.KeyLen, len(c.K))
	}
	if (c.OP == nil) == (c.OPc == nil) {
		return nil, errors.New("subscribers: expected exactly one of op and opc")
	}
	s.k, s.op, s.opc = append([]byte(nil), c.K...), clone(c.OP), clone(c.OPc)
	if s.shared, err = aka.NewMilenage(s.k, s.op, s.opc); err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	return s, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Len is N.
func (s *Set) Len() int { return s.n }

// Number is the number in the identities of the i-th subscriber (0 ≤ i <
// Len): First + i.
func (s *Set) Number(i int) int { return s.first + i }

// IMPI is the private identity of the i-th subscriber.
func (s *Set) IMPI(i int) string { return s.impi.Format(s.first + i) }

// IMPU is the public identity the i-th subscriber registers (its first).
func (s *Set) IMPU(i int) string { return s.impus[0].Format(s.first + i) }

// IMPUs are the public identities of the i-th subscriber, the registered
// one first.
func (s *Set) IMPUs(i int) []string {
	out := make([]string, len(s.impus))
	for j, p := range s.impus {
		out[j] = p.Format(s.first + i)
	}
	return out
}

// ByIMPI returns the index of the subscriber whose IMPI is impi.
func (s *Set) ByIMPI(impi string) (int, bool) { return s.index(s.impi, impi) }

// ByIMPU returns the index of the subscriber one of whose IMPUs is impu.
func (s *Set) ByIMPU(impu string) (int, bool) {
	for _, p := range s.impus {
		if i, ok := s.index(p, impu); ok {
			return i, true
		}
	}
	return 0, false
}

func (s *Set) index(p Pattern, id string) (int, bool) {
	n, ok := p.Number(id)
	if !ok || n < s.first || n-s.first >= s.n {
		return 0, false
	}
	return n - s.first, true
}

// Derived reports whether each subscriber has keys of its own.
func (s *Set) Derived() bool { return s.derived }

// AMF is every subscriber's AMF.
func (s *Set) AMF() [aka.AMFLen]byte { return s.amf }

// SQN is the HSS's starting SQN of every subscriber.
func (s *Set) SQN() uint64 { return s.sqn }

// AvoidZeroRES reports whether the HSSs avoid a RES with a zero byte (see
// Config.AvoidZeroRES).
func (s *Set) AvoidZeroRES() bool { return s.avoidZeroRES }

// Milenage is the i-th subscriber's Milenage: the shared one, or one keyed
// with its derived K and OPc.
func (s *Set) Milenage(i int) *aka.Milenage {
	if !s.derived {
		return s.shared
	}
	k, opc := s.keys(i)
	m, err := aka.NewMilenage(k[:], nil, opc[:])
	if err != nil {
		panic("subscribers: a derived key has the wrong length: " + err.Error()) // cannot happen: both are 16 bytes
	}
	return m
}

// keys returns the i-th subscriber's K and OPc.
func (s *Set) keys(i int) (k, opc [aka.KeyLen]byte) {
	if !s.derived {
		return [aka.KeyLen]byte(s.k), s.shared.OPc()
	}
	impi := s.IMPI(i)
	k = DeriveK(s.k, impi)
	if s.op != nil {
		o, _ := aka.ComputeOPc(k[:], s.op)
		return k, o
	}
	return k, DeriveOPc(s.opc, impi)
}

// DeriveK is the K of the subscriber impi under KeysDerived: the first 16
// bytes of HMAC-SHA-256 keyed with the root K over "imsconform K " ‖ impi.
func DeriveK(root []byte, impi string) [aka.KeyLen]byte {
	return derive(root, "imsconform K ", impi)
}

// DeriveOPc is the OPc of the subscriber impi under KeysDerived when the
// lab gives OPc: the first 16 bytes of HMAC-SHA-256 keyed with the root
// OPc over "imsconform OPc " ‖ impi. When the lab gives OP, OP stays the
// operator's, shared, and each subscriber's OPc is the one TS 35.206 4.1
// computes from its K (aka.ComputeOPc).
func DeriveOPc(root []byte, impi string) [aka.KeyLen]byte {
	return derive(root, "imsconform OPc ", impi)
}

func derive(root []byte, label, impi string) [aka.KeyLen]byte {
	m := hmac.New(sha256.New, root)
	m.Write([]byte(label))
	m.Write([]byte(impi))
	var out [aka.KeyLen]byte
	copy(out[:], m.Sum(nil))
	return out
}

// String shows the patterns and the count, never a key.
func (s *Set) String() string {
	keys := KeysShared
	if s.derived {
		keys = KeysDerived
	}
	return fmt.Sprintf("subscribers.Set{N:%d First:%d IMPI:%q IMPU:%q Keys:%s K:[redacted]}", s.n, s.first, s.impi, s.impus[0], keys)
}

// GoString never shows a key.
func (s *Set) GoString() string { return s.String() }

// Format prints String for every verb.
func (s *Set) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }
