package check

// The reference of TestCompiledAgreesWithReference: the check engine as it
// stood at commit 20916d3, before rules were compiled to a plan — a
// straightforward evaluation that reads each rule afresh on every call,
// parses each value where a rule reads it and fills every template when it
// is used. Its declarations are those the compiled engine replaced, kept as
// they were with their names prefixed ref (refEvaluate is Evaluate); what
// the compiled engine still shares with it unchanged (describe, decimal,
// the header sets, ...) it uses as it is. A change to what a rule means is
// made here too: the test proves that compiling changed nothing else.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

func refAvpsOf(m *diameter.Message, header string) *avpValues {
	a := &avpValues{}
	path, err := scenario.DiameterPath(header)
	if err != nil {
		a.err = err
		return a
	}
	a.def = path[len(path)-1]
	level := m.AVPs
	for i, def := range path {
		found := diameter.FindAllAVPs(level, def.Code, def.Vendor)
		if i == len(path)-1 {
			a.avps = found
			break
		}
		var next []diameter.AVP
		for _, g := range found {
			members, err := g.Group()
			if err != nil {
				a.err = fmt.Errorf("%s: %v", def.Name, err)
				return a
			}
			next = append(next, members...)
		}
		level = next
	}
	a.vals = make([]sipmsg.Value, len(a.avps))
	for i, x := range a.avps {
		t, err := refRenderAVP(a.def, x)
		if err != nil {
			if a.errs == nil {
				a.errs = make([]error, len(a.avps))
			}
			a.errs[i] = err
		}
		a.vals[i] = sipmsg.Value{Text: t, Line: i + 1}
	}
	return a
}

func refRenderAVP(def diameter.AVPDef, a diameter.AVP) (string, error) {
	switch def.Type {
	case diameter.TypeUTF8String, diameter.TypeDiameterIdentity:
		return a.UTF8()
	case diameter.TypeUnsigned32:
		v, err := a.Uint32()
		return strconv.FormatUint(uint64(v), 10), err
	case diameter.TypeUnsigned64:
		v, err := a.Uint64()
		return strconv.FormatUint(v, 10), err
	case diameter.TypeInteger32, diameter.TypeEnumerated:
		v, err := a.Int32()
		return strconv.FormatInt(int64(v), 10), err
	case diameter.TypeAddress:
		v, err := a.Addr()
		if err != nil {
			return "", err
		}
		return v.String(), nil
	case diameter.TypeTime:
		v, err := a.Time()
		return v.Format(time.RFC3339), err
	}
	return hex.EncodeToString(a.Data), nil
}

func (e *refEvaluator) avpFields(h *refHdrMemo, index, part string) ([]refField, error) {
	a := h.avp
	if a.err != nil {
		return nil, a.err
	}
	lo, hi, ok := refIndexRange(index, len(a.avps))
	if !ok {
		return nil, nil
	}
	out := e.newFields(hi - lo)
	for i := lo; i < hi; i++ {
		var t string
		switch part {
		case "text":
			if !utf8.Valid(a.avps[i].Data) {
				return nil, fmt.Errorf("AVP %s (#%d): expected data that is UTF-8 text, saw %d bytes that are not", a.def.Name, i+1, len(a.avps[i].Data))
			}
			t = string(a.avps[i].Data)
		case "hex":
			t = hex.EncodeToString(a.avps[i].Data)
		default:
			if a.errs != nil && a.errs[i] != nil {
				return nil, fmt.Errorf("AVP %s (#%d): %v", a.def.Name, i+1, a.errs[i])
			}
			t = a.vals[i].Text
		}
		out = append(out, refField{text: t, ok: true, line: i + 1, pos: i})
	}
	return out, nil
}

func (e *refEvaluator) diameterHeader(r *scenario.Rule, m *diameter.Message) refOutcome {
	obsAll := fmt.Sprintf("command %d, flags %s, application %d", m.Code, refFlagText(m.Flags), m.ApplicationID)
	if r.Start.Method != "" || r.Start.RequestURI != "" || r.Start.Version != "" || r.Start.Status != "" || r.Start.Reason != "" || r.Reason != nil {
		return refFail("a SIP message", obsAll, "the message is Diameter")
	}
	var exp, obs []string
	ok := true
	for _, c := range [][3]string{{"command", r.Start.Command, strconv.FormatUint(uint64(m.Code), 10)},
		{"application", r.Start.Application, strconv.FormatUint(uint64(m.ApplicationID), 10)}} {
		if c[1] == "" {
			continue
		}
		want, err := e.expand(c[1])
		if err != nil {
			return refOutcome{v: Error, expected: c[1], observed: obsAll, reason: err.Error()}
		}
		exp = append(exp, c[0]+" "+want)
		obs = append(obs, c[0]+" "+c[2])
		ok = ok && strings.TrimSpace(want) == c[2]
	}
	if r.Start.RequestFlag != "" {
		want := r.Start.RequestFlag == "true"
		set := func(b bool) string {
			if b {
				return "R flag set (request)"
			}
			return "R flag clear (answer)"
		}
		exp = append(exp, set(want))
		obs = append(obs, set(m.IsRequest()))
		ok = ok && want == m.IsRequest()
	}
	return refJudge(ok, strings.Join(exp, ", "), strings.Join(obs, ", "), "the Diameter header differs")
}

