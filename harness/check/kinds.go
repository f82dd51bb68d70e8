package check

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// kind judges one rule on the parsed message of its step.
func (e *evaluator) kind(c *crule, b *bound, v *stepView) outcome {
	r := c.r
	m := v.m
	switch c.kind {
	case kStartLine:
		if m.dia != nil {
			return e.diameterHeader(c, b, m)
		}
		if r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != "" {
			return fail(str("a Diameter message"), str(m.msg.StartLine), str("the message is SIP"))
		}
		return e.startLine(c, b, m.msg)
	case kViaEcho:
		return e.viaEcho(c, v)
	case kEnvelope:
		return e.envelope(c, b, &v.tm)
	case kESP:
		return e.esp(c, b, &v.tm)
	case kAfter:
		return e.after(c, v)
	case kCount:
		h := e.header(m, c.h)
		if h.avp != nil && h.avp.err != nil {
			return fail(str(r.Statement), str(c.fails().unreadable), str(h.avp.err.Error()))
		}
		n := h.n()
		if (r.Min < 0 || n >= r.Min) && (r.Max < 0 || n <= r.Max) {
			return pass(str(c.texts.countExp), e.num(int64(n)))
		}
		return fail(str(c.texts.countExp), e.num(int64(n)), str(c.fails().wrongCount))
	case kContains:
		return e.optionTag(c, b, m, true)
	case kExcludes:
		return e.optionTag(c, b, m, false)
	}
	if o := e.repeated(m, c.h); o != nil {
		return *o
	}
	if c.kind == kBodyLen {
		return e.bodyLength(c, v)
	}
	// The message compared with first: a rule cannot be judged against a
	// message that is missing, or against a field it lacks.
	var ref []field
	if r.Ref != nil && !r.Ref.Self {
		rfs, o := e.refFields(c)
		if o != nil {
			return *o
		}
		ref = rfs
	}
	fs, o, err := e.pick(m, &c.pk)
	if err != nil {
		if c.kind == kAbsent && r.Part != "" {
			return fail(str(c.texts.absent), str("unreadable"), str(err.Error()))
		}
		return fail(str(r.Statement), str(c.fails().unreadable), str(err.Error()))
	}
	if o != nil {
		return *o
	}
	anyOK, allPresent := false, len(fs) > 0
	for _, f := range fs {
		anyOK = anyOK || f.ok
		allPresent = allPresent && f.ok
	}
	switch c.kind {
	case kPresent:
		if r.Index == "any" {
			return judge(anyOK, str(c.texts.present), e.presence(fs), str(c.fails().isMissing))
		}
		return judge(allPresent, str(c.texts.present), e.presence(fs), str(c.fails().isMissing))
	case kAbsent:
		return judge(!anyOK, str(c.texts.absent), e.presence(fs), str(c.fails().isThere))
	case kSameAs:
		if r.Optional && !anyPresent(ref) {
			// Echo of an optional field: absent here because absent there.
			return judge(!anyOK, str(c.texts.optAbsent), e.presence(fs), str(c.fails().optThere))
		}
	}
	switch c.kind {
	case kSameAs, kDiffers, kCompare:
		if r.Ref != nil && !r.Ref.Self && (len(ref) == 0 || !allOK(ref)) {
			return inconc(str(c.texts.refWhat), e.presence(ref), str(c.fails().refMissing))
		}
	}
	if c.kind == kWithin && len(fs) == 0 {
		// Nothing outside the set; whether the header must be there is
		// another rule's.
		return pass(str("only values of the set"), e.presence(fs))
	}
	if r.Optional {
		fs = e.okOnly(fs)
		if len(fs) == 0 {
			return pass(str(c.texts.absentOK), str("absent"))
		}
	} else if !allPresent {
		return fail(str(r.Statement), e.presence(fs), str(c.fails().isMissing))
	}
	if r.Index == "any" {
		var last outcome
		for i := range fs {
			o := e.values(c, b, m, fs[i:i+1:i+1], ref)
			if o.v == Pass {
				o.observed = e.texts(fs)
				return o
			}
			if o.v != Fail {
				return o
			}
			last = o
		}
		last.observed = e.texts(fs)
		last.reason = e.cat(str(c.fails().noneSatisfies), last.reason)
		return last
	}
	return e.values(c, b, m, fs, ref)
}

