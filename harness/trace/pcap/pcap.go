// Package pcap writes captured messages (harness/trace) as a pcap file that
// Wireshark and tshark dissect with no setting of the user's: SIP on any
// port (Wireshark's SIP heuristics), Diameter with the HSS's end on port
// 3868, and under IPsec the ESP packets as they were on the wire, which
// Wireshark decrypts and authenticates with the esp_sa file written beside
// the pcap (harness/esp). It is kept apart from the trace so that the check
// engine, which reads traces, does not link the packet libraries.
package pcap

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"imsconform/harness/trace"
)

const (
	pcapSnapLen = 262144
	// maxTCPSegment bounds the payload of one written TCP segment; a longer
	// message becomes several segments of the same stream.
	maxTCPSegment = 65000
	// maxUDPPayload is the most a UDP datagram carries over IPv4 (65535 less
	// the IPv4 and UDP headers).
	maxUDPPayload = 65507
	sipPort       = 5060
	diameterPort  = 3868
	// hssRole is the trace role of the HSS emulator (harness/hss).
	hssRole = "HSS"
)

// Write writes every message, in capture order, as a packet of a pcap
// file (link type Ethernet, nanosecond timestamps from Message.Time), so that
// Wireshark and tshark show the run.
//
// Each packet has a real IPv4 or IPv6 header (IPv4-mapped addresses are
// written as IPv4; when the two ends are of different families both are
// written as IPv6) and UDP or TCP with valid checksums, carrying Raw.
// Transport "UDP" is written as UDP; any other transport (TCP, TLS, WS, an
// empty one) and every Diameter message as TCP. Each source/destination pair
// is one TCP stream with PSH|ACK segments whose sequence numbers count the
// bytes sent and whose acknowledgements count the bytes of the reverse
// stream; there is no handshake. A message longer than 65000 bytes becomes
// several segments.
//
// Where an address or port is missing (the zero netip.AddrPort) it is written
// as the unspecified address and the protocol's port (5060 for SIP, 3868 for
// Diameter). A UDP payload over 65507 bytes, which no UDP datagram can carry,
// is cut to 65507 bytes. The Ethernet addresses are made up, one per IP
// address.
//
// The HSS's end of a Diameter message (role "HSS": the destination of what
// it received, the source of what it sent) is written with port 3868, the
// Diameter port of RFC 6733 2.1, whatever port the HSS listened on (the
// embedded core's HSS takes an ephemeral one): Wireshark dissects Diameter
// on that port only, and would show the messages as data otherwise. The
// port the HSS really had is in the trace (report.json).
//
// Likewise a port of a SIP message in clear that Wireshark dissects as
// another protocol (trace.WiresharkOther, e.g. 48049 as CBSP: an ephemeral
// port may be one) is written as a port it does not, from 65535 down, one
// for each such port of the file and used by nothing else in it, so that
// Wireshark shows the SIP as SIP; the ports inside ESP packets cannot be
// rewritten, and the user-space ESP never leases such a port.
func Write(w io.Writer, msgs []trace.Message) error { return WriteAll(w, msgs, nil) }

