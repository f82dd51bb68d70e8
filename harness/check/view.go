package check

import (
	"fmt"
	"strings"

	"imsconform/harness/diameter"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// evaluator is the state of one evaluation: the messages of the run as the
// rules read them, and the storage they are read into. It is reused from
// one evaluation to the next (Program.get), so that reading a run does not
// allocate once the storage has grown to the size of a run.
type evaluator struct {
	prog *Program
	plan *Plan
	ov   *Overlay
	in   Input

	steps   []stepView // per step slot
	msgs    []*msgView // parsed messages; msgs[:nmsg] are this evaluation's
	nmsg    int
	vals    valueStore
	fs      []field // the fields of every selection, and scratch lists of fields
	keep    []bool
	svals   []sipmsg.Value
	avps    []diameter.AVP
	avpPool []*avpValues
	navp    int
	buf     []byte         // the text of the results (see txt)
	spans   []span         // the results whose texts are in buf
	open    []bound        // the rules that read per-UE variables, bound to this evaluation's
	pkts    []trace.Packet // scratch: the ESP packets one rule reads (fromPeer)
	parses
}

// stepView is a step's message as the rules of one evaluation see it.
type stepView struct {
	looked bool
	found  bool
	tm     trace.Message
	m      *msgView
}

// msgView is one captured message parsed once per evaluation: steps that
// are the same message on the wire (10 and 14) share it.
type msgView struct {
	raw   []byte
	proto trace.Protocol
	msg   *sipmsg.Message
	dia   *diameter.Message
	diaV  diameter.Message // dia's storage, reused
	rawS  string           // raw as a string, for the texts of a Diameter message's AVPs
	err   error
	errS  string
	head  []int32 // per header class: the first of its lines, -1 for none
	tail  []int32
	next  []int32 // per header line: the next line of its class, -1 for none
	hdrs  []hdrMemo
	sels  []selMemo
}

// hdrMemo is what the evaluation has taken out of one header of a message:
// its values (lo..hi in the value store), or for a Diameter message the
// AVPs the header names.
type hdrMemo struct {
	done   bool
	lo, hi int32
	avp    *avpValues
}

func (h *hdrMemo) n() int {
	if h.avp != nil {
		return len(h.avp.vals)
	}
	return int(h.hi - h.lo)
}

// selMemo is the fields one selection took from a header: fs[lo:hi].
type selMemo struct {
	done   bool
	lo, hi int32
	err    error
}

// start readies the evaluator for one evaluation.
func (e *evaluator) start(p *Plan, ov *Overlay, in Input) {
	e.plan, e.ov, e.in = p, ov, in
	e.buf = e.buf[:0]
}

// finish drops what the evaluation read, keeping the storage.
func (e *evaluator) finish() {
	e.prog, e.plan, e.ov, e.in = nil, nil, nil, Input{}
	clear(e.steps)
	for _, m := range e.msgs[:e.nmsg] {
		m.reset()
	}
	e.nmsg = 0
	e.vals.reset()
	e.fs = e.fs[:0]
	e.avps = e.avps[:0]
	e.navp = 0
	e.parses.reset()
	if cap(e.buf) > 1<<16 {
		e.buf = nil // a flood of text: do not keep it
	}
}

func (m *msgView) reset() {
	m.raw, m.msg, m.dia, m.err, m.errS, m.rawS = nil, nil, nil, nil, "", ""
	clear(m.hdrs)
	clear(m.sels)
}

func (m *msgView) errText() string {
	if m.errS == "" {
		m.errS = m.err.Error()
	}
	return m.errS
}

// message returns the message of a step slot, trying the step that is the
// same message on the wire (slot same, -1 for none) when the step itself
// was not filed. The first look decides, as for every later rule. The
// message is parsed when a rule first reads it (view), not before: a rule
// on the order of capture reads only the trace number.
func (e *evaluator) message(slot, same int) *stepView {
	v := &e.steps[slot]
	if v.looked {
		return v
	}
	v.looked = true
	tm, ok := e.in.Messages[e.prog.steps[slot].id]
	if !ok && same >= 0 {
		tm, ok = e.in.Messages[e.prog.steps[same].id]
	}
	v.found, v.tm = ok, tm
	return v
}

// view is the parsed form of a step's message (found), shared with the
// steps that carry the same bytes.
func (e *evaluator) view(v *stepView) *msgView {
	if v.m != nil {
		return v.m
	}
	for _, m := range e.msgs[:e.nmsg] {
		if sameBytes(m.raw, v.tm.Raw) && m.proto == v.tm.Proto {
			v.m = m
			return m
		}
	}
	v.m = e.parse(v.tm)
	return v.m
}

// sameBytes reports whether a and b are the same bytes in memory (not
// merely equal): one captured message filed under two steps.
func sameBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// parse reads a captured message into a view of the evaluator's storage.
func (e *evaluator) parse(tm trace.Message) *msgView {
	if e.nmsg == len(e.msgs) {
		e.msgs = append(e.msgs, &msgView{})
	}
	m := e.msgs[e.nmsg]
	e.nmsg++
	m.raw, m.proto = tm.Raw, tm.Proto
	if tm.Raw == nil {
		m.raw = []byte{} // an empty message is one message, as any other
	}
	m.hdrs = grow(m.hdrs, len(e.prog.hdrs))
	m.sels = grow(m.sels, len(e.prog.sels))
	if tm.Proto == trace.Diameter {
		if m.err = diameter.UnmarshalView(&m.diaV, tm.Raw); m.err == nil {
			m.dia = &m.diaV
		}
		return m
	}
	m.msg, m.err = sipmsg.Parse(tm.Raw)
	if m.err == nil {
		e.index(m)
	}
	return m
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// index lists each header class's lines, in message order.
func (e *evaluator) index(m *msgView) {
	pr := e.prog
	m.head, m.tail = grow(m.head, len(pr.classes)), grow(m.tail, len(pr.classes))
	for i := range m.head {
		m.head[i], m.tail[i] = -1, -1
	}
	m.next = grow(m.next, len(m.msg.Headers))
	for i := range m.msg.Headers {
		m.next[i] = -1
		c := pr.classOf(m.msg.Headers[i].Key)
		if c < 0 {
			continue
		}
		if m.tail[c] < 0 {
			m.head[c] = int32(i)
		} else {
			m.next[m.tail[c]] = int32(i)
		}
		m.tail[c] = int32(i)
	}
}

// classOf is the class of a header line's canonical name, -1 when no rule
// reads it.
func (pr *Program) classOf(key string) int32 {
	if c, ok := pr.classExact[key]; ok {
		return c
	}
	if len(key) <= 64 && isASCII(key) {
		var b [64]byte
		for i := 0; i < len(key); i++ {
			c := key[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
		}
		if c, ok := pr.classLower[string(b[:len(key)])]; ok {
			return c
		}
		if !pr.foldNames {
			return -1
		}
	}
	for i, n := range pr.classes {
		if strings.EqualFold(n, key) {
			return int32(i)
		}
	}
	return -1
}

// lines counts the lines of header h in a SIP message.
func (e *evaluator) lines(m *msgView, h int) int {
	n := 0
	for l := m.head[e.prog.hdrs[h].class]; l >= 0; l = m.next[l] {
		n++
	}
	return n
}

// header returns the memo of header h of a message, taking its values on
// first use.
func (e *evaluator) header(m *msgView, h int) *hdrMemo {
	hm := &m.hdrs[h]
	if hm.done {
		return hm
	}
	hm.done = true
	info := &e.prog.hdrs[h]
	switch {
	case m.dia != nil:
		hm.avp = e.avpsOf(m, info)
	case m.msg != nil:
		hm.lo = int32(e.vals.n)
		for l := m.head[info.class]; l >= 0; l = m.next[l] {
			e.svals = sipmsg.AppendValues(e.svals[:0], &m.msg.Headers[l], info.list)
			for _, sv := range e.svals {
				e.vals.add(sv.Text, sv.Line)
			}
		}
		hm.hi = int32(e.vals.n)
	}
	return hm
}

// field is one selected header value and its part.
type field struct {
	text   string // the part
	ok     bool   // the part is there
	quoted bool   // the part was a quoted-string
	line   int
	pos    int    // the value's position among the header's values
	fm     *forms // the forms of text, when it is a whole value or a URI
}

// fields picks the values of a selection and takes the part from each,
// once per message and selection. err is set when a value cannot be taken
// apart. The slice is shared: callers must not change it.
func (e *evaluator) fields(m *msgView, sel int) ([]field, error) {
	sm := &m.sels[sel]
	if !sm.done {
		sm.done = true
		lo := len(e.fs)
		si := &e.prog.sels[sel]
		h := e.header(m, si.h)
		if h.avp != nil {
			sm.err = e.avpFields(m, h.avp, si)
		} else {
			sm.err = e.selectFields(m, h, si)
		}
		sm.lo, sm.hi = int32(lo), int32(len(e.fs))
		if sm.err != nil {
			sm.hi = sm.lo
		}
	}
	return e.fs[sm.lo:sm.hi:sm.hi], sm.err
}

func (e *evaluator) selectFields(m *msgView, h *hdrMemo, si *selInfo) error {
	lo, hi, ok := si.index.span(h.n())
	if !ok {
		return nil
	}
	for i := lo; i < hi; i++ {
		vi := int(h.lo) + i
		pc, err := e.part(vi, si.part)
		if si.part.kind == partExpiry && err == nil && !pc.ok {
			// RFC 3261 10.2.1.1: without an expires parameter, the Expires
			// header gives the binding's expiry.
			if ex := e.header(m, e.prog.expires); ex.n() > 0 {
				pc = piece{strings.TrimSpace(e.vals.get(int(ex.lo)).text), true, false}
			}
		}
		v := e.vals.get(vi)
		if err != nil {
			return fmt.Errorf("line %d: %s: %v", v.line, e.prog.hdrs[si.h].raw, err)
		}
		f := field{text: pc.text, ok: pc.ok, line: v.line, quoted: pc.quoted, pos: i}
		switch si.part.kind {
		case partValue:
			f.fm = &v.whole
		case partURI:
			f.fm = &v.uri
		}
		e.fs = append(e.fs, f)
	}
	return nil
}

// valueStore holds the header values of an evaluation, in chunks so that a
// value does not move while the rules read it.
type valueStore struct {
	chunks []*[64]value
	n      int
}

// value is one header value with the forms it has been parsed into.
type value struct {
	text      string
	line      int
	headDone  bool
	paramOnly bool // a value made of parameters only, e.g. P-Charging-Vector
	head      string
	params    sipmsg.Params
	whole     forms // of text
	uri       forms // of the URI of text, a name-addr
}

func (s *valueStore) add(text string, line int) {
	if s.n == len(s.chunks)*64 {
		s.chunks = append(s.chunks, new([64]value))
	}
	v := s.get(s.n)
	s.n++
	v.text, v.line, v.headDone, v.paramOnly, v.head, v.params = text, line, false, false, "", v.params[:0]
	v.whole, v.uri = forms{}, forms{}
}

func (s *valueStore) get(i int) *value { return &s.chunks[i>>6][i&63] }

func (s *valueStore) reset() { s.n = 0 }
