package ue

import (
	"strings"
	"testing"

	"imsconform/harness/aka"
)

func TestCheckResponseRecomputesFromTheWire(t *testing.T) {
	res := []byte{0x6c, 0xbf, 0x00, 0xae, 0xcd, 0xb3, 0x6b, 0x02} // a RES with a zero byte: raw bytes, not a C string
	p := aka.Params{Username: "user1_private@home1.net", Realm: "registrar.home1.net", Password: res, Method: "REGISTER",
		URI: "sip:registrar.home1.net", Nonce: "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", QOP: "auth", NC: "00000001", CNonce: "0a4f113b"}
	good, err := aka.DigestResponse(p)
	if err != nil {
		t.Fatal(err)
	}
	reg := func(auth string) []byte {
		return []byte("REGISTER sip:registrar.home1.net SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1\r\n" +
			"Authorization: " + auth + "\r\nContent-Length: 0\r\n\r\n")
	}
	auth := func(alg, resp, uri string) string {
		return `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="` + p.Nonce +
			`", algorithm=` + alg + `, uri="` + uri + `", response="` + resp + `", qop=auth, nc=00000001, cnonce="0a4f113b"`
	}
	for _, c := range []struct {
		name, raw, want string
	}{
		{"right", string(reg(auth("AKAv1-MD5", good, p.URI))), ResponseValid},
		{"upper-case hex is the same digest", string(reg(auth("AKAv1-MD5", strings.ToUpper(good), p.URI))), ResponseValid},
		{"wrong response", string(reg(auth("AKAv1-MD5", "0123456789abcdef0123456789abcdef", p.URI))), "invalid: the response is not"},
		{"uri changed after the digest", string(reg(auth("AKAv1-MD5", good, "sip:other.home1.net"))), "invalid: the response is not"},
		{"not AKA", string(reg(auth("MD5", good, p.URI))), `invalid: expected algorithm AKAv1-MD5, saw "MD5"`},
		{"no Authorization", "REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n", "invalid: no Authorization header"},
		{"garbage", "\x00\x01", "invalid: the REGISTER does not parse"},
	} {
		got := checkResponse([]byte(c.raw), res)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: checkResponse = %q, want it to start with %q", c.name, got, c.want)
		}
		if strings.Contains(got, good) {
			t.Errorf("%s: the verdict text holds the digest value", c.name)
		}
	}
}
