package check

import "strconv"

// txt is a piece of a result's text (expected, observed, reason): a
// string, or, when n > 0, the bytes [off, off+n) of the evaluation's text
// buffer. The texts an evaluation composes (a list of values joined, a
// start line's fields) are written into that one buffer and become strings
// in a single conversion when the evaluation ends, so that composing them
// does not allocate.
type txt struct {
	s      string
	off, n int32
}

func str(s string) txt { return txt{s: s} }

func (t txt) empty() bool { return t.n == 0 && t.s == "" }

// put appends t to the text buffer.
func (e *evaluator) put(t txt) {
	if t.n > 0 {
		e.buf = append(e.buf, e.buf[t.off:t.off+t.n]...)
		return
	}
	e.buf = append(e.buf, t.s...)
}

// span is the text written into the buffer since offset start.
func (e *evaluator) span(start int) txt {
	if len(e.buf) == start {
		return txt{}
	}
	return txt{off: int32(start), n: int32(len(e.buf) - start)}
}

// cat is the pieces one after the other.
func (e *evaluator) cat(ts ...txt) txt {
	only, k := txt{}, 0
	for _, t := range ts {
		if !t.empty() {
			only, k = t, k+1
		}
	}
	if k <= 1 {
		return only
	}
	start := len(e.buf)
	for _, t := range ts {
		e.put(t)
	}
	return e.span(start)
}

// cats is cat of strings.
func (e *evaluator) cats(ss ...string) txt {
	only, k := "", 0
	for _, s := range ss {
		if s != "" {
			only, k = s, k+1
		}
	}
	if k <= 1 {
		return str(only)
	}
	start := len(e.buf)
	for _, s := range ss {
		e.buf = append(e.buf, s...)
	}
	return e.span(start)
}

// num is a decimal number.
func (e *evaluator) num(n int64) txt {
	if n >= 0 && n < 100 {
		return str(strconv.Itoa(int(n))) // a constant for small numbers
	}
	start := len(e.buf)
	e.buf = strconv.AppendInt(e.buf, n, 10)
	return e.span(start)
}

// resolve turns the result texts into strings once the evaluation is done:
// all is the text buffer as one string.
func (t txt) resolve(all string) string {
	if t.n > 0 {
		return all[t.off : t.off+t.n]
	}
	return t.s
}
