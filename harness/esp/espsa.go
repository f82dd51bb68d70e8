package esp

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
)

// ESPSARecord is one row of Wireshark's table of ESP SAs (the user table
// "esp_sa", Preferences › Protocols › ESP › ESP SAs), with which Wireshark
// and tshark decrypt the packets of an SA and check their ICV. It holds the
// SA's keys: fmt output redacts them, and only WriteESPSA writes them.
type ESPSARecord struct {
	Src, Dst   netip.Addr
	SPI        uint32
	Encryption Encryption
	Integrity  Integrity
	encKey     []byte
	authKey    []byte
}

// ESPSA is the SA's row of Wireshark's ESP SA table.
func (sa *SA) ESPSA() ESPSARecord {
	return ESPSARecord{Src: sa.info.Src.Addr(), Dst: sa.info.Dst.Addr(), SPI: sa.info.SPI,
		Encryption: sa.info.Encryption, Integrity: sa.info.Integrity, encKey: sa.keys.enc, authKey: sa.keys.auth}
}

// ESPSA is the rows of the bundle's four SAs: enough for Wireshark to read
// both directions of both SA pairs.
func (b *Bundle) ESPSA() []ESPSARecord {
	out := make([]ESPSARecord, len(b.sas))
	for i, sa := range b.sas {
		out[i] = sa.ESPSA()
	}
	return out
}

// String never shows the keys.
func (r ESPSARecord) String() string {
	return fmt.Sprintf("esp_sa{%s→%s SPI 0x%08x %s %s keys:%s}", r.Src, r.Dst, r.SPI, r.Encryption, r.Integrity, redacted)
}

// GoString never shows the keys.
func (r ESPSARecord) GoString() string { return r.String() }

// Format prints the redacted String for every verb.
func (r ESPSARecord) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// The algorithm names of Wireshark's ESP SA table, as tshark 4.0 (Debian 12)
// knows them (epan/dissectors/packet-ipsec.c).
var (
	wiresharkEncryption = map[Encryption]string{
		Null:       "NULL",
		AESCBC:     "AES-CBC [RFC3602]",
		DESEDE3CBC: "TripleDES-CBC [RFC2451]",
	}
	wiresharkIntegrity = map[Integrity]string{
		HMACMD596:  "HMAC-MD5-96 [RFC2403]",
		HMACSHA196: "HMAC-SHA-1-96 [RFC2404]",
	}
)

// Line is the record as one line of the esp_sa file, without the newline:
// eight quoted, comma-separated fields — protocol ("IPv4" or "IPv6"),
// source, destination, SPI in hex, encryption algorithm, encryption key in
// hex ("" for NULL), authentication algorithm, authentication key in hex —
// which is also the value tshark takes in -o "uat:esp_sa:LINE". It holds
// the keys.
func (r ESPSARecord) Line() string {
	proto := "IPv4"
	if r.Src.Is6() {
		proto = "IPv6"
	}
	hexKey := func(k []byte) string {
		if len(k) == 0 {
			return ""
		}
		return fmt.Sprintf("0x%x", k)
	}
	return fmt.Sprintf("%q,%q,%q,\"0x%08x\",%q,%q,%q,%q", proto, r.Src.String(), r.Dst.String(), r.SPI,
		wiresharkEncryption[r.Encryption], hexKey(r.encKey), wiresharkIntegrity[r.Integrity], hexKey(r.authKey))
}

// WriteESPSA writes records as Wireshark's esp_sa file: put it in a
// Wireshark configuration directory (or pass each line to tshark with
// -o "uat:esp_sa:LINE") and turn on esp.enable_encryption_decode and
// esp.enable_authentication_check. The file holds CK_ESP and IK_ESP: it is
// the one place this package writes keys.
func WriteESPSA(w io.Writer, records []ESPSARecord) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# Wireshark ESP SA table (esp_sa): the keys of the SAs of one imsconform run. Keep it secret.")
	for _, r := range records {
		if _, ok := wiresharkEncryption[r.Encryption]; !ok {
			return fmt.Errorf("esp: esp_sa: %s: no Wireshark name for encryption %q", r, r.Encryption)
		}
		if _, ok := wiresharkIntegrity[r.Integrity]; !ok {
			return fmt.Errorf("esp: esp_sa: %s: no Wireshark name for integrity %q", r, r.Integrity)
		}
		fmt.Fprintln(bw, r.Line())
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("esp: writing esp_sa: %w", err)
	}
	return nil
}

// WriteESPSAFile writes records to path (mode 0600: it holds keys).
func WriteESPSAFile(path string, records []ESPSARecord) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("esp: esp_sa: %w", err)
	}
	if err := WriteESPSA(f, records); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("esp: esp_sa: %w", err)
	}
	return nil
}
