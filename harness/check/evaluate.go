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
// The engine works in three stages, so that a load run can judge every
// field of every message of thousands of UEs:
//
//   - Compile, once when the scenario loads: every rule's header name is
//     canonicalised, its part and index read into accessors, its templates
//     split, its regular expressions compiled and its comparison chosen
//     (a Program).
//   - Bind, once per run, when the lab's values are known: every template
//     is filled, every text that depends only on the lab written and every
//     lab value a rule compares with taken apart (a Plan). Variables named
//     per UE (a load run's identities and ports) are left open: each
//     evaluation fills them from its Input.Vars — the UE's own values, a
//     small map — into storage it reuses, keeping nothing per UE; an
//     Overlay fills them once for a UE that is evaluated again and again.
//   - Evaluate, per run (or per UE): each captured message is parsed once,
//     when a rule first reads it, into a view every rule reads (header
//     lines indexed by canonical name, values split once, name-addr, URI,
//     Via and Digest parsed on first use and kept with the value), in
//     storage reused from one evaluation to the next.
//
// Evaluate(rules, in) does all three for one run.
//
// Evaluation is pure: it reads the rules, the captured messages, the facts
// the harness recorded and the lab's variables, and nothing else — no
// sockets, no clock, nothing kept from one evaluation to the next but the
// storage it reuses, emptied. It reads SIP with harness/sipmsg alone: no
// other parser's opinion of a message enters a verdict. It does not capture
// messages (package trace) or run the flow; it does not decide which profile
// applies (the caller passes that profile's rules).
package check

