package aka

import (
	"encoding/hex"
	"testing"
)

// testSet is one Milenage test set of 3GPP TS 35.208 section 4.
type testSet struct {
	name                string
	k, rand, sqn, amf   string
	op, opc             string
	f1, f1s, f2, f3, f4 string
	f5, f5s             string
}

// ts35208 holds test sets 1-6 of 3GPP TS 35.208 section 4 (inputs 4.3.1-4.3.6,
// outputs 4.4.1-4.4.6).
//
// Sets 1 and 2 are exactly those of /work/shared/spec/milenage-known-answers.md,
// where each was recomputed by an independent implementation.
//
// Sets 3-6: every value was compared with two independent public copies of
// the spec tables, and this implementation reproduces all of them:
//   - hostap tests/test-milenage.c ("3GPP TS 35.208 v6.0.0 - 4.3.x Test Set
//     x", all outputs f1..f5*; as stored in vanhoefm/krackattacks-scripts at
//     841b52b403d404625542ef460c4c5078e7ee3046). Its set 2 is a copy of set
//     1, the wrong set 2 that circulates; its sets 3-6 agree.
//   - free5gc/util milenage/milenage_test.go (OPc, f1, f1* for sets 1-6; f2,
//     f3, f5 for sets 1-5; f4, f5* for sets 1-6).
//   - a third copy, MilenageTest.java of sipgate's sparta HSS, citing
//     TS 135.208 V17 section 4.3 (sets 3-6 complete; its set 2 is also a
//     copy of set 1), agrees too and covers set 6 f2, f3 and f5 a second
//     time.
var ts35208 = []testSet{
	{
		name: "set 1",
		k:    "465b5ce8b199b49faa5f0a2ee238a6bc", rand: "23553cbe9637a89d218ae64dae47bf35",
		sqn: "ff9bb4d0b607", amf: "b9b9",
		op: "cdc202d5123e20f62b6d676ac72cb318", opc: "cd63cb71954a9f4e48a5994e37a02baf",
		f1: "4a9ffac354dfafb3", f1s: "01cfaf9ec4e871e9", f2: "a54211d5e3ba50bf",
		f3: "b40ba9a3c58b2a05bbf0d987b21bf8cb", f4: "f769bcd751044604127672711c6d3441",
		f5: "aa689c648370", f5s: "451e8beca43b",
	},
	{
		name: "set 2",
		k:    "0396eb317b6d1c36f19c1c84cd6ffd16", rand: "c00d603103dcee52c4478119494202e8",
		sqn: "fd8eef40df7d", amf: "af17",
		op: "ff53bade17df5d4e793073ce9d7579fa", opc: "53c15671c60a4b731c55b4a441c0bde2",
		f1: "5df5b31807e258b0", f1s: "a8c016e51ef4a343", f2: "d3a628ed988620f0",
		f3: "58c433ff7a7082acd424220f2b67c556", f4: "21a8c1f929702adb3e738488b9f5c5da",
		f5: "c47783995f72", f5s: "30f1197061c1",
	},
	{
		name: "set 3",
		k:    "fec86ba6eb707ed08905757b1bb44b8f", rand: "9f7c8d021accf4db213ccff0c7f71a6a",
		sqn: "9d0277595ffc", amf: "725c",
		op: "dbc59adcb6f9a0ef735477b7fadf8374", opc: "1006020f0a478bf6b699f15c062e42b3",
		f1: "9cabc3e99baf7281", f1s: "95814ba2b3044324", f2: "8011c48c0c214ed2",
		f3: "5dbdbb2954e8f3cde665b046179a5098", f4: "59a92d3b476a0443487055cf88b2307b",
		f5: "33484dc2136b", f5s: "deacdd848cc6",
	},
	{
		name: "set 4",
		k:    "9e5944aea94b81165c82fbf9f32db751", rand: "ce83dbc54ac0274a157c17f80d017bd6",
		sqn: "0b604a81eca8", amf: "9e09",
		op: "223014c5806694c007ca1eeef57f004f", opc: "a64a507ae1a2a98bb88eb4210135dc87",
		f1: "74a58220cba84c49", f1s: "ac2cc74a96871837", f2: "f365cd683cd92e96",
		f3: "e203edb3971574f5a94b0d61b816345d", f4: "0c4524adeac041c4dd830d20854fc46b",
		f5: "f0b9c08ad02e", f5s: "6085a86c6f63",
	},
	{
		name: "set 5",
		k:    "4ab1deb05ca6ceb051fc98e77d026a84", rand: "74b0cd6031a1c8339b2b6ce2b8c4a186",
		sqn: "e880a1b580b6", amf: "9f07",
		op: "2d16c5cd1fdf6b22383584e3bef2a8d8", opc: "dcf07cbd51855290b92a07a9891e523e",
		f1: "49e785dd12626ef2", f1s: "9e85790336bb3fa2", f2: "5860fc1bce351e7e",
		f3: "7657766b373d1c2138f307e3de9242f9", f4: "1c42e960d89b8fa99f2744e0708ccb53",
		f5: "31e11a609118", f5s: "fe2555e54aa9",
	},
	{
		name: "set 6",
		k:    "6c38a116ac280c454f59332ee35c8c4f", rand: "ee6466bc96202c5a557abbeff8babf63",
		sqn: "414b98222181", amf: "4464",
		op: "1ba00a1a7c6700ac8c3ff3e96ad08725", opc: "3803ef5363b947c6aaa225e58fae3934",
		f1: "078adfb488241a57", f1s: "80246b8d0186bcf1", f2: "16c8233f05a0ac28",
		f3: "3f8c7587fe8e4b233af676aede30ba3b", f4: "a7466cc1e6b2a1337d49d3b66e95d7b4",
		f5: "45b0f69ab06c", f5s: "1f53cd2b1113",
	},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test data %q: %v", s, err)
	}
	return b
}

