package diameter

import (
	"encoding/binary"
	"fmt"
)

// Version is the only Diameter version (RFC 6733 3).
const Version = 1

// HeaderLen is the length of the Diameter header in bytes (RFC 6733 3).
const HeaderLen = 20

// MaxLen is the largest length the 24-bit Message Length and AVP Length
// fields can hold.
const MaxLen = 1<<24 - 1

// Command flags (RFC 6733 3).
const (
	FlagRequest    uint8 = 0x80 // R
	FlagProxiable  uint8 = 0x40 // P
	FlagError      uint8 = 0x20 // E
	FlagRetransmit uint8 = 0x10 // T
	flagsReserved  uint8 = 0x0f
)

// AVP flags (RFC 6733 4.1).
const (
	AVPFlagVendor    uint8 = 0x80 // V
	AVPFlagMandatory uint8 = 0x40 // M
	AVPFlagProtected uint8 = 0x20 // P
	avpFlagsReserved uint8 = 0x1f
)

// Message is one Diameter message. Version is always Version; the Message
// Length is computed by Marshal and checked by Unmarshal.
type Message struct {
	Flags         uint8  // R, P, E, T
	Code          uint32 // command code, 24 bits
	ApplicationID uint32
	HopByHop      uint32
	EndToEnd      uint32
	AVPs          []AVP
}

// AVP is one attribute-value pair. VendorID is on the wire only when Flags
// has AVPFlagVendor; Data is the AVP data without padding. A grouped AVP's
// Data is the concatenation of its encoded members (see Grouped and
// AVP.Group).
type AVP struct {
	Code     uint32
	Flags    uint8
	VendorID uint32
	Data     []byte

	err error // set by Grouped when a member cannot be encoded
}

// IsRequest reports whether the R bit is set.
func (m *Message) IsRequest() bool { return m.Flags&FlagRequest != 0 }

// IsError reports whether the E bit is set.
func (m *Message) IsError() bool { return m.Flags&FlagError != 0 }

// NewRequest returns a request with the given command, application,
// identifiers and AVPs. The R bit is set, and the P bit too except for the
// peer commands CER, DWR and DPR, whose header has no PXY (RFC 6733 5).
func NewRequest(code, appID, hopByHop, endToEnd uint32, avps ...AVP) *Message {
	f := FlagRequest | FlagProxiable
	switch code {
	case CmdCapabilitiesExchange, CmdDeviceWatchdog, CmdDisconnectPeer:
		f = FlagRequest
	}
	return &Message{Flags: f, Code: code, ApplicationID: appID, HopByHop: hopByHop, EndToEnd: endToEnd, AVPs: avps}
}

// Answer returns an answer to m: same command code, application id,
// Hop-by-Hop and End-to-End identifiers and P bit, R bit clear, and the
// request's Session-Id as the first AVP when it has one (RFC 6733 6.2).
func (m *Message) Answer(avps ...AVP) *Message {
	a := &Message{Flags: m.Flags & FlagProxiable, Code: m.Code, ApplicationID: m.ApplicationID, HopByHop: m.HopByHop, EndToEnd: m.EndToEnd}
	if sid, ok := m.Find(AVPSessionID, 0); ok {
		a.AVPs = append(a.AVPs, sid)
	}
	a.AVPs = append(a.AVPs, avps...)
	return a
}

// Add appends AVPs and returns m.
func (m *Message) Add(avps ...AVP) *Message {
	m.AVPs = append(m.AVPs, avps...)
	return m
}

// Find returns the first top-level AVP with the code and vendor (0 for the
// IETF AVPs).
func (m *Message) Find(code, vendor uint32) (AVP, bool) { return FindAVP(m.AVPs, code, vendor) }

// FindAll returns every top-level AVP with the code and vendor, in order.
func (m *Message) FindAll(code, vendor uint32) []AVP { return FindAllAVPs(m.AVPs, code, vendor) }

// FindAVP returns the first AVP of avps with the code and vendor.
func FindAVP(avps []AVP, code, vendor uint32) (AVP, bool) {
	for _, a := range avps {
		if a.Code == code && a.Vendor() == vendor {
			return a, true
		}
	}
	return AVP{}, false
}

