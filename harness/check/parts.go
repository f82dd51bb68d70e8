package check

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"imsconform/harness/sipmsg"
)

// partKind is a part of a header value (see scenario.ValidPart), read once
// when the rules compile.
type partKind uint8

const (
	partValue partKind = iota
	partExpiry
	partToken
	partUnquoted
	partParam
	partAKARand
	partAKAAutn
	partDigestScheme
	partDigestParam
	partViaProtocol
	partViaTransport
	partViaHost
	partViaPort
	partViaSentBy
	partCSeqSeq
	partCSeqMethod
	partDisplay
	partURI
	partURIScheme
	partURIUser
	partURIHost
	partURIPort
	partURIHostPort
	partURIParam
	partUnknown // taken from a name-addr, but no part of one: an error
)

// partSpec is a compiled part: its kind and, for a parameter, its name.
type partSpec struct {
	kind partKind
	name string
	raw  string
}

// compilePart reads a part the way the rules name them; a name no kind
// knows is read as SIP reads the value it would come from, and errs there.
func compilePart(p string) partSpec {
	ps := partSpec{raw: p}
	tail := func(prefix string) string { return p[min(len(prefix), len(p)):] }
	switch {
	case p == "" || p == "value":
		ps.kind = partValue
	case p == "expiry":
		ps.kind, ps.name = partExpiry, "expires"
	case p == "token":
		ps.kind = partToken
	case p == "unquoted":
		ps.kind = partUnquoted
	case strings.HasPrefix(p, "param:"):
		ps.kind, ps.name = partParam, tail("param:")
	case p == "aka.rand":
		ps.kind = partAKARand
	case p == "aka.autn":
		ps.kind = partAKAAutn
	case strings.HasPrefix(p, "digest"):
		ps.kind, ps.name = partDigestParam, tail("digest:")
		if p == "digest.scheme" {
			ps.kind = partDigestScheme
		}
	case strings.HasPrefix(p, "via."):
		ps.kind = viaParts[p]
		if ps.kind == partValue {
			ps.kind = partViaSentBy
		}
	case strings.HasPrefix(p, "cseq."):
		ps.kind = partCSeqMethod
		if p == "cseq.seq" {
			ps.kind = partCSeqSeq
		}
	default:
		ps.kind = nameAddrParts[p]
		if ps.kind == partValue {
			ps.kind = partUnknown
			if name, ok := strings.CutPrefix(p, "uri.param:"); ok {
				ps.kind, ps.name = partURIParam, name
			}
		}
	}
	return ps
}

var (
	viaParts = map[string]partKind{"via.protocol": partViaProtocol, "via.transport": partViaTransport,
		"via.host": partViaHost, "via.port": partViaPort}
	nameAddrParts = map[string]partKind{"display": partDisplay, "uri": partURI, "uri.scheme": partURIScheme,
		"uri.user": partURIUser, "uri.host": partURIHost, "uri.port": partURIPort, "uri.hostport": partURIHostPort}
)

// piece is one part of a header value: its text, whether it is there, and
// whether it was written as a quoted-string (RFC 3261 7.3.1: a quoted
// value compares case-sensitively, a token does not).
type piece struct {
	text   string
	ok     bool
	quoted bool
}

// Part takes the named part of one header value (see scenario.ValidPart).
// ok is false when the part is not there (e.g. a missing parameter).
func Part(header, v, p string) (string, bool, error) {
	e := &evaluator{}
	e.vals.add(v, 0)
	pc, err := e.part(0, compilePart(p))
	return pc.text, pc.ok, err
}

