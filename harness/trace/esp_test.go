package trace

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"
)

var (
	ueC    = netip.MustParseAddrPort("[::1]:2468")
	pcscfS = netip.MustParseAddrPort("[::1]:7531")
)

func udpSeg(src, dst netip.AddrPort, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func tcpSeg(src, dst netip.AddrPort, seq uint32, flags byte, payload string) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], src.Port())
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = 5 << 4
	b[13] = flags
	return append(b, payload...)
}

// pkt is an accepted ESP packet of role UE carrying seg from src to dst.
func pkt(dir Direction, src, dst netip.AddrPort, proto uint8, spi, seq uint32, seg []byte) Packet {
	return Packet{Role: "UE", Dir: dir, Src: src.Addr(), Dst: dst.Addr(), SPI: spi, ESPSeq: seq, Raw: []byte("esp"),
		Proto: proto, SrcPort: src.Port(), DstPort: dst.Port(), Inner: seg}
}

func sipMsg(dir Direction, transport string, src, dst netip.AddrPort, raw string) Message {
	return Message{Proto: SIP, Role: "UE", Dir: dir, Transport: transport, Src: src, Dst: dst, Raw: []byte(raw)}
}

// A datagram carries the message whose bytes are its payload: each of two
// identical retransmissions gets its own packet; a refused packet, a packet
// of another role or direction, and a message in clear get none.
func TestLinkDatagrams(t *testing.T) {
	tr := New()
	reg := "REGISTER sip:r SIP/2.0\r\n\r\n"
	ok := "SIP/2.0 200 OK\r\n\r\n"
	tr.Add(sipMsg(Sent, "UDP", ueC, pcscfS, reg))
	tr.AddPacket(pkt(Sent, ueC, pcscfS, protoUDP, 0x1000, 1, udpSeg(ueC, pcscfS, reg)))
	tr.Add(sipMsg(Sent, "UDP", ueC, pcscfS, reg)) // the retransmission
	tr.AddPacket(pkt(Sent, ueC, pcscfS, protoUDP, 0x1000, 2, udpSeg(ueC, pcscfS, reg)))
	bad := pkt(Received, pcscfS, ueC, protoUDP, 0x2000, 1, nil)
	bad.Refusal, bad.Proto = "icv", 0
	tr.AddPacket(bad)
	other := pkt(Received, pcscfS, ueC, protoUDP, 0x2000, 2, udpSeg(pcscfS, ueC, ok))
	other.Role = "VCCApp"
	tr.AddPacket(other)
	tr.AddPacket(pkt(Received, pcscfS, ueC, protoUDP, 0x2000, 3, udpSeg(pcscfS, ueC, ok)))
	tr.Add(sipMsg(Received, "UDP", pcscfS, ueC, ok))
	tr.Add(sipMsg(Received, "UDP", pcscfS, netip.MustParseAddrPort("[::1]:1357"), ok)) // in clear to port-s
	tr.LinkESP()
	got := tr.Messages()
	want := []*ESP{
		{SPI: 0x1000, Seq: []uint32{1}, Packets: []int{1}},
		{SPI: 0x1000, Seq: []uint32{2}, Packets: []int{2}},
		{SPI: 0x2000, Seq: []uint32{3}, Packets: []int{5}},
		nil,
	}
	for i, w := range want {
		if !reflect.DeepEqual(got[i].ESP, w) {
			t.Errorf("message %d: ESP %+v, want %+v", i+1, got[i].ESP, w)
		}
	}
}

// Over TCP the segments are placed by sequence number: two messages on one
// stream, the first split over two segments, one retransmitted, the second
// in one segment that also ends the first; the handshake carries nothing.
func TestLinkTCPStream(t *testing.T) {
	a := "REGISTER sip:r SIP/2.0\r\nContent-Length: 0\r\n\r\n"
	b := "REGISTER sip:r SIP/2.0\r\nCSeq: 3 REGISTER\r\nContent-Length: 0\r\n\r\n"
	const isn = 0xfffffff0 // the stream wraps the sequence space
	start := uint32(isn + 1)
	var pkts []Packet
	add := func(seq uint32, flags byte, data string) {
		p := pkt(Sent, ueC, pcscfS, protoTCP, 0x1000, uint32(len(pkts)+1), tcpSeg(ueC, pcscfS, seq, flags, data))
		p.Seq = len(pkts) + 1
		pkts = append(pkts, p)
	}
	add(isn, 0x02, "")                       // SYN
	add(start, 0x10, "")                     // ACK
	add(start, 0x18, a[:10])                 // 3
	add(start, 0x18, a[:10])                 // 4: retransmission
	add(start+10, 0x18, a[10:20])            // 5
	add(start+20, 0x18, a[20:]+b[:5])        // 6: the rest of a, the start of b
	add(start+uint32(len(a)+5), 0x18, b[5:]) // 7
	msgs := []Message{sipMsg(Sent, "TCP", ueC, pcscfS, a), sipMsg(Sent, "TCP", ueC, pcscfS, b)}
	Link(msgs, pkts)
	if want := (&ESP{SPI: 0x1000, Seq: []uint32{3, 5, 6}, Packets: []int{3, 5, 6}}); !reflect.DeepEqual(msgs[0].ESP, want) {
		t.Errorf("first message: %+v, want %+v", msgs[0].ESP, want)
	}
	if want := (&ESP{SPI: 0x1000, Seq: []uint32{6, 7}, Packets: []int{6, 7}}); !reflect.DeepEqual(msgs[1].ESP, want) {
		t.Errorf("second message: %+v, want %+v", msgs[1].ESP, want)
	}
	// The same bytes sent over UDP are not the stream's.
	u := []Message{sipMsg(Sent, "UDP", ueC, pcscfS, a)}
	Link(u, pkts)
	if u[0].ESP != nil {
		t.Errorf("a UDP message linked to TCP segments: %+v", u[0].ESP)
	}
}

func TestAddPacketCopiesAndBounds(t *testing.T) {
	tr := New()
	raw, inner := []byte("esp"), []byte("inner")
	p := tr.AddPacket(Packet{Raw: raw, Inner: inner})
	raw[0], inner[0] = 'X', 'X'
	got := tr.Packets()
	if p.Seq != 1 || p.Time.IsZero() || string(got[0].Raw) != "esp" || string(got[0].Inner) != "inner" {
		t.Fatalf("AddPacket = %+v, stored %+v", p, got[0])
	}
	for range maxPackets {
		tr.AddPacket(Packet{Raw: []byte("x")})
	}
	if n, d := len(tr.Packets()), tr.PacketsDropped(); n != maxPackets || d != 1 {
		t.Errorf("%d packets kept, %d dropped; want %d and 1", n, d, maxPackets)
	}
}
