package scenario

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// referenceExpand is Expand as it read before templates were split once:
// the text searched for {{ and }} on every fill.
func referenceExpand(t string, vars map[string]string, quote func(string) string) (string, error) {
	if !strings.Contains(t, "{{") {
		return t, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(t, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(t[i:], "}}")
		if j < 0 {
			break
		}
		name := strings.TrimSpace(t[i+2 : i+j])
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("expected lab value {{%s}}, saw none in this run's variables", name)
		}
		if quote != nil {
			v = quote(v)
		}
		b.WriteString(t[:i])
		b.WriteString(v)
		t = t[i+j+2:]
	}
	b.WriteString(t)
	return b.String(), nil
}

var templates = []string{"", "plain", "{{impu}}", "{{ impu }}", "sip:orig@{{scscf_name}};lr", "{{a}}{{b}}", "{{impu}}{{", "x{{", "{{}}",
	"{{ nosuch }}", "a{{impu}}b{{impu}}c", "{{impus}}", "{{\u00a0impus}}", "{{a}}}}", "{{a{b}}", "{{{a}}}", "}}{{a}}"}

var templateVars = map[string]string{"impu": "sip:u@h", "scscf_name": "s.h", "a": "A.", "b": "B", "impus": "sip:1 sip:2", "": "empty"}

func templateCase(s string) []string {
	var diffs []string
	for _, quote := range []func(string) string{nil, regexp.QuoteMeta} {
		got, err := Expand(s, templateVars, quote)
		want, werr := referenceExpand(s, templateVars, quote)
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			diffs = append(diffs, fmt.Sprintf("Expand(%q) = %q, %v; before %q, %v", s, got, err, want, werr))
		}
	}
	name, ok := wholeVar(s)
	m := reVar.FindStringSubmatchIndex(s)
	wok := m != nil && m[0] == 0 && m[1] == len(s)
	wname := ""
	if wok {
		wname = s[m[2]:m[3]]
	}
	if ok != wok || name != wname {
		diffs = append(diffs, fmt.Sprintf("wholeVar(%q) = %q, %v; reVar says %q, %v", s, name, ok, wname, wok))
	}
	return diffs
}

// TestTemplates: a template split once fills as the text searched on every
// fill did, quoted or not, and wholeVar says what reVar says of a template
// it matches whole.
func TestTemplates(t *testing.T) {
	for _, s := range templates {
		for _, d := range templateCase(s) {
			t.Error(d)
		}
	}
}

func FuzzTemplates(f *testing.F) {
	for _, s := range templates {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range templateCase(s) {
			t.Error(d)
		}
	})
}
