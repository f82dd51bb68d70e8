// Package check judges captured messages against a scenario's rules: rules ×
// captured messages → one verdict per rule (pass, fail, inconc, none, error),
// each with what was expected, what was observed, why, and the rule's level
// (must, should, table), so that a gate can fail on must and still show the
// rest.
//
// Values are compared as SIP defines their equality, not byte by byte
// (equiv.go): URIs per RFC 3261 19.1.4 and RFC 3966 4, From/To per RFC 3261
// 20.20, Via with the received and rport a hop adds, tokens
// case-insensitively, quoted-strings exactly, numbers by value, list headers
// over all their lines, compact forms as full names. A single-valued header
// that appears twice fails every rule that reads it. A verdict names the
// side at fault: a failure on a message the harness sends itself (a
// stimulus) is the harness's error unless a deviation was asked for on it.
//
// Evaluation is pure: it reads the rules, the captured messages, the facts
// the harness recorded and the lab's variables, and nothing else — no
// sockets, no clock, no globals. It reads SIP with harness/sipmsg alone: no
// other parser's opinion of a message enters a verdict. It does not capture
// messages (package trace) or run the flow; it does not decide which profile
// applies (the caller passes that profile's rules).
package check

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// Input is what one run captured and knows.
type Input struct {
	Messages map[string]trace.Message // captured message per step id ("10" and "14" are the same message)
	Missing  map[string]string        // step id -> why it is absent, e.g. "not received within 5s"
	Facts    map[string]string        // observations by the harness, e.g. "12.impu"
	Vars     map[string]string        // lab values for templating
	// Deviated holds the steps whose message a deviation was asked for on
	// purpose (a broken stimulus): there a failing rule on the harness's own
	// message is a fail, as for the SUT, not a harness error.
	Deviated map[string]bool
	// NotDue holds the SUT's steps whose message could not come, and why:
	// the stimulus they answer was never sent (the harness sent no step 7
	// because the 401 failed, so no 200 OK was due). Their rules are inconc
	// with that reason, not fail: only a message that should have come and
	// did not fails.
	NotDue map[string]string
	// Packets are the ESP packets the harness's roles sent and received
	// under IPsec, in capture order (the rules of kind esp on packets).
	Packets []trace.Packet
}

// parsed is the message of one step as this evaluation sees it.
type parsed struct {
	tm    trace.Message
	msg   *sipmsg.Message   // a SIP message
	dia   *diameter.Message // a Diameter message (trace.Diameter)
	err   error
	found bool
	mm    *memo // shared by every step that carries the same bytes
}

// memo is one captured message parsed once per Evaluate call: msg for SIP,
// dia for Diameter.
type memo struct {
	msg *sipmsg.Message
	dia *diameter.Message
	err error
}

// rawKey identifies the bytes of a captured message: steps that are the same
// message on the wire (10 and 14) share one parse.
type rawKey struct {
	p *byte
	n int
}

// hdrKey names one header of one message, as a rule writes the name.
type hdrKey struct {
	mm     *memo
	header string
}

// hdrMemo is what the evaluation has taken out of one header of one
// message: its values, each value's parsed forms, and the fields rules
// selected from it.
type hdrMemo struct {
	vals []sipmsg.Value
	vps  []valueParse // vps[i] holds the parsed forms of vals[i]
	sel  int          // 1 + index in evaluator.sels of the last selection, 0 for none
	avp  *avpValues   // for a Diameter message: the AVPs the header names
}

// selMemo is the fields one index and part select from a header; prev links
// to the header's previous selection the same way hdrMemo.sel does.
type selMemo struct {
	index, part string
	fs          []field
	err         error
	prev        int
}

type evaluator struct {
	in    Input
	hint  int // most headers and selections the rules can read, to size the memos
	cache map[string]*parsed
	raws  map[rawKey]*memo
	hdrs  map[hdrKey]*hdrMemo
	hslab []hdrMemo           // storage for hdrs, allocated a chunk at a time
	fslab []field             // storage for selected fields, likewise
	sels  []selMemo           // every selection made, see hdrMemo.sel
	res   map[string]compiled // templated pattern -> its regexp
	uris  map[string]*uriInfo
}

