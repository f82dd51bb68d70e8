package diameter

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// unhex decodes hex written with spaces and newlines for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad test hex: %v", err)
	}
	return b
}

// cerHex is a CER written out by hand from the RFC 6733 layout: header
// (section 3) and AVP headers (section 4.1), AVP codes from section 4.5 and
// the CER ABNF of section 5.3.1; the Vendor-Specific-Application-Id is the
// one Kamailio's cdp sends, {10415, 16777216}.
const cerHex = `
01 000090                  version 1, Message Length 144
80 000101                  flags R, command 257 (CER)
00000000                   Application-ID 0
12345678                   Hop-by-Hop
9abcdef0                   End-to-End
00000108 40 000015         Origin-Host (264), M, length 8+13
  6873732e686f6d65312e6e6574 000000           "hss.home1.net" + 3 bytes padding
00000128 40 000011         Origin-Realm (296), M, length 8+9
  686f6d65312e6e6574 000000                   "home1.net" + 3 padding
00000101 40 00000e         Host-IP-Address (257), M, length 8+6
  0001 7f000001 0000                          family 1 (IPv4), 127.0.0.1, 2 padding
0000010a 40 00000c         Vendor-Id (266), M, length 12
  000028af                                    10415
0000010d 00 000012         Product-Name (269), no flags, length 8+10
  696d73636f6e666f726d 0000                   "imsconform" + 2 padding
00000104 40 000020         Vendor-Specific-Application-Id (260), M, length 8+24
  0000010a 40 00000c 000028af                 Vendor-Id 10415
  00000102 40 00000c 01000000                 Auth-Application-Id 16777216
`

// stripComments keeps the hex digits of each line up to the first word that
// is not hex.
func stripComments(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, f := range strings.Fields(line) {
			if _, err := hex.DecodeString(f); err != nil || len(f)%2 != 0 {
				break
			}
			out = append(out, f)
		}
	}
	return strings.Join(out, "")
}

func cerMessage() *Message {
	return &Message{
		Flags: FlagRequest, Code: CmdCapabilitiesExchange, ApplicationID: 0,
		HopByHop: 0x12345678, EndToEnd: 0x9abcdef0,
		AVPs: []AVP{
			DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, "hss.home1.net"),
			DiameterIdentity(AVPOriginRealm, 0, AVPFlagMandatory, "home1.net"),
			Address(AVPHostIPAddress, 0, AVPFlagMandatory, netip.MustParseAddr("127.0.0.1")),
			Unsigned32(AVPVendorID, 0, AVPFlagMandatory, Vendor3GPP),
			UTF8String(AVPProductName, 0, 0, "imsconform"),
			Grouped(AVPVendorSpecificApplicationID, 0, AVPFlagMandatory,
				Unsigned32(AVPVendorID, 0, AVPFlagMandatory, Vendor3GPP),
				Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, AppCx)),
		},
	}
}

func TestCERByteExact(t *testing.T) {
	want := unhex(t, stripComments(cerHex))
	if len(want) != 144 {
		t.Fatalf("test vector: expected 144 bytes, got %d", len(want))
	}
	got, err := cerMessage().Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal CER:\nexpected %x\ngot      %x", want, got)
	}
	m, err := Unmarshal(want)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !m.IsRequest() || m.Code != 257 || m.HopByHop != 0x12345678 || m.EndToEnd != 0x9abcdef0 || len(m.AVPs) != 6 {
		t.Fatalf("Unmarshal CER: expected request 257 with 6 AVPs, got %+v", m)
	}
	oh, ok := m.Find(AVPOriginHost, 0)
	if s, _ := oh.UTF8(); !ok || s != "hss.home1.net" {
		t.Errorf("Origin-Host: expected hss.home1.net, got %q", s)
	}
	ip, _ := m.Find(AVPHostIPAddress, 0)
	if a, err := ip.Addr(); err != nil || a != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Host-IP-Address: expected 127.0.0.1, got %v %v", a, err)
	}
	vsai, _ := m.Find(AVPVendorSpecificApplicationID, 0)
	members, err := vsai.Group()
	if err != nil || len(members) != 2 {
		t.Fatalf("VSAI: expected 2 members, got %d, %v", len(members), err)
	}
	if v, _ := members[1].Uint32(); v != AppCx {
		t.Errorf("VSAI Auth-Application-Id: expected %d, got %d", AppCx, v)
	}
	if !reflect.DeepEqual(m, cerMessage()) {
		t.Errorf("decoded CER differs from the built one:\nexpected %+v\ngot      %+v", cerMessage(), m)
	}
}

