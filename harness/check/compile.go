package check

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"imsconform/harness/diameter"
	"imsconform/harness/scenario"
	"imsconform/harness/sipmsg"
)

// Program is a profile's rules compiled: everything about a rule that does
// not depend on the message or the lab. Compile it once when the scenario
// loads; it is safe for concurrent use.
type Program struct {
	src   []scenario.Rule
	rules []crule
	hdrs  []hdrInfo
	steps []stepInfo
	sels  []selInfo
	tmpls []tmplInfo
	// The fold classes of the SIP header names rules read: names equal
	// but for case (RFC 3261 7.3.5) are one class, and a header line
	// belongs to the class of its canonical name.
	classes    []string
	classExact map[string]int32 // canonical name → class
	classLower map[string]int32 // ASCII name in lower case → class
	foldNames  bool             // some class name is not ASCII: fold by Unicode rules
	expires    int              // header id of Expires (part expiry falls back to it)
	via        int              // header id of Via (via-echo)
	contact    int              // header id of Contact (index binding)
}

// crule is one compiled rule.
type crule struct {
	r                *scenario.Rule
	kind             kindID
	reason           func(string) bool // matches the reason_pattern
	res              Result            // the fields that do not depend on the run
	step             int               // slot of the rule's step
	same             int               // slot of the step that is the same message, -1 for none
	h                int               // header id
	eq               eqKind            // how a field of the rule's part compares
	eqList           eqKind            // how a field of partOf(rule) compares (members, within)
	pk               picker            // the fields the rule reads
	opt              int               // selection (header, all, part): contains, excludes
	self             int               // selection (header, all, ref part): compare with ref self
	req              reqStep
	ref              *cref
	tValue, tPattern int   // template ids, -1 for none
	tValues          []int // template ids of values
	tStart           [7]int
	texts            ruleTexts
	failOnce         sync.Once
	failTexts        failTexts
}

// failTexts are the texts of a rule's failures, written on its first.
type failTexts struct {
	aMessage, stimulus, noFact, factDiffers, factNoMatch string
	differs, noMatch, isMissing, isThere, optThere       string
	refMissing, noneSatisfies, equals, noneAllowed       string
	notDecimal, unreadable, wrongCount, whole            string
}

// fails are the rule's failure texts.
func (c *crule) fails() *failTexts {
	c.failOnce.Do(func() {
		r, t, what := c.r, &c.failTexts, c.texts.what
		*t = failTexts{aMessage: "a message for step " + r.Step,
			stimulus:    "the harness's own message (step " + r.Step + ") breaks the rule, and no deviation was asked for: ",
			noFact:      "the harness recorded no fact " + r.Fact,
			factDiffers: c.texts.fact + " differs", factNoMatch: c.texts.fact + " does not match",
			differs: what + " differs", noMatch: what + " does not match",
			isMissing: what + " is missing", isThere: what + " is there",
			optThere:      what + " is there although " + c.texts.refWhat + " is absent",
			refMissing:    "cannot compare: " + c.texts.refWhat + " is missing",
			noneSatisfies: "no " + r.Header + " value satisfies the rule: ",
			equals:        "equals " + c.texts.refWhat, noneAllowed: what + " is none of the allowed values",
			notDecimal: what + " is not a decimal number", unreadable: "unreadable " + r.Header,
			wrongCount: "wrong number of " + r.Header + " values", whole: describe(r.Header, r.Part, "")}
	})
	return &c.failTexts
}

// kindID is a rule kind as the engine switches on it.
type kindID uint8

// The rule kinds (scenario.Kinds); kUnknown is a kind the engine does not
// know, which evaluates to an error.
const (
	kUnknown kindID = iota
	kStartLine
	kPresent
	kAbsent
	kCount
	kEquals
	kMatches
	kOneOf
	kMembers
	kContains
	kExcludes
	kSameAs
	kViaEcho
	kCompare
	kDate
	kNonce
	kEnvelope
	kESP
	kFact
	kWithin
	kAfter
	kDiffers
	kBodyLen
)