// Evaluate judges every rule against the input; one Result per rule, in the
// order of rules.
func Evaluate(rules []scenario.Rule, in Input) []Result {
	hint := len(rules) + 2 // a via-echo reads two headers
	for i := range rules {
		if rules[i].Ref != nil {
			hint++
		}
	}
	e := &evaluator{in: in, hint: hint, cache: make(map[string]*parsed, 8)}
	out := make([]Result, len(rules))
	for i := range rules {
		out[i] = e.rule(&rules[i])
	}
	return out
}

// expand fills a template with the lab's variables.
func (e *evaluator) expand(t string) (string, error) {
	return scenario.Expand(t, e.in.Vars, nil)
}

// message returns the parsed message of a step, trying the step that is the
// same message on the wire when the step itself was not filed.
func (e *evaluator) message(step, same string) *parsed {
	if p, ok := e.cache[step]; ok {
		return p
	}
	p := &parsed{}
	tm, ok := e.in.Messages[step]
	if !ok && same != "" {
		tm, ok = e.in.Messages[same]
	}
	if ok {
		p.found, p.tm = true, tm
		k := rawKey{n: len(tm.Raw)}
		if len(tm.Raw) > 0 {
			k.p = &tm.Raw[0]
		}
		mm, seen := e.raws[k]
		if !seen {
			mm = &memo{}
			if tm.Proto == trace.Diameter {
				mm.dia, mm.err = diameter.Unmarshal(tm.Raw)
			} else {
				mm.msg, mm.err = sipmsg.Parse(tm.Raw)
			}
			if e.raws == nil {
				e.raws = make(map[rawKey]*memo, 8)
			}
			e.raws[k] = mm
		}
		p.mm, p.msg, p.dia, p.err = mm, mm.msg, mm.dia, mm.err
	}
	e.cache[step] = p
	return p
}

// header returns the memo of one header of a parsed message, taking its
// values (msg.Values) on first use.
func (e *evaluator) header(mm *memo, header string) *hdrMemo {
	k := hdrKey{mm, header}
	if h, ok := e.hdrs[k]; ok {
		return h
	}
	if len(e.hslab) == cap(e.hslab) {
		e.hslab = make([]hdrMemo, 0, e.hint)
	}
	e.hslab = e.hslab[:len(e.hslab)+1]
	h := &e.hslab[len(e.hslab)-1]
	if mm.dia != nil {
		h.avp = avpsOf(mm.dia, header)
		h.vals = h.avp.vals
	} else if mm.msg != nil {
		h.vals = mm.msg.Values(header)
	}
	if e.hdrs == nil {
		e.hdrs = make(map[hdrKey]*hdrMemo, e.hint)
	}
	e.hdrs[k] = h
	return h
}

// headerValues is msg.Values(header), once per message and header.
func (e *evaluator) headerValues(p *parsed, header string) []sipmsg.Value {
	return e.header(p.mm, header).vals
}

func (e *evaluator) missing(step string) string {
	if why, ok := e.in.Missing[step]; ok && why != "" {
		return why
	}
	return "no message was captured for step " + step
}

type outcome struct {
	v                  Verdict
	expected, observed string
	reason             string
	absent             bool // the rule's own message (or fact) is not there
}

func pass(exp, obs string) outcome { return outcome{v: Pass, expected: exp, observed: obs} }
func fail(exp, obs, why string) outcome {
	return outcome{v: Fail, expected: exp, observed: obs, reason: why}
}
func inconc(exp, obs, why string) outcome {
	return outcome{v: Inconc, expected: exp, observed: obs, reason: why}
}
func judge(ok bool, exp, obs, why string) outcome {
	if ok {
		return pass(exp, obs)
	}
	return fail(exp, obs, why)
}

