package trace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sort"
	"time"
)

// ESP says how a message travelled inside IPsec ESP (RFC 4303, transport
// mode) over the security associations of TS 33.203: the SA's SPI and the
// packets that carried its bytes. A message without it (Message.ESP nil)
// travelled in clear.
type ESP struct {
	SPI uint32 `json:"spi"`
	// Seq are the ESP sequence numbers of the packets that carried the
	// message's bytes, in order: one for a datagram, one or more segments
	// of a TCP stream.
	Seq []uint32 `json:"seq"`
	// Packets are those packets' Seq in the trace's packet list (Packets).
	Packets []int `json:"packets"`
}

// Packet is one ESP packet a role of the harness sent or received, as its
// user-space ESP saw it, accepted or refused: the wire's view under the SIP
// messages, so that rules can judge the SAs (ICV, SPIs, sequence numbers)
// and the pcap can hold the packets as they were.
type Packet struct {
	Seq  int       `json:"seq"` // 1-based, in capture order among the packets
	Time time.Time `json:"time"`
	Role string    `json:"role"` // the harness role whose ESP saw it, e.g. "UE"
	Dir  Direction `json:"dir"`
	// Src and Dst are the outer IP addresses.
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	// SPI and ESPSeq are the ESP header's SPI and sequence number, as on
	// the wire (a refused packet's too).
	SPI    uint32 `json:"spi"`
	ESPSeq uint32 `json:"esp_seq"`
	// Raw is the IP payload as on the wire: the ESP header, IV, encrypted
	// payload and trailer, and ICV. Nil for a packet sent in clear (Clear).
	Raw []byte `json:"-"`
	// Clear says the packet left in clear, not in ESP (a deviation): Inner
	// is then what went on the wire after the IP header.
	Clear bool `json:"clear,omitempty"`
	// Proto is the IP protocol of Inner (17 UDP, 6 TCP); 0 when the packet
	// was refused before it was decrypted.
	Proto uint8 `json:"proto"`
	// SrcPort and DstPort are Inner's ports, when Inner is there.
	SrcPort uint16 `json:"src_port"`
	DstPort uint16 `json:"dst_port"`
	// Inner is the transport segment (UDP or TCP header and payload) in
	// clear: what was sealed, or what was opened; nil when a received packet
	// was refused before it was decrypted.
	Inner []byte `json:"-"`
	// SA describes the SA the packet was sealed or opened with (SPI,
	// direction, selectors, algorithms; never keys); "" when none was found.
	SA string `json:"sa,omitempty"`
	// Fault names the deviation injected into a sent packet ("" for none).
	Fault string `json:"fault,omitempty"`
	// Refusal says why a received packet was refused, as a word — "icv",
	// "no-sa", "selector", "replay", "padding", "malformed" — or why a sent
	// one did not leave; "" for a packet sent, or received and accepted.
	Refusal string `json:"refusal,omitempty"`
	// Err is the refusal in words, for people.
	Err string `json:"error,omitempty"`
}

// Accepted reports whether the packet carried its payload: sent, or
// received and accepted, inside ESP.
func (p Packet) Accepted() bool { return p.Refusal == "" && !p.Clear && p.Raw != nil }

// Payload is the transport payload of Inner: the data after the UDP or TCP
// header; nil when there is none.
func (p Packet) Payload() []byte {
	switch p.Proto {
	case protoUDP:
		if len(p.Inner) >= 8 {
			return p.Inner[8:]
		}
	case protoTCP:
		if off := tcpDataOffset(p.Inner); off > 0 {
			return p.Inner[off:]
		}
	}
	return nil
}

const (
	protoTCP = 6
	protoUDP = 17
)

// tcpDataOffset is where a TCP segment's payload starts, or 0 when seg is
// no TCP segment.
func tcpDataOffset(seg []byte) int {
	if len(seg) < 20 {
		return 0
	}
	off := int(seg[12]>>4) * 4
	if off < 20 || off > len(seg) {
		return 0
	}
	return off
}

// packet limits: a run of the flow sees a few dozen ESP packets; these
// bound a flood of them (every one is still counted, see PacketsDropped).
const (
	maxPackets     = 20000
	maxPacketBytes = 32 << 20
)

// AddPacket records an ESP packet, filling Seq (and Time when zero), and
// returns the stored copy; Raw and Inner are copied. Past the packet limits
// it is only counted (PacketsDropped) and the copy returned has Seq 0.
func (t *Trace) AddPacket(p Packet) Packet {
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p.Raw) + len(p.Inner)
	if len(t.pkts) >= maxPackets || t.pktBytes+n > maxPacketBytes {
		t.pktsDropped++
		p.Seq = 0
		return p
	}
	p.Raw = clone(p.Raw)
	p.Inner = clone(p.Inner)
	t.pktBytes += n
	p.Seq = len(t.pkts) + 1
	t.pkts = append(t.pkts, p)
	return p
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Packets returns a snapshot of the recorded ESP packets in capture order.
func (t *Trace) Packets() []Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Packet(nil), t.pkts...)
}

// PacketsDropped counts the ESP packets past the limits, not kept.
func (t *Trace) PacketsDropped() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pktsDropped
}