var kindIDs = map[scenario.Kind]kindID{
	scenario.KindStartLine: kStartLine,
	scenario.KindPresent:   kPresent,
	scenario.KindAbsent:    kAbsent,
	scenario.KindCount:     kCount,
	scenario.KindEquals:    kEquals,
	scenario.KindMatches:   kMatches,
	scenario.KindOneOf:     kOneOf,
	scenario.KindMembers:   kMembers,
	scenario.KindContains:  kContains,
	scenario.KindExcludes:  kExcludes,
	scenario.KindSameAs:    kSameAs,
	scenario.KindViaEcho:   kViaEcho,
	scenario.KindCompare:   kCompare,
	scenario.KindDate:      kDate,
	scenario.KindNonce:     kNonce,
	scenario.KindEnvelope:  kEnvelope,
	scenario.KindESP:       kESP,
	scenario.KindFact:      kFact,
	scenario.KindWithin:    kWithin,
	scenario.KindAfter:     kAfter,
	scenario.KindDiffers:   kDiffers,
	scenario.KindBodyLen:   kBodyLen,
}

// cref is a compiled ref: the field of another message a rule compares
// with.
type cref struct {
	step   int     // slot of the step named
	of     reqStep // the step named, or with of: the request the response of "of" answers
	h      int
	single bool // the header is single-valued (RFC 3261 7.3.1)
	pk     picker
}

// picker is a compiled selection of fields: a header's values of one index
// and part, only those of a mechanism, only the UE's binding.
type picker struct {
	h         int
	index     string
	mechanism string
	req       reqStep // for index binding: the request whose Contact is the binding
	fast      int     // selection (header, index, part)
	all       int     // selection (header, all, part)
	tok       int     // selection (header, all, token), for a mechanism
	uris      int     // selection (header, all, uri), for index binding
	want      int     // selection (Contact, all, uri) on the request, for index binding
}

// reqStep is a rule's request step: the step its message answers (slot),
// or the request the flow recorded under "<step>.request" when there is
// one (alt, altSlot).
type reqStep struct {
	slot    int
	alt     string
	altSlot int
}

// stepInfo is a step a rule reads, with its texts.
type stepInfo struct {
	id            string
	noMessage     string // "no message was captured for step X"
	forComparison string // "step X for comparison"
}

// hdrInfo is a header name as a rule writes it.
type hdrInfo struct {
	raw       string // as written
	canon     string // sipmsg.CanonicalName
	class     int32  // fold class, for the header index of a SIP message
	list      bool   // values split on commas
	single    bool   // allowed once (RFC 3261 7.3.1)
	unordered bool   // its values are a set
	onlyOnce  string // "one H header (RFC 3261 7.3.1)"
	diameter  *avpPath
}

// avpPath is a header name read as AVPs (scenario.DiameterPath), once,
// when a Diameter message first meets it.
type avpPath struct {
	once sync.Once
	path []diameter.AVPDef
	err  error
}

func (a *avpPath) get(name string) ([]diameter.AVPDef, error) {
	a.once.Do(func() { a.path, a.err = scenario.DiameterPath(name) })
	return a.path, a.err
}

// selInfo is one selection: the values of an index of a header, and one
// part of each.
type selInfo struct {
	h     int
	index indexSpec
	part  partSpec
	raw   string // the part as written, for a Diameter part
}

// tmplInfo is a rule template.
type tmplInfo struct {
	src   string
	tp    scenario.Template
	quote bool // a pattern: values are quoted as regular expression text
	list  bool // a values template that stands for a set (ListVars)
}

// ruleTexts are the texts of a rule that a passing result shows and that
// depend on nothing but the rule, written when it compiles; the texts of
// a failure are written when one happens.
type ruleTexts struct {
	what, fact, factStep            string
	present, absent, absentOK       string
	refWhat, optAbsent, differsFrom string
	countExp, nonce, after, partSp  string
	reasonMatching                  string
}

