package expect

import (
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
)

// FuzzParse: any bytes give a file or an error naming the file, never a
// panic; a file that loads can be applied to a run without panicking.
// Inputs above 8 KiB are left out: an expectations file is the user's own,
// a few KiB, and the YAML parser's cost grows with the input, so that the
// fuzzer spent its time on long inputs rather than on many.
func FuzzParse(f *testing.F) {
	f.Add([]byte("expectations:\n  - {rule: 'A.3.2.2-11/Via/*', verdict: fail, reason: r, expires: 2027-01-01, scope: {profile: a322}}\n"))
	f.Add([]byte("scope: {sut: kamailio, version: '5.6.*'}\nrules_in_scope: 3\n"))
	f.Add([]byte("expectations: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<10 {
			return
		}
		file, err := Parse("exp.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "exp.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		Apply(file, []check.Result{{RuleID: "A.3.2.2-11/Via/count", Verdict: check.Fail}}, Run{Profile: "a322", Today: time.Now()}, Options{})
	})
}
