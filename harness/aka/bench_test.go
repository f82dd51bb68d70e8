package aka

import "testing"

func BenchmarkGenerateVector(b *testing.B) {
	m, rand, sqn, amf := set1(b)
	var v Vector
	b.ReportAllocs()
	for b.Loop() {
		v = m.GenerateVector(rand, sqn, amf)
	}
	if v.AUTN[15] != 0xb3 {
		b.Fatalf("AUTN = %x, want set 1 AUTN", v.AUTN)
	}
}

func BenchmarkVerifyAUTN(b *testing.B) {
	m, rand, sqn, amf := set1(b)
	autn := m.GenerateVector(rand, sqn, amf).AUTN
	sqnMS := SQNFromUint64(SQNToUint64(sqn) - 1)
	var a Auth
	var err error
	b.ReportAllocs()
	for b.Loop() {
		a, err = m.VerifyAUTN(rand, autn, sqnMS, 0)
	}
	if err != nil || a.SQN != sqn {
		b.Fatalf("VerifyAUTN: SQN %x, %v", a.SQN, err)
	}
}

func BenchmarkDigestResponseAKAv1(b *testing.B) {
	m, rand, _, _ := set1(b)
	res := m.F2345(rand).RES
	p := Params{
		Username: "alice@ims.example", Realm: "ims.example", Password: AKAv1Password(res[:]),
		Method: "REGISTER", URI: "sip:ims.example", Nonce: "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=",
		CNonce: "0a4f113b", NC: "00000001", QOP: QOPAuth,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DigestResponse(p); err != nil {
			b.Fatal(err)
		}
	}
}