// Compile compiles rules. A rule that cannot be judged as written (a
// pattern that is not a regular expression, an unknown part) compiles all
// the same: its evaluation is the error it would be.
func Compile(rules []scenario.Rule) *Program { return compile(append([]scenario.Rule(nil), rules...)) }

// compile compiles rules, which it keeps: they must not change while the
// program is in use.
func compile(rules []scenario.Rule) *Program {
	pr := &Program{src: rules, classExact: map[string]int32{}, classLower: map[string]int32{}}
	c := compiler{pr: pr, hdr: map[string]int{}, step: map[string]int{}, sel: map[selKey]int{}, alts: map[string]string{}}
	c.tb.b = make([]byte, 0, 200*len(rules)) // what the texts of a rule take, about
	c.tb.dsts, c.tb.ends = make([]*string, 0, 8*len(rules)), make([]int, 0, 8*len(rules))
	pr.expires, pr.contact, pr.via = c.header("Expires"), c.header("Contact"), c.header("Via")
	pr.rules = make([]crule, len(rules))
	for i := range pr.src {
		c.rule(&pr.rules[i], &pr.src[i])
		c.texts(&pr.src[i], &pr.rules[i].texts)
	}
	c.tb.done()
	return pr
}

type compiler struct {
	pr   *Program
	hdr  map[string]int
	step map[string]int
	sel  map[selKey]int
	alts map[string]string // "<step>.request" by step
	tb   textBuilder
}

type selKey struct {
	h           int
	index, part string
}

func (c *compiler) rule(cr *crule, r *scenario.Rule) {
	cr.r, cr.kind = r, kindIDs[r.Kind]
	if r.Reason != nil {
		cr.reason = matcherFor(r.Reason)
	}
	cr.res = Result{RuleID: r.ID, Table: r.Table, Step: r.Step, Citation: r.Citation, Statement: r.Statement, Level: r.Level, CountedAs: r.CountedAs}
	cr.step, cr.same, cr.h, cr.tValue, cr.tPattern = c.slot(r.Step), -1, c.header(r.Header), -1, -1
	if r.SameMessage != "" {
		cr.same = c.slot(r.SameMessage)
	}
	canon := c.pr.hdrs[cr.h].canon
	cr.eq = eqFor(canon, r.Part)
	cr.eqList = eqFor(canon, partOf(r))
	cr.req = c.reqStep(r.Request, r.Step)
	cr.pk = c.picker(r.Header, indexOf(r), partOf(r), r.Mechanism, cr.req)
	cr.opt = c.selection(cr.h, "all", r.Part)
	if r.Ref != nil {
		ref := &cref{step: c.slot(r.Ref.Step), of: reqStep{slot: c.slot(r.Ref.Step), altSlot: -1}}
		if r.Ref.Of != "" {
			ref.of = c.reqStep(r.Ref.Step, r.Ref.Of)
		}
		ref.h = c.header(r.Ref.Header)
		ref.single = c.pr.hdrs[ref.h].single
		ref.pk = c.picker(r.Ref.Header, r.Ref.Index, r.Ref.Part, "", c.reqStep(r.Ref.Request, r.Ref.Step))
		cr.ref = ref
		cr.self = c.selection(cr.h, "all", r.Ref.Part)
	}
	if r.Value != "" {
		cr.tValue = c.template(r.Value, false, false)
	}
	if r.Pattern != "" {
		cr.tPattern = c.template(r.Pattern, true, false)
	}
	for _, v := range r.Values {
		cr.tValues = append(cr.tValues, c.template(v, false, scenario.IsListTemplate(v)))
	}
	for i, t := range []string{r.Start.Method, r.Start.RequestURI, r.Start.Version, r.Start.Status, r.Start.Reason, r.Start.Command, r.Start.Application} {
		cr.tStart[i] = -1
		if t != "" {
			cr.tStart[i] = c.template(t, false, false)
		}
	}
}

