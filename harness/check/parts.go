package check

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"imsconform/harness/sipmsg"
)

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
	pc, err := part(&valueParse{}, v, p)
	return pc.text, pc.ok, err
}

// part is Part, reading and filling c, the parsed forms of v; c may be nil
// for the whole value.
func part(c *valueParse, v, p string) (piece, error) {
	switch {
	case p == "" || p == "value":
		return piece{v, true, false}, nil
	case c == nil:
		return part(&valueParse{}, v, p)
	case p == "expiry":
		return part(c, v, "param:expires")
	case p == "token" || p == "unquoted" || strings.HasPrefix(p, "param:"):
		if !c.headDone {
			c.headDone = true
			c.head, c.params = sipmsg.SplitParams(v)
			if strings.Contains(c.head, "=") && !strings.Contains(c.head, "<") && !strings.HasPrefix(c.head, `"`) {
				// a value made of parameters only, e.g. P-Charging-Vector
				_, c.params = sipmsg.SplitParams(";" + v)
			}
		}
		switch p {
		case "token":
			return piece{c.head, c.head != "", false}, nil
		case "unquoted":
			t, q := unquote(c.head)
			return piece{t, c.head != "", q}, nil
		}
		return paramPiece(c.params, p[len("param:"):]), nil
	case p == "aka.rand" || p == "aka.autn":
		n, err := part(c, v, "digest:nonce")
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
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}
