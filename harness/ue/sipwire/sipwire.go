// Package sipwire is the plain-socket side of the harness's own SIP roles (the
// UE emulator and the mock VCC Application): it records every message sent or
// received into a trace, judges whether a received message parses as SIP (and
// notes why not), and cuts a TCP byte stream into SIP messages by
// Content-Length, keeping each message's raw bytes.
//
// It is not a SIP stack: there are no transactions, no retransmission timers
// and no routing here. The roles own their sockets so that they control every
// byte and every port (Security-Client port-c/port-s) themselves.
package sipwire

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// MaxMessage is the largest SIP message accepted from a TCP stream.
const MaxMessage = 65535

// Inbound is one received message: as recorded, and parsed when it parses.
type Inbound struct {
	Msg    trace.Message   // as stored in the trace
	Parsed *sipmsg.Message // nil when it does not parse
	Err    error           // why it does not parse
}

// Record adds a sent message to tr (when tr is not nil) and returns the
// stored copy.
func Record(tr *trace.Trace, role, transport string, src, dst netip.AddrPort, raw []byte) trace.Message {
	m := trace.Message{Proto: trace.SIP, Transport: strings.ToUpper(transport), Dir: trace.Sent, Role: role, Src: src, Dst: dst, Raw: raw}
	if tr == nil {
		return m
	}
	return tr.Add(m)
}

// Read parses a received message without recording it, noting why when it
// does not parse as SIP (by the project's reader or by sipgo's parser). The
// role then decides whether the message belongs to an exchange of the run
// and records it with Inbound.Record. Read keeps its own copy of raw.
func Read(role, transport string, src, dst netip.AddrPort, raw []byte) Inbound {
	raw = append([]byte(nil), raw...)
	in := Inbound{}
	p, err := sipmsg.Parse(raw)
	if err == nil {
		if _, gerr := sip.ParseMessage(raw); gerr != nil {
			err = fmt.Errorf("sipgo parser: %v", gerr)
		}
	}
	in.Msg = trace.Message{Proto: trace.SIP, Transport: strings.ToUpper(transport), Dir: trace.Received, Role: role, Src: src, Dst: dst, Raw: raw}
	if err != nil {
		in.Msg.Note = "does not parse as SIP: " + err.Error()
		in.Err = err
	} else {
		in.Parsed = p
	}
	return in
}

// Record adds the message to tr (when tr is not nil) and keeps the stored
// copy in in.Msg: with trace.Add when it is part of an exchange of the run,
// else with trace.AddUnrelated, which keeps only the first few of each peer
// (a response that matches no transaction, a request no handler takes, bytes
// that do not parse).
func (in *Inbound) Record(tr *trace.Trace, related bool) {
	if tr == nil {
		return
	}
	if related {
		in.Msg = tr.Add(in.Msg)
		return
	}
	m, _ := tr.AddUnrelated(in.Msg)
	m.Raw = in.Msg.Raw // the caller may still log it
	in.Msg = m
}

// Receive is Read and Record in one, for a message that is part of an
// exchange whatever it is.
func Receive(tr *trace.Trace, role, transport string, src, dst netip.AddrPort, raw []byte) Inbound {
	in := Read(role, transport, src, dst, raw)
	in.Record(tr, true)
	return in
}

// RecordUnrelated adds a sent message that answers an unrelated one (e.g.
// 405 to a request no handler takes) with trace.AddUnrelated.
func RecordUnrelated(tr *trace.Trace, role, transport string, src, dst netip.AddrPort, raw []byte) trace.Message {
	m := trace.Message{Proto: trace.SIP, Transport: strings.ToUpper(transport), Dir: trace.Sent, Role: role, Src: src, Dst: dst, Raw: raw}
	if tr == nil {
		return m
	}
	m, _ = tr.AddUnrelated(m)
	return m
}

// AddrPort returns the address of a net.Addr as a netip.AddrPort with an
// unmapped IP (the zero value when it has none).
func AddrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case *net.UDPAddr:
		ap = v.AddrPort()
	case *net.TCPAddr:
		ap = v.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ErrTooLarge is returned by Framer.Next when a message exceeds MaxMessage.
var ErrTooLarge = errors.New("sipwire: SIP message on the stream exceeds the size limit")

// Framer cuts a TCP byte stream into SIP messages: a message is its header
// block up to the first empty line plus Content-Length bytes of body (0 when
// there is no Content-Length). CRLF keep-alives between messages are skipped.
type Framer struct {
	buf []byte
}

// Write appends stream data.
func (f *Framer) Write(p []byte) { f.buf = append(f.buf, p...) }

// Next returns the next complete message (a fresh copy) and true, or false
// when more data is needed. ErrTooLarge means the stream cannot be recovered:
// the buffered bytes are returned as the message so that they can be recorded.
func (f *Framer) Next() ([]byte, bool, error) {
	i := 0
	for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
		i++
	}
	f.buf = f.buf[i:]
	if len(f.buf) == 0 {
		return nil, false, nil
	}
	end, sep := bytes.Index(f.buf, []byte("\r\n\r\n")), 4
	if lf := bytes.Index(f.buf, []byte("\n\n")); lf >= 0 && (end < 0 || lf < end) {
		end, sep = lf, 2
	}
	if end < 0 {
		if len(f.buf) > MaxMessage {
			out := f.buf
			f.buf = nil
			return out, true, ErrTooLarge
		}
		return nil, false, nil
	}
	n := contentLength(f.buf[:end])
	// Compared before adding, so that a huge Content-Length from the peer
	// cannot overflow the sum.
	if n > MaxMessage || end+sep+n > MaxMessage {
		out := f.buf
		f.buf = nil
		return out, true, ErrTooLarge
	}
	total := end + sep + n
	if len(f.buf) < total {
		return nil, false, nil
	}
	out := append([]byte(nil), f.buf[:total]...)
	f.buf = f.buf[total:]
	return out, true, nil
}

// contentLength reads Content-Length (or "l") from a header block; 0 when
// absent or unreadable.
func contentLength(head []byte) int {
	for _, l := range strings.Split(string(head), "\n") {
		c := strings.IndexByte(l, ':')
		if c < 0 {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(l[:c]))
		if name != "content-length" && name != "l" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(l[c+1:], "\r")))
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
}

// HeaderValue returns the first value of the named header of m, or "".
func HeaderValue(m *sipmsg.Message, name string) string {
	if m == nil {
		return ""
	}
	ls := m.Lines(name)
	if len(ls) == 0 {
		return ""
	}
	return ls[0].Value
}

// TopVia returns the first Via value of m, parsed, or nil.
func TopVia(m *sipmsg.Message) *sipmsg.Via {
	if m == nil {
		return nil
	}
	vs := m.Values("Via")
	if len(vs) == 0 {
		return nil
	}
	v, err := sipmsg.ParseVia(vs[0].Text)
	if err != nil {
		return nil
	}
	return v
}

// CSeq splits m's CSeq into its number and method (0, "" when unreadable).
func CSeq(m *sipmsg.Message) (uint32, string) {
	f := strings.Fields(HeaderValue(m, "CSeq"))
	if len(f) != 2 {
		return 0, ""
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, ""
	}
	return uint32(n), f[1]
}
