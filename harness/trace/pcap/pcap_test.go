package pcap

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"imsconform/harness/trace"
	"imsconform/internal/tooltest"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 123456789, time.UTC)

func register(cseq int) []byte {
	return []byte("REGISTER sip:registrar.home1.net SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd]:1357;branch=z9hG4bKnashds7\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
		"To: <sip:user1_public1@home1.net>\r\n" +
		"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
		"CSeq: " + itoa(cseq) + " REGISTER\r\n" +
		"Contact: <sip:[5555::aaa:bbb:ccc:ddd]:1357>\r\n" +
		"Expires: 600000\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func response401() []byte {
	return []byte("SIP/2.0 401 Unauthorized\r\n" +
		"Via: SIP/2.0/UDP [5555::aaa:bbb:ccc:ddd]:1357;branch=z9hG4bKnashds7\r\n" +
		"From: <sip:user1_public1@home1.net>;tag=4fa3\r\n" +
		"To: <sip:user1_public1@home1.net>;tag=5ef4\r\n" +
		"Call-ID: apb03a0s09dkjdfglkj49111\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func itoa(n int) string { return string(rune('0' + n)) }

// decoded is one packet read back from a pcap.
type decoded struct {
	ts               time.Time
	src, dst         netip.AddrPort
	udp              bool
	seq, ack         uint32
	psh, ackFlag     bool
	payload          []byte
	checksumsCorrect bool
}

func readPcap(t *testing.T, data []byte) []decoded {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var out []decoded
	for {
		b, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(b, r.LinkType(), gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", len(out)+1, el.Error())
		}
		d := decoded{ts: ci.Timestamp}
		var srcIP, dstIP net.IP
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			srcIP, dstIP = ip.SrcIP, ip.DstIP
		case *layers.IPv6:
			srcIP, dstIP = ip.SrcIP, ip.DstIP
		default:
			t.Fatalf("packet %d: network layer %T", len(out)+1, ip)
		}
		sa, _ := netip.AddrFromSlice(srcIP)
		da, _ := netip.AddrFromSlice(dstIP)
		switch l4 := pkt.TransportLayer().(type) {
		case *layers.UDP:
			d.udp = true
			d.src, d.dst = netip.AddrPortFrom(sa, uint16(l4.SrcPort)), netip.AddrPortFrom(da, uint16(l4.DstPort))
			d.payload = l4.Payload
		case *layers.TCP:
			d.src, d.dst = netip.AddrPortFrom(sa, uint16(l4.SrcPort)), netip.AddrPortFrom(da, uint16(l4.DstPort))
			d.seq, d.ack, d.psh, d.ackFlag = l4.Seq, l4.Ack, l4.PSH, l4.ACK
			d.payload = l4.Payload
		default:
			t.Fatalf("packet %d: transport layer %T", len(out)+1, l4)
		}
		d.checksumsCorrect = checksumsCorrect(t, pkt)
		out = append(out, d)
	}
	return out
}

// checksumsCorrect re-serialises the IP and transport layers with computed
// checksums and compares them with those written.
func checksumsCorrect(t *testing.T, pkt gopacket.Packet) bool {
	t.Helper()
	net := pkt.NetworkLayer()
	var written, want uint16
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	buf := gopacket.NewSerializeBuffer()
	switch l4 := pkt.TransportLayer().(type) {
	case *layers.UDP:
		written = l4.Checksum
		c := *l4
		_ = c.SetNetworkLayerForChecksum(net)
		if err := gopacket.SerializeLayers(buf, opts, &c, gopacket.Payload(l4.Payload)); err != nil {
			t.Fatal(err)
		}
		want = c.Checksum
	case *layers.TCP:
		written = l4.Checksum
		c := *l4
		_ = c.SetNetworkLayerForChecksum(net)
		if err := gopacket.SerializeLayers(buf, opts, &c, gopacket.Payload(l4.Payload)); err != nil {
			t.Fatal(err)
		}
		want = c.Checksum
	}
	if v4, ok := net.(*layers.IPv4); ok {
		c := *v4
		b := gopacket.NewSerializeBuffer()
		if err := c.SerializeTo(b, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
			t.Fatal(err)
		}
		if c.Checksum != v4.Checksum {
			return false
		}
	}
	return written == want && written != 0
}

func TestWritePcapReadsBack(t *testing.T) {
	ue4 := netip.MustParseAddrPort("127.0.0.1:40001")
	pcscf4 := netip.MustParseAddrPort("127.0.0.2:5060")
	ue6 := netip.MustParseAddrPort("[::1]:40002")
	pcscf6 := netip.MustParseAddrPort("[::1]:5062")
	tr := trace.New()
	msgs := []trace.Message{
		{Time: t0, Proto: trace.SIP, Transport: "UDP", Dir: trace.Sent, Role: "UE", Src: ue4, Dst: pcscf4, Raw: register(1)},
		{Time: t0.Add(time.Millisecond), Proto: trace.SIP, Transport: "UDP", Dir: trace.Received, Role: "UE", Src: pcscf6, Dst: ue6, Raw: response401()},
		{Time: t0.Add(2 * time.Millisecond), Proto: trace.SIP, Transport: "TCP", Dir: trace.Sent, Role: "UE", Src: ue4, Dst: pcscf4, Raw: register(2)},
		{Time: t0.Add(3 * time.Millisecond), Proto: trace.SIP, Transport: "tcp", Dir: trace.Sent, Role: "UE", Src: ue4, Dst: pcscf4, Raw: register(3)},
		{Time: t0.Add(4 * time.Millisecond), Proto: trace.SIP, Transport: "TCP", Dir: trace.Received, Role: "UE", Src: pcscf4, Dst: ue4, Raw: response401()},
		{Time: t0.Add(5 * time.Millisecond), Proto: trace.Diameter, Dir: trace.Received, Role: "HSS",
			Src: netip.MustParseAddrPort("[::ffff:127.0.0.3]:3868"), Dst: netip.MustParseAddrPort("127.0.0.4:0"), Raw: []byte{1, 0, 0, 20, 0x80, 0, 1, 0x2c, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}},
		{Time: t0.Add(6 * time.Millisecond), Proto: trace.SIP, Transport: "UDP", Src: netip.MustParseAddrPort("10.0.0.1:5060"), Dst: netip.MustParseAddrPort("[2001:db8::1]:5060"), Raw: []byte("x")},
		{Time: t0.Add(7 * time.Millisecond), Proto: trace.SIP, Transport: "UDP", Raw: nil},
	}
	for _, m := range msgs {
		tr.Add(m)
	}
	var buf bytes.Buffer
	if err := Write(&buf, tr.Messages()); err != nil {
		t.Fatalf("WritePcap: %v", err)
	}
	got := readPcap(t, buf.Bytes())
	if len(got) != len(msgs) {
		t.Fatalf("%d packets, want %d", len(got), len(msgs))
	}
	wantEnds := [][2]string{
		{"127.0.0.1:40001", "127.0.0.2:5060"},
		{"[::1]:5062", "[::1]:40002"},
		{"127.0.0.1:40001", "127.0.0.2:5060"},
		{"127.0.0.1:40001", "127.0.0.2:5060"},
		{"127.0.0.2:5060", "127.0.0.1:40001"},
		{"127.0.0.3:3868", "127.0.0.4:3868"},             // IPv4-mapped unmapped; port 0 becomes 3868
		{"[::ffff:10.0.0.1]:5060", "[2001:db8::1]:5060"}, // mixed families: both IPv6
		{"0.0.0.0:5060", "0.0.0.0:5060"},                 // no addresses
	}
	wantUDP := []bool{true, true, false, false, false, false, true, true}
	for i, d := range got {
		if d.src.String() != wantEnds[i][0] || d.dst.String() != wantEnds[i][1] {
			t.Errorf("packet %d: %s → %s, want %s → %s", i+1, d.src, d.dst, wantEnds[i][0], wantEnds[i][1])
		}
		if d.udp != wantUDP[i] {
			t.Errorf("packet %d: udp %v, want %v", i+1, d.udp, wantUDP[i])
		}
		if !bytes.Equal(d.payload, msgs[i].Raw) {
			t.Errorf("packet %d: payload %q, want %q", i+1, d.payload, msgs[i].Raw)
		}
		if !d.ts.Equal(msgs[i].Time) {
			t.Errorf("packet %d: timestamp %v, want %v", i+1, d.ts, msgs[i].Time)
		}
		if !d.checksumsCorrect {
			t.Errorf("packet %d: checksums do not verify", i+1)
		}
		if !d.udp && !(d.psh && d.ackFlag) {
			t.Errorf("packet %d: TCP flags PSH %v ACK %v, want both", i+1, d.psh, d.ackFlag)
		}
	}
	// The TCP stream: sequence numbers count bytes, acks count the reverse stream.
	r2, r3, resp := got[2], got[3], got[4]
	if r3.seq != r2.seq+uint32(len(r2.payload)) {
		t.Errorf("second segment seq %d, want %d + %d", r3.seq, r2.seq, len(r2.payload))
	}
	if r2.ack != r3.ack || resp.seq != r2.ack {
		t.Errorf("reverse stream: UE acks %d and %d, P-CSCF sends from seq %d; want all equal", r2.ack, r3.ack, resp.seq)
	}
	if resp.ack != r3.seq+uint32(len(r3.payload)) {
		t.Errorf("P-CSCF ack %d, want %d (all UE bytes)", resp.ack, r3.seq+uint32(len(r3.payload)))
	}

	// Writing twice gives the same bytes.
	var again bytes.Buffer
	if err := Write(&again, tr.Messages()); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("second WritePcap differs (err %v)", err)
	}
}

func TestWritePcapSplitsLongTCPMessages(t *testing.T) {
	tr := trace.New()
	raw := bytes.Repeat([]byte("a"), 2*maxTCPSegment+10)
	tr.Add(trace.Message{Time: t0, Proto: trace.SIP, Transport: "TCP", Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::1]:2"), Raw: raw})
	tr.Add(trace.Message{Time: t0, Proto: trace.SIP, Transport: "UDP", Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::1]:2"), Raw: bytes.Repeat([]byte("b"), 70000)})
	var buf bytes.Buffer
	if err := Write(&buf, tr.Messages()); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, buf.Bytes())
	if len(got) != 4 {
		t.Fatalf("%d packets, want 3 TCP segments and 1 UDP datagram", len(got))
	}
	var joined []byte
	for i, d := range got[:3] {
		if i > 0 && d.seq != got[i-1].seq+uint32(len(got[i-1].payload)) {
			t.Errorf("segment %d seq %d does not follow", i+1, d.seq)
		}
		joined = append(joined, d.payload...)
	}
	if !bytes.Equal(joined, raw) {
		t.Errorf("segments carry %d bytes, want the %d of the message", len(joined), len(raw))
	}
	if len(got[3].payload) != maxUDPPayload {
		t.Errorf("oversized UDP payload written as %d bytes, want %d", len(got[3].payload), maxUDPPayload)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWritePcapReportsWriteErrors(t *testing.T) {
	if err := Write(failWriter{}, nil); err == nil || !strings.Contains(err.Error(), "pcap file header") {
		t.Errorf("WritePcap to a failing writer = %v, want an error about the header", err)
	}
}

// TestTsharkDissectsPcapAsSIP needs tshark (apt-get install tshark); set
// IMSCONFORM_REQUIRE_TOOLS=1 to make its absence a failure.
func TestTsharkDissectsPcapAsSIP(t *testing.T) {
	tshark := tooltest.Need(t, "tshark", "tshark")
	ue4, pcscf4 := netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.2:5060")
	ue6, pcscf6 := netip.MustParseAddrPort("[::1]:5060"), netip.MustParseAddrPort("[::2]:5060")
	tr := trace.New()
	tr.Add(trace.Message{Time: t0, Proto: trace.SIP, Transport: "UDP", Src: ue6, Dst: pcscf6, Raw: register(1)})
	tr.Add(trace.Message{Time: t0.Add(time.Millisecond), Proto: trace.SIP, Transport: "UDP", Src: pcscf6, Dst: ue6, Raw: response401()})
	tr.Add(trace.Message{Time: t0.Add(2 * time.Millisecond), Proto: trace.SIP, Transport: "UDP", Src: ue4, Dst: pcscf4, Raw: register(2)})
	tr.Add(trace.Message{Time: t0.Add(3 * time.Millisecond), Proto: trace.SIP, Transport: "TCP", Src: ue4, Dst: pcscf4, Raw: register(3)})
	tr.Add(trace.Message{Time: t0.Add(4 * time.Millisecond), Proto: trace.SIP, Transport: "TCP", Src: pcscf4, Dst: ue4, Raw: response401()})
	path := filepath.Join(t.TempDir(), "run.pcap")
	var buf bytes.Buffer
	if err := Write(&buf, tr.Messages()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-n", "-r", path, "-Y", "sip", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	want := "REGISTER\t\n\t401\nREGISTER\t\nREGISTER\t\n\t401\n"
	if string(out) != want {
		t.Errorf("tshark dissected\n%q\nwant\n%q", out, want)
	}
	// Checksums: tshark verifies them when asked and marks bad ones.
	out, err = exec.Command(tshark, "-n", "-r", path,
		"-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", "udp.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || ip.checksum.status == \"Bad\" || _ws.malformed || _ws.expert.severity >= \"Warning\"").Output()
	if err != nil {
		t.Fatalf("tshark checksum pass: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("tshark flags packets as bad or malformed:\n%s", out)
	}
	// The same filter does catch a bad checksum: flip the last payload byte.
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(tshark, "-n", "-r", path,
		"-o", "tcp.check_checksum:TRUE", "-Y", "tcp.checksum.status == \"Bad\"").Output()
	if err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || strings.TrimSpace(string(out)) == "" {
		t.Errorf("tshark did not flag exactly the one corrupted packet (err %v):\n%s", err, out)
	}
}
