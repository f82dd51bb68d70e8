package check

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/scenario"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// kind judges one rule on the parsed message of its step.
func (e *evaluator) kind(r *scenario.Rule, p *parsed) outcome {
	m := p.msg
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
	case scenario.KindESP:
		return e.esp(r, p.tm)
	case scenario.KindAfter:
		return e.after(r, p)
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
	if o := e.repeated(p, r.Header); o != nil {
		return *o
	}
	if r.Kind == scenario.KindBodyLen {
		return e.bodyLength(r, p)
	}
	// The message compared with first: a rule cannot be judged against a
	// message that is missing, or against a field it lacks.
	var ref []field
	if r.Ref != nil && !r.Ref.Self {
		rfs, o := e.refFields(r)
		if o != nil {
			return *o
		}
		ref = rfs
	}
	what := func() string { return describe(r.Header, r.Part, r.Index) }
	fs, o, err := e.pick(p, r.Header, indexOf(r), partOf(r), r.Mechanism, e.requestStep(r.Request, r.Step))
	if err != nil {
		if r.Kind == scenario.KindAbsent && r.Part != "" {
			return fail(what()+" absent", "unreadable", err.Error())
		}
		return fail(r.Statement, "unreadable "+r.Header, err.Error())
	}
	if o != nil {
		return *o
	}
	anyOK, allPresent := false, len(fs) > 0
	for _, f := range fs {
		anyOK = anyOK || f.ok
		allPresent = allPresent && f.ok
	}
	switch r.Kind {
	case scenario.KindPresent:
		w := what()
		if r.Index == "any" {
			return judge(anyOK, w+" present", presence(fs), w+" is missing")
		}
		return judge(allPresent, w+" present", presence(fs), w+" is missing")
	case scenario.KindAbsent:
		w := what()
		return judge(!anyOK, w+" absent", presence(fs), w+" is there")
	case scenario.KindSameAs:
		if r.Optional && !anyPresent(ref) {
			// Echo of an optional field: absent here because absent there.
			w := refWhat(r)
			return judge(!anyOK, what()+" absent, as "+w+" is", presence(fs), what()+" is there although "+w+" is absent")
		}
	}
	switch r.Kind {
	case scenario.KindSameAs, scenario.KindDiffers, scenario.KindCompare:
		if r.Ref != nil && !r.Ref.Self && (len(ref) == 0 || !allOK(ref)) {
			w := refWhat(r)
			return inconc(w, presence(ref), "cannot compare: "+w+" is missing")
		}
	}
	if r.Kind == scenario.KindWithin && len(fs) == 0 {
		// Nothing outside the set; whether the header must be there is
		// another rule's.
		return pass("only values of the set", presence(fs))
	}
	if r.Optional {
		fs = okOnly(fs)
		if len(fs) == 0 {
			return pass(r.Statement+" (absent is allowed)", "absent")
		}
	} else if !allPresent {
		return fail(r.Statement, presence(fs), what()+" is missing")
	}
	if r.Index == "any" {
		var last outcome
		for _, f := range fs {
			o := e.values(r, p, []field{f}, ref)
			if o.v == Pass {
				o.observed = texts(fs)
				return o
			}
			if o.v != Fail {
				return o
			}
			last = o
		}
		last.observed = texts(fs)
		last.reason = "no " + r.Header + " value satisfies the rule: " + last.reason
		return last
	}
	return e.values(r, p, fs, ref)
}

// indexOf is the index a rule reads: members and within read every value.
func indexOf(r *scenario.Rule) string {
	if r.Index == "" && (r.Kind == scenario.KindMembers || r.Kind == scenario.KindWithin) {
		return "all"
	}
	return r.Index
}

// partOf is the part a rule reads: members and within read URIs.
func partOf(r *scenario.Rule) string {
	if r.Part == "" && (r.Kind == scenario.KindMembers || r.Kind == scenario.KindWithin) {
		return "uri"
	}
	return r.Part
}

