package secagree

import (
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/esp"
)

const seedServer = "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531"

// The seed's Security-Server reads, writes back byte for byte, and reads
// the same whatever the case and spacing (RFC 3329 2.2: tokens compare
// case-insensitively).
func TestParseSeed(t *testing.T) {
	m, err := Parse(seedServer)
	if err != nil {
		t.Fatal(err)
	}
	want := Mechanism{Q: "0.1", QValue: 0.1, Integrity: esp.HMACSHA196, SPIC: 98765432, SPIS: 87654321, PortC: 8642, PortS: 7531}
	if m != want {
		t.Fatalf("Parse = %+v, want %+v", m, want)
	}
	if m.String() != seedServer {
		t.Errorf("String = %q, want %q", m.String(), seedServer)
	}
	if m.Cipher() != esp.Null {
		t.Errorf("an absent ealg is %q, want null (TS 24.229 7.2A.7)", m.Cipher())
	}
	if o, err := Parse("IPSEC-3GPP;Q=0.1;ALG=HMAC-SHA-1-96;SPI-C=98765432;spi-s=87654321 ; port-c=8642;port-s=7531"); err != nil || o != want {
		t.Errorf("in other case and spacing: %+v, %v", o, err)
	}
	side := m.Side(netip.MustParseAddr("::ffff:127.0.0.1"))
	if side != (esp.Side{Addr: netip.MustParseAddr("127.0.0.1"), PortC: 8642, PortS: 7531, SPIC: 98765432, SPIS: 87654321}) {
		t.Errorf("Side = %s", side)
	}
	if FromSide(side, esp.HMACSHA196, "") != (Mechanism{Integrity: esp.HMACSHA196, SPIC: 98765432, SPIS: 87654321, PortC: 8642, PortS: 7531}) {
		t.Errorf("FromSide does not give the mechanism back")
	}
}

func TestParseRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"tls; q=0.2": "not an ipsec-3gpp",
		"ipsec-3gpp; spi-c=1; spi-s=2; port-c=3; port-s=4":                                 "expected an alg",
		strings.Replace(seedServer, "alg=hmac-sha-1-96", "alg=hmac-sha-256-128", 1):        "integrity algorithm",
		strings.Replace(seedServer, "; port-s=7531", "", 1):                                "expected a port-s",
		strings.Replace(seedServer, "port-s=7531", "port-s=65536", 1):                      "port-s as a non-zero 16-bit",
		strings.Replace(seedServer, "spi-c=98765432", "spi-c=x", 1):                        "spi-c as a non-zero 32-bit",
		strings.Replace(seedServer, "q=0.1", "q=2", 1):                                     "q from 0 to 1",
		strings.Replace(seedServer, "alg=hmac-sha-1-96", "alg=hmac-sha-1-96; ealg=rc4", 1): "encryption algorithm",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

// The UE takes the highest q among what it offered (RFC 3329 2.3.1,
// TS 33.203 7.2), the first listed of equal q, and skips mechanisms of
// other names and algorithms it did not offer.
func TestChooseServer(t *testing.T) {
	offered := []Mechanism{{Integrity: esp.HMACSHA196}, {Integrity: esp.HMACMD596, Encryption: esp.AESCBC}}
	list := []string{
		"tls; q=0.9, ipsec-3gpp; q=0.8; alg=hmac-md5-96; spi-c=1000; spi-s=1001; port-c=1; port-s=2", // md5/null: not offered
		"ipsec-3gpp; q=0.2; alg=hmac-sha-1-96; ealg=null; spi-c=2000; spi-s=2001; port-c=3; port-s=4",
		"ipsec-3gpp; q=0.5; alg=hmac-md5-96; ealg=aes-cbc; spi-c=3000; spi-s=3001; port-c=5; port-s=6, ipsec-3gpp; q=0.5; alg=hmac-sha-1-96; spi-c=4000; spi-s=4001; port-c=7; port-s=8",
	}
	ms, err := ParseValues(list)
	if err != nil || len(ms) != 4 {
		t.Fatalf("ParseValues = %d mechanisms, %v", len(ms), err)
	}
	got, err := ChooseServer(ms, offered)
	if err != nil || got.SPIC != 3000 {
		t.Fatalf("ChooseServer = %+v, %v; want the first of q 0.5 (spi-c 3000)", got, err)
	}
	if _, err := ChooseServer(ms[:1], offered); err == nil || !strings.Contains(err.Error(), "hmac-md5-96/null") {
		t.Errorf("nothing offered: %v", err)
	}
	if _, err := ChooseServer(nil, offered); err == nil {
		t.Error("no mechanism: no error")
	}
	if _, err := ParseValues([]string{seedServer + ", ipsec-3gpp; alg=x"}); err == nil {
		t.Error("a broken ipsec-3gpp value: no error")
	}
	if got, _ := ChooseClient(offered); got != offered[0] {
		t.Errorf("ChooseClient = %+v, want the UE's first", got)
	}
	if Join(ms[1:3]) != "ipsec-3gpp; q=0.2; alg=hmac-sha-1-96; ealg=null; spi-c=2000; spi-s=2001; port-c=3; port-s=4, ipsec-3gpp; q=0.5; alg=hmac-md5-96; ealg=aes-cbc; spi-c=3000; spi-s=3001; port-c=5; port-s=6" {
		t.Errorf("Join = %q", Join(ms[1:3]))
	}
}