// values judges the present fields fs of a value rule; ref holds the
// fields of the message it is compared with.
func (e *evaluator) values(c *crule, b *bound, m *msgView, fs, ref []field) outcome {
	r := c.r
	switch c.kind {
	case kEquals, kMatches:
		var first outcome // the first field's: the outcome when every field passes
		for i, f := range fs {
			o := e.valueMatch(c, b, f, false)
			if o.v != Pass {
				o.observed = e.texts(fs)
				return o
			}
			if i == 0 {
				first = o
			}
		}
		first.observed = e.texts(fs)
		return first
	case kOneOf:
		return e.oneOf(c, b, fs, ref)
	case kMembers:
		return e.members(c, b, fs, ref)
	case kWithin:
		return e.within(c, b, fs)
	case kSameAs:
		return judge(e.sameList(c, fs, ref), e.texts(ref), e.texts(fs), str(c.texts.differsFrom))
	case kDiffers:
		exp := e.cat(str(c.texts.differsFrom), str(" "), e.texts(ref))
		return judge(!e.sameList(c, fs, ref), exp, e.texts(fs), str(c.fails().equals))
	case kCompare:
		return e.compare(c, b, m, fs, ref)
	case kDate:
		for _, f := range fs {
			if err := rfc1123(f.text); err != nil {
				return fail(str("an RFC 1123 date in GMT, e.g. Wed, 11 Jul 2001 08:49:37 GMT"), str(f.text), str(err.Error()))
			}
		}
		return pass(str("an RFC 1123 date in GMT"), e.texts(fs))
	case kNonce:
		exp := c.texts.nonce
		for _, f := range fs {
			n, err := base64Len(f.text)
			if err != nil {
				return fail(str(exp), str(f.text), str("not base64: "+err.Error()))
			}
			if n < r.MinBytes {
				return fail(str(exp), str(fmt.Sprintf("%d bytes", n)), str("too short to hold RAND and AUTN"))
			}
		}
		return pass(str(exp), e.texts(fs))
	}
	return outcome{v: Error, reason: str("rule kind " + string(r.Kind) + " is not implemented")}
}

// base64Len is the length of the bytes s holds in standard base64.
func base64Len(s string) (int, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return len(b), err
}

// texts writes the fields' parts, " | " between, "(absent)" for a part
// that is not there.
func (e *evaluator) texts(fs []field) txt {
	if len(fs) == 1 && fs[0].ok {
		return str(fs[0].text)
	}
	start := len(e.buf)
	for i, f := range fs {
		if i > 0 {
			e.buf = append(e.buf, " | "...)
		}
		if f.ok {
			e.buf = append(e.buf, f.text...)
		} else {
			e.buf = append(e.buf, "(absent)"...)
		}
	}
	return e.span(start)
}

func (e *evaluator) presence(fs []field) txt {
	if len(fs) == 0 {
		return str("header absent")
	}
	return e.texts(fs)
}

func allOK(fs []field) bool {
	for _, f := range fs {
		if !f.ok {
			return false
		}
	}
	return true
}

func anyPresent(fs []field) bool {
	for _, f := range fs {
		if f.ok {
			return true
		}
	}
	return false
}

// okOnly is the fields that are there.
func (e *evaluator) okOnly(fs []field) []field {
	lo := len(e.fs)
	for _, f := range fs {
		if f.ok {
			e.fs = append(e.fs, f)
		}
	}
	return e.fs[lo:len(e.fs):len(e.fs)]
}

// singleValued are the headers RFC 3261 7.3.1 allows once: their value is
// not a comma-separated list (the four authentication headers, which may
// repeat, aside).
var singleValued = map[string]bool{
	"Call-ID": true, "CSeq": true, "From": true, "To": true, "Max-Forwards": true, "Content-Length": true,
	"Content-Type": true, "Expires": true, "Date": true, "Min-Expires": true, "Retry-After": true,
	"Timestamp": true, "Subject": true, "Server": true, "User-Agent": true, "Organization": true,
	"MIME-Version": true, "Priority": true, "Reply-To": true, "P-Charging-Vector": true,
	"P-Charging-Function-Addresses": true,
}