import (
	"strings"
	"sync"

	"imsconform/harness/scenario"
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

// Evaluate judges every rule against the input; one Result per rule, in the
// order of rules. It compiles the rules and binds them to in.Vars each
// time: a caller that judges many runs compiles once (Compile) and binds
// once per run (Program.Bind).
func Evaluate(rules []scenario.Rule, in Input) []Result {
	return compile(rules).Bind(in.Vars).Evaluate(in)
}

// Evaluate judges every rule of the plan against the input; one Result per
// rule, in the order of the rules compiled. in.Vars gives the values of the
// plan's per-UE variables (a variable it lacks keeps the run's value); the
// plan's other variables are those it was bound with.
func (p *Plan) Evaluate(in Input) []Result {
	return p.AppendResults(nil, in)
}

// AppendResults is Evaluate appending the results to dst.
func (p *Plan) AppendResults(dst []Result, in Input) []Result {
	return p.evaluate(dst, in, nil)
}

// Evaluate judges every rule of the overlay's plan against the input with
// the overlay's values for the per-UE variables; in.Vars is not read.
func (o *Overlay) Evaluate(in Input) []Result { return o.AppendResults(nil, in) }

// AppendResults is Evaluate appending the results to dst.
func (o *Overlay) AppendResults(dst []Result, in Input) []Result {
	return o.plan.evaluate(dst, in, o)
}

func (p *Plan) evaluate(dst []Result, in Input, ov *Overlay) []Result {
	e := p.prog.get()
	defer p.prog.put(e)
	e.start(p, ov, in)
	if ov == nil && len(p.open) > 0 {
		e.bindOpen(p, in.Vars)
	}
	n := len(dst)
	dst = append(dst, make([]Result, len(p.prog.rules))...)
	out := dst[n:]
	spans := e.spans[:0]
	for i := range p.prog.rules {
		o, seq := e.rule(i)
		r := &out[i]
		*r = p.prog.rules[i].res
		r.MsgSeq, r.Verdict = seq, o.v
		r.Expected, r.Observed, r.Reason = o.expected.s, o.observed.s, o.reason.s
		if o.expected.n|o.observed.n|o.reason.n != 0 {
			spans = append(spans, span{i, o.expected, o.observed, o.reason})
		}
	}
	e.spans = spans
	if len(spans) > 0 {
		all := string(e.buf) // the texts composed, made strings at once
		for _, sp := range spans {
			r := &out[sp.i]
			r.Expected, r.Observed, r.Reason = sp.expected.resolve(all), sp.observed.resolve(all), sp.reason.resolve(all)
		}
	}
	return dst
}

// span is a result whose texts were composed in the text buffer.
type span struct {
	i                          int
	expected, observed, reason txt
}

// evaluators are the evaluators not in use, with the storage they grew.
var evaluators sync.Pool

// get takes an evaluator from the pool.
func (pr *Program) get() *evaluator {
	e, ok := evaluators.Get().(*evaluator)
	if !ok {
		e = &evaluator{}
	}
	e.prog = pr
	e.steps = grow(e.steps, len(pr.steps))
	return e
}

func (pr *Program) put(e *evaluator) {
	e.finish()
	evaluators.Put(e)
}

// outcome is a rule's verdict with its texts, as the evaluation builds it.
type outcome struct {
	v                  Verdict
	expected, observed txt
	reason             txt
	absent             bool // the rule's own message (or fact) is not there
}

func pass(exp, obs txt) outcome { return outcome{v: Pass, expected: exp, observed: obs} }
func fail(exp, obs, why txt) outcome {
	return outcome{v: Fail, expected: exp, observed: obs, reason: why}
}
func inconc(exp, obs, why txt) outcome {
	return outcome{v: Inconc, expected: exp, observed: obs, reason: why}
}
func judge(ok bool, exp, obs, why txt) outcome {
	if ok {
		return pass(exp, obs)
	}
	return fail(exp, obs, why)
}
func errorOut(exp, obs, why string) outcome {
	return outcome{v: Error, expected: str(exp), observed: str(obs), reason: str(why)}
}

// rule judges rule i; seq is the trace number of the message judged.
func (e *evaluator) rule(i int) (outcome, int) {
	c := &e.prog.rules[i]
	r := c.r
	b := e.bound(i)
	if b.when != nil {
		return *b.when, 0
	}
	var o outcome
	seq := 0
	if c.kind == kFact {
		o = e.fact(c, b)
	} else if v := e.message(c.step, c.same); !v.found {
		o = outcome{v: Fail, expected: str(c.fails().aMessage), observed: str("none"), reason: str(e.missing(c.step)), absent: true}
		if why, ok := e.in.NotDue[r.Step]; ok {
			o.v, o.reason = Inconc, str(why)
		}
	} else {
		seq = v.tm.Seq
		switch m := e.view(v); {
		case m.err != nil && v.tm.Proto == trace.Diameter:
			o = fail(str("a Diameter message that decodes"), str("undecodable Diameter message"), str(m.errText()))
		case m.err != nil:
			o = fail(str("a SIP message that parses"), str("unparseable message"), str(m.errText()))
		default:
			o = e.kind(c, b, v)
		}
	}
	if o.v == Fail && r.Stimulus && !e.in.Deviated[r.Step] {
		o = e.stimulus(c, o)
	}
	return o, seq
}

// stimulus turns a failing rule on the harness's own message (steps 2, 7,
// 13 and their facts) into the verdict that names the side at fault
// (TTCN-3): a message the harness did not send is inconc, with the flow's
// reason (it was not sent because the SUT failed earlier, or the run was
// cut short); a message that breaks the rule is the harness's error. With a
// deviation asked for on the step the outcome stands as it is.
func (e *evaluator) stimulus(c *crule, o outcome) outcome {
	if o.absent {
		o.v = Inconc
		return o
	}
	o.v = Error
	o.reason = e.cat(str(c.fails().stimulus), o.reason)
	return o
}

func (e *evaluator) missing(slot int) string {
	step := e.prog.steps[slot]
	if why, ok := e.in.Missing[step.id]; ok && why != "" {
		return why
	}
	return step.noMessage
}

func (e *evaluator) fact(c *crule, b *bound) outcome {
	r := c.r
	got, ok := e.in.Facts[r.Fact]
	if !ok {
		if why, notDue := e.in.NotDue[c.texts.factStep]; notDue {
			return inconc(str(c.texts.fact), str("none"), str(why))
		}
		if why, miss := e.in.Missing[c.texts.factStep]; miss {
			return outcome{v: Fail, expected: str(c.texts.fact), observed: str("none"), reason: str(why), absent: true}
		}
		return inconc(str(c.texts.fact), str("none"), str(c.fails().noFact))
	}
	if r.Pattern != "" {
		return e.valueMatch(c, b, field{text: got, ok: true}, true)
	}
	if b.value.err != nil {
		return errorOut(r.Value, got, b.value.err.Error())
	}
	want := b.value.s
	if equal(got, want, r.IgnoreCase) {
		return pass(str(want), str(got))
	}
	return fail(str(want), str(got), str(c.fails().factDiffers))
}

// valueMatch applies value (equals, by SIP equivalence for the rule's
// header and part) or pattern to f, a field of the rule's header or (fact)
// the rule's fact.
func (e *evaluator) valueMatch(c *crule, b *bound, f field, fact bool) outcome {
	r := c.r
	if r.Pattern != "" {
		if b.reErr != nil {
			return errorOut(r.Pattern, f.text, b.reErr.Error())
		}
		if b.match(f.text) {
			return pass(str(b.matches), str(f.text))
		}
		if fact {
			return fail(str(b.matches), str(f.text), str(c.fails().factNoMatch))
		}
		return fail(str(b.matches), str(f.text), str(c.fails().noMatch))
	}
	if b.value.err != nil {
		return errorOut(r.Value, f.text, b.value.err.Error())
	}
	if e.same(c, c.eq, b.value.field(), f) {
		return pass(str(b.value.s), str(f.text))
	}
	if fact {
		return fail(str(b.value.s), str(f.text), str(c.fails().factDiffers))
	}
	return fail(str(b.value.s), str(f.text), str(c.fails().differs))
}

func equal(a, b string, fold bool) bool {
	if fold {
		return strings.EqualFold(a, b)
	}
	return a == b
}