// FindAllAVPs returns every AVP of avps with the code and vendor, in order.
func FindAllAVPs(avps []AVP, code, vendor uint32) []AVP {
	var out []AVP
	for _, a := range avps {
		if a.Code == code && a.Vendor() == vendor {
			out = append(out, a)
		}
	}
	return out
}

// Vendor returns the Vendor-ID when the V bit is set, else 0.
func (a AVP) Vendor() uint32 {
	if a.Flags&AVPFlagVendor != 0 {
		return a.VendorID
	}
	return 0
}

// Mandatory reports whether the M bit is set.
func (a AVP) Mandatory() bool { return a.Flags&AVPFlagMandatory != 0 }

// headerLen is the AVP header length: 12 with a Vendor-ID, else 8.
func (a AVP) headerLen() int {
	if a.Flags&AVPFlagVendor != 0 {
		return 12
	}
	return 8
}

func pad4(n int) int { return (n + 3) &^ 3 }

// Len returns the encoded length of the AVP including padding.
func (a AVP) Len() int { return pad4(a.headerLen() + len(a.Data)) }

func (a AVP) check() error {
	if a.err != nil {
		return a.err
	}
	if a.Flags&AVPFlagVendor == 0 && a.VendorID != 0 {
		return fmt.Errorf("diameter: AVP %d: expected the V flag with Vendor-ID %d, got flags %#02x", a.Code, a.VendorID, a.Flags)
	}
	if n := a.headerLen() + len(a.Data); n > MaxLen {
		return fmt.Errorf("diameter: AVP %d: expected an AVP Length of at most %d, got %d", a.Code, MaxLen, n)
	}
	return nil
}

// appendAVP appends the encoding of a (checked by check) to b.
func appendAVP(b []byte, a AVP) []byte {
	b = binary.BigEndian.AppendUint32(b, a.Code)
	n := a.headerLen() + len(a.Data)
	b = binary.BigEndian.AppendUint32(b, uint32(a.Flags)<<24|uint32(n))
	if a.Flags&AVPFlagVendor != 0 {
		b = binary.BigEndian.AppendUint32(b, a.VendorID)
	}
	b = append(b, a.Data...)
	for i := n; i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}

// Marshal encodes the AVP with its padding.
func (a AVP) Marshal() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	return appendAVP(make([]byte, 0, a.Len()), a), nil
}

// Marshal encodes the message: version 1, the computed Message Length, and
// every AVP padded to 4 bytes. It fails when the command code does not fit
// 24 bits, an AVP is inconsistent (a Vendor-ID without the V flag) or a
// length overflows 24 bits.
func (m *Message) Marshal() ([]byte, error) {
	if m.Code > MaxLen {
		return nil, fmt.Errorf("diameter: expected a command code of at most %d (24 bits), got %d", MaxLen, m.Code)
	}
	n := HeaderLen
	for _, a := range m.AVPs {
		if err := a.check(); err != nil {
			return nil, err
		}
		n += a.Len()
	}
	if n > MaxLen {
		return nil, fmt.Errorf("diameter: expected a Message Length of at most %d, got %d", MaxLen, n)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, Version<<24|uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Flags)<<24|m.Code)
	b = binary.BigEndian.AppendUint32(b, m.ApplicationID)
	b = binary.BigEndian.AppendUint32(b, m.HopByHop)
	b = binary.BigEndian.AppendUint32(b, m.EndToEnd)
	for _, a := range m.AVPs {
		b = appendAVP(b, a)
	}
	return b, nil
}

// DecodeError is a message or AVP that does not decode. ResultCode is what
// RFC 6733 7.1 says an answer reports for it; FailedAVP, when not nil, is the
// offending AVP to put in a Failed-AVP (for a broken AVP header: the header
// as far as it could be read, with an empty payload).
type DecodeError struct {
	ResultCode uint32
	Offset     int // byte offset in the message where the problem is
	Msg        string
	FailedAVP  *AVP
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("diameter: at byte %d: %s (%s)", e.Offset, e.Msg, ResultCodeName(e.ResultCode))
}

