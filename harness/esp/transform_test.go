package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// The HMAC-MD5-96 and HMAC-SHA-1-96 known answers: the test cases of RFC 2403
// 5 and RFC 2404 5 (the HMAC cases of RFC 2202), with the 96-bit ICV their
// section 2 takes, the first 12 bytes of the HMAC.
var hmacVectors = []struct {
	name  string
	integ Integrity
	key   []byte
	data  []byte
	full  string // the whole HMAC as the RFC gives it
}{
	{"RFC2403-1", HMACMD596, rep(0x0b, 16), []byte("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"},
	{"RFC2403-2", HMACMD596, []byte("Jefe"), []byte("what do ya want for nothing?"), "750c783e6ab0b503eaa86e310a5db738"},
	{"RFC2403-3", HMACMD596, rep(0xaa, 16), rep(0xdd, 50), "56be34521d144c88dbb8c733f0e8b3f6"},
	{"RFC2202-md5-4", HMACMD596, seq25(), rep(0xcd, 50), "697eaf0aca3a3aea3a75164746ffaa79"},
	{"RFC2202-md5-5", HMACMD596, rep(0x0c, 16), []byte("Test With Truncation"), "56461ef2342edc00f9bab995690efd4c"},
	{"RFC2202-md5-6", HMACMD596, rep(0xaa, 80), []byte("Test Using Larger Than Block-Size Key - Hash Key First"), "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"},
	{"RFC2404-1", HMACSHA196, rep(0x0b, 20), []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
	{"RFC2404-2", HMACSHA196, []byte("Jefe"), []byte("what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
	{"RFC2404-3", HMACSHA196, rep(0xaa, 20), rep(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
	{"RFC2202-sha1-4", HMACSHA196, seq25(), rep(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
	{"RFC2202-sha1-5", HMACSHA196, rep(0x0c, 20), []byte("Test With Truncation"), "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
	{"RFC2202-sha1-6", HMACSHA196, rep(0xaa, 80), []byte("Test Using Larger Than Block-Size Key - Hash Key First"), "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
}

func seq25() []byte {
	b := make([]byte, 25)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}

func TestICVKnownAnswers(t *testing.T) {
	for _, v := range hmacVectors {
		t.Run(v.name, func(t *testing.T) {
			tr, err := newTransform(Keys{Integrity: v.integ, Encryption: Null, auth: v.key})
			if err != nil {
				t.Fatal(err)
			}
			var icv [icvLen]byte
			tr.sum(icv[:], v.data)
			want := unhex(t, v.full)[:icvLen]
			if !bytes.Equal(icv[:], want) {
				t.Errorf("%s ICV = %x, want %x (the first 96 bits of %s)", v.integ, icv, want, v.full)
			}
		})
	}
}

// RFC 3602 4, cases 1 to 4: AES-CBC with a 128-bit key, both ways.
var aesVectors = []struct{ key, iv, plain, cipher string }{
	{"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
		hex.EncodeToString([]byte("Single block msg")), "e353779c1079aeb82708942dbe77181a"},
	{"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
	{"6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
		hex.EncodeToString([]byte("This is a 48-byte message (exactly 3 AES blocks)")),
		"d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"},
	{"56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
		"c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"},
}

func TestAESCBCKnownAnswers(t *testing.T) {
	for i, v := range aesVectors {
		c, err := aes.NewCipher(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		checkCBC(t, "RFC3602-"+string(rune('1'+i)), c, unhex(t, v.iv), unhex(t, v.plain), unhex(t, v.cipher))
	}
}

// The TDES-CBC example of NIST's Cryptographic Standards and Guidelines
// (csrc.nist.gov, examples/TDES_CBC.pdf): the three-key bundle, and the
// two-key bundle K3 = K1, which is the bundle TS 33.203 annex I builds from
// CK (CK₁ ‖ CK₂ ‖ CK₁). RFC 2451 has no test vectors.
func TestDESEDE3CBCKnownAnswers(t *testing.T) {
	iv := unhex(t, "f69f2445df4f9b17")
	plain := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
	for _, v := range []struct{ name, key, cipher string }{
		{"NIST-TDES-CBC-3key", "0123456789abcdef23456789abcdef01456789abcdef0123", "2079c3d53aa763e193b79e2569ab5262516570481f25b50f73c0bda85c8e0da7"},
		{"NIST-TDES-CBC-2key", "0123456789abcdef23456789abcdef010123456789abcdef", "7401ce1eab6d003caff84bf47b36cc2154f0238f9ffecd8f6acf118392b45581"},
	} {
		c, err := des.NewTripleDESCipher(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		checkCBC(t, v.name, c, iv, plain, unhex(t, v.cipher))
	}
	// The two-key vector through the key expansion of annex I: CK = K1 ‖ K2.
	var ck [16]byte
	copy(ck[:], unhex(t, "0123456789abcdef23456789abcdef01"))
	k, err := ExpandKeys(HMACSHA196, DESEDE3CBC, [16]byte{}, ck)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTransform(k)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(plain)
	cbcEncrypt(tr.block, iv, b)
	if want := unhex(t, "7401ce1eab6d003caff84bf47b36cc2154f0238f9ffecd8f6acf118392b45581"); !bytes.Equal(b, want) {
		t.Errorf("des-ede3-cbc with CK_ESP expanded from CK = %x: got %x, want the NIST two-key answer %x", ck, b, want)
	}
}

func checkCBC(t *testing.T, name string, c interface {
	BlockSize() int
	Encrypt(dst, src []byte)
	Decrypt(dst, src []byte)
}, iv, plain, want []byte) {
	t.Helper()
	b := bytes.Clone(plain)
	cbcEncrypt(c, iv, b)
	if !bytes.Equal(b, want) {
		t.Errorf("%s: encrypt = %x, want %x", name, b, want)
	}
	d := make([]byte, len(b))
	cbcDecrypt(c, iv, d, b)
	if !bytes.Equal(d, plain) {
		t.Errorf("%s: decrypt = %x, want %x", name, d, plain)
	}
}

// RFC 3602 4, cases 5 to 8: whole ESP packets (transport mode cases 5 and 6,
// tunnel mode 7 and 8) with AES-CBC and no authentication: SPI, sequence
// number, IV, payload, the default padding, Pad Length and Next Header, as
// seal writes them byte for byte.
func TestSealRFC3602Packets(t *testing.T) {
	for _, v := range []struct {
		name, key, iv, payload, packet string
		spi, seq                       uint32
		nh                             byte
	}{
		{"case5", "90d382b410eeba7ad938c46cec1a82bf", "e96e8c08ab465763fd098d45dd3ff893",
			"08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
			"0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6",
			0x4321, 1, 1},
		{"case6", "90d382b410eeba7ad938c46cec1a82bf", "69d08df7d203329db093fc4924e5bd80",
			"0800b5e8a80a0500a69c083d0b660e00777777777777777777777777",
			"000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
			0x4321, 8, 1},
		{"case7", "0123456789abcdef0123456789abcdef", "f4e765244f6407adf13dc1380f673f37",
			"45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d02a2040008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
			"0000876500000002f4e765244f6407adf13dc1380f673f37773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d",
			0x8765, 2, 4},
		{"case8", "0123456789abcdef0123456789abcdef", "85d47224b5f3dd5d2101d4ea8dffab22",
			"45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083da3de0300ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
			"000087650000000585d47224b5f3dd5d2101d4ea8dffab2215b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb50f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3d2726d9b5ef6affc6d17a0decbb13892",
			0x8765, 5, 4},
	} {
		t.Run(v.name, func(t *testing.T) {
			tr, err := newTransform(Keys{Encryption: AESCBC, enc: unhex(t, v.key)})
			if err != nil {
				t.Fatal(err)
			}
			payload := unhex(t, v.payload)
			got := tr.seal(nil, v.spi, v.seq, unhex(t, v.iv), payload, v.nh)
			want := unhex(t, v.packet)
			if !bytes.Equal(got, want) {
				t.Fatalf("seal =\n%x\nwant RFC 3602's\n%x", got, want)
			}
			if err := tr.checkLen(got); err != nil {
				t.Fatal(err)
			}
			p, nh, err := tr.decrypt(make([]byte, tr.bodyLen(got)), got)
			if err != nil || !bytes.Equal(p, payload) || nh != v.nh {
				t.Errorf("decrypt = %x, next header %d, %v; want %x, %d", p, nh, err, payload, v.nh)
			}
		})
	}
}

// Every combination seals and opens, with the lengths RFC 4303 2.4 requires:
// the trailer ends on the cipher's block (4 bytes for null), the ICV is 96 bits.
func TestSealOpenEveryCombination(t *testing.T) {
	for _, tr := range everyTransform(t) {
		integ, enc := tr.integ, tr.enc
		{
			for n := 0; n < 40; n++ {
				payload := rep(byte(n), n)
				pkt := tr.seal(nil, 0x1234, uint32(n+1), nil, payload, 17)
				body := len(pkt) - 8 - enc.ivLen() - icvLen
				if body%enc.blockSize() != 0 || body < n+2 || body >= n+2+enc.blockSize() {
					t.Fatalf("%s/%s n=%d: payload and trailer take %d bytes", integ, enc, n, body)
				}
				if err := tr.checkLen(pkt); err != nil {
					t.Fatal(err)
				}
				if err := tr.verify(pkt); err != nil {
					t.Fatal(err)
				}
				p, nh, err := tr.decrypt(make([]byte, tr.bodyLen(pkt)), pkt)
				if err != nil || !bytes.Equal(p, payload) || nh != 17 {
					t.Fatalf("%s/%s n=%d: open = %x %d %v", integ, enc, n, p, nh, err)
				}
			}
			// A flipped bit anywhere fails the ICV.
			pkt := tr.seal(nil, 0x1234, 1, nil, []byte("REGISTER"), 17)
			for i := range pkt {
				bad := bytes.Clone(pkt)
				bad[i] ^= 0x10
				if err := tr.verify(bad); !errors.Is(err, ErrICV) {
					t.Fatalf("%s/%s: byte %d flipped: verify = %v, want ErrICV", integ, enc, i, err)
				}
			}
		}
	}
}

// The parity bits of a DES key do not matter (FIPS 46-3 3): adjusting them,
// as a reading of TS 33.203 annex I may, changes no ciphertext.
func TestDESParityBitsIgnored(t *testing.T) {
	key := unhex(t, "0123456789abcdef23456789abcdef010123456789abcdef")
	flipped := bytes.Clone(key)
	for i := range flipped {
		flipped[i] ^= 1
	}
	a, _ := des.NewTripleDESCipher(key)
	b, _ := des.NewTripleDESCipher(flipped)
	x, y := make([]byte, 8), make([]byte, 8)
	a.Encrypt(x, []byte("REGISTER"))
	b.Encrypt(y, []byte("REGISTER"))
	if !bytes.Equal(x, y) {
		t.Errorf("flipping the parity bits changed the ciphertext: %x vs %x", x, y)
	}
}

func TestDecryptRefusesBadTrailer(t *testing.T) {
	tr, _ := newTransform(Keys{Integrity: HMACSHA196, Encryption: Null, auth: rep(1, 20)})
	pkt := tr.seal(nil, 1, 1, nil, nil, 17) // no payload: padding 1 2, Pad Length 2, Next Header 17
	bad := bytes.Clone(pkt)
	bad[8] = 7 // the first padding byte
	if _, _, err := tr.decrypt(make([]byte, 64), bad); !errors.Is(err, ErrPadding) {
		t.Errorf("padding 7 2: decrypt = %v, want ErrPadding", err)
	}
	bad = bytes.Clone(pkt)
	bad[8+2] = 200 // Pad Length beyond the payload
	if _, _, err := tr.decrypt(make([]byte, 64), bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("pad length 200: decrypt = %v, want ErrMalformed", err)
	}
	if err := tr.checkLen(pkt[:len(pkt)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("one byte short: checkLen = %v, want ErrMalformed", err)
	}
}

// everyTransform is a transform of each algorithm combination, keyed with
// made-up IK and CK.
func everyTransform(t testing.TB) []*transform {
	var ik, ck [16]byte
	copy(ik[:], "integrity key 16")
	copy(ck[:], "cipher key 16 by")
	var out []*transform
	for _, integ := range Integrities {
		for _, enc := range Encryptions {
			k, err := ExpandKeys(integ, enc, ik, ck)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := newTransform(k)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tr)
		}
	}
	return out
}
