package esp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteESPSA(t *testing.T) {
	var ik, ck [16]byte
	copy(ik[:], "0123456789abcdef")
	copy(ck[:], "fedcba9876543210")
	k4, _ := ExpandKeys(HMACSHA196, DESEDE3CBC, ik, ck)
	k6, _ := ExpandKeys(HMACMD596, Null, ik, ck)
	sa4 := &SA{keys: k4, info: SAInfo{SPI: 0x1234abcd, Src: netip.MustParseAddrPort("127.0.0.1:1357"), Dst: netip.MustParseAddrPort("127.0.0.1:5064"), Integrity: HMACSHA196, Encryption: DESEDE3CBC}}
	sa6 := &SA{keys: k6, info: SAInfo{SPI: 300, Src: netip.MustParseAddrPort("[::1]:5064"), Dst: netip.MustParseAddrPort("[::1]:1357"), Integrity: HMACMD596, Encryption: Null}}
	var b bytes.Buffer
	if err := WriteESPSA(&b, []ESPSARecord{sa4.ESPSA(), sa6.ESPSA()}); err != nil {
		t.Fatal(err)
	}
	want := "# Wireshark ESP SA table (esp_sa): the keys of the SAs of one imsconform run. Keep it secret.\n" +
		`"IPv4","127.0.0.1","127.0.0.1","0x1234abcd","TripleDES-CBC [RFC2451]","0x` + fmt.Sprintf("%x%x", ck, ck[:8]) + `","HMAC-SHA-1-96 [RFC2404]","0x` + fmt.Sprintf("%x", ik) + `00000000"` + "\n" +
		`"IPv6","::1","::1","0x0000012c","NULL","","HMAC-MD5-96 [RFC2403]","0x` + fmt.Sprintf("%x", ik) + `"` + "\n"
	if b.String() != want {
		t.Errorf("esp_sa =\n%s\nwant\n%s", b.String(), want)
	}
	// Only the file has the keys.
	for _, s := range []string{fmt.Sprint(sa4.ESPSA()), fmt.Sprintf("%v %+v %#v", sa4.ESPSA(), sa4.Info(), Agreement{IK: ik, CK: ck})} {
		if strings.Contains(s, fmt.Sprintf("%x", ik[:4])) || strings.Contains(s, fmt.Sprintf("%x", ck[:4])) || strings.Contains(s, "0123456789abcdef") {
			t.Errorf("a key is printed: %s", s)
		}
	}
	path := filepath.Join(t.TempDir(), "esp_sa")
	if err := WriteESPSAFile(path, []ESPSARecord{sa6.ESPSA()}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("esp_sa mode %v, %v; want 0600", fi.Mode(), err)
	}
	if err := WriteESPSA(&b, []ESPSARecord{{Encryption: "aes-gcm", Integrity: HMACMD596}}); err == nil {
		t.Error("an algorithm Wireshark has no name for was written")
	}
}