func refFlagText(f uint8) string {
	var s []string
	for _, b := range []struct {
		bit  uint8
		name string
	}{{diameter.FlagRequest, "R"}, {diameter.FlagProxiable, "P"}, {diameter.FlagError, "E"}, {diameter.FlagRetransmit, "T"}} {
		if f&b.bit != 0 {
			s = append(s, b.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "")
}

func (e *refEvaluator) equivalent(header, part string, a, b refField) bool {
	switch {
	case part == "uri":
		return e.sameURI(a.text, b.text)
	case part == "uri.host" || part == "via.host":
		return refSameHost(a.text, b.text)
	case part == "uri.hostport" || part == "via.sent-by":
		ha, pa := cutPort(a.text)
		hb, pb := cutPort(b.text)
		return refSameHost(ha, hb) && refSameNumber(pa, pb)
	case part == "uri.user":

		return unescape(a.text) == unescape(b.text)
	case part == "uri.port" || part == "via.port" || part == "cseq.seq" || part == "expiry":
		return refSameNumber(a.text, b.text)
	case part == "cseq.method" || part == "display":

		return a.text == b.text
	case part == "" || part == "value":
		return e.sameValue(header, a.text, b.text)
	}

	return refSameText(a, b)
}

func refSameText(a, b refField) bool {
	if a.quoted || b.quoted {
		return a.text == b.text
	}
	return strings.EqualFold(a.text, b.text)
}

func refSameNumber(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a == b
	}
	return x == y
}

func refSameHost(a, b string) bool {
	ia, errA := netip.ParseAddr(strings.Trim(strings.TrimSpace(a), "[]"))
	ib, errB := netip.ParseAddr(strings.Trim(strings.TrimSpace(b), "[]"))
	if errA == nil && errB == nil {
		return ia.Unmap() == ib.Unmap()
	}
	if errA == nil || errB == nil {

		return false
	}
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

type refUriInfo struct {
	u   *sipmsg.URI
	err error
}

func (e *refEvaluator) uri(s string) *refUriInfo {
	if i, ok := e.uris[s]; ok {
		return i
	}
	i := &refUriInfo{}
	i.u, i.err = sipmsg.ParseURI(s)
	if e.uris == nil {
		e.uris = map[string]*refUriInfo{}
	}
	e.uris[s] = i
	return i
}

func (e *refEvaluator) sameURI(a, b string) bool {
	ia, ib := e.uri(a), e.uri(b)
	if ia.err != nil || ib.err != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	ua, ub := ia.u, ib.u
	if ua.Scheme != ub.Scheme {
		return false
	}
	switch ua.Scheme {
	case "tel":
		return refSameTel(ua, ub)
	case "sip", "sips":
	default:
		return strings.EqualFold(ua.Opaque, ub.Opaque)
	}
	if unescape(ua.User) != unescape(ub.User) || unescape(ua.Password) != unescape(ub.Password) ||
		!refSameHost(ua.Host, ub.Host) || (ua.Port == "") != (ub.Port == "") || !refSameNumber(ua.Port, ub.Port) {
		return false
	}

	for _, p := range ua.Params {
		q, ok := paramOf(ub.Params, p.Name)
		if !ok {
			if isOneSided(p.Name) {
				return false
			}
			continue
		}
		if !strings.EqualFold(unescape(p.Value), unescape(q.Value)) {
			return false
		}
	}
	for _, q := range ub.Params {
		if _, ok := paramOf(ua.Params, q.Name); !ok && isOneSided(q.Name) {
			return false
		}
	}

	return sameHeaders(ua.Headers, ub.Headers)
}

func refSameTel(a, b *sipmsg.URI) bool {
	if telDigits(a.User) != telDigits(b.User) || len(a.Params) != len(b.Params) {
		return false
	}
	for _, p := range a.Params {
		q, ok := paramOf(b.Params, p.Name)
		if !ok {
			return false
		}
		pv, qv := unescape(p.Value), unescape(q.Value)
		if strings.EqualFold(p.Name, "phone-context") {
			pv, qv = telDigits(pv), telDigits(qv)
		}
		if !strings.EqualFold(pv, qv) {
			return false
		}
	}
	return true
}

func (e *refEvaluator) sameValue(header, a, b string) bool {
	h := sipmsg.CanonicalName(header)
	switch {
	case h == "Call-ID":

		return strings.TrimSpace(a) == strings.TrimSpace(b)
	case h == "CSeq":
		fa, fb := strings.Fields(a), strings.Fields(b)
		return len(fa) == 2 && len(fb) == 2 && refSameNumber(fa[0], fb[0]) && fa[1] == fb[1]
	case h == "Via":
		return refSameVia(a, b)
	case numericHeaders[h]:
		return refSameNumber(a, b)
	case nameAddrHeaders[h]:
		return e.sameNameAddr(a, b)
	case paramHeaders[h]:
		return refSameParamValue(a, b)
	case h == "Authorization" || h == "WWW-Authenticate" || h == "Proxy-Authorization" ||
		h == "Proxy-Authenticate" || h == "Authentication-Info":
		return refSameDigest(a, b)
	}
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

func (e *refEvaluator) sameNameAddr(a, b string) bool {
	na, errA := sipmsg.ParseNameAddr(a)
	nb, errB := sipmsg.ParseNameAddr(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	if !e.sameURI(na.URI.Raw, nb.URI.Raw) {
		return false
	}
	for _, p := range na.Params {
		q, ok := paramOf(nb.Params, p.Name)
		if !ok {
			if strings.EqualFold(p.Name, "tag") {
				return false
			}
			continue
		}
		if !refSameText(refField{text: p.Value, quoted: p.Quoted}, refField{text: q.Value, quoted: q.Quoted}) {
			return false
		}
	}
	if _, ok := paramOf(nb.Params, "tag"); ok {
		if _, ok := paramOf(na.Params, "tag"); !ok {
			return false
		}
	}
	return true
}

func refSameParamValue(a, b string) bool {
	ha, pa := refSplitParamValue(a)
	hb, pb := refSplitParamValue(b)
	ta, qa := refUnquote(ha)
	tb, qb := refUnquote(hb)
	return refSameText(refField{text: ta, quoted: qa}, refField{text: tb, quoted: qb}) && refSameParams(pa, pb)
}

func refSplitParamValue(v string) (string, sipmsg.Params) {
	head, ps := sipmsg.SplitParams(v)
	if strings.Contains(head, "=") && !strings.Contains(head, "<") && !strings.HasPrefix(head, `"`) {
		_, ps = sipmsg.SplitParams(";" + v)
		head = ""
	}
	return head, ps
}

func refSameParams(a, b sipmsg.Params) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		q, ok := paramOf(b, p.Name)
		if !ok || p.HasValue != q.HasValue || !refSameText(refField{text: p.Value, quoted: p.Quoted}, refField{text: q.Value, quoted: q.Quoted}) {
			return false
		}
	}
	return true
}

func refSameDigest(a, b string) bool {
	da, errA := sipmsg.ParseDigest(a)
	db, errB := sipmsg.ParseDigest(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	return strings.EqualFold(da.Scheme, db.Scheme) && refSameParams(da.Params, db.Params)
}

func refSameVia(a, b string) bool {
	va, errA := sipmsg.ParseVia(a)
	vb, errB := sipmsg.ParseVia(b)
	if errA != nil || errB != nil {
		return strings.TrimSpace(a) == strings.TrimSpace(b)
	}
	if !strings.EqualFold(va.Protocol, vb.Protocol) || !strings.EqualFold(va.Transport, vb.Transport) ||
		!refSameHost(va.Host, vb.Host) || (va.Port == "") != (vb.Port == "") || !refSameNumber(va.Port, vb.Port) {
		return false
	}
	for _, pair := range [2][2]sipmsg.Params{{va.Params, vb.Params}, {vb.Params, va.Params}} {
		for _, p := range pair[0] {
			q, ok := paramOf(pair[1], p.Name)
			name := strings.ToLower(p.Name)
			switch {
			case viaAdded[name] && (!ok || !p.HasValue || !q.HasValue):

			case !ok:
				return false
			case !refSameText(refField{text: p.Value, quoted: p.Quoted}, refField{text: q.Value, quoted: q.Quoted}):
				return false
			}
		}
	}
	return true
}

type refParsed struct {
	tm    trace.Message
	msg   *sipmsg.Message
	dia   *diameter.Message
	err   error
	found bool
	mm    *refMemo
}

type refMemo struct {
	msg *sipmsg.Message
	dia *diameter.Message
	err error
}

type refRawKey struct {
	p *byte
	n int
}

type refHdrKey struct {
	mm     *refMemo
	header string
}

type refHdrMemo struct {
	vals []sipmsg.Value
	vps  []refValueParse
	sel  int
	avp  *avpValues
}

type refSelMemo struct {
	index, part string
	fs          []refField
	err         error
	prev        int
}

type refEvaluator struct {
	in    Input
	hint  int
	cache map[string]*refParsed
	raws  map[refRawKey]*refMemo
	hdrs  map[refHdrKey]*refHdrMemo
	hslab []refHdrMemo
	fslab []refField
	sels  []refSelMemo
	res   map[string]refCompiled
	uris  map[string]*refUriInfo
}

func refEvaluate(rules []scenario.Rule, in Input) []Result {
	hint := len(rules) + 2
	for i := range rules {
		if rules[i].Ref != nil {
			hint++
		}
	}
	e := &refEvaluator{in: in, hint: hint, cache: make(map[string]*refParsed, 8)}
	out := make([]Result, len(rules))
	for i := range rules {
		out[i] = e.rule(&rules[i])
	}
	return out
}

func (e *refEvaluator) expand(t string) (string, error) {
	return scenario.Expand(t, e.in.Vars, nil)
}

func (e *refEvaluator) message(step, same string) *refParsed {
	if p, ok := e.cache[step]; ok {
		return p
	}
	p := &refParsed{}
	tm, ok := e.in.Messages[step]
	if !ok && same != "" {
		tm, ok = e.in.Messages[same]
	}
	if ok {
		p.found, p.tm = true, tm
		k := refRawKey{n: len(tm.Raw)}
		if len(tm.Raw) > 0 {
			k.p = &tm.Raw[0]
		}
		mm, seen := e.raws[k]
		if !seen {
			mm = &refMemo{}
			if tm.Proto == trace.Diameter {
				mm.dia, mm.err = diameter.Unmarshal(tm.Raw)
			} else {
				mm.msg, mm.err = sipmsg.Parse(tm.Raw)
			}
			if e.raws == nil {
				e.raws = make(map[refRawKey]*refMemo, 8)
			}
			e.raws[k] = mm
		}
		p.mm, p.msg, p.dia, p.err = mm, mm.msg, mm.dia, mm.err
	}
	e.cache[step] = p
	return p
}

func (e *refEvaluator) header(mm *refMemo, header string) *refHdrMemo {
	k := refHdrKey{mm, header}
	if h, ok := e.hdrs[k]; ok {
		return h
	}
	if len(e.hslab) == cap(e.hslab) {
		e.hslab = make([]refHdrMemo, 0, e.hint)
	}
	e.hslab = e.hslab[:len(e.hslab)+1]
	h := &e.hslab[len(e.hslab)-1]
	if mm.dia != nil {
		h.avp = refAvpsOf(mm.dia, header)
		h.vals = h.avp.vals
	} else if mm.msg != nil {
		h.vals = mm.msg.Values(header)
	}
	if e.hdrs == nil {
		e.hdrs = make(map[refHdrKey]*refHdrMemo, e.hint)
	}
	e.hdrs[k] = h
	return h
}

func (e *refEvaluator) headerValues(p *refParsed, header string) []sipmsg.Value {
	return e.header(p.mm, header).vals
}

func (e *refEvaluator) missing(step string) string {
	if why, ok := e.in.Missing[step]; ok && why != "" {
		return why
	}
	return "no message was captured for step " + step
}

type refOutcome struct {
	v                  Verdict
	expected, observed string
	reason             string
	absent             bool
}

func refPass(exp, obs string) refOutcome { return refOutcome{v: Pass, expected: exp, observed: obs} }

func refFail(exp, obs, why string) refOutcome {
	return refOutcome{v: Fail, expected: exp, observed: obs, reason: why}
}

func refInconc(exp, obs, why string) refOutcome {
	return refOutcome{v: Inconc, expected: exp, observed: obs, reason: why}
}

func refJudge(ok bool, exp, obs, why string) refOutcome {
	if ok {
		return refPass(exp, obs)
	}
	return refFail(exp, obs, why)
}

func (e *refEvaluator) rule(r *scenario.Rule) Result {
	res := Result{RuleID: r.ID, Table: r.Table, Step: r.Step, Citation: r.Citation, Statement: r.Statement, Level: r.Level, CountedAs: r.CountedAs}
	set := func(o refOutcome) Result {
		res.Verdict, res.Expected, res.Observed, res.Reason = o.v, o.expected, o.observed, o.reason
		return res
	}
	for _, c := range r.When {
		got, ok := e.in.Vars[c.Var]
		if !ok && c.HasDefault {
			got, ok = c.Default, true
		}
		if !ok {
			return set(refOutcome{v: Error, expected: c.Var + "=" + c.Value, reason: "lab value " + c.Var + " was not provided"})
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
			return set(refOutcome{v: None, expected: c.Var + "=" + c.Value, observed: c.Var + "=" + got, reason: why})
		}
	}
	var o refOutcome
	if r.Kind == scenario.KindFact {
		o = e.fact(r)
	} else if p := e.message(r.Step, r.SameMessage); !p.found {
		o = refOutcome{v: Fail, expected: "a message for step " + r.Step, observed: "none", reason: e.missing(r.Step), absent: true}
		if why, ok := e.in.NotDue[r.Step]; ok {
			o.v, o.reason = Inconc, why
		}
	} else {
		res.MsgSeq = p.tm.Seq
		switch {
		case p.err != nil && p.tm.Proto == trace.Diameter:
			o = refFail("a Diameter message that decodes", "undecodable Diameter message", p.err.Error())
		case p.err != nil:
			o = refFail("a SIP message that parses", "unparseable message", p.err.Error())
		default:
			o = e.kind(r, p)
		}
	}
	if r.Stimulus && !e.in.Deviated[r.Step] {
		o = refStimulus(r, o)
	}
	return set(o)
}

func refStimulus(r *scenario.Rule, o refOutcome) refOutcome {
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

func (e *refEvaluator) fact(r *scenario.Rule) refOutcome {
	got, ok := e.in.Facts[r.Fact]
	if !ok {
		step, _, _ := strings.Cut(r.Fact, ".")
		if why, ok := e.in.NotDue[step]; ok {
			return refInconc("fact "+r.Fact, "none", why)
		}
		if why, miss := e.in.Missing[step]; miss {
			return refOutcome{v: Fail, expected: "fact " + r.Fact, observed: "none", reason: why, absent: true}
		}
		return refInconc("fact "+r.Fact, "none", "the harness recorded no fact "+r.Fact)
	}
	if r.Pattern != "" {
		return e.valueMatch(r, refField{text: got, ok: true}, func() string { return "fact " + r.Fact })
	}
	want, err := e.expand(r.Value)
	if err != nil {
		return refOutcome{v: Error, expected: r.Value, observed: got, reason: err.Error()}
	}
	return refJudge(equal(got, want, r.IgnoreCase), want, got, "fact "+r.Fact+" differs")
}

func (e *refEvaluator) valueMatch(r *scenario.Rule, f refField, what func() string) refOutcome {
	if r.Pattern != "" {
		re, err := e.regexp(r)
		if err != nil {
			return refOutcome{v: Error, expected: r.Pattern, observed: f.text, reason: err.Error()}
		}
		if re.MatchString(f.text) {
			return refPass("matches "+re.String(), f.text)
		}
		return refFail("matches "+re.String(), f.text, what()+" does not match")
	}
	want, err := e.expand(r.Value)
	if err != nil {
		return refOutcome{v: Error, expected: r.Value, observed: f.text, reason: err.Error()}
	}
	if e.same(r, r.Header, r.Part, f, want) {
		return refPass(want, f.text)
	}
	return refFail(want, f.text, what()+" differs")
}

func (e *refEvaluator) same(r *scenario.Rule, header, part string, f refField, want string) bool {
	w := refField{text: want, ok: true}
	if part == "unquoted" {
		w.text, w.quoted = refUnquote(want)
	}
	if r.IgnoreCase && strings.EqualFold(f.text, w.text) {
		return true
	}
	return e.equivalent(header, part, f, w)
}

func (e *refEvaluator) regexp(r *scenario.Rule) (*regexp.Regexp, error) {
	if r.Regexp != nil {
		return r.Regexp, nil
	}

	if c, ok := e.res[r.Pattern]; ok {
		return c.re, c.err
	}
	var c refCompiled
	src, err := scenario.Expand(r.Pattern, e.in.Vars, regexp.QuoteMeta)
	if err != nil {
		c.err = err
	} else if c.re, err = regexp.Compile(src); err != nil {
		c.err = fmt.Errorf("expected a valid regular expression after templating, saw %q: %v", src, err)
	}
	if e.res == nil {
		e.res = map[string]refCompiled{}
	}
	e.res[r.Pattern] = c
	return c.re, c.err
}

type refCompiled struct {
	re  *regexp.Regexp
	err error
}

type refField struct {
	text   string
	ok     bool
	line   int
	quoted bool
	pos    int
}

func (e *refEvaluator) fields(p *refParsed, header, index, part string) ([]refField, error) {
	h := e.header(p.mm, header)
	for i := h.sel; i > 0; i = e.sels[i-1].prev {
		if s := &e.sels[i-1]; s.index == index && s.part == part {
			return s.fs, s.err
		}
	}
	var fs []refField
	var err error
	if h.avp != nil {
		fs, err = e.avpFields(h, index, part)
	} else {
		fs, err = e.selectFields(p.mm, h, header, index, part)
	}
	if e.sels == nil {
		e.sels = make([]refSelMemo, 0, e.hint)
	}
	e.sels = append(e.sels, refSelMemo{index, part, fs, err, h.sel})
	h.sel = len(e.sels)
	return fs, err
}

func (e *refEvaluator) newFields(n int) []refField {
	if n > 8 {
		return make([]refField, 0, n)
	}
	if cap(e.fslab)-len(e.fslab) < n {
		e.fslab = make([]refField, 0, max(e.hint, 2*n))
	}
	l := len(e.fslab)
	e.fslab = e.fslab[:l+n]
	return e.fslab[l : l : l+n]
}

func refIndexRange(index string, n int) (lo, hi int, ok bool) {
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

func (e *refEvaluator) selectFields(mm *refMemo, h *refHdrMemo, header, index, p string) ([]refField, error) {
	lo, hi, ok := refIndexRange(index, len(h.vals))
	if !ok {
		return nil, nil
	}
	if h.vps == nil && p != "" && p != "value" {
		h.vps = make([]refValueParse, len(h.vals))
	}
	out := e.newFields(hi - lo)
	for i := lo; i < hi; i++ {
		v := h.vals[i]
		var c *refValueParse
		if h.vps != nil {
			c = &h.vps[i]
		}
		pc, err := refPart(c, v.Text, p)
		if p == "expiry" && err == nil && !pc.ok {

			if ex := e.header(mm, "Expires").vals; len(ex) > 0 {
				pc = piece{strings.TrimSpace(ex[0].Text), true, false}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", v.Line, header, err)
		}
		out = append(out, refField{text: pc.text, ok: pc.ok, line: v.Line, quoted: pc.quoted, pos: i})
	}
	return out, nil
}

func refTexts(fs []refField) string {
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

func (e *refEvaluator) kind(r *scenario.Rule, p *refParsed) refOutcome {
	m := p.msg
	switch r.Kind {
	case scenario.KindStartLine:
		if p.dia != nil {
			return e.diameterHeader(r, p.dia)
		}
		if r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != "" {
			return refFail("a Diameter message", m.StartLine, "the message is SIP")
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
			return refFail(r.Statement, "unreadable "+r.Header, h.avp.err.Error())
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
		return refJudge(ok, exp, strconv.Itoa(n), "wrong number of "+r.Header+" values")
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

	var ref []refField
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
			return refFail(what()+" absent", "unreadable", err.Error())
		}
		return refFail(r.Statement, "unreadable "+r.Header, err.Error())
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
			return refJudge(anyOK, w+" present", refPresence(fs), w+" is missing")
		}
		return refJudge(allPresent, w+" present", refPresence(fs), w+" is missing")
	case scenario.KindAbsent:
		w := what()
		return refJudge(!anyOK, w+" absent", refPresence(fs), w+" is there")
	case scenario.KindSameAs:
		if r.Optional && !refAnyPresent(ref) {

			w := refWhat(r)
			return refJudge(!anyOK, what()+" absent, as "+w+" is", refPresence(fs), what()+" is there although "+w+" is absent")
		}
	}
	switch r.Kind {
	case scenario.KindSameAs, scenario.KindDiffers, scenario.KindCompare:
		if r.Ref != nil && !r.Ref.Self && (len(ref) == 0 || !refAllOK(ref)) {
			w := refWhat(r)
			return refInconc(w, refPresence(ref), "cannot compare: "+w+" is missing")
		}
	}
	if r.Kind == scenario.KindWithin && len(fs) == 0 {

		return refPass("only values of the set", refPresence(fs))
	}
	if r.Optional {
		fs = refOkOnly(fs)
		if len(fs) == 0 {
			return refPass(r.Statement+" (absent is allowed)", "absent")
		}
	} else if !allPresent {
		return refFail(r.Statement, refPresence(fs), what()+" is missing")
	}
	if r.Index == "any" {
		var last refOutcome
		for _, f := range fs {
			o := e.values(r, p, []refField{f}, ref)
			if o.v == Pass {
				o.observed = refTexts(fs)
				return o
			}
			if o.v != Fail {
				return o
			}
			last = o
		}
		last.observed = refTexts(fs)
		last.reason = "no " + r.Header + " value satisfies the rule: " + last.reason
		return last
	}
	return e.values(r, p, fs, ref)
}

func (e *refEvaluator) values(r *scenario.Rule, p *refParsed, fs, ref []refField) refOutcome {
	what := func() string { return describe(r.Header, r.Part, r.Index) }
	switch r.Kind {
	case scenario.KindEquals, scenario.KindMatches:
		for _, f := range fs {
			if o := e.valueMatch(r, f, what); o.v != Pass {
				o.observed = refTexts(fs)
				return o
			}
		}
		o := e.valueMatch(r, fs[0], what)
		o.observed = refTexts(fs)
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
		exp := "differs from " + refWhat(r) + " " + refTexts(ref)
		return refJudge(!e.sameList(r, fs, ref), exp, refTexts(fs), "equals "+refWhat(r))
	case scenario.KindCompare:
		return e.compare(r, p, fs, ref)
	case scenario.KindDate:
		for _, f := range fs {
			if err := refRfc1123(f.text); err != nil {
				return refFail("an RFC 1123 date in GMT, e.g. Wed, 11 Jul 2001 08:49:37 GMT", f.text, err.Error())
			}
		}
		return refPass("an RFC 1123 date in GMT", refTexts(fs))
	case scenario.KindNonce:
		for _, f := range fs {
			b, err := base64.StdEncoding.DecodeString(f.text)
			if err != nil {
				return refFail(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), f.text, "not base64: "+err.Error())
			}
			if len(b) < r.MinBytes {
				return refFail(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), fmt.Sprintf("%d bytes", len(b)), "too short to hold RAND and AUTN")
			}
		}
		return refPass(fmt.Sprintf("base64 of at least %d bytes", r.MinBytes), refTexts(fs))
	}
	return refOutcome{v: Error, reason: "rule kind " + string(r.Kind) + " is not implemented"}
}

func refPresence(fs []refField) string {
	if len(fs) == 0 {
		return "header absent"
	}
	return refTexts(fs)
}

func refAllOK(fs []refField) bool {
	for _, f := range fs {
		if !f.ok {
			return false
		}
	}
	return true
}

func refAnyPresent(fs []refField) bool {
	for _, f := range fs {
		if f.ok {
			return true
		}
	}
	return false
}

func refOkOnly(fs []refField) []refField {
	var out []refField
	for _, f := range fs {
		if f.ok {
			out = append(out, f)
		}
	}
	return out
}

func (e *refEvaluator) repeated(p *refParsed, header string) *refOutcome {
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
	o := refFail("one "+h+" header (RFC 3261 7.3.1)", strings.Join(vals, " | "),
		fmt.Sprintf("%s appears %d times (lines %s): a header whose value is not a comma-separated list appears once (RFC 3261 7.3.1, 20)", h, len(ls), strings.Join(at, ", ")))
	return &o
}

func (e *refEvaluator) requestStep(req, of string) string {
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

func (e *refEvaluator) ref(step string) (*refParsed, *refOutcome) {
	p := e.message(step, "")
	if !p.found {
		o := refInconc("step "+step+" for comparison", "none", "cannot compare: step "+step+" is missing: "+e.missing(step))
		return nil, &o
	}
	if p.err != nil {
		o := refInconc("step "+step+" for comparison", "unparseable", "cannot compare: step "+step+" does not parse: "+p.err.Error())
		return nil, &o
	}
	return p, nil
}

func (e *refEvaluator) refFields(r *scenario.Rule) ([]refField, *refOutcome) {
	step := r.Ref.Step
	if r.Ref.Of != "" {
		step = e.requestStep(r.Ref.Step, r.Ref.Of)
	}
	rp, o := e.ref(step)
	if o != nil {
		return nil, o
	}
	cannot := func(why string) *refOutcome {
		o := refInconc(refWhat(r), "unreadable", "cannot compare: step "+step+": "+why)
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

func (e *refEvaluator) pick(p *refParsed, header, index, part, mechanism, req string) ([]refField, *refOutcome, error) {
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
			o := refInconc("the binding of step "+req+"'s Contact", "none", "cannot find the binding: step "+req+" has no readable Contact")
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
			o := refFail("a "+header+" whose URI is step "+req+"'s Contact "+refTexts(want), refPresence(uris),
				"no "+header+" value has the URI of the request's Contact (RFC 3261 10.3 step 8): the UE's binding is missing")
			return nil, &o, nil
		}
	}
	var sel []refField
	for i, f := range all {
		if keep[i] {
			sel = append(sel, f)
		}
	}
	switch index {
	case "all", "any", "binding":
		return sel, nil, nil
	}
	lo, hi, ok := refIndexRange(index, len(sel))
	if !ok {
		return nil, nil, nil
	}
	return sel[lo:hi], nil, nil
}

func (e *refEvaluator) startLine(r *scenario.Rule, m *sipmsg.Message) refOutcome {
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
		return refFail("a request", m.StartLine, "the message is a response")
	}
	if (r.Start.Status != "" || r.Start.Reason != "") && m.Request {
		return refFail("a response", m.StartLine, "the message is a request")
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
		{"method", r.Start.Method, m.Method, exact},
		{"Request-URI", r.Start.RequestURI, m.RequestURI, e.sameURI},
		{"version", r.Start.Version, m.Version, strings.EqualFold},
		{"status", r.Start.Status, status, exact},
		{"reason", r.Start.Reason, m.Reason, exact},
	} {
		if err := check(c.name, c.tmpl, c.got, c.same); err != nil {
			return refOutcome{v: Error, expected: c.tmpl, observed: m.StartLine, reason: err.Error()}
		}
	}
	if r.Reason != nil {
		exp = append(exp, "reason matching "+r.Reason.String())
		obs = append(obs, "reason "+strconv.Quote(m.Reason))
		ok = ok && r.Reason.MatchString(m.Reason)
	}
	return refJudge(ok, strings.Join(exp, ", "), strings.Join(obs, ", "), "the start line differs")
}

func (e *refEvaluator) sameList(r *scenario.Rule, fs, ref []refField) bool {
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

func (e *refEvaluator) sameAs(r *scenario.Rule, fs, ref []refField) refOutcome {
	return refJudge(e.sameList(r, fs, ref), refTexts(ref), refTexts(fs), "differs from "+refWhat(r))
}

func (e *refEvaluator) oneOf(r *scenario.Rule, fs, ref []refField) refOutcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	for _, f := range refOkOnly(ref) {
		want = append(want, f.text)
	}
	if len(want) == 0 {
		w := refWhat(r)
		return refInconc("one of the values of "+w, refTexts(fs), "cannot judge: "+w+" offers no value")
	}
	exp := "one of " + strings.Join(want, ", ")
	for _, f := range fs {
		if !e.among(r, r.Part, []refField{f}, want) {
			return refFail(exp, refTexts(fs), describe(r.Header, r.Part, r.Index)+" is none of the allowed values")
		}
	}
	return refPass(exp, refTexts(fs))
}

func (e *refEvaluator) members(r *scenario.Rule, fs, ref []refField) refOutcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	if r.Ref != nil {
		if len(refOkOnly(ref)) == 0 {
			w := refWhat(r)
			return refInconc(w, refPresence(ref), "cannot compare: "+w+" is missing")
		}
		for _, f := range refOkOnly(ref) {
			want = append(want, f.text)
		}
	}
	var missing []string
	for _, w := range want {
		if !e.among(r, partOf(r), fs, []string{w}) {
			missing = append(missing, w)
		}
	}
	return refJudge(len(missing) == 0, "includes "+strings.Join(want, " "), refTexts(fs), "missing "+strings.Join(missing, " "))
}

func (e *refEvaluator) listed(r *scenario.Rule) ([]string, *refOutcome) {
	var want []string
	for _, v := range r.Values {
		xs, err := scenario.ExpandList(v, e.in.Vars)
		if err != nil {
			return nil, &refOutcome{v: Error, expected: v, reason: err.Error()}
		}
		want = append(want, xs...)
	}
	return want, nil
}

func (e *refEvaluator) among(r *scenario.Rule, part string, fs []refField, want []string) bool {
	for _, f := range fs {
		for _, w := range want {
			if e.same(r, r.Header, part, f, w) {
				return true
			}
		}
	}
	return false
}

func (e *refEvaluator) within(r *scenario.Rule, fs []refField) refOutcome {
	want, o := e.listed(r)
	if o != nil {
		return *o
	}
	var outside []string
	for _, f := range fs {
		if !e.among(r, partOf(r), []refField{f}, want) {
			outside = append(outside, f.text)
		}
	}
	return refJudge(len(outside) == 0, "only "+strings.Join(want, " "), refTexts(fs), "not among them: "+strings.Join(outside, " "))
}

func (e *refEvaluator) viaEcho(r *scenario.Rule, p *refParsed) refOutcome {
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
		same = refSameVia(want[i], got[i])
	}
	return refJudge(same, strings.Join(want, " | "), strings.Join(got, " | "),
		"the Via values differ from the request's (step "+reqStep+"): RFC 3261 8.2.6.2 wants each equal, in order, a received or rport a hop added aside")
}

func (e *refEvaluator) compare(r *scenario.Rule, p *refParsed, fs, ref []refField) refOutcome {
	var conds []string
	var refN int64
	if r.Op != "" && (r.Ref == nil || !r.Ref.Self) {
		var refText string
		if r.Ref != nil {
			n, ok := decimal(ref[0].text)
			if !ok {
				return refInconc("a number in "+refWhat(r), ref[0].text, "cannot compare: not a number")
			}
			refN, refText = n+int64(r.Offset), refWhat(r)
			if r.Offset != 0 {
				refText += fmt.Sprintf(" %+d", r.Offset)
			}
		} else {
			v, err := e.expand(r.Value)
			if err != nil {
				return refOutcome{v: Error, expected: r.Value, observed: refTexts(fs), reason: err.Error()}
			}
			n, ok := decimal(v)
			if !ok {
				return refOutcome{v: Error, expected: "a number", observed: v, reason: "the lab value is not a number"}
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
			return refFail(exp, refTexts(fs), describe(r.Header, r.Part, r.Index)+" is not a decimal number")
		}
		if r.Op != "" && r.Ref != nil && r.Ref.Self {
			all, err := e.fields(p, r.Header, "all", r.Ref.Part)
			if err != nil || f.pos >= len(all) || !all[f.pos].ok {
				return refInconc(exp, refTexts(fs), "cannot compare: "+refWhat(r)+" is missing")
			}
			other, ok := decimal(all[f.pos].text)
			if !ok {
				return refInconc(exp, all[f.pos].text, "cannot compare: "+refWhat(r)+" is not a number")
			}
			refN = other
		}
		if r.Op != "" && !cmp(n, r.Op, refN) {
			return refFail(exp, refTexts(fs), "the relation does not hold")
		}
		if (r.Min >= 0 && n < int64(r.Min)) || (r.Max >= 0 && n > int64(r.Max)) {
			return refFail(exp, refTexts(fs), "out of range")
		}
	}
	return refPass(exp, refTexts(fs))
}

func refRfc1123(s string) error {
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

func (e *refEvaluator) after(r *scenario.Rule, p *refParsed) refOutcome {
	step := r.Ref.Step
	rp := e.message(step, "")
	if !rp.found {
		return refInconc("captured after step "+step, fmt.Sprintf("trace #%d", p.tm.Seq), "cannot compare: step "+step+" is missing: "+e.missing(step))
	}
	exp := fmt.Sprintf("captured after step %s (trace #%d)", step, rp.tm.Seq)
	return refJudge(p.tm.Seq > rp.tm.Seq, exp, fmt.Sprintf("trace #%d", p.tm.Seq), "the message came before step "+step)
}

func (e *refEvaluator) bodyLength(r *scenario.Rule, p *refParsed) refOutcome {
	vs := e.headerValues(p, r.Header)
	n := len(p.msg.Body)
	udp := !strings.EqualFold(p.tm.Transport, "TCP") && !strings.EqualFold(p.tm.Transport, "TLS")
	exp := fmt.Sprintf("the body's length, %d octets", n)
	if udp {
		exp = fmt.Sprintf("at most the %d octets after the header (UDP: more are discarded, RFC 3261 18.3)", n)
	}
	if len(vs) == 0 {
		return refPass(exp+" (or no Content-Length)", "header absent")
	}
	got, ok := decimal(vs[0].Text)
	if !ok {
		return refFail(exp, vs[0].Text, "Content-Length is not a decimal number")
	}
	return refJudge(got == int64(n) || (udp && got < int64(n)), exp, vs[0].Text, fmt.Sprintf("Content-Length says %d octets, the message holds %d after the header", got, n))
}

func (e *refEvaluator) contains(r *scenario.Rule, p *refParsed) refOutcome {
	return e.optionTag(r, p, true)
}

func (e *refEvaluator) excludes(r *scenario.Rule, p *refParsed) refOutcome {
	return e.optionTag(r, p, false)
}

func (e *refEvaluator) optionTag(r *scenario.Rule, p *refParsed, include bool) refOutcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return refOutcome{v: Error, expected: r.Value, reason: err.Error()}
	}
	exp := "does not include " + want
	if include {
		exp = "includes " + want
	}
	fs, err := e.fields(p, r.Header, "all", r.Part)
	if err != nil {
		return refFail(exp, "unreadable "+r.Header, err.Error())
	}
	what := describe(r.Header, r.Part, "")
	if include && len(fs) == 0 {
		return refFail(exp, refPresence(fs), what+" is missing")
	}
	for _, f := range fs {
		if f.ok && equal(f.text, want, r.IgnoreCase) {
			return refJudge(include, exp, refTexts(fs), what+" includes "+want)
		}
	}
	return refJudge(!include, exp, refPresence(fs), what+" does not include "+want)
}

func (e *refEvaluator) envelope(r *scenario.Rule, tm trace.Message) refOutcome {
	want, err := e.expand(r.Value)
	if err != nil {
		return refOutcome{v: Error, expected: r.Value, reason: err.Error()}
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
	return refJudge(ok, r.Part+" "+want, r.Part+" "+got, "the captured message's "+r.Part+" differs")
}

type refValueParse struct {
	headDone   bool
	head       string
	params     sipmsg.Params
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

func refPart(c *refValueParse, v, p string) (piece, error) {
	switch {
	case p == "" || p == "value":
		return piece{v, true, false}, nil
	case c == nil:
		return refPart(&refValueParse{}, v, p)
	case p == "expiry":
		return refPart(c, v, "param:expires")
	case p == "token" || p == "unquoted" || strings.HasPrefix(p, "param:"):
		if !c.headDone {
			c.headDone = true
			c.head, c.params = sipmsg.SplitParams(v)
			if strings.Contains(c.head, "=") && !strings.Contains(c.head, "<") && !strings.HasPrefix(c.head, `"`) {

				_, c.params = sipmsg.SplitParams(";" + v)
			}
		}
		switch p {
		case "token":
			return piece{c.head, c.head != "", false}, nil
		case "unquoted":
			t, q := refUnquote(c.head)
			return piece{t, c.head != "", q}, nil
		}
		return paramPiece(c.params, p[len("param:"):]), nil
	case p == "aka.rand" || p == "aka.autn":
		n, err := refPart(c, v, "digest:nonce")
		if err != nil || !n.ok {
			return n, err
		}
		b, err := base64.StdEncoding.DecodeString(n.text)
		if err != nil {
			return piece{}, fmt.Errorf("expected a base64 nonce holding RAND and AUTN (RFC 3310 3.1), saw %q: %v", n.text, err)
		}
		if len(b) < 32 {
			return piece{}, fmt.Errorf("expected a nonce of at least 32 bytes (RAND and AUTN, RFC 3310 3.1), saw %d", len(b))
		}
		if p == "aka.rand" {
			return piece{hex.EncodeToString(b[:16]), true, false}, nil
		}
		return piece{hex.EncodeToString(b[16:32]), true, false}, nil
	case strings.HasPrefix(p, "digest"):
		if !c.digestDone {
			c.digestDone = true
			c.digest, c.digestErr = sipmsg.ParseDigest(v)
		}
		d, err := c.digest, c.digestErr
		if err != nil {
			return piece{}, err
		}
		if p == "digest.scheme" {
			return piece{d.Scheme, true, false}, nil
		}
		return paramPiece(d.Params, p[len("digest:"):]), nil
	case strings.HasPrefix(p, "via."):
		if !c.viaDone {
			c.viaDone = true
			c.via, c.viaErr = sipmsg.ParseVia(v)
		}
		via, err := c.via, c.viaErr
		if err != nil {
			return piece{}, err
		}
		switch p {
		case "via.protocol":
			return piece{via.Protocol, true, false}, nil
		case "via.transport":
			return piece{via.Transport, true, false}, nil
		case "via.host":
			return piece{via.Host, true, false}, nil
		case "via.port":
			return piece{via.Port, via.Port != "", false}, nil
		}
		return piece{via.SentBy(), true, false}, nil
	case strings.HasPrefix(p, "cseq."):
		f := strings.Fields(v)
		if len(f) != 2 {
			return piece{}, fmt.Errorf("expected \"number METHOD\", saw %q", v)
		}
		if p == "cseq.seq" {
			return piece{f[0], true, false}, nil
		}
		return piece{f[1], true, false}, nil
	}
	if !c.naDone {
		c.naDone = true
		c.na, c.naErr = sipmsg.ParseNameAddr(v)
	}
	na, err := c.na, c.naErr
	if err != nil {
		return piece{}, err
	}
	u := na.URI
	switch p {
	case "display":
		return piece{na.Display, na.Display != "", false}, nil
	case "uri":
		return piece{u.Raw, true, false}, nil
	case "uri.scheme":
		return piece{u.Scheme, true, false}, nil
	case "uri.user":
		return piece{u.User, u.User != "", false}, nil
	case "uri.host":
		return piece{u.Host, u.Host != "", false}, nil
	case "uri.port":
		return piece{u.Port, u.Port != "", false}, nil
	case "uri.hostport":
		return piece{u.HostPort(), u.Host != "", false}, nil
	}
	if name, ok := strings.CutPrefix(p, "uri.param:"); ok {
		return paramPiece(u.Params, name), nil
	}
	return piece{}, fmt.Errorf("expected a known part, saw %q", p)
}

func refUnquote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s, false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}

// esp is the reference of kind esp: the judgement as first written, on
// the old engine's texts.
func (e *refEvaluator) esp(r *scenario.Rule, m trace.Message) refOutcome {
	switch r.Part {
	case "protected":
		if m.ESP == nil {
			return refFail("inside ESP (RFC 4303, TS 33.203 7.1)", "in clear", "the message did not travel over the security associations")
		}
		return refPass("inside ESP (RFC 4303, TS 33.203 7.1)", espSeen(m.ESP))
	case "spi":
		want, err := e.expand(r.Value)
		if err != nil {
			return refOutcome{v: Error, expected: r.Value, reason: err.Error()}
		}
		exp := "ESP with SPI " + want
		if m.ESP == nil {
			return refFail(exp, "in clear", "the message did not travel inside ESP")
		}
		return refJudge(spiIs(m.ESP.SPI, want), exp, espSeen(m.ESP), "the message travelled over another SA")
	}
	pkts := refFromPeer(e.in.Packets, m)
	from := "the ESP packets " + m.Src.Addr().String() + " sent to " + m.Role
	if len(pkts) == 0 {
		return refInconc(from, "none", "no ESP packet came from "+m.Src.Addr().String()+" to the "+m.Role+" during the run")
	}
	switch r.Part {
	case "packets.icv":
		exp := "each verifies: ICV right, trailer well formed (RFC 4303 3.4.4)"
		for _, p := range pkts {
			switch p.Refusal {
			case "icv", "padding", "malformed":
				return refFail(exp, packetSeen(p), fmt.Sprintf("%d of %d packets; the first refused: %s", count(pkts, p.Refusal), len(pkts), p.Err))
			}
		}
		return refPass(exp, fmt.Sprintf("%d packets, every one verified", len(pkts)))
	case "packets.spi":
		var want []string
		for _, v := range r.Values {
			x, err := e.expand(v)
			if err != nil {
				return refOutcome{v: Error, expected: v, reason: err.Error()}
			}
			want = append(want, x)
		}
		exp := "each carries the SPI announced for the SA of its ports: " + strings.Join(want, " or ")
		for _, p := range pkts {
			known := false
			for _, w := range want {
				known = known || spiIs(p.SPI, w)
			}
			switch {
			case !known:
				return refFail(exp, packetSeen(p), "an SPI the receiver did not announce: the packet is discarded (RFC 4303 3.4.2)")
			case p.Refusal == "selector":
				return refFail(exp, packetSeen(p), "an SPI of another SA than its ports': "+p.Err)
			}
		}
		return refPass(exp, fmt.Sprintf("%d packets, SPIs %s", len(pkts), spiList(pkts)))
	case "packets.sequence":
		exp := "per SA: the first sequence number 1, each one higher than the one before (RFC 4303 3.3.3)"
		last := map[uint32]uint32{}
		for _, p := range pkts {
			if p.Refusal == "no-sa" {
				continue // another SA's, or none: packets.spi judges it
			}
			prev, seen := last[p.SPI]
			switch {
			case !seen && p.ESPSeq != 1:
				return refFail(exp, packetSeen(p), fmt.Sprintf("the first packet of SPI %d carries sequence number %d", p.SPI, p.ESPSeq))
			case seen && p.ESPSeq <= prev:
				return refFail(exp, packetSeen(p), fmt.Sprintf("sequence number %d after %d on SPI %d: sent again or going back (a replay, RFC 4303 3.4.3)", p.ESPSeq, prev, p.SPI))
			}
			last[p.SPI] = p.ESPSeq
		}
		return refPass(exp, fmt.Sprintf("%d packets on %d SAs, each from 1 up", len(pkts), len(last)))
	}
	return refOutcome{v: Error, expected: r.Statement, reason: "unknown esp part " + strconv.Quote(r.Part)}
}

func refFromPeer(pkts []trace.Packet, m trace.Message) []trace.Packet {
	src := m.Src.Addr().Unmap()
	var out []trace.Packet
	for _, p := range pkts {
		if p.Role == m.Role && p.Dir == trace.Received && p.Src.Unmap() == src {
			out = append(out, p)
		}
	}
	return out
}

// spiList is the packets' SPIs, each once, in the order they first came.
func spiList(pkts []trace.Packet) string {
	seen := map[uint32]bool{}
	var out []string
	for _, p := range pkts {
		if !seen[p.SPI] {
			seen[p.SPI] = true
			out = append(out, strconv.FormatUint(uint64(p.SPI), 10))
		}
	}
	return strings.Join(out, ", ")
}
