// Package check judges captured messages against a scenario's rules: rules ×
// captured messages → one verdict per rule (pass, fail, inconc, none, error),
// each with what was expected, what was observed and why.
//
// Evaluation is pure: it reads the rules, the captured messages, the facts
// the harness recorded and the lab's variables, and nothing else — no
// sockets, no clock, no globals. It does not capture messages (package trace)
// or run the flow; it does not decide which profile applies (the caller
// passes that profile's rules).
package check

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

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
}

func pass(exp, obs string) outcome { return outcome{Pass, exp, obs, ""} }
func fail(exp, obs, why string) outcome {
	return outcome{Fail, exp, obs, why}
}
func judge(ok bool, exp, obs, why string) outcome {
	if ok {
		return pass(exp, obs)
	}
	return fail(exp, obs, why)
}

func (e *evaluator) rule(r *scenario.Rule) Result {
	res := Result{RuleID: r.ID, Table: r.Table, Step: r.Step, Citation: r.Citation, Statement: r.Statement}
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
			return set(outcome{Error, c.Var + "=" + c.Value, "", "lab value " + c.Var + " was not provided"})
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
			return set(outcome{None, c.Var + "=" + c.Value, c.Var + "=" + got, why})
		}
	}
	if r.Kind == scenario.KindFact {
		return set(e.fact(r))
	}
	p := e.message(r.Step, r.SameMessage)
	if !p.found {
		return set(outcome{Fail, "a message for step " + r.Step, "none", e.missing(r.Step)})
	}
	res.MsgSeq = p.tm.Seq
	if p.err != nil {
		if p.tm.Proto == trace.Diameter {
			return set(outcome{Fail, "a Diameter message that decodes", "undecodable Diameter message", p.err.Error()})
		}
		return set(outcome{Fail, "a SIP message that parses", "unparseable message", p.err.Error()})
	}
	return set(e.kind(r, p))
}

func (e *evaluator) fact(r *scenario.Rule) outcome {
	got, ok := e.in.Facts[r.Fact]
	if !ok {
		step, _, _ := strings.Cut(r.Fact, ".")
		if why, miss := e.in.Missing[step]; miss {
			return fail("fact "+r.Fact, "none", why)
		}
		return outcome{Inconc, "fact " + r.Fact, "none", "the harness recorded no fact " + r.Fact}
	}
	return e.valueMatch(r, got, func() string { return "fact " + r.Fact })
}

// valueMatch applies value (equals) or pattern to s; what names s in the
// reason of a failure.
func (e *evaluator) valueMatch(r *scenario.Rule, s string, what func() string) outcome {
	if r.Pattern != "" {
		re, err := e.regexp(r)
		if err != nil {
			return outcome{Error, r.Pattern, s, err.Error()}
		}
		if re.MatchString(s) {
			return pass("matches "+re.String(), s)
		}
		return fail("matches "+re.String(), s, what()+" does not match")
	}
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{Error, r.Value, s, err.Error()}
	}
	if equal(s, want, r.IgnoreCase) {
		return pass(want, s)
	}
	return fail(want, s, what()+" differs")
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
	text string // the part
	ok   bool   // the part is there
	line int
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
		t, ok, err := part(c, v.Text, p)
		if p == "expiry" && err == nil && !ok {
			// RFC 3261 10.2.1.1: without an expires parameter, the Expires
			// header gives the binding's expiry.
			if ex := e.header(mm, "Expires").vals; len(ex) > 0 {
				t, ok = strings.TrimSpace(ex[0].Text), true
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", v.Line, header, err)
		}
		out = append(out, field{t, ok, v.Line})
	}
	return out, nil
}

// valueParse holds the forms one header value has been parsed into, so that
// rules on different parts of it parse it once.
type valueParse struct {
	headDone   bool
	head       string
	params     sipmsg.Params // for param:NAME
	digestDone bool
	digest     *sipmsg.Digest
	digestErr  error
	viaDone    bool
	via        *sipmsg.Via
	viaErr     error
	naDone     bool
	na         *sipmsg.NameAddr
	naErr      error
}

