package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any bytes give either a valid profile or one *FieldError, never
// a panic, and a loaded key never prints. Seeds: testdata/fuzz/FuzzParse and
// the example lab file.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "lab.example.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("sut: {pcscf: \"[::1]:5060\", transport: tcp}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
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
		k := p.Subscriber.K.Reveal()
		if out := fmt.Sprintf("%v %+v %#v", p, p, p.Redacted()); strings.Contains(out, k) {
			t.Fatalf("printing the profile shows K")
		}
	})
}
