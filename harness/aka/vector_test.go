package aka

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// set1 returns the Milenage of TS 35.208 test set 1 keyed with OPc, and its
// RAND, SQN and AMF.
func set1(t testing.TB) (*Milenage, [RANDLen]byte, [SQNLen]byte, [AMFLen]byte) {
	t.Helper()
	ts := ts35208[0]
	m, err := NewMilenage(unhex(t, ts.k), nil, unhex(t, ts.opc))
	if err != nil {
		t.Fatal(err)
	}
	return m, [RANDLen]byte(unhex(t, ts.rand)), [SQNLen]byte(unhex(t, ts.sqn)), [AMFLen]byte(unhex(t, ts.amf))
}

// secretsOfSet1 are the hex forms of the key material of test set 1, which
// must never appear in an error or fmt output.
func secretsOfSet1() []string {
	ts := ts35208[0]
	return []string{ts.k, ts.op, ts.opc, ts.f2, ts.f3, ts.f4}
}

func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	low := strings.ToLower(s)
	for _, sec := range secretsOfSet1() {
		if strings.Contains(low, sec) {
			t.Errorf("%s shows key material %s…: %q", what, sec[:6], s)
		}
	}
}

func TestGenerateVectorSet1(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	ts := ts35208[0]
	for _, c := range []struct{ name, got, want string }{
		{"RAND", hex.EncodeToString(v.RAND[:]), ts.rand},
		{"XRES", hex.EncodeToString(v.XRES[:]), ts.f2},
		{"CK", hex.EncodeToString(v.CK[:]), ts.f3},
		{"IK", hex.EncodeToString(v.IK[:]), ts.f4},
		{"AK", hex.EncodeToString(v.AK[:]), ts.f5},
		// /work/shared/spec/milenage-known-answers.md
		{"AUTN", hex.EncodeToString(v.AUTN[:]), "55f328b43577b9b94a9ffac354dfafb3"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestVerifyAUTNGood(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	sqnMS := SQNFromUint64(SQNToUint64(sqn) - 1)
	a, err := m.VerifyAUTN(rand, v.AUTN, sqnMS, 0)
	if err != nil {
		t.Fatalf("VerifyAUTN of a fresh AUTN: %v", err)
	}
	ts := ts35208[0]
	for _, c := range []struct{ name, got, want string }{
		{"SQN", hex.EncodeToString(a.SQN[:]), ts.sqn},
		{"AMF", hex.EncodeToString(a.AMF[:]), ts.amf},
		{"RES", hex.EncodeToString(a.RES[:]), ts.f2},
		{"CK", hex.EncodeToString(a.CK[:]), ts.f3},
		{"IK", hex.EncodeToString(a.IK[:]), ts.f4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestVerifyAUTNBadMAC(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	sqnMS := SQNFromUint64(0)
	// Any changed bit of SQN⊕AK, AMF or MAC-A must fail the MAC check.
	for _, i := range []int{0, 5, 6, 7, 8, 15} {
		autn := v.AUTN
		autn[i] ^= 0x01
		_, err := m.VerifyAUTN(rand, autn, sqnMS, 0)
		if !errors.Is(err, ErrMACFailure) {
			t.Errorf("AUTN with byte %d changed: err = %v, want ErrMACFailure", i, err)
		}
		if errors.Is(err, ErrSyncFailure) {
			t.Errorf("AUTN with byte %d changed: err matches ErrSyncFailure too", i)
		}
		if err != nil {
			assertNoSecrets(t, "MAC failure error", err.Error())
		}
	}
	// Another RAND with the same AUTN fails as well.
	other := rand
	other[0] ^= 0x80
	if _, err := m.VerifyAUTN(other, v.AUTN, sqnMS, 0); !errors.Is(err, ErrMACFailure) {
		t.Errorf("AUTN under another RAND: err = %v, want ErrMACFailure", err)
	}
}

func TestVerifyAUTNFreshness(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	n := SQNToUint64(sqn)
	const delta = 1 << 28
	for _, c := range []struct {
		name  string
		sqnMS uint64
		ok    bool
	}{
		{"one ahead", n - 1, true},
		{"exactly delta ahead", n - delta, true},
		{"delta+1 ahead", n - delta - 1, false},
		{"replayed (equal)", n, false},
		{"stale (behind)", n + 1000, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sqnMS := SQNFromUint64(c.sqnMS)
			_, err := m.VerifyAUTN(rand, v.AUTN, sqnMS, delta)
			if c.ok {
				if err != nil {
					t.Fatalf("VerifyAUTN: %v, want success", err)
				}
				return
			}
			if !errors.Is(err, ErrSyncFailure) {
				t.Fatalf("err = %v, want ErrSyncFailure", err)
			}
			if errors.Is(err, ErrMACFailure) {
				t.Errorf("sync failure also matches ErrMACFailure")
			}
			var sf *SyncFailureError
			if !errors.As(err, &sf) {
				t.Fatalf("err is %T, want *SyncFailureError", err)
			}
			if sf.SQN != sqn || sf.SQNMS != sqnMS || sf.Delta != delta {
				t.Errorf("SyncFailureError{SQN:%x SQNMS:%x Delta:%d}, want {%x %x %d}", sf.SQN, sf.SQNMS, sf.Delta, sqn, sqnMS, delta)
			}
			assertNoSecrets(t, "sync failure error", err.Error())
			// The network side recovers SQN_MS from the AUTS.
			got, err := m.VerifyAUTS(rand, sf.AUTS)
			if err != nil {
				t.Fatalf("VerifyAUTS of the UE's AUTS: %v", err)
			}
			if got != sqnMS {
				t.Errorf("SQN_MS recovered from AUTS = %x, want %x", got, sqnMS)
			}
			// AUTS = SQN_MS ⊕ AK* ‖ f1*(SQN_MS, RAND, AMF 0000).
			akStar := m.F5Star(rand)
			macS := m.F1Star(rand, sqnMS, [AMFLen]byte{})
			var want [AUTSLen]byte
			for i := range SQNLen {
				want[i] = sqnMS[i] ^ akStar[i]
			}
			copy(want[SQNLen:], macS[:])
			if sf.AUTS != want {
				t.Errorf("AUTS = %x, want %x", sf.AUTS, want)
			}
		})
	}
}

func TestDefaultDelta(t *testing.T) {
	m, rand, _, amf := set1(t)
	sqnMS := SQNFromUint64(1000)
	at := m.GenerateVector(rand, SQNFromUint64(1000+DefaultDelta), amf)
	if _, err := m.VerifyAUTN(rand, at.AUTN, sqnMS, 0); err != nil {
		t.Errorf("SQN exactly DefaultDelta ahead with delta 0: %v, want success", err)
	}
	past := m.GenerateVector(rand, SQNFromUint64(1000+DefaultDelta+1), amf)
	if _, err := m.VerifyAUTN(rand, past.AUTN, sqnMS, 0); !errors.Is(err, ErrSyncFailure) {
		t.Errorf("SQN DefaultDelta+1 ahead with delta 0: err = %v, want ErrSyncFailure", err)
	}
}

// TestVerifyAUTSKnownAnswer uses the AUTS check of hostap's
// tests/test-milenage.c: TS 35.208 test set 20 (K, OPc, RAND as in 4.3.20)
// with AUTS 4f2039392ddd ‖ 4bb4316ed4a14688, which must verify. AK* of set
// 20 is 4f2039392ddc (TS 35.208 4.4.20, f5*), so SQN_MS is 000000000001.
func TestVerifyAUTSKnownAnswer(t *testing.T) {
	m, err := NewMilenage(unhex(t, "90dca4eda45b53cf0f12d7c9c3bc6a89"), nil, unhex(t, "cb9cccc4b9258e6dca4760379fb82581"))
	if err != nil {
		t.Fatal(err)
	}
	rand := [RANDLen]byte(unhex(t, "9fddc72092c6ad036b6e464789315b78"))
	if got := m.F5Star(rand); hex.EncodeToString(got[:]) != "4f2039392ddc" {
		t.Fatalf("set 20 f5* = %x, want 4f2039392ddc", got)
	}
	auts := [AUTSLen]byte(unhex(t, "4f2039392ddd4bb4316ed4a14688"))
	sqnMS, err := m.VerifyAUTS(rand, auts)
	if err != nil {
		t.Fatalf("VerifyAUTS: %v", err)
	}
	if want := "000000000001"; hex.EncodeToString(sqnMS[:]) != want {
		t.Errorf("SQN_MS = %x, want %s", sqnMS, want)
	}
	if m.GenerateAUTS(rand, sqnMS) != auts {
		t.Errorf("GenerateAUTS(set 20 RAND, 000000000001) = %x, want %x", m.GenerateAUTS(rand, sqnMS), auts)
	}
	bad := auts
	bad[13] ^= 0x01
	if _, err := m.VerifyAUTS(rand, bad); !errors.Is(err, ErrMACFailure) {
		t.Errorf("AUTS with MAC-S changed: err = %v, want ErrMACFailure", err)
	}
	bad = auts
	bad[0] ^= 0x01
	if _, err := m.VerifyAUTS(rand, bad); !errors.Is(err, ErrMACFailure) {
		t.Errorf("AUTS with SQN_MS⊕AK* changed: err = %v, want ErrMACFailure", err)
	}
}

func TestUSIM(t *testing.T) {
	m, rand, _, amf := set1(t)
	u := NewUSIM(m, SQNFromUint64(32), 0)
	v1 := m.GenerateVector(rand, SQNFromUint64(64), amf)
	a, err := u.Authenticate(rand, v1.AUTN)
	if err != nil {
		t.Fatalf("first AUTN: %v", err)
	}
	if a.RES != v1.XRES || a.CK != v1.CK || a.IK != v1.IK {
		t.Errorf("RES/CK/IK of the UE differ from XRES/CK/IK of the vector")
	}
	if got := SQNToUint64(u.SQNMS()); got != 64 {
		t.Errorf("SQN_MS after accepting SQN 64 = %d, want 64", got)
	}
	// The same AUTN again is a replay.
	_, err = u.Authenticate(rand, v1.AUTN)
	var sf *SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("replayed AUTN: err = %v, want *SyncFailureError", err)
	}
	sqnMS, err := m.VerifyAUTS(rand, sf.AUTS)
	if err != nil || SQNToUint64(sqnMS) != 64 {
		t.Fatalf("HSS re-synchronisation: SQN_MS = %d, err = %v; want 64, nil", SQNToUint64(sqnMS), err)
	}
	// The HSS continues above SQN_MS; the UE accepts.
	v2 := m.GenerateVector(rand, SQNFromUint64(SQNToUint64(sqnMS)+32), amf)
	if _, err := u.Authenticate(rand, v2.AUTN); err != nil {
		t.Fatalf("AUTN after re-synchronisation: %v", err)
	}
	if got := SQNToUint64(u.SQNMS()); got != 96 {
		t.Errorf("SQN_MS = %d, want 96", got)
	}
	// A bad MAC leaves SQN_MS alone.
	bad := m.GenerateVector(rand, SQNFromUint64(200), amf).AUTN
	bad[15] ^= 1
	if _, err := u.Authenticate(rand, bad); !errors.Is(err, ErrMACFailure) {
		t.Errorf("bad MAC: err = %v, want ErrMACFailure", err)
	}
	if got := SQNToUint64(u.SQNMS()); got != 96 {
		t.Errorf("SQN_MS after a MAC failure = %d, want 96", got)
	}
}

func TestSQNConversions(t *testing.T) {
	for _, c := range []struct {
		n   uint64
		hex string
	}{
		{0, "000000000000"},
		{1, "000000000001"},
		{0xff9bb4d0b607, "ff9bb4d0b607"},
		{1<<48 - 1, "ffffffffffff"},
	} {
		s := SQNFromUint64(c.n)
		if hex.EncodeToString(s[:]) != c.hex {
			t.Errorf("SQNFromUint64(%#x) = %x, want %s", c.n, s, c.hex)
		}
		if got := SQNToUint64(s); got != c.n {
			t.Errorf("SQNToUint64(%s) = %#x, want %#x", c.hex, got, c.n)
		}
	}
}

func TestNewMilenageErrors(t *testing.T) {
	ts := ts35208[0]
	k, op, opc := unhex(t, ts.k), unhex(t, ts.op), unhex(t, ts.opc)
	for _, c := range []struct {
		name         string
		k, op, opc   []byte
		wantContains string
	}{
		{"short K", k[:15], op, nil, "K: expected 16 bytes, got 15"},
		{"long K", append(append([]byte{}, k...), 0), nil, opc, "K: expected 16 bytes, got 17"},
		{"short OP", k, op[:8], nil, "OP: expected 16 bytes, got 8"},
		{"long OPc", k, nil, append(append([]byte{}, opc...), 1), "OPc: expected 16 bytes, got 17"},
		{"empty OPc", k, nil, []byte{}, "OPc: expected 16 bytes, got 0"},
		{"both", k, op, opc, "got both"},
		{"neither", k, nil, nil, "got neither"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewMilenage(c.k, c.op, c.opc)
			if err == nil {
				t.Fatalf("NewMilenage = %v, nil; want an error", m)
			}
			if !strings.Contains(err.Error(), c.wantContains) {
				t.Errorf("error %q does not say %q", err, c.wantContains)
			}
			assertNoSecrets(t, "NewMilenage error", err.Error())
		})
	}
	if _, err := ComputeOPc(k[:3], op); err == nil || !strings.Contains(err.Error(), "K: expected 16 bytes, got 3") {
		t.Errorf("ComputeOPc with a 3-byte K: err = %v", err)
	}
	if _, err := ComputeOPc(k, op[:3]); err == nil || !strings.Contains(err.Error(), "OP: expected 16 bytes, got 3") {
		t.Errorf("ComputeOPc with a 3-byte OP: err = %v", err)
	}
}

func TestFmtRedactsKeyMaterial(t *testing.T) {
	m, rand, sqn, amf := set1(t)
	v := m.GenerateVector(rand, sqn, amf)
	a, err := m.VerifyAUTN(rand, v.AUTN, SQNFromUint64(SQNToUint64(sqn)-1), 0)
	if err != nil {
		t.Fatal(err)
	}
	u := NewUSIM(m, SQNFromUint64(0), 0)
	p := Params{Username: "alice", Realm: "ims.example", Password: a.RES[:], Method: "REGISTER", URI: "sip:ims.example"}
	values := map[string]any{
		"Milenage": m, "Vector": v, "*Vector": &v, "Auth": a, "Outputs": m.F2345(rand),
		"USIM": u, "Params": p, "*Params": &p,
	}
	for name, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
			s := fmt.Sprintf(verb, val)
			assertNoSecrets(t, name+" "+verb, s)
			if !strings.Contains(s, redacted) {
				t.Errorf("%s %s = %q, want it to say %s", name, verb, s, redacted)
			}
		}
	}
	// What travels in clear is shown, to help a reader of a report.
	if s := v.String(); !strings.Contains(s, "55f328b43577b9b94a9ffac354dfafb3") {
		t.Errorf("Vector.String() = %q, want it to show AUTN", s)
	}
}
