package esp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Direction of a packet, seen from the stack that reports it.
type Direction string

const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// IP protocol numbers of the transport segments ESP carries here.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Packet is one ESP packet a Stack sent or received, as Config.OnPacket
// reports it, so that a trace can record every packet and why one was
// refused. Its byte slices are valid only during the call: copy what you keep.
type Packet struct {
	Time time.Time
	Dir  Direction
	// Src and Dst are the outer IP addresses.
	Src, Dst netip.Addr
	// SPI and Seq are the ESP header's, as on the wire.
	SPI, Seq uint32
	// ESP is the IP payload as on the wire: ESP header, IV, encrypted
	// payload and trailer, ICV. The IP header is the kernel's. Nil for a
	// packet sent in clear (FaultClear).
	ESP []byte
	// Inner is the transport segment (UDP or TCP header and data) in clear:
	// what was sealed, or what was opened. Nil when a received packet was
	// refused before it was decrypted.
	Inner []byte
	// NextHeader is the protocol of Inner (ProtoUDP or ProtoTCP).
	NextHeader uint8
	// SrcPort and DstPort are Inner's ports, when Inner is there.
	SrcPort, DstPort uint16
	// SA is the SA the packet was sealed or opened with; the zero SAInfo when
	// none was found.
	SA SAInfo
	// Fault is the fault injected into a sent packet (FaultNone for none).
	Fault Fault
	// Err is nil for a packet sent, or received and accepted (ICV good, not
	// a replay, inside the SA's selectors). Otherwise it says why the packet
	// was refused or not sent; it wraps one of ErrMalformed, ErrICV,
	// ErrPadding, ErrReplay, ErrNoSA, ErrSelector, ErrNoOutboundSA,
	// ErrSequenceExhausted.
	Err error
}

// Payload is the transport payload of Inner: the data after the UDP or TCP
// header (nil when Inner is nil or too short).
func (p Packet) Payload() []byte {
	switch p.NextHeader {
	case ProtoUDP:
		if len(p.Inner) >= 8 {
			return p.Inner[8:]
		}
	case ProtoTCP:
		if len(p.Inner) >= 20 {
			if off := int(p.Inner[12]>>4) * 4; off >= 20 && off <= len(p.Inner) {
				return p.Inner[off:]
			}
		}
	}
	return nil
}

// String is one line for a log: direction, SPI, sequence number, addresses
// and, for a refused packet, why. It never shows keys.
func (p Packet) String() string {
	s := fmt.Sprintf("ESP %s %s→%s SPI 0x%08x seq %d", p.Dir, p.Src, p.Dst, p.SPI, p.Seq)
	if p.Inner != nil {
		s += fmt.Sprintf(" %s %d→%d (%d bytes)", protoName(p.NextHeader), p.SrcPort, p.DstPort, len(p.Inner))
	}
	if p.Fault != FaultNone {
		s += " fault " + p.Fault.String()
	}
	if p.Err != nil {
		s += ": " + p.Err.Error()
	}
	return s
}

func protoName(p uint8) string {
	switch p {
	case ProtoUDP:
		return "UDP"
	case ProtoTCP:
		return "TCP"
	}
	return fmt.Sprintf("protocol %d", p)
}

// Refusal names, as one word, why a packet was refused or not sent: "icv",
// "no-sa", "selector", "replay", "padding", "malformed", "no-outbound-sa",
// "sequence-exhausted"; "" for nil, and "error" for any other error (a
// socket's).
func Refusal(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrICV):
		return "icv"
	case errors.Is(err, ErrNoSA):
		return "no-sa"
	case errors.Is(err, ErrSelector):
		return "selector"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrPadding):
		return "padding"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrNoOutboundSA):
		return "no-outbound-sa"
	case errors.Is(err, ErrSequenceExhausted):
		return "sequence-exhausted"
	}
	return "error"
}

var (
	// ErrNoOutboundSA: a protected port sent a packet that no outbound SA's
	// selectors cover; it was dropped, not sent in clear.
	ErrNoOutboundSA = errors.New("no outbound SA for the packet")
	// ErrSequenceExhausted: the SA has sent 2³²−1 packets; RFC 4303 3.3.3
	// forbids it to send more (TS 33.203 uses no extended sequence numbers).
	ErrSequenceExhausted = errors.New("sequence number exhausted")
)

// Fault is a deviation injected into the next packet an outbound SA sends
// (SA.Inject), so that a test can prove the peer refuses it.
type Fault int

const (
	FaultNone Fault = iota
	// FaultBadICV sends the packet with its last ICV byte flipped.
	FaultBadICV
	// FaultWrongSPI sends the packet with an SPI that no SA in this process
	// has, and the sequence number the SA's next packet gets (the SA's
	// counter does not advance: the packet is no packet of the SA's).
	FaultWrongSPI
	// FaultReplay sends the packet, then sends it again byte for byte: the
	// second copy carries a sequence number the peer has seen.
	FaultReplay
	// FaultClear sends the transport segment in clear, with no ESP.
	FaultClear
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultBadICV:
		return "bad-icv"
	case FaultWrongSPI:
		return "wrong-spi"
	case FaultReplay:
		return "replay"
	case FaultClear:
		return "clear"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}
