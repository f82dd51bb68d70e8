package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"imsconform/harness/diameter"
	"imsconform/harness/trace"
)

// Vector values of TS 35.208 test set 1 (RAND, AUTN, XRES/RES, CK, IK).
var (
	rand = mustHex("23553cbe9637a89d218ae64dae47bf35")
	autn = mustHex("55f328b43577b9b94a9ffac354dfafb3")
	xres = mustHex("a54211d5e3ba50bf")
	ck   = mustHex("b40ba9a3c58b2a05bbf0d987b21bf8cb")
	ik   = mustHex("f769bcd751044604127672711c6d3441")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func cx(code uint32, b []byte) diameter.AVP {
	return diameter.OctetString(code, diameter.Vendor3GPP, diameter.AVPFlagMandatory, b)
}

// maa is an MAA as the HSS emulator sends it: one SIP-Auth-Data-Item with
// the vector.
func maa(t *testing.T) []byte {
	t.Helper()
	req := diameter.NewRequest(diameter.CmdMultimediaAuth, 16777216, 1, 2,
		diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, "scscf;1"))
	a := req.Answer(
		diameter.Unsigned32(diameter.AVPResultCode, 0, diameter.AVPFlagMandatory, 2001),
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "user1_private@home1.net"),
		diameter.Grouped(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP, diameter.AVPFlagMandatory,
			diameter.Unsigned32(diameter.AVPSIPItemNumber, diameter.Vendor3GPP, diameter.AVPFlagMandatory, 1),
			diameter.UTF8String(diameter.AVPSIPAuthenticationScheme, diameter.Vendor3GPP, diameter.AVPFlagMandatory, "Digest-AKAv1-MD5"),
			cx(diameter.AVPSIPAuthenticate, append(append([]byte{}, rand...), autn...)),
			cx(diameter.AVPSIPAuthorization, xres),
			cx(diameter.AVPConfidentialityKey, ck),
			cx(diameter.AVPIntegrityKey, ik)))
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMaskMAA(t *testing.T) {
	raw := maa(t)
	k := New()
	in := trace.Message{Proto: trace.Diameter, Raw: raw}
	out := k.Message(in)
	if !bytes.Equal(in.Raw, raw) {
		t.Fatal("Message changed its input")
	}
	if len(out.Raw) != len(raw) {
		t.Fatalf("masked MAA: %d bytes, want %d (lengths kept)", len(out.Raw), len(raw))
	}
	for _, v := range [][]byte{rand, autn, xres, ck, ik} {
		if bytes.Contains(out.Raw, v) {
			t.Errorf("masked MAA still holds %x", v)
		}
	}
	m, err := diameter.Unmarshal(out.Raw)
	if err != nil {
		t.Fatalf("masked MAA no longer decodes: %v", err)
	}
	item, _ := m.Find(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP)
	members, err := item.Group()
	if err != nil {
		t.Fatal(err)
	}
	masked := 0
	for _, a := range members {
		if Vector(a.Code, a.Vendor()) {
			masked++
			if !bytes.Equal(a.Data, bytes.Repeat([]byte{Fill}, len(a.Data))) {
				t.Errorf("AVP %d: data %x, want every byte %q", a.Code, a.Data, Fill)
			}
		} else if a.Code == diameter.AVPSIPAuthenticationScheme && string(a.Data) != "Digest-AKAv1-MD5" {
			t.Errorf("SIP-Authentication-Scheme changed: %q", a.Data)
		}
	}
	if masked != 4 {
		t.Errorf("masked %d AVPs, want 4 (SIP-Authenticate, SIP-Authorization, Confidentiality-Key, Integrity-Key)", masked)
	}
	if u, _ := m.Find(diameter.AVPUserName, 0); string(u.Data) != "user1_private@home1.net" {
		t.Errorf("User-Name changed: %q", u.Data)
	}
	text := "observed " + hex.EncodeToString(ck) + ", " + strings.ToUpper(hex.EncodeToString(ik)) + ", " + base64.StdEncoding.EncodeToString(xres) + "; user1"
	got := k.Text(text)
	for _, v := range [][]byte{ck, ik, xres} {
		if strings.Contains(strings.ToLower(got), hex.EncodeToString(v)) || strings.Contains(got, base64.StdEncoding.EncodeToString(v)) {
			t.Errorf("Text(%q) = %q: still holds %x", text, got, v)
		}
	}
	if !strings.HasPrefix(got, "observed ***") || !strings.HasSuffix(got, "; user1") || len(got) != len(text) {
		t.Errorf("Text = %q: want the values starred in place, the rest as it was", got)
	}
}

