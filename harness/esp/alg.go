package esp

import (
	"fmt"
	"strings"
)

// Integrity is an ESP integrity algorithm, named as the alg parameter of
// Security-Client and Security-Server names it (RFC 3329 2.2, TS 33.203 7.2).
type Integrity string

// Encryption is an ESP encryption algorithm, named as the ealg parameter of
// Security-Client and Security-Server names it (TS 33.203 7.2, TS 24.229
// 7.2A.7).
type Encryption string

const (
	// HMACMD596 is HMAC-MD5-96 (RFC 2403): a 128-bit key, a 96-bit ICV.
	HMACMD596 Integrity = "hmac-md5-96"
	// HMACSHA196 is HMAC-SHA-1-96 (RFC 2404): a 160-bit key, a 96-bit ICV.
	HMACSHA196 Integrity = "hmac-sha-1-96"

	// Null is the NULL encryption algorithm (RFC 2410): the payload travels
	// in clear, integrity protected.
	Null Encryption = "null"
	// AESCBC is AES-CBC with a 128-bit key (RFC 3602): a 16-byte IV per packet.
	AESCBC Encryption = "aes-cbc"
	// DESEDE3CBC is 3DES in CBC mode (RFC 2451): a 192-bit key, an 8-byte IV
	// per packet.
	DESEDE3CBC Encryption = "des-ede3-cbc"
)

// Integrities lists the integrity algorithms this package implements, in the
// order TS 33.203 7.2 lists them.
var Integrities = []Integrity{HMACMD596, HMACSHA196}

// Encryptions lists the encryption algorithms this package implements, in the
// order TS 33.203 7.2 lists them (des-ede3-cbc, aes-cbc, then null).
var Encryptions = []Encryption{DESEDE3CBC, AESCBC, Null}

// icvLen is the length of the ICV of both integrity algorithms: HMAC
// truncated to 96 bits (RFC 2403 2, RFC 2404 2).
const icvLen = 12

// ParseIntegrity reads an alg parameter value; case does not matter (RFC 3329
// 2.2 compares tokens case-insensitively).
func ParseIntegrity(s string) (Integrity, error) {
	for _, a := range Integrities {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("esp: integrity algorithm: expected one of %v, got %q", Integrities, s)
}

// ParseEncryption reads an ealg parameter value; case does not matter. An
// empty value is not accepted here: TS 24.229 7.2A.7 reads an absent ealg as
// "null", which is for the caller to decide.
func ParseEncryption(s string) (Encryption, error) {
	for _, e := range Encryptions {
		if strings.EqualFold(s, string(e)) {
			return e, nil
		}
	}
	return "", fmt.Errorf("esp: encryption algorithm: expected one of %v, got %q", Encryptions, s)
}

func (a Integrity) valid() bool { return a == HMACMD596 || a == HMACSHA196 }

func (e Encryption) valid() bool { return e == Null || e == AESCBC || e == DESEDE3CBC }

// keyLen is the length of the expanded ESP key (TS 33.203 annex I).
func (a Integrity) keyLen() int {
	if a == HMACSHA196 {
		return 20
	}
	return 16
}

// keyLen is the length of the expanded ESP key (TS 33.203 annex I).
func (e Encryption) keyLen() int {
	switch e {
	case AESCBC:
		return 16
	case DESEDE3CBC:
		return 24
	}
	return 0
}

// blockSize is the cipher's block size; the ESP trailer aligns the
// ciphertext to it. For null it is 4: RFC 4303 2.4 still requires the Pad
// Length and Next Header fields to end on a 4-byte boundary.
func (e Encryption) blockSize() int {
	switch e {
	case AESCBC:
		return 16
	case DESEDE3CBC:
		return 8
	}
	return 4
}

// ivLen is the length of the explicit IV each packet carries (RFC 3602 3,
// RFC 2451 3); null has none (RFC 2410).
func (e Encryption) ivLen() int {
	switch e {
	case AESCBC:
		return 16
	case DESEDE3CBC:
		return 8
	}
	return 0
}

// Overhead is the most ESP adds to a transport segment with these algorithms:
// SPI and sequence number, the IV, the most padding, Pad Length and Next
// Header, and the ICV.
func Overhead(e Encryption) int {
	return 8 + e.ivLen() + e.blockSize() - 1 + 2 + icvLen
}
