package esp

import (
	"fmt"

	"imsconform/harness/aka"
)

// Keys are the ESP keys of one SA, expanded from the IMS AKA keys IK and CK
// (TS 33.203 6.1, annex I). They are key material: fmt output redacts them,
// and this package writes them nowhere but a Wireshark esp_sa file
// (WriteESPSA).
type Keys struct {
	Integrity  Integrity
	Encryption Encryption
	auth       []byte // IK_ESP
	enc        []byte // CK_ESP, empty for null
}

// ExpandKeys derives the ESP keys from IK and CK for the algorithms agreed
// (TS 33.203 annex I, "Key expansion functions for IPsec ESP"):
//
//	hmac-md5-96    IK_ESP = IK                          (128 bits)
//	hmac-sha-1-96  IK_ESP = IK ‖ 0³²                    (160 bits: IK extended with 32 zero bits)
//	aes-cbc        CK_ESP = CK                          (128-bit AES key)
//	des-ede3-cbc   CK_ESP = CK₁ ‖ CK₂ ‖ CK₁             (192 bits), where CK = CK₁ ‖ CK₂, 64 bits each
//	null           no key
//
// For des-ede3-cbc the three DES keys are therefore K1 = CK₁, K2 = CK₂ and
// K3 = CK₁ (keying option 2 of NIST SP 800-67). The eighth bit of each key
// byte is a parity bit that DES does not use (FIPS 46-3 3), so whether the
// parity bits are adjusted or not changes no bit of the ciphertext; this
// package leaves them as CK has them, and so does the esp_sa file it
// writes. These are the expansions Kamailio's ims_ipsec_pcscf implements
// (ipsec.c, add_sa, which cites annex I) for the same five algorithms.
//
// The same four SAs of a registration share these keys; they differ in SPI
// and selectors (TS 33.203 7.1).
func ExpandKeys(integ Integrity, enc Encryption, ik, ck [aka.KeyLen]byte) (Keys, error) {
	if !integ.valid() {
		return Keys{}, fmt.Errorf("esp: integrity algorithm: expected one of %v, got %q", Integrities, integ)
	}
	if !enc.valid() {
		return Keys{}, fmt.Errorf("esp: encryption algorithm: expected one of %v, got %q", Encryptions, enc)
	}
	k := Keys{Integrity: integ, Encryption: enc}
	k.auth = make([]byte, integ.keyLen())
	copy(k.auth, ik[:]) // hmac-sha-1-96: the last 4 bytes stay zero
	switch enc {
	case AESCBC:
		k.enc = append([]byte(nil), ck[:]...)
	case DESEDE3CBC:
		k.enc = make([]byte, 0, 24)
		k.enc = append(k.enc, ck[:]...)
		k.enc = append(k.enc, ck[:8]...)
	}
	return k, nil
}

// String never shows the keys.
func (k Keys) String() string {
	return fmt.Sprintf("esp.Keys{%s %s IK_ESP:%s CK_ESP:%s}", k.Integrity, k.Encryption, redacted, redacted)
}

// GoString never shows the keys.
func (k Keys) GoString() string { return k.String() }

// Format prints the redacted String for every verb.
func (k Keys) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

const redacted = "[redacted]"