func TestMaskSIP(t *testing.T) {
	nonce := base64.StdEncoding.EncodeToString(append(append([]byte{}, rand...), autn...))
	cases := []struct {
		name, raw string
		gone      []string // values that must be masked
		kept      []string // text that must stay
	}{
		{"401 from the S-CSCF with ck and ik", "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK1\r\n" +
			`WWW-Authenticate: Digest realm="registrar.home1.net", nonce="` + nonce + `", algorithm=AKAv1-MD5, ck="` + hex.EncodeToString(ck) + `", ik="` + hex.EncodeToString(ik) + `"` + "\r\nContent-Length: 0\r\n\r\n",
			[]string{nonce, hex.EncodeToString(ck), hex.EncodeToString(ik)},
			[]string{`realm="registrar.home1.net"`, "algorithm=AKAv1-MD5", `nonce="*`, "Content-Length: 0"}},
		{"REGISTER with response and auts, folded, odd case", "REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
			"authorization: Digest username=\"user1_private@home1.net\", NONCE=\"" + nonce + "\",\r\n  response=6629fae49393a05397450978507c4ef1 ,auts=\"" + "AAECAwQFBgcICQoLDA0O" + "\", uri=\"sip:registrar.home1.net\"\r\n\r\nbody nonce=" + nonce,
			[]string{"6629fae49393a05397450978507c4ef1", "AAECAwQFBgcICQoLDA0O"},
			[]string{`username="user1_private@home1.net"`, `uri="sip:registrar.home1.net"`, "body nonce=" + nonce, "\r\n  response="}},
		{"quoted escapes", "SIP/2.0 401 x\nProxy-Authenticate: Digest nonce=\"a\\\"bcdefghij\", realm=r\n\n",
			[]string{`a\"bcdefghij`}, []string{"realm=r", `nonce="************"`}},
		{"no vector header", "SIP/2.0 200 OK\r\nX-Nonce: nonce=" + nonce + "\r\n\r\n", nil, []string{nonce}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := New()
			out := k.Message(trace.Message{Proto: trace.SIP, Raw: []byte(c.raw)})
			s := string(out.Raw)
			if len(s) != len(c.raw) || strings.Count(s, "\n") != strings.Count(c.raw, "\n") {
				t.Errorf("masked message: %d bytes and %d lines, want %d and %d", len(s), strings.Count(s, "\n"), len(c.raw), strings.Count(c.raw, "\n"))
			}
			head := s
			if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
				head = s[:i]
			}
			for _, v := range c.gone {
				if strings.Contains(head, v) {
					t.Errorf("masked message still holds %q:\n%s", v, s)
				}
				if got := k.Text("x " + v + " y"); got != "x "+strings.Repeat("*", len(v))+" y" {
					t.Errorf("Text: %q, want the value starred", got)
				}
			}
			for _, v := range c.kept {
				if !strings.Contains(s, v) {
					t.Errorf("masked message lost %q:\n%s", v, s)
				}
			}
			if again := New().Message(out); !bytes.Equal(again.Raw, out.Raw) {
				t.Error("masking twice changed the message again")
			}
		})
	}
	// The nonce's bytes in hex (how the AUTN fact or a rule may show them).
	k := New()
	k.Message(trace.Message{Proto: trace.SIP, Raw: []byte(cases[0].raw)})
	for _, v := range [][]byte{rand, autn} {
		if got := k.Text("x " + hex.EncodeToString(v)); strings.Contains(got, hex.EncodeToString(v)) {
			t.Errorf("Text of RAND or AUTN alone in hex = %q, want it starred", got)
		}
	}
	if got := k.Text(hex.EncodeToString(append(append([]byte{}, rand...), autn...))); strings.ContainsAny(got, "0123456789abcdef") {
		t.Errorf("Text of the nonce's bytes in hex = %q, want them starred", got)
	}
}

func TestTextIgnoresShortValues(t *testing.T) {
	k := New()
	k.Message(trace.Message{Proto: trace.SIP, Raw: []byte("SIP/2.0 401 x\r\nWWW-Authenticate: Digest nonce=\"ab\", ck=\"\"\r\n\r\n")})
	if got := k.Text("ab abc"); got != "ab abc" {
		t.Errorf("Text = %q: a value shorter than %d characters must not mask free text", got, minText)
	}
}

// FuzzMask: no input makes masking panic, change a length, or give a
// different result the second time; a Diameter message that decoded still
// decodes.
func FuzzMask(f *testing.F) {
	f.Add([]byte("SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest nonce=\"abc\\\"def\", ck=x, ik=\"\r\n y\"\r\n\r\n"), false)
	f.Add([]byte("REGISTER sip:x SIP/2.0\nAuthorization: Digest response=, nonce=\"\nContent-Length: 0\n\n"), false)
	f.Add([]byte{1, 0, 0, 20, 0, 0, 1, 47, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, true)
	f.Fuzz(func(t *testing.T, raw []byte, dia bool) {
		proto := trace.SIP
		if dia {
			proto = trace.Diameter
		}
		in := append([]byte(nil), raw...)
		k := New()
		out := k.Message(trace.Message{Proto: proto, Raw: in})
		if !bytes.Equal(in, raw) {
			t.Fatal("Message changed its input")
		}
		if len(out.Raw) != len(raw) {
			t.Fatalf("masked %d bytes into %d", len(raw), len(out.Raw))
		}
		if again := New().Message(out); !bytes.Equal(again.Raw, out.Raw) {
			t.Fatalf("masking twice: %q then %q", out.Raw, again.Raw)
		}
		if dia {
			if _, err := diameter.Unmarshal(raw); err == nil {
				if _, err := diameter.Unmarshal(out.Raw); err != nil {
					t.Fatalf("a message that decoded no longer decodes once masked: %v", err)
				}
			}
		}
		_ = k.Text(string(raw))
	})
}