// repeated fails a rule on a single-valued header that the message carries
// more than once (RFC 3261 7.3.1, 20): there is no one value to judge,
// whichever line would match.
func (e *evaluator) repeated(m *msgView, h int) *outcome {
	info := &e.prog.hdrs[h]
	if m.msg == nil || !info.single || e.lines(m, h) < 2 {
		return nil
	}
	var at, vals []string
	for l := m.head[info.class]; l >= 0; l = m.next[l] {
		at = append(at, strconv.Itoa(m.msg.Headers[l].Line))
		vals = append(vals, m.msg.Headers[l].Value)
	}
	o := fail(str(info.onlyOnce), str(strings.Join(vals, " | ")),
		str(fmt.Sprintf("%s appears %d times (lines %s): a header whose value is not a comma-separated list appears once (RFC 3261 7.3.1, 20)", info.canon, len(at), strings.Join(at, ", "))))
	return &o
}

// requestStep is the slot of the request a response step answers: the
// request, or the one the flow recorded under "<step>.request" (after an
// SQN re-synchronisation the 401 of step 5 answers the REGISTER with AUTS,
// not step 2).
func (e *evaluator) requestStep(q reqStep) int {
	if q.alt != "" {
		if _, ok := e.in.Messages[q.alt]; ok {
			return q.altSlot
		}
	}
	return q.slot
}

// ref returns the parsed message of a step another rule compares with;
// the outcome is inconc when it is missing or does not parse.
func (e *evaluator) ref(slot int) (*msgView, *outcome) {
	v := e.message(slot, -1)
	st := &e.prog.steps[slot]
	if !v.found {
		o := inconc(str(st.forComparison), str("none"), str("cannot compare: step "+st.id+" is missing: "+e.missing(slot)))
		return nil, &o
	}
	m := e.view(v)
	if m.err != nil {
		o := inconc(str(st.forComparison), str("unparseable"), str("cannot compare: step "+st.id+" does not parse: "+m.errText()))
		return nil, &o
	}
	return m, nil
}

// refFields selects the fields a rule's ref names; the outcome is inconc
// when they cannot be had (the message is missing, does not parse, or
// repeats a single-valued header).
func (e *evaluator) refFields(c *crule) ([]field, *outcome) {
	slot := e.requestStep(c.ref.of)
	rm, o := e.ref(slot)
	if o != nil {
		return nil, o
	}
	cannot := func(why string) *outcome {
		o := inconc(str(c.texts.refWhat), str("unreadable"), str("cannot compare: step "+e.prog.steps[slot].id+": "+why))
		return &o
	}
	if rm.msg == nil && rm.dia == nil {
		return nil, cannot("no message")
	}
	if o := e.repeated(rm, c.ref.h); o != nil {
		return nil, cannot(o.reason.s)
	}
	fs, po, err := e.pick(rm, &c.ref.pk)
	if err != nil {
		return nil, cannot(err.Error())
	}
	if po != nil {
		return nil, cannot(po.reason.s)
	}
	return fs, nil
}

