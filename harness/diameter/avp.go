package diameter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"
)

// avpFlags sets the V flag when vendor is not 0.
func avpFlags(vendor uint32, flags uint8) uint8 {
	if vendor != 0 {
		return flags | AVPFlagVendor
	}
	return flags
}

// OctetString returns an AVP of type OctetString. A vendor of 0 means an
// IETF AVP (no V flag); any other vendor sets the V flag. flags is usually
// AVPFlagMandatory or 0. b is copied.
func OctetString(code, vendor uint32, flags uint8, b []byte) AVP {
	return AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor, Data: append([]byte{}, b...)}
}

// UTF8String returns an AVP of type UTF8String.
func UTF8String(code, vendor uint32, flags uint8, s string) AVP {
	return AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor, Data: []byte(s)}
}

// DiameterIdentity returns an AVP of type DiameterIdentity (an FQDN or realm).
func DiameterIdentity(code, vendor uint32, flags uint8, id string) AVP {
	return UTF8String(code, vendor, flags, id)
}

// Unsigned32 returns an AVP of type Unsigned32.
func Unsigned32(code, vendor uint32, flags uint8, v uint32) AVP {
	return AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor, Data: binary.BigEndian.AppendUint32(nil, v)}
}

// Unsigned64 returns an AVP of type Unsigned64.
func Unsigned64(code, vendor uint32, flags uint8, v uint64) AVP {
	return AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor, Data: binary.BigEndian.AppendUint64(nil, v)}
}

// Integer32 returns an AVP of type Integer32.
func Integer32(code, vendor uint32, flags uint8, v int32) AVP {
	return Unsigned32(code, vendor, flags, uint32(v))
}

// Enumerated returns an AVP of type Enumerated (an Integer32 on the wire).
func Enumerated(code, vendor uint32, flags uint8, v int32) AVP {
	return Integer32(code, vendor, flags, v)
}

// Address families of the Address type (IANA address family numbers).
const (
	AddressFamilyIPv4 = 1
	AddressFamilyIPv6 = 2
)

// Address returns an AVP of type Address: a 2-byte address family (1 IPv4,
// 2 IPv6) followed by the address. An IPv4-mapped IPv6 address is sent as
// IPv4. An invalid netip.Addr gives an AVP that Marshal refuses.
func Address(code, vendor uint32, flags uint8, addr netip.Addr) AVP {
	a := AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor}
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		a.Data = binary.BigEndian.AppendUint16(nil, AddressFamilyIPv4)
	case addr.Is6():
		a.Data = binary.BigEndian.AppendUint16(nil, AddressFamilyIPv6)
	default:
		a.err = fmt.Errorf("diameter: AVP %d: expected an IPv4 or IPv6 address, got an invalid one", code)
		return a
	}
	a.Data = append(a.Data, addr.AsSlice()...)
	return a
}

// ntpOffset is the number of seconds from 1900-01-01 (the NTP epoch of the
// Time type) to 1970-01-01.
const ntpOffset = 2208988800

// Time returns an AVP of type Time: seconds since 1900-01-01 UTC on 32 bits
// (RFC 6733 4.3.1). Times from 2036-02-07 on wrap, as RFC 5905 era 1.
func Time(code, vendor uint32, flags uint8, t time.Time) AVP {
	return Unsigned32(code, vendor, flags, uint32(t.Unix()+ntpOffset))
}

// Grouped returns an AVP of type Grouped holding the members, each padded.
// A member that cannot be encoded makes an AVP that Marshal refuses.
func Grouped(code, vendor uint32, flags uint8, members ...AVP) AVP {
	a := AVP{Code: code, Flags: avpFlags(vendor, flags), VendorID: vendor}
	n := 0
	for _, m := range members {
		if err := m.check(); err != nil {
			a.err = fmt.Errorf("diameter: grouped AVP %d: %w", code, err)
			return a
		}
		n += m.Len()
	}
	a.Data = make([]byte, 0, n)
	for _, m := range members {
		a.Data = appendAVP(a.Data, m)
	}
	return a
}

func (a AVP) wantLen(n int, typ string) error {
	if len(a.Data) != n {
		return fmt.Errorf("diameter: AVP %d (%s): expected %d bytes of data, got %d", a.Code, typ, n, len(a.Data))
	}
	return nil
}

// Uint32 reads an Unsigned32.
func (a AVP) Uint32() (uint32, error) {
	if err := a.wantLen(4, "Unsigned32"); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(a.Data), nil
}

// Uint64 reads an Unsigned64.
func (a AVP) Uint64() (uint64, error) {
	if err := a.wantLen(8, "Unsigned64"); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(a.Data), nil
}

// Int32 reads an Integer32 or Enumerated.
func (a AVP) Int32() (int32, error) {
	if err := a.wantLen(4, "Integer32"); err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(a.Data)), nil
}

// UTF8 reads a UTF8String or DiameterIdentity; it fails on invalid UTF-8.
func (a AVP) UTF8() (string, error) {
	if !utf8.Valid(a.Data) {
		return "", fmt.Errorf("diameter: AVP %d (UTF8String): expected valid UTF-8, got %d bytes that are not", a.Code, len(a.Data))
	}
	return string(a.Data), nil
}

// Addr reads an Address of family IPv4 (4 bytes) or IPv6 (16 bytes).
func (a AVP) Addr() (netip.Addr, error) {
	if len(a.Data) < 2 {
		return netip.Addr{}, fmt.Errorf("diameter: AVP %d (Address): expected a 2-byte address family, got %d bytes", a.Code, len(a.Data))
	}
	fam := binary.BigEndian.Uint16(a.Data)
	rest := a.Data[2:]
	switch fam {
	case AddressFamilyIPv4:
		if len(rest) != 4 {
			return netip.Addr{}, fmt.Errorf("diameter: AVP %d (Address): expected 4 address bytes for family 1 (IPv4), got %d", a.Code, len(rest))
		}
		return netip.AddrFrom4([4]byte(rest)), nil
	case AddressFamilyIPv6:
		if len(rest) != 16 {
			return netip.Addr{}, fmt.Errorf("diameter: AVP %d (Address): expected 16 address bytes for family 2 (IPv6), got %d", a.Code, len(rest))
		}
		return netip.AddrFrom16([16]byte(rest)), nil
	}
	return netip.Addr{}, fmt.Errorf("diameter: AVP %d (Address): expected address family 1 (IPv4) or 2 (IPv6), got %d", a.Code, fam)
}

// Time reads a Time. Values with the high bit clear are taken as RFC 5905
// era 1 (2036-02-07 and later).
func (a AVP) Time() (time.Time, error) {
	v, err := a.Uint32()
	if err != nil {
		return time.Time{}, err
	}
	s := int64(v)
	if v&0x80000000 == 0 {
		s += 1 << 32
	}
	return time.Unix(s-ntpOffset, 0).UTC(), nil
}

// Group decodes the members of a Grouped AVP.
func (a AVP) Group() ([]AVP, error) {
	avps, err := DecodeAVPs(a.Data)
	if err != nil {
		return nil, fmt.Errorf("diameter: grouped AVP %d: %w", a.Code, err)
	}
	return avps, nil
}

// AppendGroup is Group appending the members to dst, their data a's bytes,
// not copies. On an error dst holds nothing of use.
func (a AVP) AppendGroup(dst []AVP) ([]AVP, error) {
	avps, err := appendAVPs(dst, a.Data, 0, false)
	if err != nil {
		return dst, fmt.Errorf("diameter: grouped AVP %d: %w", a.Code, err)
	}
	return avps, nil
}
