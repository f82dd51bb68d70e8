package aka

import (
	"errors"
	"testing"
)

func FuzzParseNonce(f *testing.F) {
	f.Add("I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=")
	f.Add("I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M")
	f.Add("")
	f.Add("====")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNonce(s)
		if err != nil {
			return
		}
		back, err := ParseNonce(n.Encode())
		if err != nil {
			t.Fatalf("ParseNonce(Encode(ParseNonce(%q))): %v", s, err)
		}
		if back.RAND != n.RAND || back.AUTN != n.AUTN || string(back.ServerData) != string(n.ServerData) {
			t.Fatalf("round trip of %q changed the nonce", s)
		}
	})
}

// FuzzVerifyAUTN feeds arbitrary RAND ‖ AUTN bytes and SQN state to the UE
// side with the test set 1 key. Whatever the input, the result is success,
// a MAC failure or a synchronisation failure, and each is consistent.
func FuzzVerifyAUTN(f *testing.F) {
	m, rand, sqn, amf := set1(f)
	v := m.GenerateVector(rand, sqn, amf)
	good := append(append([]byte{}, rand[:]...), v.AUTN[:]...)
	f.Add(good, SQNToUint64(sqn)-1, uint64(0))
	f.Add(good, SQNToUint64(sqn), uint64(0))
	f.Add(good, uint64(0), uint64(1))
	f.Add([]byte{}, uint64(0), uint64(0))
	f.Add(make([]byte, 40), ^uint64(0), ^uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, sqnMSn, delta uint64) {
		var r [RANDLen]byte
		var autn [AUTNLen]byte
		n := copy(r[:], data)
		copy(autn[:], data[n:])
		sqnMS := SQNFromUint64(sqnMSn)
		a, err := m.VerifyAUTN(r, autn, sqnMS, delta)
		var sf *SyncFailureError
		switch {
		case err == nil:
			window := delta
			if window == 0 {
				window = DefaultDelta
			}
			if !fresh(a.SQN, sqnMS, window) {
				t.Fatalf("accepted SQN %x that is not fresh against %x", a.SQN, sqnMS)
			}
			if m.GenerateVector(r, a.SQN, a.AMF).AUTN != autn {
				t.Fatalf("accepted an AUTN the network would not build")
			}
		case errors.As(err, &sf):
			got, err := m.VerifyAUTS(r, sf.AUTS)
			if err != nil || got != sqnMS {
				t.Fatalf("AUTS of a sync failure: SQN_MS %x, %v; want %x", got, err, sqnMS)
			}
		case errors.Is(err, ErrMACFailure):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