// Part takes the named part of one header value (see scenario.ValidPart).
// ok is false when the part is not there (e.g. a missing parameter).
func Part(header, v, p string) (string, bool, error) {
	return part(&valueParse{}, v, p)
}

// part is Part, reading and filling c, the parsed forms of v; c may be nil
// for the whole value.
func part(c *valueParse, v, p string) (string, bool, error) {
	switch {
	case p == "" || p == "value":
		return v, true, nil
	case c == nil:
		return part(&valueParse{}, v, p)
	case p == "expiry":
		return part(c, v, "param:expires")
	case p == "token" || strings.HasPrefix(p, "param:"):
		if !c.headDone {
			c.headDone = true
			c.head, c.params = sipmsg.SplitParams(v)
			if strings.Contains(c.head, "=") && !strings.Contains(c.head, "<") {
				// a value made of parameters only, e.g. P-Charging-Vector
				_, c.params = sipmsg.SplitParams(";" + v)
			}
		}
		if p == "token" {
			return c.head, c.head != "", nil
		}
		val, ok := c.params.Get(p[len("param:"):])
		return val, ok, nil
	case strings.HasPrefix(p, "digest"):
		if !c.digestDone {
			c.digestDone = true
			c.digest, c.digestErr = sipmsg.ParseDigest(v)
		}
		d, err := c.digest, c.digestErr
		if err != nil {
			return "", false, err
		}
		if p == "digest.scheme" {
			return d.Scheme, true, nil
		}
		val, ok := d.Params.Get(p[len("digest:"):])
		return val, ok, nil
	case strings.HasPrefix(p, "via."):
		if !c.viaDone {
			c.viaDone = true
			c.via, c.viaErr = sipmsg.ParseVia(v)
		}
		via, err := c.via, c.viaErr
		if err != nil {
			return "", false, err
		}
		switch p {
		case "via.protocol":
			return via.Protocol, true, nil
		case "via.transport":
			return via.Transport, true, nil
		case "via.host":
			return via.Host, true, nil
		case "via.port":
			return via.Port, via.Port != "", nil
		}
		return via.SentBy(), true, nil
	case strings.HasPrefix(p, "cseq."):
		f := strings.Fields(v)
		if len(f) != 2 {
			return "", false, fmt.Errorf("expected \"number METHOD\", saw %q", v)
		}
		if p == "cseq.seq" {
			return f[0], true, nil
		}
		return f[1], true, nil
	}
	if !c.naDone {
		c.naDone = true
		c.na, c.naErr = sipmsg.ParseNameAddr(v)
	}
	na, err := c.na, c.naErr
	if err != nil {
		return "", false, err
	}
	u := na.URI
	switch p {
	case "display":
		return na.Display, na.Display != "", nil
	case "uri":
		return u.Raw, true, nil
	case "uri.scheme":
		return u.Scheme, true, nil
	case "uri.user":
		return u.User, u.User != "", nil
	case "uri.host":
		return u.Host, u.Host != "", nil
	case "uri.port":
		return u.Port, u.Port != "", nil
	case "uri.hostport":
		return u.HostPort(), u.Host != "", nil
	}
	if strings.HasPrefix(p, "uri.param:") {
		val, ok := u.Params.Get(p[len("uri.param:"):])
		return val, ok, nil
	}
	return "", false, fmt.Errorf("expected a known part, saw %q", p)
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

func (e *evaluator) kind(r *scenario.Rule, p *parsed) outcome {
	m := p.msg
	what := func() string { return describe(r.Header, r.Part, r.Index) }
	switch r.Kind {
	case scenario.KindStartLine:
		if p.dia != nil {
			return e.diameterHeader(r, p.dia)
		}
		if r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != "" {
			return fail("a Diameter message", m.StartLine, "the message is SIP")
		}
		return e.startLine(r, m)
	case scenario.KindViaEcho:
		return e.viaEcho(r, p)
	case scenario.KindEnvelope:
		return e.envelope(r, p.tm)
	case scenario.KindCount:
		if h := e.header(p.mm, r.Header); h.avp != nil && h.avp.err != nil {
			return fail(r.Statement, "unreadable "+r.Header, h.avp.err.Error())
		}
		n := len(e.headerValues(p, r.Header))
		exp := fmt.Sprintf("%s values: at least %d, at most %d", r.Header, r.Min, r.Max)
		if r.Max < 0 {
			exp = fmt.Sprintf("%s values: at least %d", r.Header, r.Min)
		} else if r.Min < 0 {
			exp = fmt.Sprintf("%s values: at most %d", r.Header, r.Max)
		} else if r.Min == r.Max {
			exp = fmt.Sprintf("%s values: exactly %d", r.Header, r.Min)
		}
		ok := (r.Min < 0 || n >= r.Min) && (r.Max < 0 || n <= r.Max)
		return judge(ok, exp, strconv.Itoa(n), "wrong number of "+r.Header+" values")
	case scenario.KindContains:
		return e.contains(r, p)
	case scenario.KindExcludes:
		return e.excludes(r, p)
	}
	fs, err := e.fields(p, r.Header, r.Index, r.Part)
	if err != nil {
		if r.Kind == scenario.KindAbsent && r.Part != "" {
			return fail(what()+" absent", "unreadable", err.Error())
		}
		return fail(r.Statement, "unreadable "+r.Header, err.Error())
	}
	present := len(fs) > 0
	for _, f := range fs {
		present = present && f.ok
	}
	switch r.Kind {
	case scenario.KindPresent:
		w := what()
		return judge(present, w+" present", presence(fs), w+" is missing")
	case scenario.KindAbsent:
		anyOK := false
		for _, f := range fs {
			anyOK = anyOK || f.ok
		}
		w := what()
		return judge(!anyOK, w+" absent", presence(fs), w+" is there")
	}
	if !present {
		if r.Optional && len(fs) == 0 {
			return pass(r.Statement+" (absent is allowed)", presence(fs))
		}
		return fail(r.Statement, presence(fs), what()+" is missing")
	}
	switch r.Kind {
	case scenario.KindEquals, scenario.KindMatches:
		for _, f := range fs {
			if o := e.valueMatch(r, f.text, what); o.v != Pass {
				o.observed = texts(fs)
				return o
			}
		}
		o := e.valueMatch(r, fs[0].text, what)
		o.observed = texts(fs)
		return o
	case scenario.KindOneOf:
		var want []string
		for _, v := range r.Values {
			x, err := e.expand(v)
			if err != nil {
				return outcome{Error, v, texts(fs), err.Error()}
			}
			want = append(want, x)
		}
		for _, f := range fs {
			ok := false
			for _, w := range want {
				ok = ok || equal(f.text, w, r.IgnoreCase)
			}
			if !ok {
				return fail("one of "+strings.Join(want, ", "), texts(fs), what()+" is none of the allowed values")
			}
		}
		return pass("one of "+strings.Join(want, ", "), texts(fs))
	case scenario.KindMembers:
		return e.members(r, p)
	case scenario.KindSameAs:
		return e.sameAs(r, fs)
	case scenario.KindCompare:
		return e.compare(r, fs)
	case scenario.KindDate:
		for _, f := range fs {
			if err := rfc1123(f.text); err != nil {
				return fail("an RFC 1123 date in GMT, e.g. Wed, 11 Jul 2001 08:49:37 GMT", f.text, err.Error())
			}
		}
		return pass("an RFC 1123 date in GMT", texts(fs))
	case scenario.KindNonce:
		for _, f := range fs {
			b, err := base64.StdEncoding.DecodeString(f.text)
			if err != nil {
				return fail(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), f.text, "not base64: "+err.Error())
			}
			if len(b) < r.MinBytes {
				return fail(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), fmt.Sprintf("%d bytes", len(b)), "too short to hold RAND and AUTN")
			}
		}
		return pass(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), texts(fs))
	}
	return outcome{Error, "", "", "rule kind " + string(r.Kind) + " is not implemented"}
}