func TestAVPByteExact(t *testing.T) {
	cases := []struct {
		name string
		avp  AVP
		hex  string
	}{
		// Vendor AVP: V and M flags, 12-byte header, Vendor-ID 10415 (TS 29.229 6.3).
		{"Public-Identity vendor 10415", UTF8String(AVPPublicIdentity, Vendor3GPP, AVPFlagMandatory, "sip:a@b"),
			"00000259 c0000013 000028af 7369703a614062 00"},
		// 8-byte header + 2-byte family + 16 address bytes = 26 (0x1a), padded to 28.
		{"Address IPv6 ::1", Address(AVPHostIPAddress, 0, AVPFlagMandatory, netip.MustParseAddr("::1")),
			"00000101 4000001a 0002 00000000000000000000000000000001 0000"},
		// 2000-01-01T00:00:00Z = 946684800 s after 1970 + 2208988800 = 0xbc17c200 after 1900.
		{"Time 2000-01-01", Time(AVPOriginStateID, 0, 0, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)),
			"00000116 0000000c bc17c200"},
		{"Unsigned64", Unsigned64(9999, 0, 0, 0x0102030405060708), "0000270f 00000010 0102030405060708"},
		{"Integer32 -1", Integer32(9999, 0, 0, -1), "0000270f 0000000c ffffffff"},
		{"Enumerated Server-Assignment-Type 1", Enumerated(AVPServerAssignmentType, Vendor3GPP, AVPFlagMandatory, 1),
			"00000266 c0000010 000028af 00000001"},
		{"OctetString empty", OctetString(AVPUserData, Vendor3GPP, AVPFlagMandatory, nil), "0000025e c000000c 000028af"},
		{"Grouped empty", Grouped(AVPFailedAVP, 0, AVPFlagMandatory), "00000117 40000008"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			got, err := c.avp.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("expected %x\ngot      %x", want, got)
			}
			back, err := DecodeAVPs(want)
			if err != nil || len(back) != 1 {
				t.Fatalf("DecodeAVPs: expected 1 AVP, got %d, %v", len(back), err)
			}
			if !reflect.DeepEqual(normalize(back[0]), normalize(c.avp)) {
				t.Fatalf("round trip: expected %+v, got %+v", c.avp, back[0])
			}
		})
	}
}

// normalize makes nil and empty data compare equal.
func normalize(a AVP) AVP {
	if len(a.Data) == 0 {
		a.Data = nil
	}
	return a
}

