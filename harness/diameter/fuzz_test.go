package diameter

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzUnmarshal checks that decoding never panics, that whatever decodes
// encodes back to the same bytes up to padding content, and that validation,
// grouped decoding and the typed readers never panic. The seed corpus is in
// testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	f.Add(unhex(f, stripComments(cerHex)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadMessage(bytes.NewReader(b), 4096)
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		_ = Default.Validate(m)
		var walk func(avps []AVP, depth int)
		walk = func(avps []AVP, depth int) {
			for _, a := range avps {
				_, _ = a.Uint32()
				_, _ = a.Uint64()
				_, _ = a.Int32()
				_, _ = a.UTF8()
				_, _ = a.Addr()
				_, _ = a.Time()
				if members, err := a.Group(); err == nil && depth < 8 {
					walk(members, depth+1)
				}
			}
		}
		walk(m.AVPs, 0)
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		if len(out) != len(b) {
			t.Fatalf("re-encoded length: expected %d, got %d", len(b), len(out))
		}
		back, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("a re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip differs:\nexpected %+v\ngot      %+v", m, back)
		}
	})
}
