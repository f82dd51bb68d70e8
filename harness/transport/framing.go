package transport

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"imsconform/harness/sipmsg"
)

// Framer cuts a TCP byte stream into SIP messages (RFC 3261 18.3): a message
// is its header block up to the first empty line plus Content-Length bytes
// of body (none when there is no Content-Length). CRLF keep-alives between
// messages are skipped. The zero value takes messages up to
// DefaultMaxMessage bytes.
type Framer struct {
	Max  int // the largest message; 0 means DefaultMaxMessage
	buf  []byte
	head int // length of the header block with its empty line, once found
	body int // Content-Length of the message being read
}

// TooLargeError is what Framer.Next returns for a message above the limit.
type TooLargeError struct{ Size, Max int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("a message on the stream of at least %d bytes, above the limit of %d: the connection is closed", e.Size, e.Max)
}

func (f *Framer) max() int {
	if f.Max <= 0 {
		return DefaultMaxMessage
	}
	return f.Max
}

// Write appends stream data.
func (f *Framer) Write(p []byte) { f.buf = append(f.buf, p...) }

// Buffered is how many bytes wait for the rest of their message.
func (f *Framer) Buffered() int { return len(f.buf) }

// Next returns the next whole message (a fresh copy) and true, or false
// when more data is needed. An *TooLargeError means the stream cannot be
// recovered: the buffered bytes come with it, so that they can be recorded.
func (f *Framer) Next() ([]byte, bool, error) {
	if f.head == 0 {
		i := 0
		for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
			i++
		}
		f.buf = f.buf[i:]
		if len(f.buf) == 0 {
			f.buf = nil
			return nil, false, nil
		}
		end, sep := bytes.Index(f.buf, []byte("\r\n\r\n")), 4
		if lf := bytes.Index(f.buf, []byte("\n\n")); lf >= 0 && (end < 0 || lf < end) {
			end, sep = lf, 2
		}
		if end < 0 {
			if len(f.buf) > f.max() {
				return f.fail(len(f.buf))
			}
			return nil, false, nil
		}
		n, _ := contentLength(sipmsg.Loose(f.buf[:end]).Get("Content-Length"))
		// Compared before adding, so that a huge Content-Length from the
		// peer cannot overflow the sum.
		if n > f.max() || end+sep+n > f.max() {
			return f.fail(max(len(f.buf), end+sep+min(n, f.max())))
		}
		f.head, f.body = end+sep, n
	}
	total := f.head + f.body
	if len(f.buf) < total {
		return nil, false, nil
	}
	out := append([]byte(nil), f.buf[:total]...)
	f.buf = f.buf[total:]
	f.head, f.body = 0, 0
	return out, true, nil
}

func (f *Framer) fail(size int) ([]byte, bool, error) {
	out := f.buf
	f.buf, f.head, f.body = nil, 0, 0
	return out, true, &TooLargeError{Size: size, Max: f.max()}
}

// Unfinished returns the bytes that never became a whole message and says
// why, for the record of a stream that ended (nil when none are left).
func (f *Framer) Unfinished() ([]byte, string) {
	i := 0
	for i < len(f.buf) && (f.buf[i] == '\r' || f.buf[i] == '\n') {
		i++
	}
	if i == len(f.buf) {
		return nil, ""
	}
	out := f.buf
	why := fmt.Sprintf("in the header block, after %d bytes with no empty line", len(out))
	if f.head > 0 {
		why = fmt.Sprintf("after %d of the %d body bytes Content-Length announced", len(out)-f.head, f.body)
	}
	f.buf, f.head, f.body = nil, 0, 0
	return out, why
}

// contentLength reads a Content-Length value: digits only; false when it is
// something else ("" is 0 and true).
func contentLength(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	return n, true
}