// texts writes the rule's texts into t, by the program's text builder.
func (c *compiler) texts(r *scenario.Rule, t *ruleTexts) {
	what := describe(r.Header, r.Part, r.Index)
	b := &c.tb
	b.set(&t.what, what)
	b.set(&t.present, what, " present")
	b.set(&t.absent, what, " absent")
	b.set(&t.absentOK, r.Statement, " (absent is allowed)")
	t.factStep, _, _ = strings.Cut(r.Fact, ".")
	switch r.Kind {
	case scenario.KindFact:
		b.set(&t.fact, "fact ", r.Fact)
	case scenario.KindEnvelope:
		b.set(&t.partSp, r.Part, " ")
	case scenario.KindStartLine:
		if r.Reason != nil {
			b.set(&t.reasonMatching, "reason matching ", r.Reason.String())
		}
	case scenario.KindNonce:
		t.nonce = fmt.Sprintf("base64 of at least %d bytes", r.MinBytes)
	case scenario.KindCount:
		switch {
		case r.Max < 0:
			t.countExp = fmt.Sprintf("%s values: at least %d", r.Header, r.Min)
		case r.Min < 0:
			t.countExp = fmt.Sprintf("%s values: at most %d", r.Header, r.Max)
		case r.Min == r.Max:
			t.countExp = fmt.Sprintf("%s values: exactly %d", r.Header, r.Min)
		default:
			t.countExp = fmt.Sprintf("%s values: at least %d, at most %d", r.Header, r.Min, r.Max)
		}
	}
	if r.Ref != nil {
		w := refWhat(r)
		b.set(&t.refWhat, w)
		if r.Kind == scenario.KindAfter {
			b.set(&t.after, "captured after step ", r.Ref.Step, " (trace #")
		}
		if r.Kind == scenario.KindSameAs && r.Optional {
			b.set(&t.optAbsent, what, " absent, as ", w, " is")
		}
		if r.Kind == scenario.KindDiffers || r.Kind == scenario.KindSameAs {
			b.set(&t.differsFrom, "differs from ", w)
		}
	}
}

// textBuilder writes many short texts into one string: set records where
// each goes, done writes them.
type textBuilder struct {
	b    []byte
	dsts []*string
	ends []int
}

func (tb *textBuilder) set(dst *string, parts ...string) {
	for _, p := range parts {
		tb.b = append(tb.b, p...)
	}
	tb.dsts, tb.ends = append(tb.dsts, dst), append(tb.ends, len(tb.b))
}

func (tb *textBuilder) done() {
	all, start := string(tb.b), 0
	for i, d := range tb.dsts {
		*d, start = all[start:tb.ends[i]], tb.ends[i]
	}
}

// slot is the index of a step the rules read.
func (c *compiler) slot(id string) int {
	if i, ok := c.step[id]; ok {
		return i
	}
	c.step[id] = len(c.pr.steps)
	c.pr.steps = append(c.pr.steps, stepInfo{id: id, noMessage: "no message was captured for step " + id, forComparison: "step " + id + " for comparison"})
	return len(c.pr.steps) - 1
}

// reqStep compiles the request step of a response step of: req, or the
// request the flow recorded under "<of>.request".
func (c *compiler) reqStep(req, of string) reqStep {
	q := reqStep{slot: c.slot(req), altSlot: -1}
	if req != "" && of != "" {
		alt, ok := c.alts[of]
		if !ok {
			alt = of + ".request"
			c.alts[of] = alt
		}
		q.alt, q.altSlot = alt, c.slot(alt)
	}
	return q
}

