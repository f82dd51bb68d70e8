package esp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// receive reads the raw ESP socket until the stack closes.
func (s *Stack) receive() {
	defer close(s.done)
	bp := getBuf()
	defer putBuf(bp)
	for {
		n, src, err := s.wire.recv(*bp)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosed() {
				return
			}
			continue
		}
		s.inboundPacket((*bp)[:n], src)
	}
}

// inboundPacket is the inbound processing of RFC 4303 3.4 for one ESP packet
// to the stack's address: find the SA by SPI and destination, check the
// sequence number against the anti-replay window, verify the ICV, decrypt,
// check the padding and the SA's selectors, update the window, and hand the
// transport segment to the user-space stack. Every refusal is reported.
//
// The raw socket sees every ESP packet to the address, those of other stacks
// of the process on the same address and the stack's own on their way out
// over loopback among them: a packet whose SPI is another stack's, or one the
// stack itself sends with, is left alone.
func (s *Stack) inboundPacket(pkt []byte, src netip.Addr) {
	p := Packet{Time: time.Now(), Dir: Received, Src: src, Dst: s.addr, ESP: pkt}
	var err error
	p.SPI, p.Seq, err = espHeader(pkt)
	if err != nil {
		p.Err = err
		s.report(p)
		return
	}
	sa := lookupInbound(p.SPI, s.addr)
	if sa == nil || sa.removed.Load() {
		if s.ownSPI(p.SPI) {
			return
		}
		if o := spiOwner(p.SPI); o != nil && o != s {
			return
		}
		p.Err = fmt.Errorf("%w 0x%08x to %s: discarded (RFC 4303 3.4.2)", ErrNoSA, p.SPI, s.addr)
		s.report(p)
		return
	}
	if sa.stack != s {
		return
	}
	p.SA = sa.info
	ib := getBuf()
	defer putBuf(ib)
	hl := header.IPv4MinimumSize
	if s.addr.Is6() {
		hl = header.IPv6MinimumSize
	}
	inner, err := sa.open(&p, pkt, (*ib)[hl:])
	if err != nil {
		p.Err = err
		s.report(p)
		return
	}
	s.report(p)
	s.inject((*ib)[:hl+len(inner)], hl, src, p.NextHeader)
}

// open does the checks of RFC 4303 3.4 on pkt, received from p.Src, in the
// order the RFC gives them (the cheap sequence number check before the ICV,
// the window updated only after it), decrypts it into buf (which holds
// bufSize bytes), and fills p's Inner, NextHeader and ports. Any input gets
// an error, never a panic (FuzzOpen).
func (sa *SA) open(p *Packet, pkt, buf []byte) ([]byte, error) {
	if p.Src != sa.info.Src.Addr() {
		return nil, fmt.Errorf("%w: %s: expected the packet from %s, got it from %s", ErrSelector, sa.info, sa.info.Src.Addr(), p.Src)
	}
	if err := sa.win.check(p.Seq); err != nil {
		return nil, err
	}
	if err := sa.t.checkLen(pkt); err != nil {
		return nil, err
	}
	if n := sa.t.bodyLen(pkt); n > len(buf) {
		return nil, fmt.Errorf("%w: %d bytes of payload, more than an IP packet holds", ErrMalformed, n)
	}
	if err := sa.t.verify(pkt); err != nil {
		return nil, err
	}
	inner, nh, err := sa.t.decrypt(buf, pkt)
	if err != nil {
		return nil, err
	}
	p.Inner, p.NextHeader = inner, nh
	p.SrcPort, p.DstPort = ports(inner)
	if err := checkSelectors(sa, nh, inner, p.SrcPort, p.DstPort); err != nil {
		return nil, err
	}
	if err := sa.win.accept(p.Seq); err != nil {
		return nil, err
	}
	return inner, nil
}

func checkSelectors(sa *SA, nh uint8, inner []byte, sport, dport uint16) error {
	switch nh {
	case ProtoUDP:
		if len(inner) < header.UDPMinimumSize {
			return fmt.Errorf("%w: a UDP segment of %d bytes", ErrMalformed, len(inner))
		}
	case ProtoTCP:
		if len(inner) < header.TCPMinimumSize {
			return fmt.Errorf("%w: a TCP segment of %d bytes", ErrMalformed, len(inner))
		}
	default:
		return fmt.Errorf("%w: %s: next header %d, expected UDP (17) or TCP (6)", ErrSelector, sa.info, nh)
	}
	if sport != sa.info.Src.Port() || dport != sa.info.Dst.Port() {
		return fmt.Errorf("%w: %s: expected ports %d→%d, got %s %d→%d", ErrSelector, sa.info, sa.info.Src.Port(), sa.info.Dst.Port(), protoName(nh), sport, dport)
	}
	return nil
}

// inject puts an IP header in front of the opened transport segment (in
// transport mode the addresses are the outer packet's) and hands the packet
// to the user-space stack, which checks the UDP or TCP checksum.
func (s *Stack) inject(b []byte, hl int, src netip.Addr, nh uint8) {
	sa, da := tcpip.AddrFromSlice(src.AsSlice()), tcpip.AddrFromSlice(s.addr.AsSlice())
	if hl == header.IPv4MinimumSize {
		h := header.IPv4(b)
		h.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: nh, SrcAddr: sa, DstAddr: da})
		h.SetChecksum(^h.CalculateChecksum())
	} else {
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(len(b) - hl), TransportProtocol: tcpip.TransportProtocolNumber(nh), HopLimit: 64, SrcAddr: sa, DstAddr: da})
	}
	pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	s.link.InjectInbound(s.proto, pkb)
	pkb.DecRef()
}
