package check

import (
	"imsconform/harness/sipmsg"
)

// parses holds values taken apart, by their text: the URIs, name-addrs,
// Vias, Digests and parameter lists the rules compare. An evaluation keeps
// its own (reset, with their storage, for the next one); a Plan keeps
// those of the lab's values, read-only once bound.
type parses struct {
	uris    cache[uriRef]
	nas     cache[sipmsg.NameAddr]
	vias    cache[sipmsg.Via]
	digests cache[sipmsg.Digest]
	pvs     cache[paramValue]
}

// uriRef is a URI parsed on its own (own) or as part of a name-addr.
type uriRef struct {
	own sipmsg.URI
	u   *sipmsg.URI
}

// entry is one text taken apart, or why it could not be.
type entry[T any] struct {
	v   T
	err error
}

// cache maps texts to their entries; the entries are reused from one
// evaluation to the next.
type cache[T any] struct {
	m    map[string]*entry[T]
	pool []*entry[T]
	n    int
}

func (c *cache[T]) find(s string) *entry[T] { return c.m[s] }

func (c *cache[T]) add(s string) *entry[T] {
	if c.m == nil {
		c.m = map[string]*entry[T]{}
	}
	if c.n == len(c.pool) {
		c.pool = append(c.pool, new(entry[T]))
	}
	x := c.pool[c.n]
	c.n++
	c.m[s] = x
	return x
}

func (c *cache[T]) reset() {
	clear(c.m)
	c.n = 0
}

func newParses() parses { return parses{} }

func (p *parses) reset() {
	p.uris.reset()
	p.nas.reset()
	p.vias.reset()
	p.digests.reset()
	p.pvs.reset()
}

// form is one way of taking a text apart: where parses keep the texts so
// taken, where forms keep the one of their text, and how to take one.
type form[T any] struct {
	cache func(*parses) *cache[T]
	slot  func(*forms) **entry[T]
	parse func(*parses, *entry[T], string)
}

var (
	uriForm = form[uriRef]{func(p *parses) *cache[uriRef] { return &p.uris }, func(f *forms) **entry[uriRef] { return &f.uri },
		func(_ *parses, x *entry[uriRef], s string) {
			x.err = sipmsg.ParseURIInto(&x.v.own, s)
			x.v.u = &x.v.own
		}}
	// a name-addr files its URI under the URI's text, for the rules that
	// compare the URI alone
	nameAddrForm = form[sipmsg.NameAddr]{func(p *parses) *cache[sipmsg.NameAddr] { return &p.nas }, func(f *forms) **entry[sipmsg.NameAddr] { return &f.na },
		func(p *parses, x *entry[sipmsg.NameAddr], s string) {
			x.err = sipmsg.ParseNameAddrInto(&x.v, s)
			if x.err == nil && p.uris.find(x.v.URI.Raw) == nil {
				u := p.uris.add(x.v.URI.Raw)
				u.err, u.v.u = nil, x.v.URI
			}
		}}
	viaForm = form[sipmsg.Via]{func(p *parses) *cache[sipmsg.Via] { return &p.vias }, func(f *forms) **entry[sipmsg.Via] { return &f.via },
		func(_ *parses, x *entry[sipmsg.Via], s string) { x.err = sipmsg.ParseViaInto(&x.v, s) }}
	digestForm = form[sipmsg.Digest]{func(p *parses) *cache[sipmsg.Digest] { return &p.digests }, func(f *forms) **entry[sipmsg.Digest] { return &f.dig },
		func(_ *parses, x *entry[sipmsg.Digest], s string) { x.err = sipmsg.ParseDigestInto(&x.v, s) }}
	paramValueForm = form[paramValue]{func(p *parses) *cache[paramValue] { return &p.pvs }, func(f *forms) **entry[paramValue] { return &f.pv },
		func(_ *parses, x *entry[paramValue], s string) { splitParamValue(&x.v, s) }}
)

// take is s taken apart as fm: the parses' entry, made when there is none.
func take[T any](p *parses, fm form[T], s string) *entry[T] {
	c := fm.cache(p)
	if x := c.find(s); x != nil {
		return x
	}
	x := c.add(s)
	fm.parse(p, x, s)
	return x
}

// lookup is s taken apart as fm for an evaluation: a lab value the plan
// (or the overlay) took apart, else the evaluation's own.
func lookup[T any](e *evaluator, fm form[T], s string) *entry[T] {
	if e.plan != nil {
		if x := fm.cache(&e.plan.wants).find(s); x != nil {
			return x
		}
	}
	return take(&e.parses, fm, s)
}

// formOf is f's text taken apart as fm: the form f keeps, else looked up
// (and kept, for a text of the message).
func formOf[T any](e *evaluator, fm form[T], f field) *entry[T] {
	if f.fm != nil {
		if x := *fm.slot(f.fm); x != nil {
			return x
		}
	}
	x := lookup(e, fm, f.text)
	if f.fm != nil && !f.fm.frozen {
		*fm.slot(f.fm) = x
	}
	return x
}

// want takes apart, once per run, the lab values a rule compares fields
// with, as its comparison reads them.
func (p *parses) want(c *crule, b *bound) {
	if b.when != nil {
		return
	}
	if b.value.err == nil {
		p.forms(&b.value, c.eq)
	}
	for i := range b.values {
		p.forms(&b.values[i], c.eq)
		p.forms(&b.values[i], c.eqList)
	}
}

// forms takes a lab value apart for a comparison and freezes its forms: an
// evaluation reads them and does not write.
func (p *parses) forms(v *val, eq eqKind) {
	f := &v.forms
	f.frozen = true
	switch eq {
	case eqURI:
		f.uri = take(p, uriForm, v.unq)
	case eqNameAddr:
		f.na = take(p, nameAddrForm, v.unq)
	case eqVia:
		f.via = take(p, viaForm, v.unq)
	case eqDigest:
		f.dig = take(p, digestForm, v.unq)
	case eqParamValue:
		f.pv = take(p, paramValueForm, v.unq)
	}
}

// forms are the parsed forms of one text — a header value, a URI of one,
// a lab value — kept with it once found, so that a rule that compares it
// again does not look the text up. A lab value's forms are frozen: found
// when the plan is bound, read by every evaluation.
type forms struct {
	frozen bool
	uri    *entry[uriRef]
	na     *entry[sipmsg.NameAddr]
	via    *entry[sipmsg.Via]
	dig    *entry[sipmsg.Digest]
	pv     *entry[paramValue]
}