// LinkESP fills the ESP of every recorded message that travelled inside ESP
// (see Link). Messages() returns them so from then on.
func (t *Trace) LinkESP() {
	t.mu.Lock()
	defer t.mu.Unlock()
	Link(t.msgs, t.pkts)
}

// Link finds, for every SIP message of msgs, the ESP packets that carried
// it and sets its ESP (nil when none did: the message travelled in clear).
// A packet carries a message when it is one the same role sent or accepted
// in the same direction, between the same addresses and ports, over the
// same transport, and its payload holds the message's bytes: a datagram
// whose payload is the message, or TCP segments whose place in their
// stream (by TCP sequence number) covers the message's place in it. Each
// datagram carries one message; retransmitted segments count once.
func Link(msgs []Message, pkts []Packet) {
	type flowKey struct {
		role     string
		dir      Direction
		src, dst netip.AddrPort
		proto    uint8
	}
	flows := map[flowKey][]int{} // indices into pkts, in capture order
	for i, p := range pkts {
		if !p.Accepted() || (p.Proto != protoUDP && p.Proto != protoTCP) {
			continue
		}
		k := flowKey{p.Role, p.Dir, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort), p.Proto}
		flows[k] = append(flows[k], i)
	}
	key := func(m Message) (flowKey, bool) {
		proto := uint8(protoTCP)
		switch m.Transport {
		case "UDP":
			proto = protoUDP
		case "TCP":
		default:
			return flowKey{}, false
		}
		return flowKey{m.Role, m.Dir, unmapped(m.Src), unmapped(m.Dst), proto}, true
	}
	usedDatagram := map[int]bool{}
	var tcpMsgs = map[flowKey][]int{} // indices into msgs
	for i := range msgs {
		m := &msgs[i]
		m.ESP = nil
		if m.Proto != SIP {
			continue
		}
		k, ok := key(*m)
		if !ok || len(flows[k]) == 0 {
			continue
		}
		if k.proto == protoTCP {
			tcpMsgs[k] = append(tcpMsgs[k], i)
			continue
		}
		for _, pi := range flows[k] {
			if !usedDatagram[pi] && bytes.Equal(pkts[pi].Payload(), m.Raw) {
				usedDatagram[pi] = true
				m.ESP = &ESP{SPI: pkts[pi].SPI, Seq: []uint32{pkts[pi].ESPSeq}, Packets: []int{pkts[pi].Seq}}
				break
			}
		}
	}
	for k, mis := range tcpMsgs {
		linkStream(msgs, mis, pkts, flows[k])
	}
}

// linkStream places the segments of one direction of a TCP connection in
// their stream by sequence number and the messages sent on it in order,
// each after the one before, and gives each message the segments that
// carried its bytes.
func linkStream(msgs []Message, mis []int, pkts []Packet, pis []int) {
	type seg struct {
		pkt  int
		off  int
		data []byte
	}
	var base uint32
	haveBase := false
	for _, pi := range pis {
		in := pkts[pi].Inner
		if len(in) >= 14 && in[13]&0x02 != 0 { // SYN: the stream starts after it
			base, haveBase = binary.BigEndian.Uint32(in[4:8])+1, true
			break
		}
	}
	var segs []seg
	for _, pi := range pis {
		data := pkts[pi].Payload()
		if len(data) == 0 {
			continue
		}
		sq := binary.BigEndian.Uint32(pkts[pi].Inner[4:8])
		if !haveBase {
			base, haveBase = sq, true
		}
		off := int(int32(sq - base)) // relative; wraps as TCP's sequence space does
		if off < 0 {
			continue
		}
		segs = append(segs, seg{pi, off, data})
	}
	if len(segs) == 0 {
		return
	}
	// The stream as the segments give it; a retransmitted range keeps its
	// first copy.
	size := 0
	for _, s := range segs {
		size = max(size, s.off+len(s.data))
	}
	if size > maxPacketBytes {
		return
	}
	stream := make([]byte, size)
	filled := make([]bool, size)
	var first []seg // the segments that first filled some byte
	for _, s := range segs {
		fresh := false
		for j := range s.data {
			if !filled[s.off+j] {
				stream[s.off+j], filled[s.off+j], fresh = s.data[j], true, true
			}
		}
		if fresh {
			first = append(first, s)
		}
	}
	sort.SliceStable(first, func(a, b int) bool { return first[a].off < first[b].off })
	cursor := 0
	for _, mi := range mis {
		m := &msgs[mi]
		if len(m.Raw) == 0 || cursor >= len(stream) {
			continue
		}
		at := bytes.Index(stream[cursor:], m.Raw)
		if at < 0 {
			continue
		}
		start, end := cursor+at, cursor+at+len(m.Raw)
		cursor = end
		e := &ESP{}
		for _, s := range first {
			if s.off < end && s.off+len(s.data) > start {
				p := pkts[s.pkt]
				if len(e.Seq) == 0 {
					e.SPI = p.SPI
				}
				e.Seq = append(e.Seq, p.ESPSeq)
				e.Packets = append(e.Packets, p.Seq)
			}
		}
		if len(e.Seq) > 0 {
			m.ESP = e
		}
	}
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}
