package subscribers

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"imsconform/harness/aka"
)

// TS 35.208 test set 1.
var (
	k1, _  = hex.DecodeString("465b5ce8b199b49faa5f0a2ee238a6bc")
	op1, _ = hex.DecodeString("cdc202d5123e20f62b6d676ac72cb318")
)

func testSet(t *testing.T, keys string, n int) *Set {
	t.Helper()
	s, err := New(Config{Count: n, First: 1, IMPI: "user%06d_private@home1.net",
		IMPUs: []string{"sip:user%06d_public1@home1.net", "tel:+1212%07d"}, Keys: keys, K: k1, OP: op1,
		AMF: [2]byte{0xb9, 0xb9}, SQN: 0x20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPatternFormatsAndReadsBack(t *testing.T) {
	for _, c := range []struct {
		pattern string
		n       int
		want    string
	}{
		{"user%06d_private@home1.net", 42, "user000042_private@home1.net"},
		{"user%06d_private@home1.net", 1234567, "user1234567_private@home1.net"},
		{"sip:u%d@home1.net", 0, "sip:u0@home1.net"},
		{"tel:+1212%07d", 7, "tel:+12120000007"},
		{"100%%-user%03d", 5, "100%-user005"},
	} {
		p, err := ParsePattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.Format(c.n); got != c.want {
			t.Errorf("%s: Format(%d) = %q, want %q", c.pattern, c.n, got, c.want)
		}
		if n, ok := p.Number(c.want); !ok || n != c.n {
			t.Errorf("%s: Number(%q) = %d, %v; want %d", c.pattern, c.want, n, ok, c.n)
		}
	}
	p, _ := ParsePattern("sip:user%06d@home1.net")
	if n, ok := p.Number("SIP:user000007@HOME1.net"); !ok || n != 7 {
		t.Errorf("scheme and host in another case: Number = %d, %v; want 7", n, ok)
	}
	for _, s := range []string{"sip:user7@home1.net", "sip:user0000007@home1.net", "sip:user00000x@home1.net", "sip:user000007@home2.net", "sip:user@home1.net", ""} {
		if n, ok := p.Number(s); ok {
			t.Errorf("Number(%q) = %d, want no number: the pattern does not write it", s, n)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for pattern, want := range map[string]string{
		"user@home1.net":      "saw none",
		"user%d-%d@home1.net": "a second",
		"user%s@home1.net":    "expected a %d",
		"user%6d@home1.net":   "zero-padded",
		"user%0d@home1.net":   "expected a %d",
		"user%":               "expected a %d",
		"user%099d":           "at most 20",
	} {
		if _, err := ParsePattern(pattern); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePattern(%q) = %v, want an error saying %q", pattern, err, want)
		}
	}
}

func TestSetIdentitiesAndLookups(t *testing.T) {
	s := testSet(t, KeysShared, 1000)
	if s.Len() != 1000 || s.IMPI(0) != "user000001_private@home1.net" || s.IMPU(999) != "sip:user001000_public1@home1.net" {
		t.Fatalf("identities: %s %s", s.IMPI(0), s.IMPU(999))
	}
	if got := s.IMPUs(4); len(got) != 2 || got[1] != "tel:+12120000005" {
		t.Errorf("IMPUs(4) = %q", got)
	}
	for i := range 1000 {
		if j, ok := s.ByIMPI(s.IMPI(i)); !ok || j != i {
			t.Fatalf("ByIMPI(IMPI(%d)) = %d, %v", i, j, ok)
		}
		for _, u := range s.IMPUs(i) {
			if j, ok := s.ByIMPU(u); !ok || j != i {
				t.Fatalf("ByIMPU(%s) = %d, %v; want %d", u, j, ok, i)
			}
		}
	}
	for _, id := range []string{"user000000_private@home1.net", "user001001_private@home1.net", "user1_private@home1.net"} {
		if i, ok := s.ByIMPI(id); ok {
			t.Errorf("ByIMPI(%s) = %d: expected no member (outside the set)", id, i)
		}
	}
}

func TestSharedKeysAreTheLabs(t *testing.T) {
	s := testSet(t, KeysShared, 3)
	want, _ := aka.NewMilenage(k1, op1, nil)
	var r [16]byte
	for i := range 3 {
		if s.Milenage(i).F2345(r) != want.F2345(r) {
			t.Errorf("subscriber %d: expected the lab's K and OP", i)
		}
	}
}

// The derivation is stated (DeriveK, DeriveOPc) so that a SUT's HSS can be
// provisioned with it: a known answer of subscriber 1 and distinct keys.
func TestDerivedKeysFollowTheStatedDerivation(t *testing.T) {
	s := testSet(t, KeysDerived, 3)
	k := DeriveK(k1, "user000001_private@home1.net")
	opc, err := aka.ComputeOPc(k[:], op1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := aka.NewMilenage(k[:], nil, opc[:])
	var r [16]byte
	if s.Milenage(0).F2345(r) != want.F2345(r) {
		t.Error("subscriber 0: expected K = HMAC-SHA-256(root K, \"imsconform K \" ‖ IMPI)[:16] and OPc from OP")
	}
	// Known answer, computed once with Python's hmac and hashlib:
	// hmac.new(bytes.fromhex(K), b"imsconform K user000001_private@home1.net", "sha256").hexdigest()[:32]
	if got := hex.EncodeToString(k[:]); got != knownDerivedK {
		t.Errorf("DeriveK: %s, want %s", got, knownDerivedK)
	}
	if s.Milenage(1).F2345(r) == s.Milenage(2).F2345(r) {
		t.Error("subscribers 1 and 2: expected keys of their own")
	}
}

const knownDerivedK = "192f2d12f1671a0569a153c568379f4d"

func TestAuCVectorsVerifyAtTheUEAndResync(t *testing.T) {
	s := testSet(t, KeysDerived, 5)
	a := NewAuC(s, nil)
	for i := range 5 {
		v, err := a.Vector(i)
		if err != nil {
			t.Fatal(err)
		}
		u := aka.NewUSIM(s.Milenage(i), aka.SQNFromUint64(0), 0)
		got, err := u.Authenticate(v.RAND, v.AUTN)
		if err != nil {
			t.Fatalf("subscriber %d: the UE refuses its vector: %v", i, err)
		}
		if aka.SQNToUint64(got.SQN) != 0x21 || got.RES != v.XRES {
			t.Errorf("subscriber %d: SQN %x, RES match %v; want SQN 21 and RES = XRES", i, got.SQN, got.RES == v.XRES)
		}
	}
	// Resync: a UE whose SQN_MS is far ahead sends AUTS; the next vector is fresh to it.
	u := aka.NewUSIM(s.Milenage(2), aka.SQNFromUint64(0x1000), 0)
	v, _ := a.Vector(2)
	_, err := u.Authenticate(v.RAND, v.AUTN)
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("expected a sync failure, got %v", err)
	}
	if err := a.Resync(2, v.RAND, sf.AUTS); err != nil {
		t.Fatal(err)
	}
	v, _ = a.Vector(2)
	if _, err := u.Authenticate(v.RAND, v.AUTN); err != nil {
		t.Fatalf("after the resync the vector is not fresh: %v", err)
	}
	if a.SQN(2) != 0x1001 {
		t.Errorf("SQN_HE after the resync = %x, want 1001", a.SQN(2))
	}
	if err := a.Resync(3, v.RAND, sf.AUTS); err == nil {
		t.Error("an AUTS of another subscriber: expected MAC-S to fail")
	}
}

func TestAvoidZeroRES(t *testing.T) {
	c := Config{Count: 1, IMPI: "u%d", IMPUs: []string{"sip:u%d@h"}, K: k1, OP: op1, AvoidZeroRES: true}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuC(s, nil)
	for range 2000 {
		v, _ := a.Vector(0)
		if bytes.IndexByte(v.XRES[:], 0) >= 0 {
			t.Fatalf("RES %x holds a zero byte although the set avoids it", v.XRES)
		}
	}
	// Without it, about 3 % of vectors do (1 - (255/256)^8).
	c.AvoidZeroRES = false
	s, _ = New(c)
	a = NewAuC(s, nil)
	zero := 0
	for range 4000 {
		v, _ := a.Vector(0)
		if bytes.IndexByte(v.XRES[:], 0) >= 0 {
			zero++
		}
	}
	if zero < 40 || zero > 250 {
		t.Errorf("%d of 4000 RES hold a zero byte; expected about 123", zero)
	}
}

func TestShardsCoverEverySubscriberOnce(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000, 100001} {
		for of := 1; of <= 9; of++ {
			seen := 0
			prev := 0
			for i := range of {
				lo, hi := Shard{i, of}.Slice(n)
				if lo != prev || hi < lo || hi-lo > n/of+1 {
					t.Fatalf("n=%d shard %d/%d: [%d,%d) after %d", n, i, of, lo, hi, prev)
				}
				seen += hi - lo
				prev = hi
			}
			if seen != n || prev != n {
				t.Fatalf("n=%d in %d shards: %d subscribers covered", n, of, seen)
			}
		}
	}
	for _, s := range []string{"2/4", " 0/1"} {
		if _, err := ParseShard(s); err != nil {
			t.Errorf("ParseShard(%q): %v", s, err)
		}
	}
	for _, s := range []string{"4/4", "-1/2", "1", "a/b", "0/0"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q): expected an error", s)
		}
	}
}

func TestCSVExport(t *testing.T) {
	s := testSet(t, KeysDerived, 10)
	var b bytes.Buffer
	if err := WriteCSV(&b, s, 2, 5); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "impi,impus,k,op,opc,amf,sqn" {
		t.Fatalf("rows: %q", rows)
	}
	r := rows[1]
	k := DeriveK(k1, s.IMPI(2))
	opc, _ := aka.ComputeOPc(k[:], op1)
	if r[0] != s.IMPI(2) || r[1] != strings.Join(s.IMPUs(2), " ") || r[2] != hex.EncodeToString(k[:]) ||
		r[3] != hex.EncodeToString(op1) || r[4] != hex.EncodeToString(opc[:]) || r[5] != "b9b9" || r[6] != "000000000020" {
		t.Errorf("row of subscriber 2: %q", r)
	}
}

func TestNoKeyInFmtOutputOrErrors(t *testing.T) {
	s := testSet(t, KeysShared, 2)
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		for _, secret := range []string{hex.EncodeToString(k1), hex.EncodeToString(op1)} {
			if strings.Contains(strings.ToLower(out), secret) {
				t.Fatalf("fmt output shows a key: %s", out)
			}
		}
	}
	_, err := New(Config{Count: 1, IMPI: "u%d", IMPUs: []string{"sip:u%d@h"}, K: k1[:15], OP: op1})
	if err == nil || strings.Contains(err.Error(), hex.EncodeToString(k1[:15])) {
		t.Errorf("a short K: %v", err)
	}
}