func TestMilenageTS35208(t *testing.T) {
	for _, ts := range ts35208 {
		t.Run(ts.name, func(t *testing.T) {
			k := unhex(t, ts.k)
			opc, err := ComputeOPc(k, unhex(t, ts.op))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(opc[:]); got != ts.opc {
				t.Errorf("OPc from OP = %s, want %s", got, ts.opc)
			}
			fromOP, err := NewMilenage(k, unhex(t, ts.op), nil)
			if err != nil {
				t.Fatal(err)
			}
			fromOPc, err := NewMilenage(k, nil, unhex(t, ts.opc))
			if err != nil {
				t.Fatal(err)
			}
			if got := fromOP.OPc(); hex.EncodeToString(got[:]) != ts.opc {
				t.Errorf("NewMilenage(OP).OPc() = %x, want %s", got, ts.opc)
			}
			rand := [RANDLen]byte(unhex(t, ts.rand))
			sqn := [SQNLen]byte(unhex(t, ts.sqn))
			amf := [AMFLen]byte(unhex(t, ts.amf))
			for _, m := range []struct {
				how string
				m   *Milenage
			}{{"from OP", fromOP}, {"from OPc", fromOPc}} {
				f1 := m.m.F1(rand, sqn, amf)
				f1s := m.m.F1Star(rand, sqn, amf)
				o := m.m.F2345(rand)
				f5s := m.m.F5Star(rand)
				for _, c := range []struct {
					fn, got, want string
				}{
					{"f1", hex.EncodeToString(f1[:]), ts.f1},
					{"f1*", hex.EncodeToString(f1s[:]), ts.f1s},
					{"f2", hex.EncodeToString(o.RES[:]), ts.f2},
					{"f3", hex.EncodeToString(o.CK[:]), ts.f3},
					{"f4", hex.EncodeToString(o.IK[:]), ts.f4},
					{"f5", hex.EncodeToString(o.AK[:]), ts.f5},
					{"f5*", hex.EncodeToString(f5s[:]), ts.f5s},
				} {
					if c.got != c.want {
						t.Errorf("%s: %s = %s, want %s", m.how, c.fn, c.got, c.want)
					}
				}
			}
		})
	}
}
