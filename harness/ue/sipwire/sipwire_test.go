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

func TestReadThenRecordUnrelated(t *testing.T) {
	tr := trace.NewLimited(trace.Limits{UnrelatedPerPeer: 2})
	ue := netip.MustParseAddrPort("[::1]:5062")
	flood := netip.MustParseAddrPort("[::1]:9999")
	buf := []byte("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
	in := Read("UE", "udp", flood, ue, buf)
	buf[0] = 'X' // the reader's buffer is reused at once
	if in.Msg.Seq != 0 || string(in.Msg.Raw[:7]) != "OPTIONS" || in.Parsed == nil || in.Parsed.Method != "OPTIONS" {
		t.Fatalf("Read: expected an unrecorded, parsed copy, got seq %d raw %q", in.Msg.Seq, in.Msg.Raw)
	}
	for range 5 {
		in := Read("UE", "UDP", flood, ue, []byte("junk"))
		in.Record(tr, false)
	}
	in.Record(tr, false)
	ms := tr.Messages()
	if len(ms) != 2 || !ms[0].Unrelated || !ms[1].Unrelated {
		t.Fatalf("expected the first 2 unrelated messages kept, marked unrelated; got %+v", ms)
	}
	if tl := tr.Tallies(); len(tl) != 1 || tl[0].Unrelated != 6 || tl[0].Dropped != 4 || tl[0].Peer != flood {
		t.Errorf("expected one tally of 6 unrelated messages from %s, 4 dropped; got %+v", flood, tl)
	}
	if in.Msg.Seq != 0 || len(in.Msg.Raw) == 0 {
		t.Errorf("a dropped message: expected Seq 0 and its bytes still in Inbound for logging, got seq %d, %d bytes", in.Msg.Seq, len(in.Msg.Raw))
	}
	rel := Read("UE", "UDP", flood, ue, []byte("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
	rel.Record(tr, true)
	if rel.Msg.Seq != 3 || rel.Msg.Unrelated {
		t.Errorf("a related message after the flood: expected kept as Seq 3, got seq %d unrelated %v", rel.Msg.Seq, rel.Msg.Unrelated)
	}
}

// TestFramerRefusesAHugeContentLength: a peer's Content-Length near the
// largest int must not overflow the frame length (it once made Next panic).
func TestFramerRefusesAHugeContentLength(t *testing.T) {
	for _, cl := range []string{"9223372036854775807", "9223372036854775754", "4294967296", "99999999999999999999"} {
		var f Framer
		f.Write([]byte("SIP/2.0 200 OK\r\nContent-Length: " + cl + "\r\n\r\nbody"))
		out, ok, err := f.Next()
		switch cl {
		case "99999999999999999999": // not an int: read as no body
			if !ok || err != nil || string(out) != "SIP/2.0 200 OK\r\nContent-Length: "+cl+"\r\n\r\n" {
				t.Errorf("Content-Length %s: got %q, %v, %v; want the head alone", cl, out, ok, err)
			}
		default:
			if !ok || err != ErrTooLarge {
				t.Errorf("Content-Length %s: got ok %v, err %v; want ErrTooLarge", cl, ok, err)
			}
		}
	}
}

// FuzzFramer: no input, split anywhere, makes the framer panic, return a
// frame longer than MaxMessage or lose bytes it has not framed.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("REGISTER sip:r SIP/2.0\r\nContent-Length: 4\r\n\r\nbody\r\n\r\nSIP/2.0 200 OK\r\nl: 0\r\n\r\n"), 7)
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n"), 3)
	f.Add([]byte("\r\n\r\nINVITE x\n\nrest"), 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		var fr Framer
		if cut < 0 {
			cut = -cut
		}
		if len(data) > 0 {
			cut %= len(data) + 1
		} else {
			cut = 0
		}
		fr.Write(data[:cut])
		for i := 0; i < 2; i++ {
			for {
				out, ok, _ := fr.Next()
				if !ok {
					break
				}
				if len(out) > MaxMessage && len(out) > len(data) {
					t.Fatalf("frame of %d bytes from %d bytes of input", len(out), len(data))
				}
			}
			fr.Write(data[cut:])
		}
	})
}