func presence(fs []field) string {
	if len(fs) == 0 {
		return "header absent"
	}
	return texts(fs)
}

func (e *evaluator) startLine(r *scenario.Rule, m *sipmsg.Message) outcome {
	var exp, obs []string
	ok := true
	check := func(name, tmpl, got string) error {
		if tmpl == "" {
			return nil
		}
		want, err := e.expand(tmpl)
		if err != nil {
			return err
		}
		exp = append(exp, name+" "+want)
		obs = append(obs, name+" "+got)
		ok = ok && want == got
		return nil
	}
	if (r.Start.Method != "" || r.Start.RequestURI != "") && !m.Request {
		return fail("a request", m.StartLine, "the message is a response")
	}
	if (r.Start.Status != "" || r.Start.Reason != "") && m.Request {
		return fail("a response", m.StartLine, "the message is a request")
	}
	status := ""
	if !m.Request {
		status = strconv.Itoa(m.StatusCode)
	}
	for _, c := range [][3]string{{"method", r.Start.Method, m.Method}, {"Request-URI", r.Start.RequestURI, m.RequestURI},
		{"version", r.Start.Version, m.Version}, {"status", r.Start.Status, status}, {"reason", r.Start.Reason, m.Reason}} {
		if err := check(c[0], c[1], c[2]); err != nil {
			return outcome{Error, c[1], m.StartLine, err.Error()}
		}
	}
	if r.Reason != nil {
		exp = append(exp, "reason matching "+r.Reason.String())
		obs = append(obs, "reason "+strconv.Quote(m.Reason))
		ok = ok && r.Reason.MatchString(m.Reason)
	}
	return judge(ok, strings.Join(exp, ", "), strings.Join(obs, ", "), "the start line differs")
}

