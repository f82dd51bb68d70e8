package deviation

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"imsconform/harness/diameter"
)

func TestParseCx(t *testing.T) {
	good := map[string]Deviation{
		"3.UAR/drop-header/Visited-Network-Identifier":                         {Step: "3.UAR", Action: DropHeader, Header: "Visited-Network-Identifier"},
		"3.MAR/set-header/SIP-Auth-Data-Item/SIP-Authentication-Scheme=Digest": {Step: "3.MAR", Action: SetHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme", Value: "Digest"},
		"8.UAR/add-header/Public-Identity=sip:x@y":                             {Step: "8.UAR", Action: AddHeader, Header: "Public-Identity", Value: "sip:x@y"},
		"9.SAR/no-answer": {Step: "9.SAR", Action: NoAnswer},
		"3.MAR/late":      {Step: "3.MAR", Action: Late},
		"9.SAR/late":      {Step: "9.SAR", Action: Late},
		"9.SAR/set-header/Server-Assignment-Type=4": {Step: "9.SAR", Action: SetHeader, Header: "Server-Assignment-Type", Value: "4"},
	}
	bad := map[string]string{
		"3.UAR/drop-header":               "needs an AVP",
		"3.UAR/drop-header/No-Such-AVP":   "expected an AVP name of the Diameter dictionary",
		"3.MAR/drop-header/User-Name/Foo": "expected User-Name to be a grouped AVP",
		"3.MAR/bad-mac":                   "expected drop-header, set-header, add-header or no-answer",
		"9.SAR/set-param/Server-Name/x=1": "expected drop-header, set-header, add-header or no-answer",
		"9.SAR/no-answer/Server-Name":     "expected no AVP with no-answer",
		"4.UAR/drop-header/User-Name":     "expected a step among",
		"3.UAR/late":                      "or late for 3.MAR and 9.SAR",
	}
	checkParse(t, good, bad)
}

func marRequest() *diameter.Message {
	v := diameter.Vendor3GPP
	return diameter.NewRequest(diameter.CmdMultimediaAuth, diameter.AppCx, 1, 1,
		diameter.UTF8String(diameter.AVPSessionID, 0, diameter.AVPFlagMandatory, "s;1;1"),
		diameter.UTF8String(diameter.AVPUserName, 0, diameter.AVPFlagMandatory, "impi@home1.net"),
		diameter.UTF8String(diameter.AVPPublicIdentity, v, diameter.AVPFlagMandatory, "sip:a@home1.net"),
		diameter.Grouped(diameter.AVPSIPAuthDataItem, v, diameter.AVPFlagMandatory,
			diameter.UTF8String(diameter.AVPSIPAuthenticationScheme, v, diameter.AVPFlagMandatory, "Digest-AKAv1-MD5")),
		diameter.Unsigned32(diameter.AVPSIPNumberAuthItems, v, diameter.AVPFlagMandatory, 1),
	)
}

// wire encodes and decodes m, as a receiver sees it.
func wire(t *testing.T, m *diameter.Message) *diameter.Message {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := diameter.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func members(t *testing.T, m *diameter.Message, code uint32) [][]diameter.AVP {
	t.Helper()
	var out [][]diameter.AVP
	for _, g := range m.FindAll(code, diameter.Vendor3GPP) {
		ms, err := g.Group()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms)
	}
	return out
}

func TestApplyAVPs(t *testing.T) {
	v := diameter.Vendor3GPP
	t.Run("drop top-level", func(t *testing.T) {
		m := marRequest()
		if err := ApplyAVPs([]Deviation{{Action: DropHeader, Header: "public-identity"}}, m, nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := wire(t, m).Find(diameter.AVPPublicIdentity, v); ok {
			t.Error("expected no Public-Identity")
		}
	})
	t.Run("set Unsigned32 and string", func(t *testing.T) {
		m := marRequest()
		err := ApplyAVPs([]Deviation{
			{Action: SetHeader, Header: "SIP-Number-Auth-Items", Value: "7"},
			{Action: SetHeader, Header: "User-Name", Value: "other@x"},
			{Action: SetHeader, Header: "Server-Assignment-Type", Value: "1"}, // absent: added
		}, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := wire(t, m)
		a, _ := w.Find(diameter.AVPSIPNumberAuthItems, v)
		if n, err := a.Uint32(); err != nil || n != 7 || a.Flags != diameter.AVPFlagMandatory|diameter.AVPFlagVendor {
			t.Errorf("SIP-Number-Auth-Items: expected 7 with flags V M, got %d %v flags %#x", n, err, a.Flags)
		}
		if u, _ := w.Find(diameter.AVPUserName, 0); string(u.Data) != "other@x" {
			t.Errorf("User-Name: got %q", u.Data)
		}
		if s, ok := w.Find(diameter.AVPServerAssignmentType, v); !ok || !bytes.Equal(s.Data, binary.BigEndian.AppendUint32(nil, 1)) {
			t.Errorf("Server-Assignment-Type: expected added with 1, got %v %v", ok, s.Data)
		}
	})
	t.Run("grouped member", func(t *testing.T) {
		m := marRequest()
		err := ApplyAVPs([]Deviation{
			{Action: SetHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme", Value: "Digest-MD5"},
			{Action: AddHeader, Header: "SIP-Auth-Data-Item/SIP-Authorization", Value: "0x00ff"},
		}, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := members(t, wire(t, m), diameter.AVPSIPAuthDataItem)
		if len(g) != 1 || len(g[0]) != 2 {
			t.Fatalf("expected one item with two members, got %v", g)
		}
		if string(g[0][0].Data) != "Digest-MD5" || !bytes.Equal(g[0][1].Data, []byte{0, 0xff}) {
			t.Errorf("got scheme %q authorization %x", g[0][0].Data, g[0][1].Data)
		}
		m = marRequest()
		if err := ApplyAVPs([]Deviation{{Action: DropHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme"}}, m, nil); err != nil {
			t.Fatal(err)
		}
		if g := members(t, wire(t, m), diameter.AVPSIPAuthDataItem); len(g) != 1 || len(g[0]) != 0 {
			t.Errorf("expected an empty SIP-Auth-Data-Item, got %v", g)
		}
	})
	t.Run("set creates the parent", func(t *testing.T) {
		m := marRequest()
		_ = ApplyAVPs([]Deviation{{Action: DropHeader, Header: "SIP-Auth-Data-Item"}}, m, nil)
		if err := ApplyAVPs([]Deviation{{Action: SetHeader, Header: "SIP-Auth-Data-Item/SIP-Authentication-Scheme", Value: "x"}}, m, nil); err != nil {
			t.Fatal(err)
		}
		if g := members(t, wire(t, m), diameter.AVPSIPAuthDataItem); len(g) != 1 || len(g[0]) != 1 || string(g[0][0].Data) != "x" {
			t.Errorf("expected a new SIP-Auth-Data-Item with the scheme, got %v", g)
		}
	})
	t.Run("add appends one more", func(t *testing.T) {
		m := marRequest()
		if err := ApplyAVPs([]Deviation{{Action: AddHeader, Header: "Public-Identity", Value: "sip:b@home1.net"}}, m, nil); err != nil {
			t.Fatal(err)
		}
		got := wire(t, m).FindAll(diameter.AVPPublicIdentity, v)
		if len(got) != 2 || string(got[0].Data) != "sip:a@home1.net" || string(got[1].Data) != "sip:b@home1.net" {
			t.Errorf("expected two Public-Identity in order, got %d", len(got))
		}
	})
	t.Run("value not of the type is sent as bytes", func(t *testing.T) {
		m := marRequest()
		if err := ApplyAVPs([]Deviation{{Action: SetHeader, Header: "SIP-Number-Auth-Items", Value: "4294967296"}}, m, nil); err != nil {
			t.Fatal(err)
		}
		w := wire(t, m)
		a, _ := w.Find(diameter.AVPSIPNumberAuthItems, v)
		if string(a.Data) != "4294967296" {
			t.Errorf("got %q", a.Data)
		}
		if err := diameter.Default.Validate(w); err == nil {
			t.Error("expected the receiver to find the AVP malformed")
		}
	})
	t.Run("unknown name skipped with an error, others applied", func(t *testing.T) {
		m := marRequest()
		err := ApplyAVPs([]Deviation{{Action: DropHeader, Header: "Nope"}, {Action: DropHeader, Header: "User-Name"}, {Action: NoAnswer}}, m, nil)
		if err == nil || !strings.Contains(err.Error(), `"Nope"`) {
			t.Errorf("expected an error naming Nope, got %v", err)
		}
		if _, ok := m.Find(diameter.AVPUserName, 0); ok {
			t.Error("expected User-Name dropped all the same")
		}
	})
}

func TestEncodeAVPValue(t *testing.T) {
	def := func(typ diameter.Type) diameter.AVPDef { return diameter.AVPDef{Code: 1, Type: typ} }
	cases := []struct {
		typ  diameter.Type
		in   string
		want []byte
	}{
		{diameter.TypeUTF8String, "abc", []byte("abc")},
		{diameter.TypeUnsigned32, "1", []byte{0, 0, 0, 1}},
		{diameter.TypeEnumerated, "-1", []byte{0xff, 0xff, 0xff, 0xff}},
		{diameter.TypeEnumerated, "x", []byte("x")},
		{diameter.TypeUnsigned64, "2", []byte{0, 0, 0, 0, 0, 0, 0, 2}},
		{diameter.TypeOctetString, "0x0a0b", []byte{10, 11}},
		{diameter.TypeOctetString, "0xzz", []byte("0xzz")},
		{diameter.TypeAddress, "::1", append([]byte{0, 2}, make([]byte, 15)...)},
	}
	cases[len(cases)-1].want = append(cases[len(cases)-1].want, 1)
	for _, c := range cases {
		if got := EncodeAVPValue(def(c.typ), c.in); !bytes.Equal(got, c.want) {
			t.Errorf("%s %q: expected %x, got %x", c.typ, c.in, c.want, got)
		}
	}
}
