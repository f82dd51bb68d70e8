// Package secagree is the security mechanism agreement of RFC 3329 as
// TS 33.203 7.2 uses it for ipsec-3gpp: it reads and writes the mechanisms
// of Security-Client, Security-Server and Security-Verify (their algorithms,
// SPIs and protected ports), and makes the choices of both ends — the
// P-CSCF's among the mechanisms the UE offered, the UE's among those the
// P-CSCF lists.
//
// It does not set up security associations (harness/esp does, from the
// outcome), send or parse whole messages (harness/sipmsg), or judge a
// message against a table (harness/check): it is the agreement's grammar
// and its two choices.
package secagree

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"imsconform/harness/esp"
	"imsconform/harness/sipmsg"
)

// IPsec3GPP is the mechanism name of TS 33.203 (RFC 3329 2.2).
const IPsec3GPP = "ipsec-3gpp"

// Mechanism is one ipsec-3gpp mechanism of a Security-Client,
// Security-Server or Security-Verify value (TS 33.203 7.2, TS 24.229
// 7.2A.7): its preference, algorithms, SPIs and protected ports.
type Mechanism struct {
	// Q is the preference as written ("" when absent); QValue is its value
	// (0 when absent).
	Q      string
	QValue float64
	// Integrity is alg; Encryption is ealg, "" when absent (which TS 24.229
	// 7.2A.7 reads as null, see Cipher).
	Integrity    esp.Integrity
	Encryption   esp.Encryption
	SPIC, SPIS   uint32
	PortC, PortS uint16
}

// Cipher is the encryption the mechanism means: its ealg, or null when it
// names none (TS 24.229 7.2A.7).
func (m Mechanism) Cipher() esp.Encryption {
	if m.Encryption == "" {
		return esp.Null
	}
	return m.Encryption
}

// Side is the mechanism's SPIs and ports as the end of the agreement at
// addr (the address the mechanism's sender is reached at).
func (m Mechanism) Side(addr netip.Addr) esp.Side {
	return esp.Side{Addr: addr.Unmap(), PortC: m.PortC, PortS: m.PortS, SPIC: m.SPIC, SPIS: m.SPIS}
}

// FromSide is the mechanism of these algorithms announcing side's SPIs and
// ports.
func FromSide(s esp.Side, integrity esp.Integrity, encryption esp.Encryption) Mechanism {
	return Mechanism{Integrity: integrity, Encryption: encryption, SPIC: s.SPIC, SPIS: s.SPIS, PortC: s.PortC, PortS: s.PortS}
}

// String writes the mechanism as a header value, in the order of tables
// A.3.2.2-2 and -5: "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=…;
// spi-s=…; port-c=…; port-s=…", with ealg after alg when there is one and
// q only when there is one.
func (m Mechanism) String() string {
	var b strings.Builder
	b.WriteString(IPsec3GPP)
	if m.Q != "" {
		b.WriteString("; q=" + m.Q)
	}
	b.WriteString("; alg=" + string(m.Integrity))
	if m.Encryption != "" {
		b.WriteString("; ealg=" + string(m.Encryption))
	}
	fmt.Fprintf(&b, "; spi-c=%d; spi-s=%d; port-c=%d; port-s=%d", m.SPIC, m.SPIS, m.PortC, m.PortS)
	return b.String()
}

// Join writes mechanisms as one header value, a comma-separated list
// (RFC 3329 2.2).
func Join(ms []Mechanism) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// ErrNotIPsec3GPP is returned by Parse for a mechanism of another name
// (tls, digest, ipsec-ike, …): it is no error of the value, only not one
// this agreement uses.
var ErrNotIPsec3GPP = errors.New("not an ipsec-3gpp mechanism")