func (e *evaluator) rule(r *scenario.Rule) Result {
	res := Result{RuleID: r.ID, Table: r.Table, Step: r.Step, Citation: r.Citation, Statement: r.Statement, Level: r.Level, CountedAs: r.CountedAs}
	set := func(o outcome) Result {
		res.Verdict, res.Expected, res.Observed, res.Reason = o.v, o.expected, o.observed, o.reason
		return res
	}
	for _, c := range r.When {
		got, ok := e.in.Vars[c.Var]
		if !ok && c.HasDefault {
			got, ok = c.Default, true
		}
		if !ok {
			return set(outcome{v: Error, expected: c.Var + "=" + c.Value, reason: "lab value " + c.Var + " was not provided"})
		}
		if got != c.Value {
			why := fmt.Sprintf("%s is %q in this lab; the rule applies when it is %q", c.Var, got, c.Value)
			if c.Reason != "" {
				why = c.Reason
			} else if c.Value == "true" && got == "false" {
				why = c.Var + " is off in this lab"
			} else if c.Value == "false" && got == "true" {
				why = c.Var + " is on in this lab"
			}
			return set(outcome{v: None, expected: c.Var + "=" + c.Value, observed: c.Var + "=" + got, reason: why})
		}
	}
	var o outcome
	if r.Kind == scenario.KindFact {
		o = e.fact(r)
	} else if p := e.message(r.Step, r.SameMessage); !p.found {
		o = outcome{v: Fail, expected: "a message for step " + r.Step, observed: "none", reason: e.missing(r.Step), absent: true}
		if why, ok := e.in.NotDue[r.Step]; ok {
			o.v, o.reason = Inconc, why
		}
	} else {
		res.MsgSeq = p.tm.Seq
		switch {
		case p.err != nil && p.tm.Proto == trace.Diameter:
			o = fail("a Diameter message that decodes", "undecodable Diameter message", p.err.Error())
		case p.err != nil:
			o = fail("a SIP message that parses", "unparseable message", p.err.Error())
		default:
			o = e.kind(r, p)
		}
	}
	if r.Stimulus && !e.in.Deviated[r.Step] {
		o = stimulus(r, o)
	}
	return set(o)
}

// stimulus turns the outcome of a rule on the harness's own message (steps
// 2, 7, 13 and their facts) into the verdict that names the side at fault
// (TTCN-3): a message the harness did not send is inconc, with the flow's
// reason (it was not sent because the SUT failed earlier, or the run was
// cut short); a message that breaks the rule is the harness's error. With a
// deviation asked for on the step the outcome stands as it is.
func stimulus(r *scenario.Rule, o outcome) outcome {
	if o.v != Fail {
		return o
	}
	if o.absent {
		o.v = Inconc
		return o
	}
	o.v = Error
	o.reason = "the harness's own message (step " + r.Step + ") breaks the rule, and no deviation was asked for: " + o.reason
	return o
}

func (e *evaluator) fact(r *scenario.Rule) outcome {
	got, ok := e.in.Facts[r.Fact]
	if !ok {
		step, _, _ := strings.Cut(r.Fact, ".")
		if why, ok := e.in.NotDue[step]; ok {
			return inconc("fact "+r.Fact, "none", why)
		}
		if why, miss := e.in.Missing[step]; miss {
			return outcome{v: Fail, expected: "fact " + r.Fact, observed: "none", reason: why, absent: true}
		}
		return inconc("fact "+r.Fact, "none", "the harness recorded no fact "+r.Fact)
	}
	if r.Pattern != "" {
		return e.valueMatch(r, field{text: got, ok: true}, func() string { return "fact " + r.Fact })
	}
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{v: Error, expected: r.Value, observed: got, reason: err.Error()}
	}
	return judge(equal(got, want, r.IgnoreCase), want, got, "fact "+r.Fact+" differs")
}

// valueMatch applies value (equals, by SIP equivalence for the rule's
// header and part) or pattern to f; what names f in the reason of a
// failure.
func (e *evaluator) valueMatch(r *scenario.Rule, f field, what func() string) outcome {
	if r.Pattern != "" {
		re, err := e.regexp(r)
		if err != nil {
			return outcome{v: Error, expected: r.Pattern, observed: f.text, reason: err.Error()}
		}
		if re.MatchString(f.text) {
			return pass("matches "+re.String(), f.text)
		}
		return fail("matches "+re.String(), f.text, what()+" does not match")
	}
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{v: Error, expected: r.Value, observed: f.text, reason: err.Error()}
	}
	if e.same(r, r.Header, r.Part, f, want) {
		return pass(want, f.text)
	}
	return fail(want, f.text, what()+" differs")
}

// same compares a field with a wanted text: exactly or case-insensitively
// when the rule says ignore_case, else by SIP equivalence. A wanted text
// for part unquoted is unquoted too (a lab value may be given either way).
func (e *evaluator) same(r *scenario.Rule, header, part string, f field, want string) bool {
	w := field{text: want, ok: true}
	if part == "unquoted" {
		w.text, w.quoted = unquote(want)
	}
	if r.IgnoreCase && strings.EqualFold(f.text, w.text) {
		return true
	}
	return e.equivalent(header, part, f, w)
}

