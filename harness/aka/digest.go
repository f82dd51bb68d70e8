package aka

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// NonceMinLen is the length of RAND ‖ AUTN, the least a decoded AKA nonce
// holds (RFC 3310 section 3.2).
const NonceMinLen = RANDLen + AUTNLen

// Nonce is the content of an AKA digest nonce: RAND, AUTN and optional
// server-specific data (RFC 3310 section 3.2).
type Nonce struct {
	RAND       [RANDLen]byte
	AUTN       [AUTNLen]byte
	ServerData []byte
}

// Encode returns base64(RAND ‖ AUTN ‖ server data), standard alphabet with
// padding, as the nonce parameter carries it.
func (n Nonce) Encode() string {
	b := make([]byte, 0, NonceMinLen+len(n.ServerData))
	b = append(b, n.RAND[:]...)
	b = append(b, n.AUTN[:]...)
	b = append(b, n.ServerData...)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseNonce decodes an AKA nonce (the parameter value without quotes). It
// accepts standard base64 with padding and, from peers that drop the padding,
// without it.
func ParseNonce(s string) (Nonce, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil && !strings.HasSuffix(s, "=") {
		if raw, rawErr := base64.RawStdEncoding.DecodeString(s); rawErr == nil {
			b, err = raw, nil
		}
	}
	if err != nil {
		return Nonce{}, fmt.Errorf("aka: nonce: expected base64 of RAND ‖ AUTN (RFC 3310 3.2), got %d characters that do not decode: %v", len(s), err)
	}
	if len(b) < NonceMinLen {
		return Nonce{}, fmt.Errorf("aka: nonce: expected at least %d bytes (RAND ‖ AUTN) after base64 decoding, got %d", NonceMinLen, len(b))
	}
	var n Nonce
	copy(n.RAND[:], b[0:RANDLen])
	copy(n.AUTN[:], b[RANDLen:NonceMinLen])
	if len(b) > NonceMinLen {
		n.ServerData = b[NonceMinLen:]
	}
	return n, nil
}

// AKAv1Password returns the digest password of AKAv1-MD5: RES itself, as
// raw bytes (RFC 3310 section 3.3). The result is key material.
func AKAv1Password(res []byte) []byte {
	return append([]byte(nil), res...)
}

// akav2PasswordLabel is the PRF input of RFC 4169 section 3.
const akav2PasswordLabel = "http-digest-akav2-password"

// AKAv2Password returns the digest password of AKAv2-MD5 (RFC 4169 section
// 3): base64(PRF(RES ‖ IK ‖ CK, "http-digest-akav2-password")), where the PRF
// of AKAv2-MD5 is HMAC-MD5 keyed with RES ‖ IK ‖ CK. The password is the
// base64 text (24 characters) as bytes. The result is key material.
func AKAv2Password(res []byte, ik, ck [KeyLen]byte) []byte {
	key := make([]byte, 0, len(res)+2*KeyLen)
	key = append(key, res...)
	key = append(key, ik[:]...)
	key = append(key, ck[:]...)
	mac := hmac.New(md5.New, key)
	mac.Write([]byte(akav2PasswordLabel))
	sum := mac.Sum(nil)
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum)
	return out
}

// Quality of protection values (RFC 2617 section 3.2.1, RFC 7616 3.3).
const (
	QOPNone    = ""
	QOPAuth    = "auth"
	QOPAuthInt = "auth-int"
)

// Params are the inputs of an MD5 digest response. Password is raw bytes,
// so that an AKA password (RES, which need not be text) fits; it is key
// material and never appears in an error or in fmt output.
type Params struct {
	Username string
	Realm    string
	Password []byte
	Method   string // e.g. REGISTER
	URI      string // the digest-uri as sent
	Nonce    string
	CNonce   string // required with a qop
	NC       string // 8 hex digits, required with a qop
	QOP      string // QOPNone, QOPAuth or QOPAuthInt
	Body     []byte // the entity body, used with QOPAuthInt
}

// String never shows the password.
func (p Params) String() string {
	return fmt.Sprintf("aka.Params{Username:%q Realm:%q Password:%s Method:%q URI:%q Nonce:%q CNonce:%q NC:%q QOP:%q Body:%d bytes}",
		p.Username, p.Realm, redacted, p.Method, p.URI, p.Nonce, p.CNonce, p.NC, p.QOP, len(p.Body))
}

// GoString never shows the password.
func (p Params) GoString() string { return p.String() }

// Format prints the redacted String for every verb.
func (p Params) Format(f fmt.State, _ rune) { fmt.Fprint(f, p.String()) }

func md5Hex(parts ...[]byte) string {
	h := md5.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DigestResponse computes the request-digest (the response parameter) with
// algorithm MD5 (RFC 2617 section 3.2.2, RFC 7616 section 3.4.1):
//
//	HA1 = MD5(username:realm:password)
//	HA2 = MD5(method:uri)                    qop absent or auth
//	HA2 = MD5(method:uri:MD5(entity-body))   qop auth-int
//	response = MD5(HA1:nonce:HA2)                        qop absent
//	response = MD5(HA1:nonce:nc:cnonce:qop:HA2)          qop auth or auth-int
//
// It returns 32 lower-case hex digits.
func DigestResponse(p Params) (string, error) {
	var ha2 string
	switch p.QOP {
	case QOPNone, QOPAuth:
		ha2 = md5Hex([]byte(p.Method), []byte(p.URI))
	case QOPAuthInt:
		hb := md5.Sum(p.Body)
		ha2 = md5Hex([]byte(p.Method), []byte(p.URI), []byte(hex.EncodeToString(hb[:])))
	default:
		return "", fmt.Errorf("aka: digest: expected qop %q, %q or none, got %q", QOPAuth, QOPAuthInt, p.QOP)
	}
	ha1 := md5Hex([]byte(p.Username), []byte(p.Realm), p.Password)
	if p.QOP == QOPNone {
		return md5Hex([]byte(ha1), []byte(p.Nonce), []byte(ha2)), nil
	}
	if p.CNonce == "" {
		return "", fmt.Errorf("aka: digest: expected a cnonce with qop %q, got none", p.QOP)
	}
	if len(p.NC) != 8 || !isHex(p.NC) {
		return "", fmt.Errorf("aka: digest: expected nc of 8 hex digits with qop %q, got %q", p.QOP, p.NC)
	}
	return md5Hex([]byte(ha1), []byte(p.Nonce), []byte(p.NC), []byte(p.CNonce), []byte(p.QOP), []byte(ha2)), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
