package sipmsg

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// intoValues are header values that take the parsers down each of their
// paths: name-addr with and without brackets, display names with escapes,
// tel and other schemes, Vias spaced every way RFC 3261 25.1 allows (LWS
// around the slashes), Digest with quoted commas, and broken ones.
var intoValues = []string{
	`<sip:user1_public1@home1.net>;tag=4fa3`,
	`"User, One" <sip:user1_public1@home1.net;lr>;expires=600000;q=0.5`,
	`"a\"b" <sip:[::1]:5060;comp=sigcomp>`,
	`sip:user@example.com;tag=1`,
	`<tel:+1-212-555-1111;phone-context=home1.net>`,
	`tel:+1-212-555-1111`,
	`<urn:service:sos>`,
	`<sip:user:pw@h.net:5060;transport=tcp?Subject=x&Priority=urgent>`,
	`SIP/2.0/UDP [::1]:1357;comp=sigcomp;branch=z9hG4bKnashds7`,
	`SIP / 2.0 / UDP h.net:5062;branch=z9hG4bKc`,
	"SIP/2.0/TCP\tp.net ;branch=z9hG4bKb",
	`SIP/2.0 /UDP  h.net;received=192.0.2.1;rport`,
	"SIP/2.0/UDP\u00a0h.net",
	`SIP/2.0/UDP`,
	`SIP//UDP h.net`,
	`SIP/2.0/UDP/X h.net`,
	`SIP/2.0/ h.net`,
	`/2.0/UDP h.net`,
	`SIP/2.0/UDP [::1`,
	`Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="", uri="sip:registrar.home1.net", response=""`,
	`Digest realm="r, x", nonce="n", algorithm=AKAv1-MD5`,
	`Digest realm`,
	`Digest`,
	`ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; port-c=2468`,
	`icid-value="AyretyU0dm+6O2IrT5tAFrbHLso=023551024";orig-ioi=home1.net`,
	`<sip:a@b`,
	`"unterminated <sip:a@b>`,
	`<sip:a@b>x`,
	``,
	`;;;`,
}

// intoCase parses v with each Into function into storage that last held
// prev, and with the allocating function, and says how they differ.
func intoCase(prev, v string) []string {
	var diffs []string
	same := func(what string, into, fresh any, ierr, ferr error) {
		if (ierr == nil) != (ferr == nil) || (ierr != nil && ierr.Error() != ferr.Error()) {
			diffs = append(diffs, fmt.Sprintf("%s(%q) after %q: error %v, fresh %v", what, v, prev, ierr, ferr))
			return
		}
		if ierr == nil && !reflect.DeepEqual(normal(into), normal(fresh)) {
			diffs = append(diffs, fmt.Sprintf("%s(%q) after %q: %+v, fresh %+v", what, v, prev, into, fresh))
		}
	}
	u := &URI{}
	_ = ParseURIInto(u, prev)
	fu, ferr := ParseURI(v)
	same("ParseURIInto", u, fu, ParseURIInto(u, v), ferr)
	na := &NameAddr{}
	_ = ParseNameAddrInto(na, prev)
	fna, ferr := ParseNameAddr(v)
	same("ParseNameAddrInto", na, fna, ParseNameAddrInto(na, v), ferr)
	via := &Via{}
	_ = ParseViaInto(via, prev)
	fvia, ferr := ParseVia(v)
	same("ParseViaInto", via, fvia, ParseViaInto(via, v), ferr)
	rvia, rerr := referenceVia(v)
	same("ParseVia against the collapsing reading", fvia, rvia, ferr, rerr)
	d := &Digest{}
	_ = ParseDigestInto(d, prev)
	fd, ferr := ParseDigest(v)
	same("ParseDigestInto", d, fd, ParseDigestInto(d, v), ferr)
	_, ps := SplitParams(prev)
	h1, p1 := SplitParamsAppend(ps[:0], v)
	h2, p2 := SplitParams(v)
	same("SplitParamsAppend", [2]any{h1, p1}, [2]any{h2, p2}, nil, nil)
	for _, set := range []string{",", ";", ",;", `"`, "<"} {
		same("indexOutside "+set, indexOutside(v, set), referenceIndexOutside(v, set), nil, nil)
	}
	for _, sep := range []string{",", ";"} {
		same("appendParams "+sep, appendParams(nil, v, sep), referenceParams(v, sep), nil, nil)
	}
	var items []string
	eachItem(v, func(p string) { items = append(items, p) })
	same("eachItem", items, referenceItems(v), nil, nil)
	return diffs
}

// referenceIndexOutside is indexOutside as it read before it skipped
// values that quote and bracket nothing: byte by byte.
func referenceIndexOutside(s, set string) int {
	quoted, angle := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case !angle && strings.IndexByte(set, c) >= 0:
			return i
		}
	}
	return -1
}