func (c *compiler) picker(header, index, part, mechanism string, req reqStep) picker {
	h := c.header(header)
	pk := picker{h: h, index: index, mechanism: mechanism, req: req, fast: -1, all: -1, tok: -1, uris: -1, want: -1}
	if mechanism == "" && index != "binding" && index != "any" {
		pk.fast = c.selection(h, index, part)
		return pk
	}
	pk.all = c.selection(h, "all", part)
	if mechanism != "" {
		pk.tok = c.selection(h, "all", "token")
	}
	if index == "binding" {
		pk.uris = c.selection(h, "all", "uri")
		pk.want = c.selection(c.pr.contact, "all", "uri")
	}
	return pk
}

// header is the id of a header name as written.
func (c *compiler) header(name string) int {
	if i, ok := c.hdr[name]; ok {
		return i
	}
	canon := sipmsg.CanonicalName(name)
	h := hdrInfo{raw: name, canon: canon, list: sipmsg.IsList(name), single: singleValued[canon], unordered: unorderedHeaders[canon],
		diameter: &avpPath{}}
	h.class = c.class(canon)
	if h.single {
		h.onlyOnce = "one " + canon + " header (RFC 3261 7.3.1)"
	}
	c.hdr[name] = len(c.pr.hdrs)
	c.pr.hdrs = append(c.pr.hdrs, h)
	return len(c.pr.hdrs) - 1
}

// class is the fold class of a canonical header name: sipmsg matches a
// header line to a name when its canonical name equals it but for case.
func (c *compiler) class(canon string) int32 {
	pr := c.pr
	if i, ok := pr.classExact[canon]; ok {
		return i
	}
	if i := pr.classOf(canon); i >= 0 { // equal but for case to a class's name
		pr.classExact[canon] = i
		return i
	}
	i := int32(len(pr.classes))
	pr.classes = append(pr.classes, canon)
	pr.classExact[canon] = i
	if isASCII(canon) {
		pr.classLower[strings.ToLower(canon)] = i
	} else {
		pr.foldNames = true
	}
	return i
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// selection is the id of a selection.
func (c *compiler) selection(h int, index, part string) int {
	k := selKey{h, index, part}
	if i, ok := c.sel[k]; ok {
		return i
	}
	c.sel[k] = len(c.pr.sels)
	c.pr.sels = append(c.pr.sels, selInfo{h: h, index: compileIndex(index), part: compilePart(part), raw: part})
	return len(c.pr.sels) - 1
}

func (c *compiler) template(src string, quote, list bool) int {
	c.pr.tmpls = append(c.pr.tmpls, tmplInfo{src: src, tp: scenario.ParseTemplate(src), quote: quote, list: list})
	return len(c.pr.tmpls) - 1
}

// indexSpec is a compiled index: which of a header's values.
type indexSpec struct {
	kind int8 // indexFirst, indexLast, indexAll, indexNum
	n    int
}

const (
	indexFirst = iota
	indexLast
	indexAll
	indexNum
)

func compileIndex(index string) indexSpec {
	switch index {
	case "":
		return indexSpec{kind: indexFirst}
	case "last":
		return indexSpec{kind: indexLast}
	case "all":
		return indexSpec{kind: indexAll}
	}
	i, _ := strconv.Atoi(index)
	return indexSpec{kind: indexNum, n: i}
}

// span turns the index into the range [lo, hi) of n values; ok is false
// when it selects none.
func (x indexSpec) span(n int) (lo, hi int, ok bool) {
	switch {
	case n == 0:
		return 0, 0, false
	case x.kind == indexFirst:
		return 0, 1, true
	case x.kind == indexLast:
		return n - 1, n, true
	case x.kind == indexAll:
		return 0, n, true
	case x.n < 0 || x.n >= n:
		return 0, 0, false
	}
	return x.n, x.n + 1, true
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

func refWhat(r *scenario.Rule) string {
	if r.Ref.Self {
		return describe(r.Header, r.Ref.Part, "")
	}
	return "step " + r.Ref.Step + " " + describe(r.Ref.Header, r.Ref.Part, r.Ref.Index)
}