func TestTypedReaders(t *testing.T) {
	tm := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	if got, err := Time(1, 0, 0, tm).Time(); err != nil || !got.Equal(tm) {
		t.Errorf("Time: expected %v, got %v %v", tm, got, err)
	}
	late := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC) // past the 2036 wrap
	if got, err := Time(1, 0, 0, late).Time(); err != nil || !got.Equal(late) {
		t.Errorf("Time after 2036: expected %v, got %v %v", late, got, err)
	}
	if v, err := Unsigned64(1, 0, 0, 1<<40).Uint64(); err != nil || v != 1<<40 {
		t.Errorf("Uint64: expected %d, got %d %v", uint64(1<<40), v, err)
	}
	if v, err := Integer32(1, 0, 0, -5).Int32(); err != nil || v != -5 {
		t.Errorf("Int32: expected -5, got %d %v", v, err)
	}
	if _, err := OctetString(1, 0, 0, []byte{1, 2, 3}).Uint32(); err == nil || !strings.Contains(err.Error(), "expected 4 bytes of data, got 3") {
		t.Errorf("Uint32 of 3 bytes: expected a length error, got %v", err)
	}
	if _, err := OctetString(1, 0, 0, []byte{0xff}).UTF8(); err == nil {
		t.Errorf("UTF8 of 0xff: expected an error, got none")
	}
	for _, bad := range [][]byte{{0}, {0, 1, 1, 2, 3}, {0, 2, 1}, {0, 3, 1, 2, 3, 4}} {
		if _, err := OctetString(1, 0, 0, bad).Addr(); err == nil {
			t.Errorf("Addr of %x: expected an error, got none", bad)
		}
	}
	if a := Address(1, 0, 0, netip.MustParseAddr("::ffff:10.0.0.1")); !bytes.Equal(a.Data, []byte{0, 1, 10, 0, 0, 1}) {
		t.Errorf("Address of an IPv4-mapped address: expected family 1 and 4 bytes, got %x", a.Data)
	}
	if _, err := (&Message{AVPs: []AVP{Address(1, 0, 0, netip.Addr{})}}).Marshal(); err == nil {
		t.Errorf("Marshal with an invalid Address: expected an error, got none")
	}
	if _, err := (&Message{Code: 1 << 24}).Marshal(); err == nil {
		t.Errorf("Marshal with a 25-bit command code: expected an error, got none")
	}
	if _, err := (&Message{AVPs: []AVP{{Code: 1, VendorID: 5}}}).Marshal(); err == nil {
		t.Errorf("Marshal of a Vendor-ID without the V flag: expected an error, got none")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := unhex(t, stripComments(cerHex))
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
		rc   uint32
	}{
		{"empty", nil, ResultInvalidMessageLength},
		{"short header", good[:19], ResultInvalidMessageLength},
		{"version 2", mut(func(b []byte) []byte { b[0] = 2; return b }), ResultUnsupportedVersion},
		{"length below header", mut(func(b []byte) []byte { b[3] = 16; return b[:20] }), ResultInvalidMessageLength},
		{"length not multiple of 4", mut(func(b []byte) []byte { b[3] = 0x91; return append(b, 0) }), ResultInvalidMessageLength},
		{"length beyond data", mut(func(b []byte) []byte { return b[:140] }), ResultInvalidMessageLength},
		{"reserved flag bit", mut(func(b []byte) []byte { b[4] |= 0x01; return b }), ResultInvalidHdrBits},
		{"E bit on request", mut(func(b []byte) []byte { b[4] |= FlagError; return b }), ResultInvalidHdrBits},
		{"AVP length below header", mut(func(b []byte) []byte { b[20+7] = 4; return b }), ResultInvalidAVPLength},
		{"AVP length beyond message", mut(func(b []byte) []byte { b[20+6] = 0x10; return b }), ResultInvalidAVPLength},
		{"AVP reserved flag bit", mut(func(b []byte) []byte { b[20+4] |= 0x01; return b }), ResultInvalidAVPBits},
		{"truncated AVP header", append(func() []byte {
			b := append([]byte(nil), good[:20]...)
			b[3] = 24
			return b
		}(), 0, 0, 1, 8), ResultInvalidAVPLength},
		{"V flag without room for Vendor-ID", append(func() []byte {
			b := append([]byte(nil), good[:20]...)
			b[3] = 28
			return b
		}(), 0, 0, 1, 8, 0x80, 0, 0, 12), ResultInvalidAVPLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Unmarshal(c.b)
			if err == nil {
				t.Fatalf("expected an error with Result-Code %d, got message %+v", c.rc, m)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("expected a *DecodeError, got %T %v", err, err)
			}
			if de.ResultCode != c.rc {
				t.Fatalf("expected Result-Code %d, got %d (%v)", c.rc, de.ResultCode, err)
			}
		})
	}
}

// TestFailedAVPOfBadLength checks the Failed-AVP content for an AVP whose
// length is wrong: its header with an empty payload (RFC 6733 7.1.5).
func TestFailedAVPOfBadLength(t *testing.T) {
	b := unhex(t, stripComments(cerHex))
	b[20+7] = 4 // Origin-Host length 4
	_, err := Unmarshal(b)
	var de *DecodeError
	if !errors.As(err, &de) || de.FailedAVP == nil {
		t.Fatalf("expected a *DecodeError with a Failed-AVP, got %v", err)
	}
	if de.FailedAVP.Code != AVPOriginHost || de.FailedAVP.Flags != AVPFlagMandatory || len(de.FailedAVP.Data) != 0 {
		t.Fatalf("Failed-AVP: expected Origin-Host, M, no data, got %+v", *de.FailedAVP)
	}
}