// Header is the fixed 20-byte message header as read from the wire.
type Header struct {
	Version       uint8
	Length        uint32
	Flags         uint8
	Code          uint32
	ApplicationID uint32
	HopByHop      uint32
	EndToEnd      uint32
}

// ParseHeader reads the header fields from the first HeaderLen bytes of b
// without checking them. It fails only when b is shorter than HeaderLen.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: len(b), Msg: fmt.Sprintf("expected a %d-byte header, got %d bytes", HeaderLen, len(b))}
	}
	w0 := binary.BigEndian.Uint32(b[0:4])
	w1 := binary.BigEndian.Uint32(b[4:8])
	return Header{
		Version:       uint8(w0 >> 24),
		Length:        w0 & MaxLen,
		Flags:         uint8(w1 >> 24),
		Code:          w1 & MaxLen,
		ApplicationID: binary.BigEndian.Uint32(b[8:12]),
		HopByHop:      binary.BigEndian.Uint32(b[12:16]),
		EndToEnd:      binary.BigEndian.Uint32(b[16:20]),
	}, nil
}

// Check checks the header on its own: version 1, a Message Length of at
// least HeaderLen and a multiple of 4, no reserved flag set, and no E bit on
// a request (RFC 6733 3, 7.1.3).
func (h Header) Check() error {
	switch {
	case h.Version != Version:
		return &DecodeError{ResultCode: ResultUnsupportedVersion, Offset: 0, Msg: fmt.Sprintf("expected version %d, got %d", Version, h.Version)}
	case h.Length < HeaderLen:
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected a Message Length of at least %d, got %d", HeaderLen, h.Length)}
	case h.Length%4 != 0:
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected a Message Length that is a multiple of 4, got %d", h.Length)}
	case h.Flags&flagsReserved != 0:
		return &DecodeError{ResultCode: ResultInvalidHdrBits, Offset: 4, Msg: fmt.Sprintf("expected reserved command flag bits 0, got flags %#02x", h.Flags)}
	case h.Flags&FlagRequest != 0 && h.Flags&FlagError != 0:
		return &DecodeError{ResultCode: ResultInvalidHdrBits, Offset: 4, Msg: fmt.Sprintf("expected no E bit on a request, got flags %#02x", h.Flags)}
	}
	return nil
}

// Unmarshal decodes one complete message. b must be exactly the message:
// its length must equal the Message Length field. AVP data is copied, so b
// may be reused. Grouped AVPs are not expanded; use AVP.Group.
func Unmarshal(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	if int(h.Length) != len(b) {
		return nil, &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected %d bytes as the Message Length says, got %d", h.Length, len(b))}
	}
	avps, err := decodeAVPs(b[HeaderLen:], HeaderLen)
	if err != nil {
		return nil, err
	}
	return &Message{Flags: h.Flags, Code: h.Code, ApplicationID: h.ApplicationID, HopByHop: h.HopByHop, EndToEnd: h.EndToEnd, AVPs: avps}, nil
}

// UnmarshalView is Unmarshal into m, for a reader of many messages: m's
// AVPs take the storage of m.AVPs, and their data are b's bytes, not
// copies, so b must not change while m is read. On an error m holds
// nothing of use.
func UnmarshalView(m *Message, b []byte) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if err := h.Check(); err != nil {
		return err
	}
	if int(h.Length) != len(b) {
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected %d bytes as the Message Length says, got %d", h.Length, len(b))}
	}
	avps, err := appendAVPs(m.AVPs[:0], b[HeaderLen:], HeaderLen, false)
	*m = Message{Flags: h.Flags, Code: h.Code, ApplicationID: h.ApplicationID, HopByHop: h.HopByHop, EndToEnd: h.EndToEnd, AVPs: avps}
	return err
}

// DecodeAVPs decodes a sequence of padded AVPs that fills b exactly, such as
// the data of a grouped AVP.
func DecodeAVPs(b []byte) ([]AVP, error) { return decodeAVPs(b, 0) }

