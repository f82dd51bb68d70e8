package diameter

import (
	"fmt"
	"reflect"
	"testing"
)

// viewCase decodes b with UnmarshalView into a message that held prev, and
// with Unmarshal; it says how they differ (error text included), and how
// each AVP's AppendGroup differs from its Group.
func viewCase(prev, b []byte) []string {
	var diffs []string
	m := &Message{}
	_ = UnmarshalView(m, prev)
	err := UnmarshalView(m, b)
	want, werr := Unmarshal(b)
	if fmt.Sprint(err) != fmt.Sprint(werr) {
		return append(diffs, fmt.Sprintf("UnmarshalView: error %v, Unmarshal %v", err, werr))
	}
	if err != nil {
		return nil
	}
	if len(m.AVPs) == 0 {
		m.AVPs = nil
	}
	if !reflect.DeepEqual(m, want) {
		diffs = append(diffs, fmt.Sprintf("UnmarshalView: %+v, Unmarshal %+v", m, want))
	}
	var dst []AVP
	for _, a := range want.AVPs {
		g, gerr := a.Group()
		var err error
		dst, err = a.AppendGroup(dst[:0])
		if fmt.Sprint(err) != fmt.Sprint(gerr) {
			diffs = append(diffs, fmt.Sprintf("AppendGroup of AVP %d: error %v, Group %v", a.Code, err, gerr))
			continue
		}
		if err == nil && len(dst)+len(g) > 0 && !reflect.DeepEqual(dst, g) {
			diffs = append(diffs, fmt.Sprintf("AppendGroup of AVP %d: %+v, Group %+v", a.Code, dst, g))
		}
	}
	return diffs
}

func viewMessages(t testing.TB) [][]byte {
	cer := unhex(t, stripComments(cerHex))
	g := NewRequest(CmdMultimediaAuth, AppCx, 1, 2,
		UTF8String(AVPSessionID, 0, AVPFlagMandatory, "s;1"),
		Grouped(AVPSIPAuthDataItem, Vendor3GPP, AVPFlagMandatory, UTF8String(AVPSIPAuthenticationScheme, Vendor3GPP, AVPFlagMandatory, "Digest-AKAv1-MD5")))
	mar, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{cer, mar, cer[:24], mar[:len(mar)-3], {}, append(append([]byte{}, mar[:20]...), 0, 0, 1, 7, 0x40, 0, 0, 9, 'x', 0, 0, 0)}
}

// TestUnmarshalViewMatchesUnmarshal: decoding into reused storage without
// copying the data gives what Unmarshal gives, for every pair of messages,
// broken ones included.
func TestUnmarshalViewMatchesUnmarshal(t *testing.T) {
	ms := viewMessages(t)
	for _, prev := range ms {
		for _, b := range ms {
			for _, d := range viewCase(prev, b) {
				t.Error(d)
			}
		}
	}
}

// TestUnmarshalViewDoesNotAllocate: once its storage has grown, a reader
// decodes a message and its groups without allocating.
func TestUnmarshalViewDoesNotAllocate(t *testing.T) {
	b := viewMessages(t)[1]
	m := &Message{}
	var dst []AVP
	run := func() {
		_ = UnmarshalView(m, b)
		dst, _ = m.AVPs[1].AppendGroup(dst[:0])
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations a run, want 0", n)
	}
}

func FuzzUnmarshalView(f *testing.F) {
	ms := viewMessages(f)
	for i, b := range ms {
		f.Add(ms[(i+1)%len(ms)], b)
	}
	f.Fuzz(func(t *testing.T, prev, b []byte) {
		for _, d := range viewCase(prev, b) {
			t.Error(d)
		}
	})
}
