package sipmsg

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	raw := "REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
		"v: SIP/2.0/UDP [::1]:1357;comp=sigcomp;branch=z9hG4bKa, SIP/2.0/TCP p.net;branch=z9hG4bKb\r\n" +
		"VIA: SIP / 2.0 / UDP h.net:5062;branch=z9hG4bKc\r\n" +
		"f: \"User, One\" <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
		"Authorization: Digest username=\"u@h\", realm=\"r, x\",\r\n nonce=\"\", algorithm=AKAv1-MD5\r\n" +
		"i: abc\r\n\r\nbody"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Request || m.Method != "REGISTER" || m.RequestURI != "sip:registrar.home1.net" || m.Version != "SIP/2.0" || string(m.Body) != "body" {
		t.Fatalf("start line/body: %+v", m)
	}
	vias := m.Values("via")
	if len(vias) != 3 || vias[2].Line != 3 || vias[0].Line != 2 {
		t.Fatalf("Via values: %+v", vias)
	}
	v, err := ParseVia(vias[0].Text)
	if err != nil || v.Protocol != "SIP/2.0" || v.Transport != "UDP" || v.Host != "[::1]" || v.Port != "1357" {
		t.Fatalf("via: %+v %v", v, err)
	}
	if c, _ := v.Params.Get("comp"); c != "sigcomp" {
		t.Fatalf("comp: %q", c)
	}
	v3, err := ParseVia(vias[2].Text)
	if err != nil || v3.Host != "h.net" || v3.Port != "5062" || v3.Transport != "UDP" {
		t.Fatalf("spaced via: %+v %v", v3, err)
	}
	from := m.Values("From")
	na, err := ParseNameAddr(from[0].Text)
	if err != nil || na.Display != "User, One" || na.URI.User != "user1_public1" || na.URI.Host != "home1.net" {
		t.Fatalf("from: %+v %v", na, err)
	}
	if tag, _ := na.Params.Get("tag"); tag != "4fa3" {
		t.Fatalf("tag %q", tag)
	}
	auth := m.Values("authorization")
	if len(auth) != 1 || auth[0].Line != 5 {
		t.Fatalf("folded Authorization: %+v", auth)
	}
	d, err := ParseDigest(auth[0].Text)
	if err != nil || d.Scheme != "Digest" {
		t.Fatal(d, err)
	}
	if r, _ := d.Params.Get("realm"); r != "r, x" {
		t.Errorf("realm %q", r)
	}
	if n, ok := d.Params.Get("nonce"); !ok || n != "" {
		t.Errorf("nonce %q %v", n, ok)
	}
	if a, _ := d.Params.Get("algorithm"); a != "AKAv1-MD5" {
		t.Errorf("algorithm %q", a)
	}
	if m.Values("Call-ID")[0].Text != "abc" {
		t.Error("compact i")
	}
}