// WriteAll is Write with the ESP packets of an IPsec run (trace.Packet): each
// is written as it was on the wire, an IP header (protocol 50) and the ESP
// packet, or, sent in clear by a deviation, the UDP or TCP segment; a
// message that travelled inside ESP (Message.ESP) is not written again in
// clear when the packets that carried it are among pkts. Messages are
// written in their order, packets in the order of their times, the two
// merged by time.
func WriteAll(w io.Writer, msgs []trace.Message, pkts []trace.Packet) error {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(pcapSnapLen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("pcap: writing the pcap file header: %w", err)
	}
	// A stack reports a packet it sent once it has left, and may report
	// one it received meanwhile: the times (taken before a packet is sent,
	// when it is received) give the order on the wire.
	pkts = slices.Clone(pkts)
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].Time.Before(pkts[j].Time) })
	have := make(map[int]bool, len(pkts))
	for _, p := range pkts {
		have[p.Seq] = true
	}
	carried := func(m trace.Message) bool {
		if m.ESP == nil || len(m.ESP.Packets) == 0 {
			return false
		}
		for _, s := range m.ESP.Packets {
			if !have[s] {
				return false
			}
		}
		return true
	}
	streams := map[flow]uint32{} // next sequence number per TCP stream
	remap := sipPorts(msgs, pkts)
	write := func(at time.Time, b []byte, what string) error {
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(b), Length: len(b)}
		if err := pw.WritePacket(ci, b); err != nil {
			return fmt.Errorf("pcap: writing %s to the pcap: %w", what, err)
		}
		return nil
	}
	i, j := 0, 0
	for i < len(msgs) || j < len(pkts) {
		if j < len(pkts) && (i == len(msgs) || pkts[j].Time.Before(msgs[i].Time)) {
			p := pkts[j]
			j++
			b, err := espPacket(p)
			if err != nil {
				return fmt.Errorf("pcap: ESP packet %d (SPI %d seq %d): %w", p.Seq, p.SPI, p.ESPSeq, err)
			}
			if b == nil {
				continue
			}
			if err := write(p.Time, b, fmt.Sprintf("ESP packet %d", p.Seq)); err != nil {
				return err
			}
			continue
		}
		m := msgs[i]
		i++
		if carried(m) {
			continue
		}
		if m.Proto == trace.SIP {
			m.Src = netip.AddrPortFrom(m.Src.Addr(), remap.of(m.Src.Port()))
			m.Dst = netip.AddrPortFrom(m.Dst.Addr(), remap.of(m.Dst.Port()))
		}
		frames, err := packets(m, streams)
		if err != nil {
			return fmt.Errorf("pcap: message %d (%s %s→%s): %w", m.Seq, m.Proto, m.Src, m.Dst, err)
		}
		for _, f := range frames {
			if err := write(m.Time, f, fmt.Sprintf("message %d", m.Seq)); err != nil {
				return err
			}
		}
	}
	return nil
}

// portMap maps the ports of clear SIP messages that Wireshark dissects as
// another protocol to ports it does not.
type portMap map[uint16]uint16

func (pm portMap) of(p uint16) uint16 {
	if q, ok := pm[p]; ok {
		return q
	}
	return p
}

// sipPorts gives every port of a clear SIP message that trace.WiresharkOther
// names a port of its own, from 65535 down, that no message or packet of
// the file uses and Wireshark does not take.
func sipPorts(msgs []trace.Message, pkts []trace.Packet) portMap {
	used := map[uint16]bool{}
	var bad []uint16
	for _, m := range msgs {
		for _, p := range []uint16{m.Src.Port(), m.Dst.Port()} {
			if !used[p] && m.Proto == trace.SIP && trace.WiresharkOther(p) {
				bad = append(bad, p)
			}
			used[p] = true
		}
	}
	for _, p := range pkts {
		used[p.SrcPort], used[p.DstPort] = true, true
	}
	pm := portMap{}
	next := uint16(65535)
	for _, p := range bad {
		for used[next] || trace.WiresharkOther(next) {
			next--
		}
		pm[p] = next
		used[next] = true
	}
	return pm
}

// espPacket is an ESP packet as a frame: Ethernet, IP (protocol 50) and the
// ESP packet; or, for one sent in clear, IP and its segment. Nil for a
// packet with nothing to write.
func espPacket(p trace.Packet) ([]byte, error) {
	src, dst := p.Src.Unmap().WithZone(""), p.Dst.Unmap().WithZone("")
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("expected two addresses of one family, saw %s and %s", p.Src, p.Dst)
	}
	proto, payload := layers.IPProtocolESP, p.Raw
	if p.Clear {
		proto, payload = layers.IPProtocol(p.Proto), p.Inner
	}
	if payload == nil {
		return nil, nil
	}
	return serializeIP(src, dst, proto, nil, payload)
}

// flow is one direction of a TCP stream.
type flow struct{ src, dst netip.AddrPort }

// isn is a stream's initial sequence number: fixed per stream, so a trace
// always writes the same bytes.
func (f flow) isn() uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(f.src.String() + ">" + f.dst.String()))
	return h.Sum32()
}

func (f flow) reverse() flow { return flow{f.dst, f.src} }

