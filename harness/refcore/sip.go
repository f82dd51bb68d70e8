package refcore

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"imsconform/harness/sipmsg"
)

// Small readers of header values, on harness/sipmsg's grammar.

// digestParams returns the parameters of a Digest challenge or credentials,
// names lower-cased, values unquoted; ok is false when v is no Digest value.
func digestParams(v string) (map[string]string, bool) {
	d, err := sipmsg.ParseDigest(v)
	if err != nil || !strings.EqualFold(d.Scheme, "Digest") {
		return nil, false
	}
	out := make(map[string]string, len(d.Params))
	for _, p := range d.Params {
		if _, dup := out[strings.ToLower(p.Name)]; !dup {
			out[strings.ToLower(p.Name)] = p.Value
		}
	}
	return out, true
}

// headerParam returns a header parameter of a name-addr value (Contact,
// To): the parameters after the address, not those of the URI.
func headerParam(v, name string) (string, bool) {
	if na, err := sipmsg.ParseNameAddr(v); err == nil {
		return na.Params.Get(name)
	}
	_, ps := sipmsg.SplitParams(v)
	return ps.Get(name)
}

// uriOf returns the URI of a name-addr or addr-spec value.
func uriOf(v string) string {
	if na, err := sipmsg.ParseNameAddr(v); err == nil && na.URI != nil {
		return na.URI.Raw
	}
	u, _ := sipmsg.SplitParams(v)
	return strings.Trim(u, "<>")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newBranch() string { return "z9hG4bK" + randHex(8) }