func TestParseResponseAndURIs(t *testing.T) {
	m, err := Parse([]byte("SIP/2.0 401 Unauthorized\nContent-Length: 0\n\n"))
	if err != nil || m.Request || m.StatusCode != 401 || m.Reason != "Unauthorized" {
		t.Fatalf("%+v %v", m, err)
	}
	u, err := ParseURI("sip:+1-212-555-1111@home1.net;user=phone")
	if err != nil || u.User != "+1-212-555-1111" || u.Host != "home1.net" {
		t.Fatal(u, err)
	}
	if p, _ := u.Params.Get("user"); p != "phone" {
		t.Error("user param")
	}
	tel, err := ParseURI("tel:+1-212-555-1111")
	if err != nil || tel.Scheme != "tel" || tel.User != "+1-212-555-1111" {
		t.Fatal(tel, err)
	}
	na, err := ParseNameAddr("<sip:[::1]:1357;comp=sigcomp>;expires=600000")
	if err != nil || na.URI.Host != "[::1]" || na.URI.Port != "1357" {
		t.Fatal(na, err)
	}
	if e, _ := na.Params.Get("expires"); e != "600000" {
		t.Error("expires")
	}
	if c, _ := na.URI.Params.Get("comp"); c != "sigcomp" {
		t.Error("uri comp")
	}
	if got := SplitList(`<sip:a,b@x>, "q,r" <sip:c@y>, d`); len(got) != 3 {
		t.Errorf("split: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                      "empty message",
		"HELLO\r\n\r\n":                         "line 1",
		"SIP/2.0 20 OK\r\n\r\n":                 "3-digit status code",
		"REGISTER sip:x SIP/2.0\r\nFoo\r\n":     "line 2: expected a header",
		"REGISTER sip:x SIP/2.0\r\n folded\r\n": "continuation",
	} {
		_, err := Parse([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", raw, err, want)
		}
	}
	for _, s := range []string{"sip:[::1", "sip:h:99999", "nocolon"} {
		if _, err := ParseURI(s); err == nil {
			t.Errorf("ParseURI(%q) accepted", s)
		}
	}
	if _, err := ParseVia("SIP/2.0 host"); err == nil {
		t.Error("ParseVia accepted a two-part protocol")
	}
	if _, err := ParseDigest("Digest"); err == nil {
		t.Error("ParseDigest accepted no parameters")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\r\n"))
	f.Add([]byte("SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			if m != nil {
				t.Fatal("message with an error")
			}
			return
		}
		for _, h := range m.Headers {
			for _, v := range m.Values(h.Name) {
				_, _ = ParseVia(v.Text)
				_, _ = ParseNameAddr(v.Text)
				_, _ = ParseDigest(v.Text)
				_, _ = SplitParams(v.Text)
			}
		}
	})
}

func TestValuesAcrossSpellings(t *testing.T) {
	m, err := Parse([]byte("REGISTER sip:r SIP/2.0\r\nX-Tag: a\r\nsupported: path\r\nx-tag: b, \"c,d\"\r\nk: gruu\r\nSUPPORTED:\r\nAuthorization: Digest realm=\"a\\\"b\", nonce=\"n\"\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := func(name string) string {
		var s []string
		for _, v := range m.Values(name) {
			s = append(s, v.Text)
		}
		return strings.Join(s, "|")
	}
	if g := got("X-TAG"); g != `a|b|"c,d"` {
		t.Errorf("X-Tag values %q", g)
	}
	if g := got("Supported"); g != "path|gruu|" {
		t.Errorf("Supported values %q", g)
	}
	if g := got("k"); g != "path|gruu|" {
		t.Errorf("k values %q", g)
	}
	if m.Values("Nosuch") != nil {
		t.Error("values of an absent header")
	}
	d, err := ParseDigest(m.Values("Authorization")[0].Text)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Params.Get("realm"); r != `a"b` {
		t.Errorf("escaped realm %q", r)
	}
	if n, _ := d.Params.Get("nonce"); n != "n" {
		t.Errorf("nonce %q", n)
	}
}

// Continuation lines join the header they continue with one space each;
// blank ones add nothing.
func TestParseFoldedHeaders(t *testing.T) {
	m, err := Parse([]byte("SIP/2.0 200 OK\r\nVia: a\r\n \r\n\t b ;x\r\n  c\r\nX-Empty:\r\n d\r\nTo: <sip:t>\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"Via": "a b ;x c", "X-Empty": "d", "To": "<sip:t>"} {
		if ls := m.Lines(name); len(ls) != 1 || ls[0].Value != want {
			t.Errorf("%s: got %+v, want the value %q", name, ls, want)
		}
	}
}

// BenchmarkParseFolded: a header folded over many lines parses in linear
// time (it was quadratic: a 64 KiB datagram of continuation lines took
// about 100 ms).
func BenchmarkParseFolded(b *testing.B) {
	for _, n := range []int{1000, 8000} {
		raw := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a" + strings.Repeat("\r\n ;x", n) + "\r\n\r\n")
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