func (e *evaluator) ref(step string) (*parsed, *outcome) {
	p := e.message(step, "")
	if !p.found {
		return nil, &outcome{Inconc, "step " + step + " for comparison", "none", "cannot compare: step " + step + " is missing: " + e.missing(step)}
	}
	if p.err != nil {
		return nil, &outcome{Inconc, "step " + step + " for comparison", "unparseable", "cannot compare: step " + step + " does not parse: " + p.err.Error()}
	}
	return p, nil
}

// refStep is the step a rule's reference names. When it is the request the
// rule's message answers and the flow recorded that request under
// "<step>.request" (after an SQN re-synchronisation the 401 of step 5
// answers the REGISTER with AUTS, not step 2), that is the one.
func (e *evaluator) refStep(r *scenario.Rule, step string) string {
	if step != "" && step == r.Request {
		if _, ok := e.in.Messages[r.Step+".request"]; ok {
			return r.Step + ".request"
		}
	}
	return step
}

func (e *evaluator) sameAs(r *scenario.Rule, fs []field) outcome {
	refStep := e.refStep(r, r.Ref.Step)
	rp, o := e.ref(refStep)
	if o != nil {
		return *o
	}
	rfs, err := e.fields(rp, r.Ref.Header, r.Ref.Index, r.Ref.Part)
	what := func() string { return "step " + refStep + " " + describe(r.Ref.Header, r.Ref.Part, r.Ref.Index) }
	if err != nil {
		return outcome{Inconc, what(), "unreadable", "cannot compare: " + err.Error()}
	}
	if len(rfs) == 0 || !allOK(rfs) {
		w := what()
		return outcome{Inconc, w, presence(rfs), "cannot compare: " + w + " is missing"}
	}
	same := len(fs) == len(rfs)
	for i := 0; same && i < len(fs); i++ {
		same = equal(fs[i].text, rfs[i].text, r.IgnoreCase)
	}
	if same {
		return pass(texts(rfs), texts(fs))
	}
	return fail(texts(rfs), texts(fs), "differs from "+what())
}

func allOK(fs []field) bool {
	for _, f := range fs {
		if !f.ok {
			return false
		}
	}
	return true
}

