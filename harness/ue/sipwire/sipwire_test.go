package sipwire

import (
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/trace"
)

func TestFramer(t *testing.T) {
	msg1 := "REGISTER sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nbody"
	msg2 := "SIP/2.0 200 OK\r\nl: 0\r\n\r\n"
	var f Framer
	stream := "\r\n" + msg1 + msg2
	var got []string
	for i := 0; i < len(stream); i += 7 { // arrives in small pieces
		f.Write([]byte(stream[i:min(i+7, len(stream))]))
		for {
			raw, ok, err := f.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got = append(got, string(raw))
		}
	}
	if len(got) != 2 || got[0] != msg1 || got[1] != msg2 {
		t.Fatalf("expected the two messages, got %q", got)
	}
}

func TestFramerTooLarge(t *testing.T) {
	var f Framer
	f.Write([]byte(strings.Repeat("x", MaxMessage+1)))
	raw, ok, err := f.Next()
	if err != ErrTooLarge || !ok || len(raw) != MaxMessage+1 {
		t.Fatalf("expected ErrTooLarge with the bytes, got %v %v %d", err, ok, len(raw))
	}
}

func TestReceive(t *testing.T) {
	tr := trace.New()
	ap := netip.MustParseAddrPort("[::1]:5060")
	in := Receive(tr, "UE", "udp", ap, ap, []byte("garbage"))
	if in.Parsed != nil || in.Err == nil || !strings.HasPrefix(in.Msg.Note, "does not parse as SIP: ") || in.Msg.Transport != "UDP" {
		t.Errorf("garbage: expected a note and no parse, got %+v", in.Msg)
	}
	in = Receive(tr, "UE", "UDP", ap, ap, []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1]:1;branch=z9hG4bKx\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n"))
	if in.Parsed == nil || in.Msg.Note != "" {
		t.Fatalf("expected a parse, got %v", in.Err)
	}
	if n, m := CSeq(in.Parsed); n != 7 || m != "REGISTER" {
		t.Errorf("CSeq: got %d %s", n, m)
	}
	if b, _ := TopVia(in.Parsed).Params.Get("branch"); b != "z9hG4bKx" {
		t.Errorf("branch: got %q", b)
	}
	if len(tr.Messages()) != 2 {
		t.Errorf("expected 2 trace entries, got %d", len(tr.Messages()))
	}
}