// packets serialises one message as one packet (UDP) or as many segments as
// its length needs (TCP), advancing the TCP stream state.
func packets(m trace.Message, streams map[flow]uint32) ([][]byte, error) {
	src, dst := endpoints(m)
	tcp := m.Proto == trace.Diameter || !strings.EqualFold(m.Transport, "UDP")
	raw := m.Raw
	if !tcp && len(raw) > maxUDPPayload {
		raw = raw[:maxUDPPayload]
	}
	var out [][]byte
	f := flow{src, dst}
	for first := true; first || len(raw) > 0; first = false {
		chunk := raw
		if tcp && len(chunk) > maxTCPSegment {
			chunk = chunk[:maxTCPSegment]
		}
		raw = raw[len(chunk):]
		var l4 gopacket.SerializableLayer
		if tcp {
			seq, ok := streams[f]
			if !ok {
				seq = f.isn()
			}
			ack, ok := streams[f.reverse()]
			if !ok {
				ack = f.reverse().isn()
			}
			streams[f] = seq + uint32(len(chunk))
			l4 = &layers.TCP{
				SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
				Seq: seq, Ack: ack, PSH: true, ACK: true, Window: 65535,
			}
		} else {
			l4 = &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		}
		b, err := serialize(src.Addr(), dst.Addr(), tcp, l4, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func serialize(src, dst netip.Addr, tcp bool, l4 gopacket.SerializableLayer, payload []byte) ([]byte, error) {
	proto := layers.IPProtocolUDP
	if tcp {
		proto = layers.IPProtocolTCP
	}
	return serializeIP(src, dst, proto, l4, payload)
}

// serializeIP writes Ethernet, IP with protocol proto and, when l4 is not
// nil, the UDP or TCP header (checksums over the IP header), then payload.
func serializeIP(src, dst netip.Addr, proto layers.IPProtocol, l4 gopacket.SerializableLayer, payload []byte) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: mac(src), DstMAC: mac(dst)}
	var ip gopacket.NetworkLayer
	var ipLayer gopacket.SerializableLayer
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		s, d := src.As4(), dst.As4()
		v4 := &layers.IPv4{
			Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: net.IP(s[:]), DstIP: net.IP(d[:]),
		}
		ip, ipLayer = v4, v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		s, d := src.As16(), dst.As16()
		v6 := &layers.IPv6{
			Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: net.IP(s[:]), DstIP: net.IP(d[:]),
		}
		ip, ipLayer = v6, v6
	}
	switch l := l4.(type) {
	case *layers.TCP:
		if err := l.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
	case *layers.UDP:
		if err := l.SetNetworkLayerForChecksum(ip); err != nil {
			return nil, err
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ls := []gopacket.SerializableLayer{eth, ipLayer}
	if l4 != nil {
		ls = append(ls, l4)
	}
	if err := gopacket.SerializeLayers(buf, opts, append(ls, gopacket.Payload(payload))...); err != nil {
		return nil, fmt.Errorf("serialising the packet: %w", err)
	}
	return buf.Bytes(), nil
}

// endpoints gives a message's ends as one IP family, with the protocol's port
// where a port is missing and the unspecified address where an address is.
func endpoints(m trace.Message) (netip.AddrPort, netip.AddrPort) {
	port := uint16(sipPort)
	if m.Proto == trace.Diameter {
		port = diameterPort
	}
	sa, da := m.Src.Addr().Unmap().WithZone(""), m.Dst.Addr().Unmap().WithZone("")
	switch {
	case !sa.IsValid() && !da.IsValid():
		sa, da = netip.IPv4Unspecified(), netip.IPv4Unspecified()
	case !sa.IsValid():
		sa = unspecified(da)
	case !da.IsValid():
		da = unspecified(sa)
	case sa.Is4() != da.Is4():
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	sp, dp := m.Src.Port(), m.Dst.Port()
	if sp == 0 {
		sp = port
	}
	if dp == 0 {
		dp = port
	}
	if m.Proto == trace.Diameter && m.Role == hssRole {
		// The HSS's own end on the Diameter port (see Write).
		if m.Dir == trace.Received {
			dp = diameterPort
		} else {
			sp = diameterPort
		}
	}
	return netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)
}

func unspecified(like netip.Addr) netip.Addr {
	if like.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// mac makes up a locally administered Ethernet address for an IP address.
func mac(a netip.Addr) net.HardwareAddr {
	h := fnv.New64a()
	b, _ := a.MarshalBinary()
	_, _ = h.Write(b)
	s := h.Sum64()
	return net.HardwareAddr{0x02, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}