func (e *evaluator) viaEcho(r *scenario.Rule, p *parsed) outcome {
	reqStep := e.refStep(r, r.Request)
	rp, o := e.ref(reqStep)
	if o != nil {
		return *o
	}
	var got, want []string
	for _, v := range e.headerValues(p, "Via") {
		got = append(got, v.Text)
	}
	for _, v := range e.headerValues(rp, "Via") {
		want = append(want, v.Text)
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i] == want[i]
	}
	return judge(same, strings.Join(want, " | "), strings.Join(got, " | "), "the Via values differ from the request's (step "+reqStep+")")
}

func (e *evaluator) compare(r *scenario.Rule, fs []field) outcome {
	var ref int64
	var refText string
	if r.Ref != nil {
		rp, o := e.ref(r.Ref.Step)
		if o != nil {
			return *o
		}
		rfs, err := e.fields(rp, r.Ref.Header, r.Ref.Index, r.Ref.Part)
		if err != nil || len(rfs) == 0 || !rfs[0].ok {
			return outcome{Inconc, "step " + r.Ref.Step + " " + r.Ref.Header, presence(rfs), "cannot compare: step " + r.Ref.Step + " has no usable " + describe(r.Ref.Header, r.Ref.Part, r.Ref.Index)}
		}
		n, err := scenario.Atoi(rfs[0].text)
		if err != nil {
			return outcome{Inconc, "a number in step " + r.Ref.Step, rfs[0].text, "cannot compare: not a number"}
		}
		ref, refText = n+int64(r.Offset), fmt.Sprintf("step %s %s", r.Ref.Step, describe(r.Ref.Header, r.Ref.Part, r.Ref.Index))
		if r.Offset != 0 {
			refText += fmt.Sprintf(" %+d", r.Offset)
		}
	} else {
		v, err := e.expand(r.Value)
		if err != nil {
			return outcome{Error, r.Value, texts(fs), err.Error()}
		}
		n, err := scenario.Atoi(v)
		if err != nil {
			return outcome{Error, "a number", v, "the lab value is not a number"}
		}
		ref, refText = n+int64(r.Offset), v
	}
	exp := fmt.Sprintf("%s %d (%s)", opText[r.Op], ref, refText)
	for _, f := range fs {
		n, err := scenario.Atoi(f.text)
		if err != nil {
			return fail(exp, f.text, "not a number")
		}
		if !cmp(n, r.Op, ref) {
			return fail(exp, f.text, "the relation does not hold")
		}
	}
	return pass(exp, texts(fs))
}

var opText = map[string]string{"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}

func cmp(a int64, op string, b int64) bool {
	switch op {
	case "eq":
		return a == b
	case "ne":
		return a != b
	case "lt":
		return a < b
	case "le":
		return a <= b
	case "gt":
		return a > b
	case "ge":
		return a >= b
	}
	return false
}

func rfc1123(s string) error {
	t, err := time.Parse(time.RFC1123, s)
	if err != nil {
		return fmt.Errorf("not RFC 1123 form: %v", err)
	}
	if !strings.HasSuffix(s, " GMT") {
		return fmt.Errorf("expected the zone GMT, saw %q", s[strings.LastIndexByte(s, ' ')+1:])
	}
	if t.Weekday().String()[:3] != s[:3] {
		return fmt.Errorf("the weekday %s does not match the date (a %s)", s[:3], t.Weekday())
	}
	return nil
}

// contains judges a list header, such as the option tags of Require,
// Proxy-Require or Supported (RFC 3261 20.32, 20.29, 20.37): some value, on
// any of the header's lines, equals the rule's value.
func (e *evaluator) contains(r *scenario.Rule, p *parsed) outcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{Error, r.Value, "", err.Error()}
	}
	exp := "includes " + want
	fs, err := e.fields(p, r.Header, "all", r.Part)
	if err != nil {
		return fail(exp, "unreadable "+r.Header, err.Error())
	}
	if len(fs) == 0 {
		return fail(exp, presence(fs), describe(r.Header, r.Part, "")+" is missing")
	}
	for _, f := range fs {
		if f.ok && equal(f.text, want, r.IgnoreCase) {
			return pass(exp, texts(fs))
		}
	}
	return fail(exp, texts(fs), describe(r.Header, r.Part, "")+" does not include "+want)
}

