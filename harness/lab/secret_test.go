package lab

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	testK   = "465b5ce8b199b49faa5f0a2ee238a6bc"
	testOP  = "cdc202d5123e20f62b6d676ac72cb318"
	testOPc = "cd63cb71954a9f4e48a5994e37a02baf"
)

// leaks reports which key material s holds, in any case or as hex of hex.
func leaks(s string) []string {
	var found []string
	low := strings.ToLower(s)
	for _, k := range []string{testK, testOP, testOPc} {
		if strings.Contains(low, k) || strings.Contains(low, k[:16]) || strings.Contains(low, fmt.Sprintf("%x", k[:8])) {
			found = append(found, k[:8]+"…")
		}
	}
	return found
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(testK)
	if s.Reveal() != testK {
		t.Fatalf("Reveal() = %q, want the key", s.Reveal())
	}
	p := Default()
	p.Subscriber.OPc = NewSecret(testOPc)
	p.Subscriber.OP = NewSecret(testOP) // both set: printing must hide both
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%-20s", "%T %v"}
	values := map[string]any{
		"*Profile":   p,
		"Profile":    *p,
		"Subscriber": p.Subscriber,
		"Secret":     s,
		"*Secret":    &s,
		"[]Secret":   []Secret{s},
		"map":        map[string]Secret{"k": s},
		"Redacted":   p.Redacted(),
	}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			if l := leaks(out); l != nil {
				t.Errorf("Sprintf(%q, %s) leaks %v: %s", verb, name, l, out)
			}
		}
		if out := fmt.Sprint(v) + fmt.Sprintln(v); leaks(out) != nil {
			t.Errorf("Sprint(%s) leaks: %s", name, out)
		}
	}
	if got := fmt.Sprintf("%v|%s|%#v|%x|%d|%q", s, s, s, s, s, s); got != "[redacted]|[redacted]|[redacted]|[redacted]|[redacted]|[redacted]" {
		t.Errorf("Secret verbs = %q, want [redacted] for each", got)
	}
	if s.String() != "[redacted]" || s.GoString() != "[redacted]" {
		t.Errorf("String/GoString = %q/%q", s.String(), s.GoString())
	}

	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if leaks(string(j)) != nil || !strings.Contains(string(j), `"K":"[redacted]"`) {
		t.Errorf("json.Marshal(profile) = %s, want K as [redacted] and no key material", j)
	}
	y, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if leaks(string(y)) != nil || !strings.Contains(string(y), "k: '[redacted]'") {
		t.Errorf("yaml.Marshal(profile) = %s, want k: '[redacted]' and no key material", y)
	}
	txt, err := s.MarshalText()
	if err != nil || string(txt) != "[redacted]" {
		t.Errorf("MarshalText = %q, %v", txt, err)
	}
	if j, err := json.Marshal(map[Secret]int{s: 1}); err != nil || leaks(string(j)) != nil {
		t.Errorf("json.Marshal(map key) = %s, %v", j, err)
	}
}

func TestRedactedCopyHoldsNoKeyMaterial(t *testing.T) {
	p := Default()
	r := p.Redacted()
	if r.Subscriber.K.Reveal() != "[redacted]" || r.Subscriber.OP.Reveal() != "[redacted]" {
		t.Errorf("Redacted: K %q, OP %q; want [redacted]", r.Subscriber.K.Reveal(), r.Subscriber.OP.Reveal())
	}
	if !r.Subscriber.OPc.IsZero() {
		t.Errorf("Redacted: OPc was zero and should stay zero")
	}
	if p.Subscriber.K.Reveal() != testK {
		t.Errorf("Redacted changed the original")
	}
	r.Subscriber.IMPUs[0] = "sip:changed@x"
	if p.Subscriber.IMPUs[0] == "sip:changed@x" {
		t.Errorf("Redacted shares the IMPU slice with the original")
	}
	// A reflective dump (%#v walks unexported fields of non-Formatter values)
	// of the redacted copy's subscriber holds nothing.
	if l := leaks(fmt.Sprintf("%#v", struct{ S Subscriber }{r.Subscriber})); l != nil {
		t.Errorf("redacted copy leaks %v", l)
	}
}

func TestErrorsNeverHoldKeyMaterial(t *testing.T) {
	bad := []string{
		"subscriber:\n  k: " + testK + "ff\n",                                 // too long
		"subscriber:\n  k: " + testK[:30] + "\n",                              // too short
		"subscriber:\n  k: " + testK[:31] + "g\n",                             // not hex
		"subscriber:\n  k: [" + testK + "]\n",                                 // a list
		"subscriber:\n  k: {a: " + testK + "}\n",                              // a mapping
		"subscriber:\n  k " + testK + "\n  op: x\n",                           // syntax
		"subscriber:\n  " + testK + ": x\n",                                   // as a field name
		"subscriber:\n  op: " + testK + "\n  opc: " + testOPc + "\n",          // both op and opc
		"subscriber:\n  amf: " + testK + "\n",                                 // key in the wrong field
		"sut:\n  pcscf: " + testK + "\n",                                      // key in a string field
		"ue:\n  port: " + testK + "\n",                                        // key in an int field
		"subscriber:\n  k: \"" + testK + "\n",                                 // unterminated
		"subscriber:\n  k: " + testK + "\n  k: " + testOP + "\n",              // duplicate
		"subscriber:\n  k: " + testK + "\n  op: " + testOP + "\n\tbad: tab\n", // tab
	}
	for _, y := range bad {
		_, err := Parse("lab.yaml", []byte(y))
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want one", y)
			continue
		}
		if l := leaks(err.Error()); l != nil {
			t.Errorf("Parse error leaks %v: %s", l, err)
		}
		if !strings.HasPrefix(err.Error(), "lab.yaml") {
			t.Errorf("error %q does not name the file", err)
		}
	}
	for _, set := range []map[string]string{
		{"subscriber.k": testK + "0"},
		{"subscriber.op": testK + "x"},
		{"sut.pcscf": testK},
		{testK: "x"},
	} {
		err := Default().Override(set)
		if err == nil {
			t.Errorf("Override(%d keys) = nil, want an error", len(set))
			continue
		}
		if l := leaks(err.Error()); l != nil {
			t.Errorf("Override error leaks %v: %s", l, err)
		}
	}
}
