package check

import (
	"fmt"
	"regexp"
	"strings"

	"imsconform/harness/scenario"
)

// Plan is a program bound to one run's lab values: every template filled,
// every text that depends on the lab alone written, every lab value a rule
// compares with taken apart. Variables named per UE at Bind are filled at
// each evaluation, or once per UE in an Overlay. A Plan is safe for
// concurrent use.
type Plan struct {
	prog   *Program
	vars   map[string]string
	perUE  map[string]bool
	rules  []bound
	open   []int // the rules that read a per-UE variable
	openAt []int // openAt[i] is k+1 for rule i = open[k], 0 for a rule bound in rules
	wants  parses
}

// Overlay is a plan with one UE's values for the per-UE variables: the
// rules that read them bound once for that UE, to be reused for each of
// its registrations. It is safe for concurrent use.
type Overlay struct {
	plan  *Plan
	rules []bound // rules[k] belongs to plan.open[k]
}

// bound is what one rule holds once the lab's values are known.
type bound struct {
	when    *outcome // the outcome when a condition decides it (none, or error for a lab value not given)
	value   val      // the value template
	values  []val    // the values, a list variable standing for its members
	valErr  error    // why the first values template that cannot be filled cannot
	valBad  string   // that template
	re      *regexp.Regexp
	match   func(string) bool // re.MatchString, or what matches the same
	reErr   error
	matches string // "matches RE"
	start   []val  // the start line's fields (method ... reason, command, application), for a start-line rule
	exp     string // the expected text where it depends on the lab alone
	refN    int64  // compare with a value: the value plus the offset
	numErr  bool   // compare with a value: the value is not a number
}

// val is a filled template.
type val struct {
	s      string
	err    error
	unq    string // s unquoted, for part unquoted
	quoted bool
	forms  forms // unq taken apart as the rule compares it
}

// field is the value as the field a rule compares with.
func (v *val) field() field {
	return field{text: v.unq, ok: true, quoted: v.quoted, fm: &v.forms}
}