// excludes judges a list header the other way round: no value, on any of
// its lines, equals the rule's value; an absent header includes nothing.
func (e *evaluator) excludes(r *scenario.Rule, p *parsed) outcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{Error, r.Value, "", err.Error()}
	}
	exp := "does not include " + want
	fs, err := e.fields(p, r.Header, "all", r.Part)
	if err != nil {
		return fail(exp, "unreadable "+r.Header, err.Error())
	}
	for _, f := range fs {
		if f.ok && equal(f.text, want, r.IgnoreCase) {
			return fail(exp, texts(fs), describe(r.Header, r.Part, "")+" includes "+want)
		}
	}
	return pass(exp, presence(fs))
}

func (e *evaluator) members(r *scenario.Rule, p *parsed) outcome {
	var want []string
	for _, v := range r.Values {
		x, err := e.expand(v)
		if err != nil {
			return outcome{Error, v, "", err.Error()}
		}
		want = append(want, strings.Fields(x)...)
	}
	part := r.Part
	if part == "" {
		part = "uri"
	}
	fs, err := e.fields(p, r.Header, "all", part)
	if err != nil {
		return fail(strings.Join(want, " "), "unreadable "+r.Header, err.Error())
	}
	var missing []string
	for _, w := range want {
		found := false
		for _, f := range fs {
			found = found || e.sameURI(f.text, w)
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return judge(len(missing) == 0, "includes "+strings.Join(want, " "), texts(fs), "missing "+strings.Join(missing, " "))
}

// uriInfo is a URI taken apart once per Evaluate call.
type uriInfo struct {
	u      *sipmsg.URI
	err    error
	params string // paramSet(u.Params)
}

func (e *evaluator) uri(s string) *uriInfo {
	if i, ok := e.uris[s]; ok {
		return i
	}
	i := &uriInfo{}
	i.u, i.err = sipmsg.ParseURI(s)
	if i.err == nil {
		i.params = paramSet(i.u.Params)
	}
	if e.uris == nil {
		e.uris = map[string]*uriInfo{}
	}
	e.uris[s] = i
	return i
}

// sameURI compares two URIs as RFC 3261 19.1.4 does in the main: scheme and
// host case-insensitively, user and port exactly, parameters as a set.
func (e *evaluator) sameURI(a, b string) bool {
	ia, ib := e.uri(a), e.uri(b)
	if ia.err != nil || ib.err != nil {
		return a == b
	}
	ua, ub := ia.u, ib.u
	if ua.Scheme != ub.Scheme || ua.User != ub.User || !strings.EqualFold(ua.Host, ub.Host) || ua.Port != ub.Port || ua.Opaque != ub.Opaque {
		return false
	}
	return ia.params == ib.params
}

func paramSet(ps sipmsg.Params) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strings.ToLower(p.Name) + "=" + p.Value
	}
	sort.Strings(s)
	return strings.Join(s, ";")
}

func (e *evaluator) envelope(r *scenario.Rule, tm trace.Message) outcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{Error, r.Value, "", err.Error()}
	}
	var got string
	ok := false
	switch r.Part {
	case "transport":
		got = tm.Transport
		ok = strings.EqualFold(got, want)
	case "src.ip", "dst.ip":
		ap := tm.Src
		if r.Part == "dst.ip" {
			ap = tm.Dst
		}
		got = ap.Addr().String()
		w, err := netip.ParseAddr(strings.Trim(want, "[]"))
		ok = err == nil && ap.IsValid() && w.Unmap() == ap.Addr().Unmap()
	case "src.port", "dst.port":
		ap := tm.Src
		if r.Part == "dst.port" {
			ap = tm.Dst
		}
		got = strconv.Itoa(int(ap.Port()))
		ok = ap.IsValid() && got == want
	}
	return judge(ok, r.Part+" "+want, r.Part+" "+got, "the captured message's "+r.Part+" differs")
}