// decodeAVPs decodes AVPs filling b; base is b's offset in the message.
func decodeAVPs(b []byte, base int) ([]AVP, error) {
	avps, err := appendAVPs(nil, b, base, true)
	if err != nil {
		return nil, err
	}
	return avps, nil
}

// appendAVPs appends the AVPs filling b to avps, their data copies of b's
// bytes when copied, else b's bytes.
func appendAVPs(avps []AVP, b []byte, base int, copied bool) ([]AVP, error) {
	off := 0
	for off < len(b) {
		rest := b[off:]
		if len(rest) < 8 {
			var hdr [8]byte
			copy(hdr[:], rest)
			return nil, &DecodeError{ResultCode: ResultInvalidAVPLength, Offset: base + off,
				Msg:       fmt.Sprintf("expected an AVP header of at least 8 bytes, got %d bytes", len(rest)),
				FailedAVP: brokenAVP(hdr[:])}
		}
		code := binary.BigEndian.Uint32(rest[0:4])
		flags := rest[4]
		length := int(binary.BigEndian.Uint32(rest[4:8]) & MaxLen)
		hl := 8
		var vendor uint32
		if flags&AVPFlagVendor != 0 {
			hl = 12
			if len(rest) < 12 {
				var hdr [12]byte
				copy(hdr[:], rest)
				return nil, &DecodeError{ResultCode: ResultInvalidAVPLength, Offset: base + off,
					Msg:       fmt.Sprintf("AVP %d: expected a 12-byte header with Vendor-ID, got %d bytes", code, len(rest)),
					FailedAVP: brokenAVP(hdr[:])}
			}
			vendor = binary.BigEndian.Uint32(rest[8:12])
		}
		if flags&avpFlagsReserved != 0 {
			return nil, &DecodeError{ResultCode: ResultInvalidAVPBits, Offset: base + off + 4,
				Msg:       fmt.Sprintf("AVP %d: expected reserved AVP flag bits 0, got flags %#02x", code, flags),
				FailedAVP: &AVP{Code: code, Flags: flags, VendorID: vendor}}
		}
		if length < hl {
			return nil, &DecodeError{ResultCode: ResultInvalidAVPLength, Offset: base + off + 5,
				Msg:       fmt.Sprintf("AVP %d: expected an AVP Length of at least the %d-byte header, got %d", code, hl, length),
				FailedAVP: &AVP{Code: code, Flags: flags, VendorID: vendor}}
		}
		if length > len(rest) {
			return nil, &DecodeError{ResultCode: ResultInvalidAVPLength, Offset: base + off + 5,
				Msg:       fmt.Sprintf("AVP %d: AVP Length %d exceeds the %d bytes left", code, length, len(rest)),
				FailedAVP: &AVP{Code: code, Flags: flags, VendorID: vendor}}
		}
		padded := pad4(length)
		if padded > len(rest) {
			return nil, &DecodeError{ResultCode: ResultInvalidAVPLength, Offset: base + off + length,
				Msg:       fmt.Sprintf("AVP %d: expected %d bytes of padding after its %d bytes, got %d", code, padded-length, length, len(rest)-length),
				FailedAVP: &AVP{Code: code, Flags: flags, VendorID: vendor}}
		}
		data := rest[hl:length]
		if copied {
			data = make([]byte, length-hl)
			copy(data, rest[hl:length])
		}
		avps = append(avps, AVP{Code: code, Flags: flags, VendorID: vendor, Data: data})
		off += padded
	}
	return avps, nil
}

// brokenAVP is the Failed-AVP content for an AVP header that could not be
// read in full: the bytes seen, zero-filled to a header (RFC 6733 7.1.5).
func brokenAVP(hdr []byte) *AVP {
	a := &AVP{Code: binary.BigEndian.Uint32(hdr[0:4]), Flags: hdr[4]}
	if a.Flags&AVPFlagVendor != 0 && len(hdr) >= 12 {
		a.VendorID = binary.BigEndian.Uint32(hdr[8:12])
	}
	a.Flags &^= avpFlagsReserved
	return a
}
