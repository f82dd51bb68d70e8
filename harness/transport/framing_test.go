package transport

import (
	"errors"
	"strings"
	"testing"
)

func frames(t *testing.T, f *Framer) []string {
	t.Helper()
	var out []string
	for {
		raw, ok, err := f.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(raw))
	}
}

// TestFramerSplitAndMergedReads: messages split across reads at every byte,
// and several messages (with keep-alive CRLFs) in one read, come out whole
// and exact.
func TestFramerSplitAndMergedReads(t *testing.T) {
	msg1 := "REGISTER sip:a SIP/2.0\r\nContent-Length: 4\r\n\r\nbody"
	msg2 := "SIP/2.0 200 OK\r\nl: 0\r\n\r\n"
	msg3 := "SIP/2.0 401 Unauthorized\nContent-Length: 2\n\nok"
	stream := "\r\n" + msg1 + "\r\n\r\n" + msg2 + msg3
	for piece := 1; piece <= len(stream); piece++ {
		var f Framer
		var got []string
		for i := 0; i < len(stream); i += piece {
			f.Write([]byte(stream[i:min(i+piece, len(stream))]))
			got = append(got, frames(t, &f)...)
		}
		if len(got) != 3 || got[0] != msg1 || got[1] != msg2 || got[2] != msg3 {
			t.Fatalf("pieces of %d bytes: got %q", piece, got)
		}
		if f.Buffered() != 0 {
			t.Fatalf("pieces of %d bytes: %d bytes left over", piece, f.Buffered())
		}
	}
}

func TestFramerTooLarge(t *testing.T) {
	f := Framer{Max: 100}
	f.Write([]byte(strings.Repeat("x", 101)))
	raw, ok, err := f.Next()
	var tl *TooLargeError
	if !errors.As(err, &tl) || !ok || len(raw) != 101 {
		t.Fatalf("expected TooLargeError with the bytes, got %v %v %d", err, ok, len(raw))
	}
}

// TestFramerRefusesAHugeContentLength: a Content-Length near the largest
// int must not overflow the frame length.
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
			if !ok || !errors.As(err, new(*TooLargeError)) {
				t.Errorf("Content-Length %s: got ok %v, err %v; want TooLargeError", cl, ok, err)
			}
		}
	}
}

func TestFramerUnfinished(t *testing.T) {
	var f Framer
	f.Write([]byte("SIP/2.0 200 OK\r\nContent-Length: 60000\r\n\r\n" + strings.Repeat("b", 523)))
	if out := frames(t, &f); len(out) != 0 {
		t.Fatalf("got %q before the body was complete", out)
	}
	rest, why := f.Unfinished()
	if len(rest) != 41+523 || why != "after 523 of the 60000 body bytes Content-Length announced" {
		t.Errorf("Unfinished = %d bytes, %q", len(rest), why)
	}
	f.Write([]byte("\r\n"))
	if rest, _ := f.Unfinished(); rest != nil {
		t.Errorf("keep-alive CRLFs are no message: %q", rest)
	}
	f.Write([]byte("INVITE sip:x SIP/2.0\r\nVia"))
	if _, why := f.Unfinished(); !strings.HasPrefix(why, "in the header block") {
		t.Errorf("half a header: %q", why)
	}
}

// FuzzFramer: no input, split anywhere, makes the framer panic, return a
// frame longer than its limit, or lose bytes it has not framed.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("REGISTER sip:r SIP/2.0\r\nContent-Length: 4\r\n\r\nbody\r\n\r\nSIP/2.0 200 OK\r\nl: 0\r\n\r\n"), 7)
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n"), 3)
	f.Add([]byte("\r\n\r\nINVITE x\n\nrest"), 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		fr := Framer{Max: 1024}
		if cut < 0 {
			cut = -cut
		}
		if len(data) > 0 {
			cut %= len(data) + 1
		} else {
			cut = 0
		}
		fr.Write(data[:cut])
		total := 0
		for i := 0; i < 2; i++ {
			for {
				out, ok, err := fr.Next()
				if !ok {
					break
				}
				if err == nil && len(out) > 1024 {
					t.Fatalf("frame of %d bytes above the limit", len(out))
				}
				total += len(out)
			}
			if i == 0 {
				fr.Write(data[cut:])
			}
		}
		rest, _ := fr.Unfinished()
		if total+len(rest) > len(data) {
			t.Fatalf("%d bytes framed and %d left from %d bytes of input", total, len(rest), len(data))
		}
	})
}
