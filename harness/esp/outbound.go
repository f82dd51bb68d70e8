package esp

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// outboundPacket is the outbound processing of RFC 4303 3.3 for one packet
// the user-space stack sends: look up the SA its addresses and ports select
// (TS 33.203 7.1; one SA covers UDP and TCP), take the next sequence number,
// seal the transport segment and send it on the raw socket. A packet no SA
// covers is dropped and reported, never sent in clear.
func (s *Stack) outboundPacket(pkt *stack.PacketBuffer) {
	bp := getBuf()
	defer putBuf(bp)
	raw := (*bp)[:0]
	for _, sl := range pkt.AsSlices() {
		raw = append(raw, sl...)
	}
	p := Packet{Time: time.Now(), Dir: Sent}
	var err error
	p.Src, p.Dst, p.NextHeader, p.Inner, err = parseIP(raw)
	if err != nil {
		p.Err = fmt.Errorf("%w: the user-space stack sent a packet ESP cannot carry: %v", ErrNoOutboundSA, err)
		s.report(p)
		return
	}
	p.SrcPort, p.DstPort = ports(p.Inner)
	sel := selector{netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)}
	s.mu.Lock()
	sa := s.outbound[sel]
	s.mu.Unlock()
	if sa == nil {
		p.Err = fmt.Errorf("%w: %s %s→%s: dropped, not sent in clear", ErrNoOutboundSA, protoName(p.NextHeader), sel.src, sel.dst)
		s.report(p)
		return
	}
	p.SA = sa.info
	p.Fault = sa.nextFault()
	if p.Fault == FaultClear {
		if err := s.wire.sendClear(p.Dst, raw); err != nil {
			p.Err = fmt.Errorf("esp: sending in clear: %w", err)
		}
		s.report(p)
		return
	}
	// A packet under a wrong SPI is, for the receiver, another SA's: it
	// leaves the SA's counter where it is, so the SA's own packets still
	// number 1, 2, 3, … (RFC 4303 3.3.3).
	var seq uint64
	if p.Fault == FaultWrongSPI {
		seq = sa.seq.Load() + 1
	} else {
		seq = sa.seq.Add(1)
	}
	if seq > math.MaxUint32 {
		p.Err = fmt.Errorf("%w: %s has sent %d packets; it must be replaced", ErrSequenceExhausted, sa.info, uint64(math.MaxUint32))
		s.report(p)
		return
	}
	p.SPI, p.Seq = sa.info.SPI, uint32(seq)
	ob := getBuf()
	defer putBuf(ob)
	p.ESP = sa.t.seal((*ob)[:0], p.SPI, p.Seq, nil, p.Inner, p.NextHeader)
	switch p.Fault {
	case FaultBadICV:
		p.ESP[len(p.ESP)-1] ^= 0x01
	case FaultWrongSPI:
		p.SPI = s.unusedSPI(p.SPI)
		binary.BigEndian.PutUint32(p.ESP[0:4], p.SPI)
	}
	if err := s.wire.send(p.Dst, p.ESP); err != nil {
		p.Err = fmt.Errorf("esp: sending: %w", err)
	}
	if p.Fault == FaultReplay {
		first := p
		first.Fault = FaultNone
		s.report(first)
		if err := s.wire.send(p.Dst, p.ESP); err != nil {
			p.Err = fmt.Errorf("esp: sending the replay: %w", err)
		}
	}
	s.report(p)
}

// unusedSPI picks an SPI no SA or lease of the process has, and remembers it
// as one of the stack's own, so that the stack ignores the copy it sees on
// loopback, and as a stray meant for the stack that holds near (the
// receiver of the SA the packet should have gone on), so that only that
// peer reports the packet and the other stacks on its address do not.
func (s *Stack) unusedSPI(near uint32) uint32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	spi := near ^ 0x5a5a0000
	for spi < 256 || registry.spiRefs[spi] > 0 || registry.strays[spi] != nil {
		spi = rand.Uint32()
	}
	if to := registry.spis[near]; to != nil {
		strayLocked(spi, to)
	}
	s.mu.Lock()
	s.sentSPIs[spi]++
	s.mu.Unlock()
	return spi
}

// ownSPI reports whether spi is one the stack sends with: a packet with it,
// seen on the raw socket, is the stack's own on its way out over loopback.
func (s *Stack) ownSPI(spi uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentSPIs[spi] > 0
}

// parseIP reads the header of an IP packet the user-space stack sent.
func parseIP(b []byte) (src, dst netip.Addr, proto uint8, seg []byte, err error) {
	if len(b) < 1 {
		return src, dst, 0, nil, errShort
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return src, dst, 0, nil, errShort
		}
		hl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if hl < 20 || total < hl || total > len(b) {
			return src, dst, 0, nil, fmt.Errorf("IPv4 header length %d, total length %d, in %d bytes", hl, total, len(b))
		}
		if frag := binary.BigEndian.Uint16(b[6:8]); frag&0x3fff != 0 {
			return src, dst, 0, nil, fmt.Errorf("a fragment (the datagram is larger than the MTU)")
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		return src, dst, b[9], b[hl:total], nil
	case 6:
		if len(b) < 40 {
			return src, dst, 0, nil, errShort
		}
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if 40+n > len(b) {
			return src, dst, 0, nil, fmt.Errorf("IPv6 payload length %d in %d bytes", n, len(b))
		}
		if b[6] != ProtoUDP && b[6] != ProtoTCP {
			return src, dst, 0, nil, fmt.Errorf("IPv6 next header %d, expected UDP or TCP (a fragment, or an extension header)", b[6])
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		return src, dst, b[6], b[40 : 40+n], nil
	}
	return src, dst, 0, nil, fmt.Errorf("IP version %d", b[0]>>4)
}

// ports reads the source and destination ports of a UDP or TCP segment.
func ports(seg []byte) (src, dst uint16) {
	if len(seg) < 4 {
		return 0, 0
	}
	return binary.BigEndian.Uint16(seg[0:2]), binary.BigEndian.Uint16(seg[2:4])
}