// referenceParams and referenceItems split as parseParams and eachItem did
// then, each element searched for with referenceIndexOutside.
func referenceParams(s, sep string) Params {
	var ps Params
	for s != "" {
		i := referenceIndexOutside(s, sep)
		item := s
		if i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p := Param{Name: item}
		if eq := strings.IndexByte(item, '='); eq >= 0 {
			p.Name, p.HasValue = strings.TrimSpace(item[:eq]), true
			p.Value, p.Quoted = unquote(strings.TrimSpace(item[eq+1:]))
		}
		ps = append(ps, p)
	}
	return ps
}

func referenceItems(s string) []string {
	var out []string
	for {
		i := referenceIndexOutside(s, ",")
		item := s
		if i >= 0 {
			item = s[:i]
		}
		if p := strings.TrimSpace(item); p != "" {
			out = append(out, p)
		}
		if i < 0 {
			return out
		}
		s = s[i+1:]
	}
}

// normal makes an empty parameter list nil, so that storage reused from an
// earlier value compares equal to a fresh parse.
func normal(x any) any {
	switch v := x.(type) {
	case *URI:
		c := *v
		if len(c.Params) == 0 {
			c.Params = nil
		}
		return c
	case *NameAddr:
		c := *v
		if len(c.Params) == 0 {
			c.Params = nil
		}
		if c.URI != nil {
			u := normal(c.URI).(URI)
			c.URI = &u
		}
		return c
	case *Via:
		c := *v
		if len(c.Params) == 0 {
			c.Params = nil
		}
		return c
	case *Digest:
		c := *v
		if len(c.Params) == 0 {
			c.Params = nil
		}
		return c
	case [2]any:
		if p, _ := v[1].(Params); len(p) == 0 {
			v[1] = Params(nil)
		}
		return v
	}
	return x
}

// referenceVia is ParseVia as it read before it learned to skip the
// collapsing of a Via already spaced once: every field joined by one
// space, no space beside a slash.
func referenceVia(s string) (*Via, error) {
	head, ps := SplitParams(s)
	j := strings.Join(strings.Fields(head), " ")
	j = strings.ReplaceAll(strings.ReplaceAll(j, " /", "/"), "/ ", "/")
	sp := strings.IndexByte(j, ' ')
	if sp < 0 {
		return nil, fmt.Errorf("sipmsg: expected a Via \"SIP/2.0/transport sent-by\", saw %s", show(s))
	}
	proto := strings.Split(j[:sp], "/")
	if len(proto) != 3 || proto[0] == "" || proto[1] == "" || proto[2] == "" {
		return nil, fmt.Errorf("sipmsg: expected a Via sent-protocol \"SIP/2.0/transport\", saw %s", show(j[:sp]))
	}
	host, port, err := splitHostPort(j[sp+1:])
	if err != nil {
		return nil, fmt.Errorf("sipmsg: in Via sent-by: %w", err)
	}
	return &Via{Protocol: proto[0] + "/" + proto[1], Transport: proto[2], Host: host, Port: port, Params: ps}, nil
}

// TestIntoMatchesFresh: parsing into storage that held another value gives
// what parsing afresh gives, error text included, for every pair of values.
func TestIntoMatchesFresh(t *testing.T) {
	for _, prev := range intoValues {
		for _, v := range intoValues {
			for _, d := range intoCase(prev, v) {
				t.Error(d)
			}
		}
	}
}

// TestIntoDoesNotAllocate: with its storage grown, a reader takes values
// apart without allocating.
func TestIntoDoesNotAllocate(t *testing.T) {
	u, na, via, d := &URI{}, &NameAddr{}, &Via{}, &Digest{}
	var ps Params
	var vs []Value
	h := &Header{Key: "Contact", Value: intoValues[1] + ", " + intoValues[0], Line: 2}
	run := func() {
		_ = ParseURIInto(u, "sip:user1_public1@home1.net;lr;transport=udp")
		_ = ParseNameAddrInto(na, intoValues[1])
		_ = ParseViaInto(via, intoValues[8])
		_ = ParseDigestInto(d, intoValues[19])
		_, ps = SplitParamsAppend(ps[:0], intoValues[23])
		vs = AppendValues(vs[:0], h, true)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations a run, want 0", n)
	}
}

func FuzzParseInto(f *testing.F) {
	for i, v := range intoValues {
		f.Add(intoValues[(i+1)%len(intoValues)], v)
	}
	f.Fuzz(func(t *testing.T, prev, v string) {
		for _, d := range intoCase(prev, v) {
			t.Error(d)
		}
	})
}
