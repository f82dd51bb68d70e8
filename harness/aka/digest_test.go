package aka

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestNonceSet1(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	n := Nonce{RAND: v.RAND, AUTN: v.AUTN}
	// /work/shared/spec/milenage-known-answers.md
	const want = "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="
	if got := n.Encode(); got != want {
		t.Errorf("nonce = %s, want %s", got, want)
	}
	back, err := ParseNonce(want)
	if err != nil {
		t.Fatalf("ParseNonce: %v", err)
	}
	if back.RAND != rand || back.AUTN != v.AUTN || back.ServerData != nil {
		t.Errorf("ParseNonce = %x/%x/%x, want RAND %x AUTN %x and no server data", back.RAND, back.AUTN, back.ServerData, rand, v.AUTN)
	}
	// Without padding, as some peers send it.
	if back, err := ParseNonce(strings.TrimRight(want, "=")); err != nil || back.AUTN != v.AUTN {
		t.Errorf("ParseNonce without padding: AUTN %x, err %v", back.AUTN, err)
	}
}

func TestNonceServerData(t *testing.T) {
	n := Nonce{ServerData: []byte("opaque server data")}
	for i := range n.RAND {
		n.RAND[i] = byte(i)
		n.AUTN[i] = byte(0xf0 + i)
	}
	s := n.Encode()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != NonceMinLen+len(n.ServerData) {
		t.Fatalf("Encode gave %q (%d bytes, %v)", s, len(raw), err)
	}
	back, err := ParseNonce(s)
	if err != nil {
		t.Fatal(err)
	}
	if back.RAND != n.RAND || back.AUTN != n.AUTN || string(back.ServerData) != "opaque server data" {
		t.Errorf("round trip = %x/%x/%q", back.RAND, back.AUTN, back.ServerData)
	}
}

func TestParseNonceErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for _, c := range []struct{ name, in, want string }{
		{"31 bytes", short, "expected at least 32 bytes (RAND ‖ AUTN) after base64 decoding, got 31"},
		{"empty", "", "expected at least 32 bytes (RAND ‖ AUTN) after base64 decoding, got 0"},
		{"not base64", "not*base64!", "expected base64 of RAND ‖ AUTN"},
		{"bad padding", "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M==", "expected base64 of RAND ‖ AUTN"},
		{"quoted", `"I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="`, "expected base64 of RAND ‖ AUTN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := ParseNonce(c.in)
			if err == nil {
				t.Fatalf("ParseNonce(%q) = %x, nil; want an error", c.in, n.RAND)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// md5hex is the H() of RFC 2617, written out here apart from the package's
// own helper, so the tests below check the package against the formula.
func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestDigestResponseRFC2617Section35(t *testing.T) {
	// RFC 2617 section 3.5.
	got, err := DigestResponse(Params{
		Username: "Mufasa", Realm: "testrealm@host.com", Password: []byte("Circle Of Life"),
		Method: "GET", URI: "/dir/index.html", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		CNonce: "0a4f113b", NC: "00000001", QOP: QOPAuth,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "6629fae49393a05397450978507c4ef1"; got != want {
		t.Errorf("response = %s, want %s", got, want)
	}
}

func TestDigestResponseRFC7616Section391(t *testing.T) {
	// RFC 7616 section 3.9.1, algorithm MD5.
	got, err := DigestResponse(Params{
		Username: "Mufasa", Realm: "http-auth@example.org", Password: []byte("Circle of Life"),
		Method: "GET", URI: "/dir/index.html", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", NC: "00000001", QOP: QOPAuth,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "8ca523f5e9506fed4657c9700eebdbec"; got != want {
		t.Errorf("response = %s, want %s", got, want)
	}
}

func TestDigestResponseNoQOP(t *testing.T) {
	// RFC 2069 section 2.4 example, with the response as corrected by its
	// erratum (the RFC prints e966c932a9242554e42c8ee200cec7f6).
	p := Params{
		Username: "Mufasa", Realm: "testrealm@host.com", Password: []byte("CircleOfLife"),
		Method: "GET", URI: "/dir/index.html", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
	}
	got, err := DigestResponse(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "1949323746fe6a43ef61f9606e7febea"; got != want {
		t.Errorf("response = %s, want %s", got, want)
	}
	// Without qop, cnonce and nc are not part of the digest.
	p.CNonce, p.NC = "ignored", "zz"
	if again, err := DigestResponse(p); err != nil || again != got {
		t.Errorf("no qop with cnonce/nc set: %s, %v; want %s", again, err, got)
	}
}

func TestDigestResponseAuthInt(t *testing.T) {
	body := []byte("v=0\r\no=- 0 0 IN IP6 ::1\r\n")
	p := Params{
		Username: "Mufasa", Realm: "testrealm@host.com", Password: []byte("Circle Of Life"),
		Method: "GET", URI: "/dir/index.html", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		CNonce: "0a4f113b", NC: "00000001", QOP: QOPAuthInt, Body: body,
	}
	got, err := DigestResponse(p)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 2617 3.2.2.3: A2 = Method ":" digest-uri-value ":" H(entity-body).
	ha1 := md5hex("Mufasa:testrealm@host.com:Circle Of Life")
	ha2 := md5hex("GET:/dir/index.html:" + md5hex(string(body)))
	formula := md5hex(ha1 + ":dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth-int:" + ha2)
	// The same value computed with Python's hashlib from the same formula.
	const python = "7a1cb6d0bed0dbbbce30e2ce55717715"
	if got != formula || got != python {
		t.Errorf("auth-int response = %s, want %s (formula) = %s (hashlib)", got, formula, python)
	}
	// An empty body is H("") (d41d8cd98f00b204e9800998ecf8427e), and differs.
	p.Body = nil
	empty, err := DigestResponse(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "5e6610ecf9ba3017a4870ad48e3ad30b"; empty != want {
		t.Errorf("auth-int response with empty body = %s, want %s", empty, want)
	}
}

func TestDigestResponseAKAv1RawPassword(t *testing.T) {
	// The AKAv1-MD5 password is RES as raw bytes (here not valid UTF-8 as
	// a whole); the expected value was computed with Python's hashlib as
	// MD5(HA1:nonce:nc:cnonce:qop:HA2), HA1 = MD5(user:realm:RES bytes).
	res := unhex(t, ts35208[0].f2)
	got, err := DigestResponse(Params{
		Username: "alice@ims.example", Realm: "ims.example", Password: AKAv1Password(res),
		Method: "REGISTER", URI: "sip:ims.example", Nonce: "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=",
		CNonce: "0a4f113b", NC: "00000001", QOP: QOPAuth,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "e389bdd943f206ed0728065e735ffb95"; got != want {
		t.Errorf("response = %s, want %s", got, want)
	}
	if p := AKAv1Password(res); string(p) != string(res) || &p[0] == &res[0] {
		t.Errorf("AKAv1Password must return a copy of RES")
	}
}

func TestAKAv2Password(t *testing.T) {
	// RFC 4169 section 3 with TS 35.208 set 1 RES, IK and CK: expected value
	// computed with Python's hmac/hashlib/base64 as
	// base64(HMAC-MD5(key = RES‖IK‖CK, "http-digest-akav2-password")).
	ts := ts35208[0]
	got := AKAv2Password(unhex(t, ts.f2), [KeyLen]byte(unhex(t, ts.f4)), [KeyLen]byte(unhex(t, ts.f3)))
	if want := "shzt3q8CWaZnCAWqs3WmEQ=="; string(got) != want {
		t.Errorf("AKAv2 password = %s, want %s", got, want)
	}
}

func TestDigestResponseErrors(t *testing.T) {
	base := Params{Username: "u", Realm: "r", Password: []byte("secret-password"), Method: "REGISTER", URI: "sip:r", Nonce: "n", CNonce: "c", NC: "00000001"}
	for _, c := range []struct {
		name string
		edit func(*Params)
		want string
	}{
		{"unknown qop", func(p *Params) { p.QOP = "auth,auth-int" }, `expected qop "auth", "auth-int" or none, got "auth,auth-int"`},
		{"no cnonce", func(p *Params) { p.QOP = QOPAuth; p.CNonce = "" }, `expected a cnonce with qop "auth"`},
		{"short nc", func(p *Params) { p.QOP = QOPAuthInt; p.NC = "1" }, `expected nc of 8 hex digits with qop "auth-int", got "1"`},
		{"non-hex nc", func(p *Params) { p.QOP = QOPAuth; p.NC = "0000000g" }, `expected nc of 8 hex digits`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := base
			c.edit(&p)
			got, err := DigestResponse(p)
			if err == nil {
				t.Fatalf("DigestResponse = %s, nil; want an error", got)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret-password") || strings.Contains(fmt.Sprint(p), "secret-password") {
				t.Errorf("the password shows in %q or %v", err, p)
			}
		})
	}
}
