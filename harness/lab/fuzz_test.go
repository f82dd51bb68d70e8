package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuzzInput bounds the input a fuzz target of this package reads: the
// fuzzer minimises every new input in time quadratic in its length, and
// above a few hundred bytes of YAML it spent most of a run doing so.
const maxFuzzInput = 256

// FuzzParse: any bytes give either a valid profile or one *FieldError, never
// a panic, and a loaded key never prints. Seeds: testdata/fuzz/FuzzParse and
// each top-level section of the example lab file, without its comments. (The
// whole 5.6 KB file as one seed had the fuzzer spend most of its time
// minimising mutations of it: 22,833 executions in 60 s.)
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "lab.example.yaml")); err == nil {
		for _, sec := range sections(string(data)) {
			f.Add([]byte(sec))
		}
	} else {
		f.Fatalf("reading the example lab file for seeds: %v", err)
	}
	f.Add([]byte("sut: {pcscf: \"[::1]:5060\", transport: tcp}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzInput)]
		p, err := Parse("lab.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a profile and an error: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "lab.yaml") {
				t.Fatalf("Parse error %q (%T): want a *FieldError naming lab.yaml", err, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse gave a profile that does not validate: %v", err)
		}
		// The subscriber, where K is, in every verb (printing the whole
		// profile by reflection cost as much as parsing it).
		k, s := p.Subscriber.K.Reveal(), p.Subscriber
		if out := fmt.Sprintf("%v %+v %#v %s", s, s, s, s.K); k != "" && strings.Contains(out, k) {
			t.Fatalf("printing the profile shows K")
		}
	})
}

// sections splits a YAML file into its top-level sections (a line that does
// not start with a space begins one), without comment lines and trailing
// comments.
func sections(yaml string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(yaml, "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = strings.TrimRight(l[:i], " ")
		}
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if l[0] != ' ' && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(l + "\n")
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