// pick selects the fields of a picker: the header's values, only those of
// the mechanism when one is named, only the UE's binding for index binding
// (the Contact values whose URI is a Contact URI of the request), then the
// index among them. The outcome is set when the binding cannot be found.
func (e *evaluator) pick(m *msgView, pk *picker) ([]field, *outcome, error) {
	if pk.fast >= 0 {
		fs, err := e.fields(m, pk.fast)
		return fs, nil, err
	}
	all, err := e.fields(m, pk.all)
	if err != nil {
		return nil, nil, err
	}
	keep := e.keep[:0]
	for range all {
		keep = append(keep, true)
	}
	e.keep = keep
	if pk.mechanism != "" {
		toks, err := e.fields(m, pk.tok)
		if err != nil {
			return nil, nil, err
		}
		for i, t := range toks {
			keep[i] = keep[i] && strings.EqualFold(t.text, pk.mechanism)
		}
	}
	if pk.index == "binding" {
		req := e.requestStep(pk.req)
		header := e.prog.hdrs[pk.h].raw
		rm, o := e.ref(req)
		if o != nil {
			o.reason = str(strings.Replace(o.reason.s, "cannot compare", "cannot find the binding", 1))
			return nil, o, nil
		}
		reqID := e.prog.steps[req].id
		want, err := e.fields(rm, pk.want)
		if err != nil || len(want) == 0 {
			o := inconc(str("the binding of step "+reqID+"'s Contact"), str("none"), str("cannot find the binding: step "+reqID+" has no readable Contact"))
			return nil, &o, nil
		}
		uris, err := e.fields(m, pk.uris)
		if err != nil {
			return nil, nil, err
		}
		found := false
		for i, u := range uris {
			match := false
			for _, w := range want {
				match = match || e.equivalent(eqURI, u, w)
			}
			keep[i] = keep[i] && match
			found = found || keep[i]
		}
		if !found {
			o := fail(e.cat(str("a "+header+" whose URI is step "+reqID+"'s Contact "), e.texts(want)), e.presence(uris),
				str("no "+header+" value has the URI of the request's Contact (RFC 3261 10.3 step 8): the UE's binding is missing"))
			return nil, &o, nil
		}
	}
	lo := len(e.fs)
	for i, f := range all {
		if keep[i] {
			e.fs = append(e.fs, f)
		}
	}
	sel := e.fs[lo:len(e.fs):len(e.fs)]
	switch pk.index {
	case "all", "any", "binding":
		return sel, nil, nil
	}
	a, z, ok := compileIndex(pk.index).span(len(sel))
	if !ok {
		return nil, nil, nil
	}
	return sel[a:z:z], nil, nil
}