// part takes part p of value vi, reading the forms the value has been
// parsed into and parsing it, once, into those it lacks.
func (e *evaluator) part(vi int, p partSpec) (piece, error) {
	v := e.vals.get(vi)
	switch p.kind {
	case partValue:
		return piece{v.text, true, false}, nil
	case partExpiry, partToken, partUnquoted, partParam:
		e.splitHead(v)
		switch p.kind {
		case partToken:
			return piece{v.head, v.head != "", false}, nil
		case partUnquoted:
			t, q := unquote(v.head)
			return piece{t, v.head != "", q}, nil
		}
		return paramPiece(v.params, p.name), nil
	case partAKARand, partAKAAutn:
		n, err := e.part(vi, partSpec{kind: partDigestParam, name: "nonce"})
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
		if p.kind == partAKARand {
			return piece{hex.EncodeToString(b[:16]), true, false}, nil
		}
		return piece{hex.EncodeToString(b[16:32]), true, false}, nil
	case partDigestScheme, partDigestParam:
		d := formOf(e, digestForm, field{text: v.text, fm: &v.whole})
		if d.err != nil {
			return piece{}, d.err
		}
		if p.kind == partDigestScheme {
			return piece{d.v.Scheme, true, false}, nil
		}
		return paramPiece(d.v.Params, p.name), nil
	case partViaProtocol, partViaTransport, partViaHost, partViaPort, partViaSentBy:
		x := formOf(e, viaForm, field{text: v.text, fm: &v.whole})
		if x.err != nil {
			return piece{}, x.err
		}
		via := &x.v
		switch p.kind {
		case partViaProtocol:
			return piece{via.Protocol, true, false}, nil
		case partViaTransport:
			return piece{via.Transport, true, false}, nil
		case partViaHost:
			return piece{via.Host, true, false}, nil
		case partViaPort:
			return piece{via.Port, via.Port != "", false}, nil
		}
		return piece{hostPort(v.text, via.Host, via.Port), true, false}, nil
	case partCSeqSeq, partCSeqMethod:
		seq, method, ok := twoFields(v.text)
		if !ok {
			return piece{}, fmt.Errorf("expected \"number METHOD\", saw %q", v.text)
		}
		if p.kind == partCSeqSeq {
			return piece{seq, true, false}, nil
		}
		return piece{method, true, false}, nil
	}
	x := formOf(e, nameAddrForm, field{text: v.text, fm: &v.whole})
	if x.err != nil {
		return piece{}, x.err
	}
	if v.uri.uri == nil {
		v.uri.uri = lookup(e, uriForm, x.v.URI.Raw) // filed with the name-addr
	}
	na := &x.v
	u := na.URI
	switch p.kind {
	case partDisplay:
		return piece{na.Display, na.Display != "", false}, nil
	case partURI:
		return piece{u.Raw, true, false}, nil
	case partURIScheme:
		return piece{u.Scheme, true, false}, nil
	case partURIUser:
		return piece{u.User, u.User != "", false}, nil
	case partURIHost:
		return piece{u.Host, u.Host != "", false}, nil
	case partURIPort:
		return piece{u.Port, u.Port != "", false}, nil
	case partURIHostPort:
		return piece{hostPort(u.Raw, u.Host, u.Port), u.Host != "", false}, nil
	case partURIParam:
		return paramPiece(u.Params, p.name), nil
	}
	return piece{}, fmt.Errorf("expected a known part, saw %q", p.raw)
}

// splitHead takes a value apart into its token and ;-parameters, once.
func (e *evaluator) splitHead(v *value) {
	if v.headDone {
		return
	}
	v.headDone = true
	v.head, v.params = sipmsg.SplitParamsAppend(v.params[:0], v.text)
	if strings.Contains(v.head, "=") && !strings.Contains(v.head, "<") && !strings.HasPrefix(v.head, `"`) {
		// a value made of parameters only, e.g. P-Charging-Vector
		v.params, v.paramOnly = sipmsg.AppendParams(v.params[:0], v.text), true
	}
}

// hostPort is host, or host:port when a port is there (Via.SentBy,
// URI.HostPort), taken from src, the text they were read from, where it
// stands there as it is, so that it does not allocate.
func hostPort(src, host, port string) string {
	if port == "" {
		return host
	}
	for i := 0; i+len(host) < len(src); {
		j := strings.Index(src[i:], host)
		if j < 0 {
			break
		}
		k := i + j + len(host)
		if k < len(src) && src[k] == ':' && strings.HasPrefix(src[k+1:], port) {
			return src[i+j : k+1+len(port)]
		}
		i += j + 1
	}
	return host + ":" + port
}

// twoFields splits "number METHOD" as strings.Fields does, reporting
// whether there are exactly two fields.
func twoFields(s string) (string, string, bool) {
	if isASCII(s) {
		var f [2]string
		n := 0
		for i := 0; i < len(s); {
			for i < len(s) && asciiSpace(s[i]) {
				i++
			}
			j := i
			for j < len(s) && !asciiSpace(s[j]) {
				j++
			}
			if j > i {
				if n == 2 {
					return "", "", false
				}
				f[n], n = s[i:j], n+1
			}
			i = j
		}
		return f[0], f[1], n == 2
	}
	f := strings.Fields(s)
	if len(f) != 2 {
		return "", "", false
	}
	return f[0], f[1], true
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// paramPiece is the parameter name (case-insensitive) of ps.
func paramPiece(ps sipmsg.Params, name string) piece {
	if x, ok := paramOf(ps, name); ok {
		return piece{x.Value, true, x.Quoted}
	}
	return piece{}
}

// unquote takes the quotes and backslash escapes off a quoted-string
// (RFC 3261 25.1); other text is returned as it is.
func unquote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s, false
	}
	if strings.IndexByte(s[1:len(s)-1], '\\') < 0 {
		return s[1 : len(s)-1], true
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
