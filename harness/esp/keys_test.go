package esp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestExpandKeys(t *testing.T) {
	var ik, ck [16]byte
	for i := range ik {
		ik[i] = byte(0xa0 + i)
		ck[i] = byte(0xc0 + i)
	}
	for _, tc := range []struct {
		integ        Integrity
		enc          Encryption
		auth, encKey []byte
	}{
		{HMACMD596, Null, ik[:], nil},
		{HMACSHA196, Null, append(bytes.Clone(ik[:]), 0, 0, 0, 0), nil},
		{HMACMD596, AESCBC, ik[:], ck[:]},
		{HMACSHA196, DESEDE3CBC, append(bytes.Clone(ik[:]), 0, 0, 0, 0), append(bytes.Clone(ck[:]), ck[:8]...)},
	} {
		k, err := ExpandKeys(tc.integ, tc.enc, ik, ck)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.auth, tc.auth) || !bytes.Equal(k.enc, tc.encKey) {
			t.Errorf("%s/%s: IK_ESP %x CK_ESP %x, want %x %x", tc.integ, tc.enc, k.auth, k.enc, tc.auth, tc.encKey)
		}
	}
	if _, err := ExpandKeys("hmac-sha-256", Null, ik, ck); err == nil || !strings.Contains(err.Error(), `"hmac-sha-256"`) {
		t.Errorf("unknown alg: %v", err)
	}
	if _, err := ExpandKeys(HMACMD596, "aes-gcm", ik, ck); err == nil || !strings.Contains(err.Error(), `"aes-gcm"`) {
		t.Errorf("unknown ealg: %v", err)
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	var ik, ck [16]byte
	copy(ik[:], "IKIKIKIKIKIKIKIK")
	copy(ck[:], "CKCKCKCKCKCKCKCK")
	k, _ := ExpandKeys(HMACSHA196, AESCBC, ik, ck)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k)} {
		if strings.Contains(s, "IKIK") || strings.Contains(s, "CKCK") || strings.Contains(s, "494b") || strings.Contains(s, "434b") {
			t.Errorf("keys printed: %s", s)
		}
	}
}

func TestParseAlgorithms(t *testing.T) {
	if a, err := ParseIntegrity("HMAC-SHA-1-96"); err != nil || a != HMACSHA196 {
		t.Errorf("ParseIntegrity = %q, %v", a, err)
	}
	if e, err := ParseEncryption("AES-CBC"); err != nil || e != AESCBC {
		t.Errorf("ParseEncryption = %q, %v", e, err)
	}
	if _, err := ParseEncryption(""); err == nil {
		t.Error("empty ealg accepted")
	}
}