func (e *evaluator) startLine(c *crule, b *bound, m *sipmsg.Message) outcome {
	r := c.r
	if (r.Start.Method != "" || r.Start.RequestURI != "") && !m.Request {
		return fail(str("a request"), str(m.StartLine), str("the message is a response"))
	}
	if (r.Start.Status != "" || r.Start.Reason != "") && m.Request {
		return fail(str("a response"), str(m.StartLine), str("the message is a request"))
	}
	status := ""
	if !m.Request {
		status = strconv.Itoa(m.StatusCode)
	}
	got := [5]string{m.Method, m.RequestURI, m.Version, status, m.Reason}
	names := [5]string{"method", "Request-URI", "version", "status", "reason"}
	ok := true
	start := len(e.buf)
	for i := range got {
		if c.tStart[i] < 0 {
			continue
		}
		want := &b.start[i]
		if want.err != nil {
			e.buf = e.buf[:start]
			return errorOut([5]string{r.Start.Method, r.Start.RequestURI, r.Start.Version, r.Start.Status, r.Start.Reason}[i], m.StartLine, want.err.Error())
		}
		if len(e.buf) > start {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = append(append(append(e.buf, names[i]...), ' '), got[i]...)
		switch i {
		case 0, 3, 4: // RFC 3261 7.1: the method is case-sensitive
			ok = ok && want.s == got[i]
		case 1:
			ok = ok && e.sameURI(want.s, got[i])
		case 2: // RFC 3261 7.1, ABNF strings
			ok = ok && strings.EqualFold(want.s, got[i])
		}
	}
	exp := str(b.exp)
	if r.Reason != nil {
		if len(e.buf) > start {
			e.buf = append(e.buf, ", "...)
		}
		e.buf = strconv.AppendQuote(append(e.buf, "reason "...), m.Reason)
		ok = ok && c.reason(m.Reason)
		exp = e.cats(b.exp, sepIf(b.exp, ", "), c.texts.reasonMatching)
	}
	obs := e.span(start)
	return judge(ok, exp, obs, str("the start line differs"))
}

func sepIf(s, sep string) string {
	if s == "" {
		return ""
	}
	return sep
}

// sameList compares the fields of a rule with its ref's: the same number,
// each equivalent to its counterpart, in order, or in any order for a
// header whose list is a set.
func (e *evaluator) sameList(c *crule, fs, ref []field) bool {
	if len(fs) != len(ref) {
		return false
	}
	if !e.prog.hdrs[c.h].unordered {
		for i := range fs {
			if !e.equivalent(c.eq, fs[i], ref[i]) {
				return false
			}
		}
		return true
	}
	used := e.keep[:0]
	for range ref {
		used = append(used, false)
	}
	e.keep = used
	for _, f := range fs {
		found := false
		for j, g := range ref {
			if !used[j] && e.equivalent(c.eq, f, g) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// same compares a field with a wanted text w: exactly or
// case-insensitively when the rule says ignore_case, else by SIP
// equivalence. A wanted text for part unquoted is unquoted too (a lab value
// may be given either way): w is a lab value (want) so, or a text of
// another message (sameAsText).
func (e *evaluator) same(c *crule, eq eqKind, w field, f field) bool {
	if c.r.IgnoreCase && strings.EqualFold(f.text, w.text) {
		return true
	}
	return e.equivalent(eq, f, w)
}

// sameAsText is same for a wanted text that is not a lab value (a value
// of the message compared with).
func (e *evaluator) sameAsText(c *crule, eq eqKind, want string, f field) bool {
	w := field{text: want, ok: true}
	if c.r.Part == "unquoted" {
		w.text, w.quoted = unquote(want)
	}
	return e.same(c, eq, w, f)
}

// oneOf: every field is one of the listed values or of the ref's values
// (e.g. an alg the UE offered in its Security-Client).
func (e *evaluator) oneOf(c *crule, b *bound, fs, ref []field) outcome {
	if b.valErr != nil {
		return outcome{v: Error, expected: str(b.valBad), reason: str(b.valErr.Error())}
	}
	exp := str(b.exp)
	n := len(b.values)
	for _, f := range ref {
		if f.ok {
			n++
		}
	}
	if n == 0 {
		return inconc(str("one of the values of "+c.texts.refWhat), e.texts(fs), str("cannot judge: "+c.texts.refWhat+" offers no value"))
	}
	if n > len(b.values) {
		exp = e.listText("one of ", ", ", b.values, ref) // the ref's values join the listed ones
	}
	for _, f := range fs {
		if !e.among(c, c.eq, f, b.values, ref) {
			return fail(exp, e.texts(fs), str(c.fails().noneAllowed))
		}
	}
	return pass(exp, e.texts(fs))
}

// listText is prefix and the values, then the ref's fields that are there,
// joined by sep.
func (e *evaluator) listText(prefix, sep string, vals []val, ref []field) txt {
	start := len(e.buf)
	e.buf = append(e.buf, prefix...)
	k := 0
	add := func(s string) {
		if k > 0 {
			e.buf = append(e.buf, sep...)
		}
		e.buf = append(e.buf, s...)
		k++
	}
	for _, v := range vals {
		add(v.s)
	}
	for _, f := range ref {
		if f.ok {
			add(f.text)
		}
	}
	return e.span(start)
}

// among reports whether field f is equivalent to one of the wanted lab
// values or of the ref's fields that are there.
func (e *evaluator) among(c *crule, eq eqKind, f field, want []val, ref []field) bool {
	for i := range want {
		if e.same(c, eq, want[i].field(), f) {
			return true
		}
	}
	for _, g := range ref {
		if g.ok && e.sameAsText(c, eq, g.text, f) {
			return true
		}
	}
	return false
}

// members: the header's values (URIs) include every listed value, or every
// value of the ref (e.g. the request's Contact among the 200 OK's), at any
// position.
func (e *evaluator) members(c *crule, b *bound, fs, ref []field) outcome {
	r := c.r
	if b.valErr != nil {
		return outcome{v: Error, expected: str(b.valBad), reason: str(b.valErr.Error())}
	}
	exp := str(b.exp)
	if r.Ref != nil {
		if !anyPresent(ref) {
			return inconc(str(c.texts.refWhat), e.presence(ref), str(c.fails().refMissing))
		}
		exp = e.listText("includes ", " ", b.values, ref)
	}
	var missing []string
	has := func(w field) bool {
		for _, f := range fs {
			if e.same(c, c.eqList, w, f) {
				return true
			}
		}
		return false
	}
	for i := range b.values {
		if !has(b.values[i].field()) {
			missing = append(missing, b.values[i].s)
		}
	}
	for _, f := range ref {
		if !f.ok {
			continue
		}
		w := field{text: f.text, ok: true}
		if r.Part == "unquoted" {
			w.text, w.quoted = unquote(f.text)
		}
		if !has(w) {
			missing = append(missing, f.text)
		}
	}
	if len(missing) == 0 {
		return pass(exp, e.texts(fs))
	}
	return fail(exp, e.texts(fs), str("missing "+strings.Join(missing, " ")))
}

// within: every value (URI) of the header is one of the listed ones.
func (e *evaluator) within(c *crule, b *bound, fs []field) outcome {
	if b.valErr != nil {
		return outcome{v: Error, expected: str(b.valBad), reason: str(b.valErr.Error())}
	}
	var outside []string
	for _, f := range fs {
		if !e.among(c, c.eqList, f, b.values, nil) {
			outside = append(outside, f.text)
		}
	}
	if len(outside) == 0 {
		return pass(str(b.exp), e.texts(fs))
	}
	return fail(str(b.exp), e.texts(fs), str("not among them: "+strings.Join(outside, " ")))
}

func (e *evaluator) viaEcho(c *crule, v *stepView) outcome {
	req := e.requestStep(c.req)
	rm, o := e.ref(req)
	if o != nil {
		return *o
	}
	got, want := e.valueFields(e.header(v.m, e.prog.via)), e.valueFields(e.header(rm, e.prog.via))
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = e.equivalent(eqVia, want[i], got[i])
	}
	exp, obs := e.texts(want), e.texts(got)
	if len(want) == 0 {
		exp = txt{}
	}
	if len(got) == 0 {
		obs = txt{}
	}
	if same {
		return pass(exp, obs)
	}
	return fail(exp, obs, str("the Via values differ from the request's (step "+e.prog.steps[req].id+"): RFC 3261 8.2.6.2 wants each equal, in order, a received or rport a hop added aside"))
}

// valueFields are a header's whole values as fields.
func (e *evaluator) valueFields(h *hdrMemo) []field {
	lo := len(e.fs)
	if h.avp != nil {
		for _, v := range h.avp.vals {
			e.fs = append(e.fs, field{text: v.Text, ok: true})
		}
	} else {
		for i := h.lo; i < h.hi; i++ {
			v := e.vals.get(int(i))
			e.fs = append(e.fs, field{text: v.text, ok: true, fm: &v.whole})
		}
	}
	return e.fs[lo:len(e.fs):len(e.fs)]
}

// decimal reads a SIP number: 1*DIGIT (RFC 3261 25), no sign.
func decimal(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// compare: each field is a number in the relation op with a value or the
// ref's field (plus offset), and within min..max when they are set.
func (e *evaluator) compare(c *crule, b *bound, m *msgView, fs, ref []field) outcome {
	r := c.r
	exp := str(b.exp)
	refN := b.refN
	switch {
	case r.Op != "" && r.Ref != nil && !r.Ref.Self:
		n, ok := decimal(ref[0].text)
		if !ok {
			return inconc(str("a number in "+c.texts.refWhat), str(ref[0].text), str("cannot compare: not a number"))
		}
		refN = n + int64(r.Offset)
		start := len(e.buf)
		e.buf = append(append(e.buf, opText[r.Op]...), ' ')
		e.buf = strconv.AppendInt(e.buf, refN, 10)
		e.buf = append(append(e.buf, " ("...), c.texts.refWhat...)
		if r.Offset != 0 {
			e.buf = append(e.buf, ' ')
			if r.Offset > 0 {
				e.buf = append(e.buf, '+')
			}
			e.buf = strconv.AppendInt(e.buf, int64(r.Offset), 10)
		}
		e.buf = append(e.buf, ')')
		if b.exp != "" {
			e.buf = append(append(e.buf, ", "...), b.exp...)
		}
		exp = e.span(start)
	case r.Op != "" && r.Ref == nil:
		if b.value.err != nil {
			return errorOut(r.Value, "", b.value.err.Error()).observe(e.texts(fs))
		}
		if b.numErr {
			return errorOut("a number", b.value.s, "the lab value is not a number")
		}
	}
	for _, f := range fs {
		n, ok := decimal(f.text)
		if !ok {
			return fail(exp, e.texts(fs), str(c.fails().notDecimal))
		}
		if r.Op != "" && r.Ref != nil && r.Ref.Self {
			all, err := e.fields(m, c.self)
			if err != nil || f.pos >= len(all) || !all[f.pos].ok {
				return inconc(exp, e.texts(fs), str(c.fails().refMissing))
			}
			other, ok := decimal(all[f.pos].text)
			if !ok {
				return inconc(exp, str(all[f.pos].text), str("cannot compare: "+c.texts.refWhat+" is not a number"))
			}
			refN = other
		}
		if r.Op != "" && !cmp(n, r.Op, refN) {
			return fail(exp, e.texts(fs), str("the relation does not hold"))
		}
		if (r.Min >= 0 && n < int64(r.Min)) || (r.Max >= 0 && n > int64(r.Max)) {
			return fail(exp, e.texts(fs), str("out of range"))
		}
	}
	return pass(exp, e.texts(fs))
}

func (o outcome) observe(t txt) outcome {
	o.observed = t
	return o
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

// rfc1123 checks an RFC 1123 date in GMT (RFC 3261 20.17).
func rfc1123(s string) error {
	if strings.HasSuffix(s, " GMT") {
		// The zone written out: the same reading as time.RFC1123's for a
		// date in GMT, without the zone it makes for the abbreviation.
		if t, err := time.Parse(rfc1123GMT, s); err == nil {
			return weekday(t, s)
		}
	}
	t, err := time.Parse(time.RFC1123, s)
	if err != nil {
		return fmt.Errorf("not RFC 1123 form: %v", err)
	}
	if !strings.HasSuffix(s, " GMT") {
		return fmt.Errorf("expected the zone GMT, saw %q", s[strings.LastIndexByte(s, ' ')+1:])
	}
	return weekday(t, s)
}

const rfc1123GMT = "Mon, 02 Jan 2006 15:04:05 GMT"

// weekday checks that the day name of s is the weekday of t.
func weekday(t time.Time, s string) error {
	if t.Weekday().String()[:3] != s[:3] {
		return fmt.Errorf("the weekday %s does not match the date (a %s)", s[:3], t.Weekday())
	}
	return nil
}

// after judges the order of capture: the rule's message came after the
// ref step's (the trace numbers every message, SIP and Diameter, in one
// sequence). A message built on an answer the core had to wait for (the
// 401 on the MAA, the 200 OK on the SAA) cannot come before its question.
func (e *evaluator) after(c *crule, v *stepView) outcome {
	if c.ref == nil {
		return errorOut(c.r.Statement, "", "rule kind after names no step to compare with (ref)")
	}
	step := e.prog.steps[c.ref.step].id
	rv := e.message(c.ref.step, -1)
	obs := e.numText("trace #", v.tm.Seq, "")
	if !rv.found {
		return inconc(str("captured after step "+step), obs, str("cannot compare: step "+step+" is missing: "+e.missing(c.ref.step)))
	}
	exp := e.numText(c.texts.after, rv.tm.Seq, ")")
	if v.tm.Seq > rv.tm.Seq {
		return pass(exp, obs)
	}
	return fail(exp, obs, str("the message came before step "+step))
}

// numText is prefix, n in decimal, suffix.
func (e *evaluator) numText(prefix string, n int, suffix string) txt {
	start := len(e.buf)
	e.buf = append(strconv.AppendInt(append(e.buf, prefix...), int64(n), 10), suffix...)
	return e.span(start)
}

// bodyLength: a Content-Length that is there gives the body's length in
// octets (RFC 3261 20.14); whether it must be there is another rule's. Over
// UDP the datagram may carry more bytes after the body, which the receiver
// discards (RFC 3261 18.3), so the Content-Length may be below what follows
// the blank line; never above it.
func (e *evaluator) bodyLength(c *crule, v *stepView) outcome {
	if v.m.msg == nil {
		return fail(str("a SIP message"), str("a Diameter message"), str("the message is Diameter"))
	}
	h := e.header(v.m, c.h)
	n := len(v.m.msg.Body)
	udp := !strings.EqualFold(v.tm.Transport, "TCP") && !strings.EqualFold(v.tm.Transport, "TLS")
	start := len(e.buf)
	if udp {
		e.buf = strconv.AppendInt(append(e.buf, "at most the "...), int64(n), 10)
		e.buf = append(e.buf, " octets after the header (UDP: more are discarded, RFC 3261 18.3)"...)
	} else {
		e.buf = strconv.AppendInt(append(e.buf, "the body's length, "...), int64(n), 10)
		e.buf = append(e.buf, " octets"...)
	}
	exp := e.span(start)
	if h.n() == 0 {
		return pass(e.cat(exp, str(" (or no Content-Length)")), str("header absent"))
	}
	text := e.vals.get(int(h.lo)).text
	got, ok := decimal(text)
	if !ok {
		return fail(exp, str(text), str("Content-Length is not a decimal number"))
	}
	if got == int64(n) || (udp && got < int64(n)) {
		return pass(exp, str(text))
	}
	return fail(exp, str(text), str(fmt.Sprintf("Content-Length says %d octets, the message holds %d after the header", got, n)))
}

// optionTag judges a list header, such as the option tags of Require,
// Proxy-Require or Supported (RFC 3261 20.32, 20.29, 20.37): with include
// (contains), some value, on any of the header's lines, equals the rule's
// value; without (excludes), none does, and an absent header includes
// nothing.
func (e *evaluator) optionTag(c *crule, b *bound, m *msgView, include bool) outcome {
	r := c.r
	if b.value.err != nil {
		return outcome{v: Error, expected: str(r.Value), reason: str(b.value.err.Error())}
	}
	want, exp := b.value.s, str(b.exp)
	fs, err := e.fields(m, c.opt)
	if err != nil {
		return fail(exp, str(c.fails().unreadable), str(err.Error()))
	}
	what := func() string { return c.fails().whole }
	if include && len(fs) == 0 {
		return fail(exp, e.presence(fs), str(what()+" is missing"))
	}
	for _, f := range fs {
		if f.ok && equal(f.text, want, r.IgnoreCase) {
			if include {
				return pass(exp, e.texts(fs))
			}
			return fail(exp, e.texts(fs), str(what()+" includes "+want))
		}
	}
	if !include {
		return pass(exp, e.presence(fs))
	}
	return fail(exp, e.presence(fs), str(what()+" does not include "+want))
}

func (e *evaluator) envelope(c *crule, b *bound, tm *trace.Message) outcome {
	r := c.r
	if b.value.err != nil {
		return outcome{v: Error, expected: str(r.Value), reason: str(b.value.err.Error())}
	}
	want := b.value.s
	var got txt
	ok := false
	switch r.Part {
	case "transport":
		got = str(tm.Transport)
		ok = strings.EqualFold(tm.Transport, want)
	case "src.ip", "dst.ip":
		ap := tm.Src
		if r.Part == "dst.ip" {
			ap = tm.Dst
		}
		if !ap.Addr().IsValid() {
			got = str(ap.Addr().String())
		} else {
			start := len(e.buf)
			e.buf = ap.Addr().AppendTo(e.buf)
			got = e.span(start)
		}
		w, err := netip.ParseAddr(strings.Trim(want, "[]"))
		ok = err == nil && ap.IsValid() && w.Unmap() == ap.Addr().Unmap()
	case "src.port", "dst.port":
		ap := tm.Src
		if r.Part == "dst.port" {
			ap = tm.Dst
		}
		got = e.num(int64(ap.Port()))
		ok = ap.IsValid() && isDecimal(want, uint64(ap.Port()))
	}
	obs := e.cat(str(c.texts.partSp), got)
	if ok {
		return pass(str(b.exp), obs)
	}
	return fail(str(b.exp), obs, str("the captured message's "+r.Part+" differs"))
}

// isDecimal reports whether s is n written in decimal (strconv's form).
func isDecimal(s string, n uint64) bool {
	var b [20]byte
	return s == string(strconv.AppendUint(b[:0], n, 10))
}