// Parse reads one mechanism value. An ipsec-3gpp mechanism needs alg,
// spi-c, spi-s, port-c and port-s (TS 33.203 7.2); q and ealg are
// optional. Names and tokens are case-insensitive (RFC 3329 2.2); an
// algorithm this harness does not implement is an error naming it.
func Parse(value string) (Mechanism, error) {
	name, ps := sipmsg.SplitParams(value)
	if !strings.EqualFold(name, IPsec3GPP) {
		return Mechanism{}, fmt.Errorf("secagree: %q: %w", name, ErrNotIPsec3GPP)
	}
	var m Mechanism
	get := func(p string) (string, bool) { return ps.Get(p) }
	if q, ok := get("q"); ok {
		v, err := strconv.ParseFloat(q, 64)
		if err != nil || v < 0 || v > 1 {
			return Mechanism{}, fmt.Errorf("secagree: %s: expected q from 0 to 1, saw %q", value, q)
		}
		m.Q, m.QValue = q, v
	}
	alg, ok := get("alg")
	if !ok {
		return Mechanism{}, fmt.Errorf("secagree: %s: expected an alg parameter (TS 33.203 7.2), saw none", value)
	}
	var err error
	if m.Integrity, err = esp.ParseIntegrity(alg); err != nil {
		return Mechanism{}, fmt.Errorf("secagree: %s: %w", value, err)
	}
	if e, ok := get("ealg"); ok {
		if m.Encryption, err = esp.ParseEncryption(e); err != nil {
			return Mechanism{}, fmt.Errorf("secagree: %s: %w", value, err)
		}
	}
	for _, f := range []struct {
		name string
		spi  *uint32
		port *uint16
	}{{"spi-c", &m.SPIC, nil}, {"spi-s", &m.SPIS, nil}, {"port-c", nil, &m.PortC}, {"port-s", nil, &m.PortS}} {
		v, ok := get(f.name)
		if !ok {
			return Mechanism{}, fmt.Errorf("secagree: %s: expected a %s parameter (TS 33.203 7.2), saw none", value, f.name)
		}
		bits := 32
		if f.port != nil {
			bits = 16
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil || n == 0 {
			return Mechanism{}, fmt.Errorf("secagree: %s: expected %s as a non-zero %d-bit number, saw %q", value, f.name, bits, v)
		}
		if f.spi != nil {
			*f.spi = uint32(n)
		} else {
			*f.port = uint16(n)
		}
	}
	return m, nil
}

// ParseValues reads the ipsec-3gpp mechanisms of a header's lines (each
// line a comma-separated list), in order. Mechanisms of other names are
// skipped; the error joins the problems of the ipsec-3gpp values that do
// not read, which are left out.
func ParseValues(lines []string) ([]Mechanism, error) {
	var out []Mechanism
	var errs []error
	for _, l := range lines {
		for _, v := range sipmsg.SplitList(l) {
			m, err := Parse(v)
			switch {
			case errors.Is(err, ErrNotIPsec3GPP):
			case err != nil:
				errs = append(errs, err)
			default:
				out = append(out, m)
			}
		}
	}
	return out, errors.Join(errs...)
}

// Offered reports whether m's algorithms are those of one of the offered
// mechanisms (an absent ealg is null on both sides).
func Offered(m Mechanism, offered []Mechanism) bool {
	for _, o := range offered {
		if o.Integrity == m.Integrity && o.Cipher() == m.Cipher() {
			return true
		}
	}
	return false
}

// ChooseServer is the UE's choice (TS 33.203 7.2, RFC 3329 2.3.1): among
// the P-CSCF's mechanisms, the one with the highest q whose algorithms the
// UE offered; of equal q the first listed (an absent q counts as 0). It
// fails, saying what the P-CSCF listed, when none was offered: the UE then
// abandons the registration.
func ChooseServer(server, offered []Mechanism) (Mechanism, error) {
	best := -1
	for i, m := range server {
		if !Offered(m, offered) {
			continue
		}
		if best < 0 || m.QValue > server[best].QValue {
			best = i
		}
	}
	if best < 0 {
		if len(server) == 0 {
			return Mechanism{}, errors.New("secagree: expected an ipsec-3gpp mechanism in Security-Server, saw none")
		}
		return Mechanism{}, fmt.Errorf("secagree: expected a Security-Server mechanism with algorithms the UE offered (%s), saw only %s", algs(offered), algs(server))
	}
	return server[best], nil
}

// ChooseClient is the P-CSCF's choice (TS 33.203 7.2): the first of the
// UE's mechanisms whose algorithms it supports (every one this harness
// implements, which Parse has checked).
func ChooseClient(client []Mechanism) (Mechanism, error) {
	if len(client) == 0 {
		return Mechanism{}, errors.New("secagree: expected an ipsec-3gpp mechanism in Security-Client, saw none")
	}
	return client[0], nil
}

func algs(ms []Mechanism) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m.Integrity) + "/" + string(m.Cipher())
	}
	return strings.Join(s, ", ")
}
