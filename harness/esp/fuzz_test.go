package esp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// fuzzSAs are inbound SAs of every algorithm combination, from
// 127.0.0.1:5060 to 127.0.0.1:1357, with their transforms.
func fuzzSAs(t testing.TB) []*SA {
	var out []*SA
	for _, tr := range everyTransform(t) {
		out = append(out, &SA{t: tr, info: SAInfo{SPI: 0x1000, Dir: Inbound,
			Src: netip.MustParseAddrPort("127.0.0.1:5060"), Dst: netip.MustParseAddrPort("127.0.0.1:1357"),
			Integrity: tr.integ, Encryption: tr.enc}})
	}
	return out
}

// FuzzOpen feeds any bytes to the inbound checks of every SA: they refuse
// or accept, and never panic; what they accept is a UDP or TCP segment
// within the SA's ports. The seeds include a valid packet of each SA (so
// that the fuzzer reaches past the ICV) and cut or stretched ones.
func FuzzOpen(f *testing.F) {
	sas := fuzzSAs(f)
	for i, sa := range sas {
		seg := make([]byte, 8+9)
		binary.BigEndian.PutUint16(seg[0:2], 5060)
		binary.BigEndian.PutUint16(seg[2:4], 1357)
		copy(seg[8:], "REGISTER ")
		pkt := sa.t.seal(nil, 0x1000, uint32(i+1), nil, seg, ProtoUDP)
		f.Add(pkt)
		f.Add(pkt[:len(pkt)-1])
		f.Add(append(pkt, 0))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0x10, 0, 0, 0, 0, 1})
	buf := make([]byte, bufSize)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, sa := range sas {
			sa.win = replayWindow{}
			p := Packet{Src: sa.info.Src.Addr()}
			var err error
			if p.SPI, p.Seq, err = espHeader(pkt); err != nil {
				continue
			}
			inner, err := sa.open(&p, pkt, buf)
			if err != nil {
				continue
			}
			if p.NextHeader != ProtoUDP && p.NextHeader != ProtoTCP || p.SrcPort != 5060 || p.DstPort != 1357 || len(inner) < 8 {
				t.Fatalf("%s accepted %x as %s", sa.info, pkt, p)
			}
		}
	})
}

// FuzzParseIP: the parser of the packets the user-space stack sends never
// panics, and what it returns lies within its input.
func FuzzParseIP(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0x13, 0xc4, 0x05, 0x4d, 0, 8, 0, 0})
	f.Add(append([]byte{0x60, 0, 0, 0, 0, 8, 17, 64}, make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, seg, err := parseIP(b)
		if err == nil && len(seg) > len(b) {
			t.Fatalf("segment of %d bytes from %d", len(seg), len(b))
		}
		(Packet{NextHeader: ProtoTCP, Inner: b}).Payload()
		(Packet{NextHeader: ProtoUDP, Inner: b}).Payload()
	})
}