// values judges the present fields fs of a value rule; ref holds the
// fields of the message it is compared with.
func (e *evaluator) values(r *scenario.Rule, p *parsed, fs, ref []field) outcome {
	what := func() string { return describe(r.Header, r.Part, r.Index) }
	switch r.Kind {
	case scenario.KindEquals, scenario.KindMatches:
		for _, f := range fs {
			if o := e.valueMatch(r, f, what); o.v != Pass {
				o.observed = texts(fs)
				return o
			}
		}
		o := e.valueMatch(r, fs[0], what)
		o.observed = texts(fs)
		return o
	case scenario.KindOneOf:
		return e.oneOf(r, fs, ref)
	case scenario.KindMembers:
		return e.members(r, fs, ref)
	case scenario.KindWithin:
		return e.within(r, fs)
	case scenario.KindSameAs:
		return e.sameAs(r, fs, ref)
	case scenario.KindDiffers:
		exp := "differs from " + refWhat(r) + " " + texts(ref)
		return judge(!e.sameList(r, fs, ref), exp, texts(fs), "equals "+refWhat(r))
	case scenario.KindCompare:
		return e.compare(r, p, fs, ref)
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
	return outcome{v: Error, reason: "rule kind " + string(r.Kind) + " is not implemented"}
}

func presence(fs []field) string {
	if len(fs) == 0 {
		return "header absent"
	}
	return texts(fs)
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

func okOnly(fs []field) []field {
	var out []field
	for _, f := range fs {
		if f.ok {
			out = append(out, f)
		}
	}
	return out
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
func (e *evaluator) repeated(p *parsed, header string) *outcome {
	if p.msg == nil || !singleValued[sipmsg.CanonicalName(header)] {
		return nil
	}
	ls := p.msg.Lines(header)
	if len(ls) < 2 {
		return nil
	}
	var at, vals []string
	for _, l := range ls {
		at = append(at, strconv.Itoa(l.Line))
		vals = append(vals, l.Value)
	}
	h := sipmsg.CanonicalName(header)
	o := fail("one "+h+" header (RFC 3261 7.3.1)", strings.Join(vals, " | "),
		fmt.Sprintf("%s appears %d times (lines %s): a header whose value is not a comma-separated list appears once (RFC 3261 7.3.1, 20)", h, len(ls), strings.Join(at, ", ")))
	return &o
}

// requestStep is the step of the request a response step answers: req, or
// the request the flow recorded under "<of>.request" (after an SQN
// re-synchronisation the 401 of step 5 answers the REGISTER with AUTS, not
// step 2).
func (e *evaluator) requestStep(req, of string) string {
	if req == "" {
		return ""
	}
	if of != "" {
		if _, ok := e.in.Messages[of+".request"]; ok {
			return of + ".request"
		}
	}
	return req
}

// ref returns the parsed message of a step another rule compares with;
// the outcome is inconc when it is missing or does not parse.
func (e *evaluator) ref(step string) (*parsed, *outcome) {
	p := e.message(step, "")
	if !p.found {
		o := inconc("step "+step+" for comparison", "none", "cannot compare: step "+step+" is missing: "+e.missing(step))
		return nil, &o
	}
	if p.err != nil {
		o := inconc("step "+step+" for comparison", "unparseable", "cannot compare: step "+step+" does not parse: "+p.err.Error())
		return nil, &o
	}
	return p, nil
}

// refFields selects the fields a rule's ref names; the outcome is inconc
// when they cannot be had (the message is missing, does not parse, or
// repeats a single-valued header).
func (e *evaluator) refFields(r *scenario.Rule) ([]field, *outcome) {
	step := r.Ref.Step
	if r.Ref.Of != "" {
		step = e.requestStep(r.Ref.Step, r.Ref.Of)
	}
	rp, o := e.ref(step)
	if o != nil {
		return nil, o
	}
	cannot := func(why string) *outcome {
		o := inconc(refWhat(r), "unreadable", "cannot compare: step "+step+": "+why)
		return &o
	}
	if rp.msg == nil && rp.dia == nil {
		return nil, cannot("no message")
	}
	if o := e.repeated(rp, r.Ref.Header); o != nil {
		return nil, cannot(o.reason)
	}
	fs, po, err := e.pick(rp, r.Ref.Header, r.Ref.Index, r.Ref.Part, "", e.requestStep(r.Ref.Request, r.Ref.Step))
	if err != nil {
		return nil, cannot(err.Error())
	}
	if po != nil {
		return nil, cannot(po.reason)
	}
	return fs, nil
}

func refWhat(r *scenario.Rule) string {
	if r.Ref.Self {
		return describe(r.Header, r.Ref.Part, "")
	}
	return "step " + r.Ref.Step + " " + describe(r.Ref.Header, r.Ref.Part, r.Ref.Index)
}

// pick selects the fields of a rule: the header's values, only those of
// the mechanism when one is named, only the UE's binding for index binding
// (the Contact values whose URI is a Contact URI of the request, step
// req), then the index among them. The outcome is set when the binding
// cannot be found.
func (e *evaluator) pick(p *parsed, header, index, part, mechanism, req string) ([]field, *outcome, error) {
	if mechanism == "" && index != "binding" && index != "any" {
		fs, err := e.fields(p, header, index, part)
		return fs, nil, err
	}
	all, err := e.fields(p, header, "all", part)
	if err != nil {
		return nil, nil, err
	}
	keep := make([]bool, len(all))
	for i := range keep {
		keep[i] = true
	}
	if mechanism != "" {
		toks, err := e.fields(p, header, "all", "token")
		if err != nil {
			return nil, nil, err
		}
		for i, t := range toks {
			keep[i] = keep[i] && strings.EqualFold(t.text, mechanism)
		}
	}
	if index == "binding" {
		rp, o := e.ref(req)
		if o != nil {
			o.reason = strings.Replace(o.reason, "cannot compare", "cannot find the binding", 1)
			return nil, o, nil
		}
		want, err := e.fields(rp, "Contact", "all", "uri")
		if err != nil || len(want) == 0 {
			o := inconc("the binding of step "+req+"'s Contact", "none", "cannot find the binding: step "+req+" has no readable Contact")
			return nil, &o, nil
		}
		uris, err := e.fields(p, header, "all", "uri")
		if err != nil {
			return nil, nil, err
		}
		found := false
		for i, u := range uris {
			match := false
			for _, w := range want {
				match = match || e.sameURI(u.text, w.text)
			}
			keep[i] = keep[i] && match
			found = found || keep[i]
		}
		if !found {
			o := fail("a "+header+" whose URI is step "+req+"'s Contact "+texts(want), presence(uris),
				"no "+header+" value has the URI of the request's Contact (RFC 3261 10.3 step 8): the UE's binding is missing")
			return nil, &o, nil
		}
	}
	var sel []field
	for i, f := range all {
		if keep[i] {
			sel = append(sel, f)
		}
	}
	switch index {
	case "all", "any", "binding":
		return sel, nil, nil
	}
	lo, hi, ok := indexRange(index, len(sel))
	if !ok {
		return nil, nil, nil
	}
	return sel[lo:hi], nil, nil
}

func (e *evaluator) startLine(r *scenario.Rule, m *sipmsg.Message) outcome {
	var exp, obs []string
	ok := true
	check := func(name, tmpl, got string, same func(a, b string) bool) error {
		if tmpl == "" {
			return nil
		}
		want, err := e.expand(tmpl)
		if err != nil {
			return err
		}
		exp = append(exp, name+" "+want)
		obs = append(obs, name+" "+got)
		ok = ok && same(want, got)
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
	exact := func(a, b string) bool { return a == b }
	for _, c := range []struct {
		name, tmpl, got string
		same            func(a, b string) bool
	}{
		{"method", r.Start.Method, m.Method, exact}, // RFC 3261 7.1: case-sensitive
		{"Request-URI", r.Start.RequestURI, m.RequestURI, e.sameURI},
		{"version", r.Start.Version, m.Version, strings.EqualFold}, // RFC 3261 7.1, ABNF strings
		{"status", r.Start.Status, status, exact},
		{"reason", r.Start.Reason, m.Reason, exact},
	} {
		if err := check(c.name, c.tmpl, c.got, c.same); err != nil {
			return outcome{v: Error, expected: c.tmpl, observed: m.StartLine, reason: err.Error()}
		}
	}
	if r.Reason != nil {
		exp = append(exp, "reason matching "+r.Reason.String())
		obs = append(obs, "reason "+strconv.Quote(m.Reason))
		ok = ok && r.Reason.MatchString(m.Reason)
	}
	return judge(ok, strings.Join(exp, ", "), strings.Join(obs, ", "), "the start line differs")
}

// sameList compares the fields of a rule with its ref's: the same number,
// each equivalent to its counterpart, in order, or in any order for a
// header whose list is a set.
func (e *evaluator) sameList(r *scenario.Rule, fs, ref []field) bool {
	if len(fs) != len(ref) {
		return false
	}
	if !unorderedHeaders[sipmsg.CanonicalName(r.Header)] {
		for i := range fs {
			if !e.equivalent(r.Header, r.Part, fs[i], ref[i]) {
				return false
			}
		}
		return true
	}
	used := make([]bool, len(ref))
	for _, f := range fs {
		found := false
		for j, g := range ref {
			if !used[j] && e.equivalent(r.Header, r.Part, f, g) {
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

func (e *evaluator) sameAs(r *scenario.Rule, fs, ref []field) outcome {
	return judge(e.sameList(r, fs, ref), texts(ref), texts(fs), "differs from "+refWhat(r))
}

// oneOf: every field is one of the listed values or of the ref's values
// (e.g. an alg the UE offered in its Security-Client).
func (e *evaluator) oneOf(r *scenario.Rule, fs, ref []field) outcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	for _, f := range okOnly(ref) {
		want = append(want, f.text)
	}
	if len(want) == 0 {
		w := refWhat(r)
		return inconc("one of the values of "+w, texts(fs), "cannot judge: "+w+" offers no value")
	}
	exp := "one of " + strings.Join(want, ", ")
	for _, f := range fs {
		if !e.among(r, r.Part, []field{f}, want) {
			return fail(exp, texts(fs), describe(r.Header, r.Part, r.Index)+" is none of the allowed values")
		}
	}
	return pass(exp, texts(fs))
}

// members: the header's values (URIs) include every listed value, or every
// value of the ref (e.g. the request's Contact among the 200 OK's), at any
// position.
func (e *evaluator) members(r *scenario.Rule, fs, ref []field) outcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	if r.Ref != nil {
		if len(okOnly(ref)) == 0 {
			w := refWhat(r)
			return inconc(w, presence(ref), "cannot compare: "+w+" is missing")
		}
		for _, f := range okOnly(ref) {
			want = append(want, f.text)
		}
	}
	var missing []string
	for _, w := range want {
		if !e.among(r, partOf(r), fs, []string{w}) {
			missing = append(missing, w)
		}
	}
	return judge(len(missing) == 0, "includes "+strings.Join(want, " "), texts(fs), "missing "+strings.Join(missing, " "))
}

// listed is the rule's values with the lab's variables filled, a list
// variable standing for its members.
func (e *evaluator) listed(r *scenario.Rule) ([]string, *outcome) {
	var want []string
	for _, v := range r.Values {
		xs, err := scenario.ExpandList(v, e.in.Vars)
		if err != nil {
			return nil, &outcome{v: Error, expected: v, reason: err.Error()}
		}
		want = append(want, xs...)
	}
	return want, nil
}

// among reports whether some field of fs is equivalent to some of want.
func (e *evaluator) among(r *scenario.Rule, part string, fs []field, want []string) bool {
	for _, f := range fs {
		for _, w := range want {
			if e.same(r, r.Header, part, f, w) {
				return true
			}
		}
	}
	return false
}

// within: every value (URI) of the header is one of the listed ones.
func (e *evaluator) within(r *scenario.Rule, fs []field) outcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	var outside []string
	for _, f := range fs {
		if !e.among(r, partOf(r), []field{f}, want) {
			outside = append(outside, f.text)
		}
	}
	return judge(len(outside) == 0, "only "+strings.Join(want, " "), texts(fs), "not among them: "+strings.Join(outside, " "))
}

func (e *evaluator) viaEcho(r *scenario.Rule, p *parsed) outcome {
	reqStep := e.requestStep(r.Request, r.Step)
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
		same = sameVia(want[i], got[i])
	}
	return judge(same, strings.Join(want, " | "), strings.Join(got, " | "),
		"the Via values differ from the request's (step "+reqStep+"): RFC 3261 8.2.6.2 wants each equal, in order, a received or rport a hop added aside")
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
func (e *evaluator) compare(r *scenario.Rule, p *parsed, fs, ref []field) outcome {
	var conds []string
	var refN int64
	if r.Op != "" && (r.Ref == nil || !r.Ref.Self) {
		var refText string
		if r.Ref != nil {
			n, ok := decimal(ref[0].text)
			if !ok {
				return inconc("a number in "+refWhat(r), ref[0].text, "cannot compare: not a number")
			}
			refN, refText = n+int64(r.Offset), refWhat(r)
			if r.Offset != 0 {
				refText += fmt.Sprintf(" %+d", r.Offset)
			}
		} else {
			v, err := e.expand(r.Value)
			if err != nil {
				return outcome{v: Error, expected: r.Value, observed: texts(fs), reason: err.Error()}
			}
			n, ok := decimal(v)
			if !ok {
				return outcome{v: Error, expected: "a number", observed: v, reason: "the lab value is not a number"}
			}
			refN, refText = n+int64(r.Offset), v
		}
		conds = append(conds, fmt.Sprintf("%s %d (%s)", opText[r.Op], refN, refText))
	} else if r.Op != "" {
		conds = append(conds, opText[r.Op]+" "+refWhat(r))
	}
	if r.Min >= 0 {
		conds = append(conds, fmt.Sprintf("≥ %d", r.Min))
	}
	if r.Max >= 0 {
		conds = append(conds, fmt.Sprintf("≤ %d", r.Max))
	}
	exp := strings.Join(conds, ", ")
	for _, f := range fs {
		n, ok := decimal(f.text)
		if !ok {
			return fail(exp, texts(fs), describe(r.Header, r.Part, r.Index)+" is not a decimal number")
		}
		if r.Op != "" && r.Ref != nil && r.Ref.Self {
			all, err := e.fields(p, r.Header, "all", r.Ref.Part)
			if err != nil || f.pos >= len(all) || !all[f.pos].ok {
				return inconc(exp, texts(fs), "cannot compare: "+refWhat(r)+" is missing")
			}
			other, ok := decimal(all[f.pos].text)
			if !ok {
				return inconc(exp, all[f.pos].text, "cannot compare: "+refWhat(r)+" is not a number")
			}
			refN = other
		}
		if r.Op != "" && !cmp(n, r.Op, refN) {
			return fail(exp, texts(fs), "the relation does not hold")
		}
		if (r.Min >= 0 && n < int64(r.Min)) || (r.Max >= 0 && n > int64(r.Max)) {
			return fail(exp, texts(fs), "out of range")
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

// after judges the order of capture: the rule's message came after the
// ref step's (the trace numbers every message, SIP and Diameter, in one
// sequence). A message built on an answer the core had to wait for (the
// 401 on the MAA, the 200 OK on the SAA) cannot come before its question.
func (e *evaluator) after(r *scenario.Rule, p *parsed) outcome {
	step := r.Ref.Step
	rp := e.message(step, "")
	if !rp.found {
		return inconc("captured after step "+step, fmt.Sprintf("trace #%d", p.tm.Seq), "cannot compare: step "+step+" is missing: "+e.missing(step))
	}
	exp := fmt.Sprintf("captured after step %s (trace #%d)", step, rp.tm.Seq)
	return judge(p.tm.Seq > rp.tm.Seq, exp, fmt.Sprintf("trace #%d", p.tm.Seq), "the message came before step "+step)
}

// bodyLength: a Content-Length that is there gives the body's length in
// octets (RFC 3261 20.14); whether it must be there is another rule's. Over
// UDP the datagram may carry more bytes after the body, which the receiver
// discards (RFC 3261 18.3), so the Content-Length may be below what follows
// the blank line; never above it.
func (e *evaluator) bodyLength(r *scenario.Rule, p *parsed) outcome {
	vs := e.headerValues(p, r.Header)
	n := len(p.msg.Body)
	udp := !strings.EqualFold(p.tm.Transport, "TCP") && !strings.EqualFold(p.tm.Transport, "TLS")
	exp := fmt.Sprintf("the body's length, %d octets", n)
	if udp {
		exp = fmt.Sprintf("at most the %d octets after the header (UDP: more are discarded, RFC 3261 18.3)", n)
	}
	if len(vs) == 0 {
		return pass(exp+" (or no Content-Length)", "header absent")
	}
	got, ok := decimal(vs[0].Text)
	if !ok {
		return fail(exp, vs[0].Text, "Content-Length is not a decimal number")
	}
	return judge(got == int64(n) || (udp && got < int64(n)), exp, vs[0].Text, fmt.Sprintf("Content-Length says %d octets, the message holds %d after the header", got, n))
}

// contains judges a list header, such as the option tags of Require,
// Proxy-Require or Supported (RFC 3261 20.32, 20.29, 20.37): some value, on
// any of the header's lines, equals the rule's value.
func (e *evaluator) contains(r *scenario.Rule, p *parsed) outcome { return e.optionTag(r, p, true) }

// excludes judges a list header the other way round: no value, on any of
// its lines, equals the rule's value; an absent header includes nothing.
func (e *evaluator) excludes(r *scenario.Rule, p *parsed) outcome { return e.optionTag(r, p, false) }

func (e *evaluator) optionTag(r *scenario.Rule, p *parsed, include bool) outcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{v: Error, expected: r.Value, reason: err.Error()}
	}
	exp := "does not include " + want
	if include {
		exp = "includes " + want
	}
	fs, err := e.fields(p, r.Header, "all", r.Part)
	if err != nil {
		return fail(exp, "unreadable "+r.Header, err.Error())
	}
	what := describe(r.Header, r.Part, "")
	if include && len(fs) == 0 {
		return fail(exp, presence(fs), what+" is missing")
	}
	for _, f := range fs {
		if f.ok && equal(f.text, want, r.IgnoreCase) {
			return judge(include, exp, texts(fs), what+" includes "+want)
		}
	}
	return judge(!include, exp, presence(fs), what+" does not include "+want)
}

func (e *evaluator) envelope(r *scenario.Rule, tm trace.Message) outcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return outcome{v: Error, expected: r.Value, reason: err.Error()}
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
