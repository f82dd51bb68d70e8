package pcap

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"imsconform/harness/trace"
)

// frames reads back every frame of a pcap as gopacket decodes it.
func frames(t *testing.T, data []byte) []gopacket.Packet {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []gopacket.Packet
	for {
		b, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, gopacket.NewPacket(b, r.LinkType(), gopacket.Default))
	}
}

// A message that travelled inside ESP is written as the ESP packet that
// carried it (IP protocol 50, the packet's bytes as on the wire), in the
// order of the times, and not again in clear; a refused packet is written
// too; one whose packets are not all in the list is written in clear; a
// packet sent in clear is its segment.
func TestWriteAllESP(t *testing.T) {
	ue, pc := netip.MustParseAddrPort("127.0.0.1:2468"), netip.MustParseAddrPort("127.0.0.1:7531")
	reg := register(2)
	espBytes := []byte{0, 0, 0x10, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}
	msgs := []trace.Message{
		{Seq: 1, Time: t0, Proto: trace.SIP, Transport: "UDP", Src: ue, Dst: pc, Raw: reg, ESP: &trace.ESP{SPI: 0x1000, Seq: []uint32{1}, Packets: []int{1}}},
		{Seq: 2, Time: t0.Add(3 * time.Millisecond), Proto: trace.SIP, Transport: "UDP", Src: pc, Dst: ue, Raw: response401(), ESP: &trace.ESP{SPI: 0x2000, Seq: []uint32{1}, Packets: []int{9}}},
	}
	pkts := []trace.Packet{
		{Seq: 1, Time: t0.Add(time.Millisecond), Src: ue.Addr(), Dst: pc.Addr(), SPI: 0x1000, ESPSeq: 1, Raw: espBytes},
		{Seq: 2, Time: t0.Add(2 * time.Millisecond), Src: pc.Addr(), Dst: ue.Addr(), SPI: 0x2000, ESPSeq: 1, Raw: espBytes, Refusal: "icv"},
		{Seq: 3, Time: t0.Add(4 * time.Millisecond), Src: pc.Addr(), Dst: ue.Addr(), Clear: true, Proto: 17, Inner: []byte{0x1d, 0x6b, 0x09, 0xa4, 0, 8, 0, 0}},
	}
	var buf bytes.Buffer
	if err := WriteAll(&buf, msgs, pkts); err != nil {
		t.Fatal(err)
	}
	fs := frames(t, buf.Bytes())
	if len(fs) != 4 {
		t.Fatalf("%d frames, want 4: two ESP packets, the 401 in clear (its packet is not in the list), the clear segment", len(fs))
	}
	for i, want := range []layers.IPProtocol{layers.IPProtocolESP, layers.IPProtocolESP, layers.IPProtocolUDP, layers.IPProtocolUDP} {
		ip, ok := fs[i].NetworkLayer().(*layers.IPv4)
		if !ok || ip.Protocol != want {
			t.Fatalf("frame %d: %v, want IPv4 protocol %v", i+1, fs[i].NetworkLayer(), want)
		}
		if i < 2 && !bytes.Equal(ip.Payload, espBytes) {
			t.Errorf("frame %d: IP payload %x, want the ESP packet %x", i+1, ip.Payload, espBytes)
		}
	}
	if u := fs[2].TransportLayer().(*layers.UDP); !bytes.Equal(u.Payload, response401()) {
		t.Errorf("frame 3 carries %q, want the 401", u.Payload)
	}
	if u := fs[3].TransportLayer().(*layers.UDP); u.SrcPort != 7531 || u.DstPort != 2468 {
		t.Errorf("frame 4: UDP %d→%d, want the clear segment 7531→2468", u.SrcPort, u.DstPort)
	}
}

// The HSS's end of a Diameter message goes on port 3868, whatever port
// it listened on; the peer's port stays.
func TestDiameterOnItsPort(t *testing.T) {
	hss, cscf := netip.MustParseAddrPort("[::1]:41000"), netip.MustParseAddrPort("[::1]:52000")
	msgs := []trace.Message{
		{Seq: 1, Time: t0, Proto: trace.Diameter, Transport: "TCP", Dir: trace.Received, Role: "HSS", Src: cscf, Dst: hss, Raw: []byte{1, 0, 0, 20}},
		{Seq: 2, Time: t0, Proto: trace.Diameter, Transport: "TCP", Dir: trace.Sent, Role: "HSS", Src: hss, Dst: cscf, Raw: []byte{1, 0, 0, 20}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, msgs); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, buf.Bytes())
	if got[0].src.Port() != 52000 || got[0].dst.Port() != 3868 || got[1].src.Port() != 3868 || got[1].dst.Port() != 52000 {
		t.Errorf("ports %v→%v and %v→%v, want 52000→3868 and 3868→52000", got[0].src, got[0].dst, got[1].src, got[1].dst)
	}
}

// A clear SIP message's port that Wireshark dissects as another protocol
// (48049: CBSP) is written as one it does not, the same in every message;
// other ports stay.
func TestSIPPortWiresharkTakesIsMoved(t *testing.T) {
	ue, pc := netip.MustParseAddrPort("[::1]:40000"), netip.MustParseAddrPort("[::1]:48049")
	if !trace.WiresharkOther(pc.Port()) || trace.WiresharkOther(ue.Port()) {
		t.Fatal("the test's ports are not what Wireshark makes of them any more")
	}
	msgs := []trace.Message{
		{Seq: 1, Time: t0, Proto: trace.SIP, Transport: "UDP", Src: ue, Dst: pc, Raw: register(1)},
		{Seq: 2, Time: t0, Proto: trace.SIP, Transport: "UDP", Src: pc, Dst: ue, Raw: response401()},
	}
	var buf bytes.Buffer
	if err := Write(&buf, msgs); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, buf.Bytes())
	moved := got[0].dst.Port()
	if moved == 48049 || trace.WiresharkOther(moved) || got[1].src.Port() != moved || got[0].src.Port() != 40000 || got[1].dst.Port() != 40000 {
		t.Errorf("ports %v→%v, %v→%v: want 48049 moved to one port Wireshark leaves to SIP, 40000 kept", got[0].src, got[0].dst, got[1].src, got[1].dst)
	}
}
