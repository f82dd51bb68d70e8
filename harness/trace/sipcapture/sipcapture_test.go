package sipcapture

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"imsconform/harness/trace"
)

func options(callID string) []byte {
	return []byte("OPTIONS sip:vccapp.home1.net SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:scscf1.home1.net>;tag=1\r\n" +
		"To: <sip:vccapp.home1.net>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n")
}

func newLayer(t *testing.T, tr *trace.Trace) (*sip.TransportLayer, chan sip.Message) {
	t.Helper()
	tp := sip.NewTransportLayer(net.DefaultResolver, sip.NewParser(), nil,
		sip.WithTransportLayerLogger(slog.New(slog.DiscardHandler)),
		sip.WithTransportLayerReadFilter(ReadFilter(tr, "VCCApp")))
	t.Cleanup(func() { tp.Close() })
	got := make(chan sip.Message, 8)
	tp.OnMessage(func(m sip.Message) { got <- m })
	return tp, got
}

// waitFor polls until the trace holds n messages.
func waitFor(t *testing.T, tr *trace.Trace, n int) []trace.Message {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if ms := tr.Messages(); len(ms) >= n {
			return ms
		}
		time.Sleep(5 * time.Millisecond)
	}
	ms := tr.Messages()
	t.Fatalf("trace holds %d messages after 3s, want %d", len(ms), n)
	return nil
}

func TestSIPReadFilterUDP(t *testing.T) {
	tr := trace.New()
	tp, got := newLayer(t, tr)
	server, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tp.ServeUDP(server) }()
	client, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	garbage := []byte("NOT SIP AT ALL\r\n\r\n")
	if _, err := client.WriteTo(garbage, server.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	ms := waitFor(t, tr, 1)
	if _, err := client.WriteTo(options("udp-1"), server.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.(*sip.Request).CallID().Value() != "udp-1" {
			t.Errorf("sipgo got Call-ID %q, want udp-1 (the filter must pass bytes on unchanged)", m.(*sip.Request).CallID().Value())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("sipgo did not deliver the OPTIONS: the filter must pass it on")
	}
	ms = waitFor(t, tr, 2)

	wantSrc := client.LocalAddr().(*net.UDPAddr).AddrPort()
	wantDst := server.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, want := range [][]byte{garbage, options("udp-1")} {
		m := ms[i]
		if !bytes.Equal(m.Raw, want) {
			t.Errorf("message %d Raw %q, want %q", i+1, m.Raw, want)
		}
		if m.Src != wantSrc || m.Dst != wantDst {
			t.Errorf("message %d: %s → %s, want %s → %s", i+1, m.Src, m.Dst, wantSrc, wantDst)
		}
		if m.Dir != trace.Received || m.Role != "VCCApp" || m.Proto != trace.SIP || m.Transport != "UDP" {
			t.Errorf("message %d: dir %q role %q proto %q transport %q", i+1, m.Dir, m.Role, m.Proto, m.Transport)
		}
	}
	if !strings.HasPrefix(ms[0].Note, "does not parse as SIP: ") {
		t.Errorf("garbage note = %q, want it to say it does not parse", ms[0].Note)
	}
	if ms[1].Note != "" {
		t.Errorf("OPTIONS note = %q, want none", ms[1].Note)
	}
}

func TestSIPReadFilterTCPRecordsReadsAsTheyCome(t *testing.T) {
	tr := trace.New()
	tp, got := newLayer(t, tr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tp.ServeTCP(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := options("tcp-1")
	half := len(msg) / 2
	if _, err := c.Write(msg[:half]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tr, 1) // the first half is read alone
	if _, err := c.Write(msg[half:]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("sipgo did not deliver the OPTIONS sent in two parts")
	}
	ms := waitFor(t, tr, 2)
	var joined []byte
	wantSrc := c.LocalAddr().(*net.TCPAddr).AddrPort()
	wantDst := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	for i, m := range ms {
		joined = append(joined, m.Raw...)
		if m.Src != wantSrc || m.Dst != wantDst || m.Transport != "TCP" {
			t.Errorf("read %d: %s %s → %s, want TCP %s → %s", i+1, m.Transport, m.Src, m.Dst, wantSrc, wantDst)
		}
		if !strings.Contains(m.Note, "one TCP read of") || !strings.Contains(m.Note, "part of a SIP message or several") {
			t.Errorf("read %d note = %q", i+1, m.Note)
		}
	}
	if !bytes.Equal(joined, msg) {
		t.Errorf("reads joined = %q, want %q", joined, msg)
	}
}

func TestSIPReadFilterDirectCalls(t *testing.T) {
	tr := trace.New()
	f := ReadFilter(tr, "UE")
	data := []byte("\r\n\r\n")
	out, err := f(sip.TransportReadProps{
		Transport:  "TCP",
		LocalAddr:  &net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 5060},
		RemoteAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 5070},
	}, data)
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("filter = %q, %v; want the data back and no error", out, err)
	}
	out, err = f(sip.TransportReadProps{Transport: "UDP", LocalAddr: &net.UDPAddr{IP: net.IPv6unspecified, Port: 5060}}, []byte("\x00\xff"))
	if err != nil || len(out) != 2 {
		t.Fatalf("filter = %q, %v", out, err)
	}
	ms := tr.Messages()
	if ms[0].Dst != netip.MustParseAddrPort("127.0.0.1:5060") || ms[0].Src != netip.MustParseAddrPort("127.0.0.2:5070") {
		t.Errorf("mapped address not unmapped: %s → %s", ms[0].Src, ms[0].Dst)
	}
	if !strings.Contains(ms[0].Note, "keep-alive") {
		t.Errorf("CRLF note = %q", ms[0].Note)
	}
	if ms[1].Src.IsValid() || !strings.Contains(ms[1].Note, "does not parse as SIP") || !strings.Contains(ms[1].Note, "wildcard") {
		t.Errorf("second: src %v note %q; want no source, a parse note and a wildcard note", ms[1].Src, ms[1].Note)
	}
}