func equal(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func (e *evaluator) regexp(r *scenario.Rule) (*regexp.Regexp, error) {
	if r.Regexp != nil {
		return r.Regexp, nil
	}
	// The lab's variables are fixed for the call: one compile per template.
	if c, ok := e.res[r.Pattern]; ok {
		return c.re, c.err
	}
	var c compiled
	src, err := scenario.Expand(r.Pattern, e.in.Vars, regexp.QuoteMeta)
	if err != nil {
		c.err = err
	} else if c.re, err = regexp.Compile(src); err != nil {
		c.err = fmt.Errorf("expected a valid regular expression after templating, saw %q: %v", src, err)
	}
	if e.res == nil {
		e.res = map[string]compiled{}
	}
	e.res[r.Pattern] = c
	return c.re, c.err
}

type compiled struct {
	re  *regexp.Regexp
	err error
}

// field is one selected header value and its part.
type field struct {
	text   string // the part
	ok     bool   // the part is there
	line   int
	quoted bool // the part was a quoted-string
	pos    int  // the value's position among the header's values
}

// fields picks the header values of the index and takes the part from each,
// once per message, header, index and part. err is set when a value cannot
// be taken apart. The slice is shared: callers must not change it.
func (e *evaluator) fields(p *parsed, header, index, part string) ([]field, error) {
	h := e.header(p.mm, header)
	for i := h.sel; i > 0; i = e.sels[i-1].prev {
		if s := &e.sels[i-1]; s.index == index && s.part == part {
			return s.fs, s.err
		}
	}
	var fs []field
	var err error
	if h.avp != nil {
		fs, err = e.avpFields(h, index, part)
	} else {
		fs, err = e.selectFields(p.mm, h, header, index, part)
	}
	if e.sels == nil {
		e.sels = make([]selMemo, 0, e.hint)
	}
	e.sels = append(e.sels, selMemo{index, part, fs, err, h.sel})
	h.sel = len(e.sels)
	return fs, err
}

// newFields returns an empty slice of capacity n, carved from a chunk.
func (e *evaluator) newFields(n int) []field {
	if n > 8 {
		return make([]field, 0, n)
	}
	if cap(e.fslab)-len(e.fslab) < n {
		e.fslab = make([]field, 0, max(e.hint, 2*n))
	}
	l := len(e.fslab)
	e.fslab = e.fslab[:l+n]
	return e.fslab[l : l : l+n]
}

// indexRange turns a rule's index ("" the first, "last", "all" or a 0-based
// number) into the range [lo, hi) of n values; ok is false when it selects none.
func indexRange(index string, n int) (lo, hi int, ok bool) {
	lo, hi = 0, n
	switch {
	case n == 0:
		return 0, 0, false
	case index == "":
		hi = 1
	case index == "last":
		lo = n - 1
	case index == "all":
	default:
		i, _ := strconv.Atoi(index)
		if i >= n {
			return 0, 0, false
		}
		lo, hi = i, i+1
	}
	return lo, hi, true
}

func (e *evaluator) selectFields(mm *memo, h *hdrMemo, header, index, p string) ([]field, error) {
	lo, hi, ok := indexRange(index, len(h.vals))
	if !ok {
		return nil, nil
	}
	if h.vps == nil && p != "" && p != "value" {
		h.vps = make([]valueParse, len(h.vals))
	}
	out := e.newFields(hi - lo)
	for i := lo; i < hi; i++ {
		v := h.vals[i]
		var c *valueParse
		if h.vps != nil {
			c = &h.vps[i]
		}
		pc, err := part(c, v.Text, p)
		if p == "expiry" && err == nil && !pc.ok {
			// RFC 3261 10.2.1.1: without an expires parameter, the Expires
			// header gives the binding's expiry.
			if ex := e.header(mm, "Expires").vals; len(ex) > 0 {
				pc = piece{strings.TrimSpace(ex[0].Text), true, false}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", v.Line, header, err)
		}
		out = append(out, field{text: pc.text, ok: pc.ok, line: v.Line, quoted: pc.quoted, pos: i})
	}
	return out, nil
}

func describe(header, part, index string) string {
	s := header
	if index != "" {
		s += "[" + index + "]"
	}
	if part != "" && part != "value" {
		s += " " + part
	}
	return s
}

func texts(fs []field) string {
	if len(fs) == 1 && fs[0].ok {
		return fs[0].text
	}
	var b []string
	for _, f := range fs {
		if f.ok {
			b = append(b, f.text)
		} else {
			b = append(b, "(absent)")
		}
	}
	return strings.Join(b, " | ")
}