// Bind fills the program's templates with one run's lab values. The
// variables named in perUE are left open: each evaluation fills them from
// its Input.Vars (an Overlay from its own values), falling back to vars.
func (pr *Program) Bind(vars map[string]string, perUE ...string) *Plan {
	p := &Plan{prog: pr, vars: make(map[string]string, len(vars)), rules: make([]bound, len(pr.rules)), wants: newParses()}
	for k, v := range vars {
		p.vars[k] = v
	}
	if len(perUE) > 0 {
		p.perUE = map[string]bool{}
		for _, v := range perUE {
			p.perUE[v] = true
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := p.vars[name]
		return v, ok
	}
	p.openAt = make([]int, len(pr.rules))
	for i := range pr.rules {
		if p.opens(&pr.rules[i]) {
			p.open = append(p.open, i)
			p.openAt[i] = len(p.open)
			continue
		}
		p.rules[i] = pr.bind(&pr.rules[i], lookup)
		p.wants.want(&pr.rules[i], &p.rules[i])
	}
	return p
}

// opens reports whether a rule reads a per-UE variable.
func (p *Plan) opens(c *crule) bool {
	if p.perUE == nil {
		return false
	}
	for _, w := range c.r.When {
		if p.perUE[w.Var] {
			return true
		}
	}
	for _, id := range c.templates() {
		for _, v := range p.prog.tmpls[id].tp.Vars() {
			if p.perUE[v] {
				return true
			}
		}
	}
	return false
}

func (c *crule) templates() []int {
	var ids []int
	for _, id := range append(append([]int{c.tValue, c.tPattern}, c.tValues...), c.tStart[:]...) {
		if id >= 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// Overlay binds the rules that read per-UE variables to one UE's values,
// once, for an evaluation that reads them again and again; a variable vars
// lacks keeps the run's value. A plan's Evaluate binds them from
// Input.Vars on each call, into storage it reuses, and keeps nothing per
// UE.
func (p *Plan) Overlay(vars map[string]string) *Overlay {
	o := &Overlay{plan: p, rules: make([]bound, len(p.open))}
	for k, i := range p.open {
		b := &o.rules[k]
		p.prog.bindInto(b, &p.prog.rules[i], p.lookup(vars))
		// read by evaluations at once: its values are taken apart by each
		b.value.forms.frozen = true
		for j := range b.values {
			b.values[j].forms.frozen = true
		}
	}
	return o
}

// lookup reads the per-UE variables from vars, the others (and a per-UE
// one vars lacks) from the run's.
func (p *Plan) lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if p.perUE[name] {
			if v, ok := vars[name]; ok {
				return v, true
			}
		}
		v, ok := p.vars[name]
		return v, ok
	}
}

// bindOpen binds the rules that read per-UE variables to in.Vars, into the
// evaluator's storage.
func (e *evaluator) bindOpen(p *Plan, vars map[string]string) {
	e.open = grow(e.open, len(p.open))
	lookup := p.lookup(vars)
	for k, i := range p.open {
		c := &p.prog.rules[i]
		p.prog.bindInto(&e.open[k], c, lookup)
		e.parses.want(c, &e.open[k])
	}
}

// bind fills a rule's templates and writes its lab texts.
func (pr *Program) bind(c *crule, lookup func(string) (string, bool)) bound {
	var b bound
	pr.bindInto(&b, c, lookup)
	return b
}

// bindInto is bind into b, reusing the storage of its lists: an
// evaluation binds the rules that read a UE's values into storage it
// keeps from one evaluation to the next.
func (pr *Program) bindInto(b *bound, c *crule, lookup func(string) (string, bool)) {
	r := c.r
	values, start := b.values[:0], b.start
	*b = bound{}
	if o := when(r, lookup); o != nil {
		b.when = o
		return
	}
	fill := func(id int) val {
		if id < 0 {
			return val{}
		}
		t := &pr.tmpls[id]
		var quote func(string) string
		if t.quote {
			quote = regexp.QuoteMeta
		}
		s, err := t.tp.Fill(lookup, quote)
		v := val{s: s, err: err}
		if r.Part == "unquoted" {
			v.unq, v.quoted = unquote(s)
		} else {
			v.unq = s
		}
		return v
	}
	b.value = fill(c.tValue)
	for _, id := range c.tValues {
		v := fill(id)
		if v.err != nil {
			if b.valErr == nil {
				b.valErr, b.valBad = v.err, pr.tmpls[id].src
			}
			continue
		}
		if !pr.tmpls[id].list {
			values = append(values, v)
			continue
		}
		for x := range strings.FieldsSeq(v.s) {
			w := val{s: x, unq: x}
			if r.Part == "unquoted" {
				w.unq, w.quoted = unquote(x)
			}
			values = append(values, w)
		}
	}
	if len(values) > 0 {
		b.values = values
	}
	for i, id := range c.tStart {
		if id >= 0 {
			if len(start) < len(c.tStart) {
				start = make([]val, len(c.tStart))
			}
			b.start = start[:len(c.tStart)]
			b.start[i] = fill(id)
		}
	}
	if r.Regexp != nil {
		b.re = r.Regexp
	} else if c.tPattern >= 0 {
		src := fill(c.tPattern)
		if src.err != nil {
			b.reErr = src.err
		} else if re, err := regexp.Compile(src.s); err != nil {
			b.reErr = fmt.Errorf("expected a valid regular expression after templating, saw %q: %v", src.s, err)
		} else {
			b.re = re
		}
	}
	if b.re != nil {
		b.matches = "matches " + b.re.String()
		b.match = matcherFor(b.re)
	}
	b.exp = pr.labExp(c, b)
}

// when decides a rule whose lab conditions do not hold: none, with the
// reason the flow gives, or error when the lab does not give the value.
func when(r *scenario.Rule, lookup func(string) (string, bool)) *outcome {
	for _, c := range r.When {
		got, ok := lookup(c.Var)
		if !ok && c.HasDefault {
			got, ok = c.Default, true
		}
		if !ok {
			o := errorOut(c.Var+"="+c.Value, "", "lab value "+c.Var+" was not provided")
			return &o
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
			return &outcome{v: None, expected: str(c.Var + "=" + c.Value), observed: str(c.Var + "=" + got), reason: str(why)}
		}
	}
	return nil
}

// labExp is the expected text of a rule where it depends on the lab alone.
func (pr *Program) labExp(c *crule, b *bound) string {
	r := c.r
	switch r.Kind {
	case scenario.KindStartLine:
		var exp []string
		if r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != "" {
			for i, name := range [2]string{"command", "application"} {
				if c.tStart[5+i] >= 0 && b.start[5+i].err == nil {
					exp = append(exp, name+" "+b.start[5+i].s)
				}
			}
			if r.Start.RequestFlag != "" {
				exp = append(exp, rFlag(r.Start.RequestFlag == "true"))
			}
			return strings.Join(exp, ", ")
		}
		for i, name := range [5]string{"method", "Request-URI", "version", "status", "reason"} {
			if c.tStart[i] < 0 {
				continue
			}
			if b.start[i].err != nil {
				break
			}
			exp = append(exp, name+" "+b.start[i].s)
		}
		return strings.Join(exp, ", ")
	case scenario.KindOneOf:
		return joinVals("one of ", b.values, ", ")
	case scenario.KindMembers:
		return joinVals("includes ", b.values, " ")
	case scenario.KindWithin:
		return joinVals("only ", b.values, " ")
	case scenario.KindContains:
		return "includes " + b.value.s
	case scenario.KindExcludes:
		return "does not include " + b.value.s
	case scenario.KindEnvelope:
		return r.Part + " " + b.value.s
	case scenario.KindCompare:
		return pr.compareExp(c, b)
	}
	return ""
}

// joinVals is prefix and the values' texts joined by sep, in one string.
func joinVals(prefix string, vs []val, sep string) string {
	n := len(prefix) + len(sep)*max(len(vs)-1, 0)
	for _, v := range vs {
		n += len(v.s)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(prefix)
	for i, v := range vs {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(v.s)
	}
	return b.String()
}

// compareExp writes the conditions of a compare rule that do not depend on
// the message: a relation with a value, or with the same value's other
// part, and the bounds.
func (pr *Program) compareExp(c *crule, b *bound) string {
	r := c.r
	var conds []string
	switch {
	case r.Op != "" && r.Ref == nil:
		if b.value.err != nil {
			return ""
		}
		n, ok := decimal(b.value.s)
		if !ok {
			b.numErr = true
			return ""
		}
		b.refN = n + int64(r.Offset)
		conds = append(conds, fmt.Sprintf("%s %d (%s)", opText[r.Op], b.refN, b.value.s))
	case r.Op != "" && r.Ref.Self:
		conds = append(conds, opText[r.Op]+" "+c.texts.refWhat)
	}
	return strings.Join(append(conds, bounds(r)...), ", ")
}

// bounds are a compare rule's min and max as conditions.
func bounds(r *scenario.Rule) []string {
	var conds []string
	if r.Min >= 0 {
		conds = append(conds, fmt.Sprintf("≥ %d", r.Min))
	}
	if r.Max >= 0 {
		conds = append(conds, fmt.Sprintf("≤ %d", r.Max))
	}
	return conds
}

// bound is the bound rule i of the evaluation: the overlay's, for a rule
// that reads a per-UE variable.
func (e *evaluator) bound(i int) *bound {
	if k := e.plan.openAt[i]; k > 0 {
		if e.ov != nil {
			return &e.ov.rules[k-1]
		}
		return &e.open[k-1]
	}
	return &e.plan.rules[i]
}