func TestValidate(t *testing.T) {
	base := func(extra ...AVP) *Message { return cerMessage().Add(extra...) }
	cases := []struct {
		name string
		m    *Message
		rc   uint32 // 0: valid
		code uint32 // expected Failed-AVP code
	}{
		{"valid CER", base(), 0, 0},
		{"unknown AVP without M is ignored", base(UTF8String(494, 50, 0, "call-id")), 0, 0},
		{"unknown AVP with M", base(UTF8String(494, 50, AVPFlagMandatory, "x")), ResultAVPUnsupported, 494},
		{"unknown AVP with M inside a known grouped AVP", base(Grouped(AVPSIPAuthDataItem, Vendor3GPP, AVPFlagMandatory, Unsigned32(7777, 0, AVPFlagMandatory, 1))), ResultAVPUnsupported, 7777},
		{"Unsigned32 of 5 bytes", base(OctetString(AVPResultCode, 0, AVPFlagMandatory, []byte{0, 0, 0, 0, 1})), ResultInvalidAVPLength, AVPResultCode},
		{"Address of family 3", base(OctetString(AVPHostIPAddress, 0, AVPFlagMandatory, []byte{0, 3, 1, 2, 3, 4})), ResultInvalidAVPValue, AVPHostIPAddress},
		{"grouped AVP whose members do not decode", base(OctetString(AVPExperimentalResult, 0, AVPFlagMandatory, []byte{0, 0, 1, 0x2a, 0x40, 0, 0, 0x20})), ResultInvalidAVPLength, AVPExperimentalResult},
		{"invalid UTF-8", base(OctetString(AVPSessionID, 0, AVPFlagMandatory, []byte{0xc3})), ResultInvalidAVPValue, AVPSessionID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Default.Validate(c.m)
			if c.rc == 0 {
				if err != nil {
					t.Fatalf("expected valid, got %v", err)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.ResultCode != c.rc {
				t.Fatalf("expected Result-Code %d, got %v", c.rc, err)
			}
			if de.FailedAVP == nil || de.FailedAVP.Code != c.code {
				t.Fatalf("expected Failed-AVP code %d, got %+v", c.code, de.FailedAVP)
			}
		})
	}
}

func TestReadMessageFraming(t *testing.T) {
	one := unhex(t, stripComments(cerHex))
	two := append(append([]byte(nil), one...), one...)
	r := bytes.NewReader(two)
	for i := 0; i < 2; i++ {
		b, err := ReadMessage(r, 0)
		if err != nil || !bytes.Equal(b, one) {
			t.Fatalf("message %d: expected the CER, got %d bytes, %v", i, len(b), err)
		}
	}
	if _, err := ReadMessage(r, 0); err == nil || err.Error() != "EOF" {
		t.Fatalf("after two messages: expected EOF, got %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(one[:100]), 0); err == nil || err.Error() != "unexpected EOF" {
		t.Fatalf("truncated message: expected unexpected EOF, got %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(one), 100); err == nil {
		t.Fatalf("message above maxLen: expected an error, got none")
	}
}

func TestAnswer(t *testing.T) {
	req := NewRequest(CmdMultimediaAuth, AppCx, 7, 8, UTF8String(AVPSessionID, 0, AVPFlagMandatory, "s;1"), DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, "x"))
	if req.Flags != FlagRequest|FlagProxiable {
		t.Fatalf("MAR flags: expected R|P, got %#x", req.Flags)
	}
	a := req.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess))
	if a.IsRequest() || a.Flags != FlagProxiable || a.HopByHop != 7 || a.EndToEnd != 8 || a.Code != CmdMultimediaAuth || a.ApplicationID != AppCx {
		t.Fatalf("answer header: expected P only, ids 7/8, code 303 app Cx, got %+v", a)
	}
	if len(a.AVPs) != 2 || a.AVPs[0].Code != AVPSessionID {
		t.Fatalf("answer: expected Session-Id first then Result-Code, got %+v", a.AVPs)
	}
	if f := NewRequest(CmdCapabilitiesExchange, 0, 1, 1).Flags; f != FlagRequest {
		t.Fatalf("CER flags: expected R only, got %#x", f)
	}
}
