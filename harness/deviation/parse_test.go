package deviation

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]Deviation{
		"5/set-param/WWW-Authenticate/algorithm=MD5": {Step: "5", Action: SetParam, Header: "WWW-Authenticate", Param: "algorithm", Value: "MD5"},
		"5/bad-mac":                       {Step: "5", Action: BadMAC},
		"10/drop-header/P-Associated-URI": {Step: "10", Action: DropHeader, Header: "P-Associated-URI"},
		"13/set-header/Date=a=b":          {Step: "13", Action: SetHeader, Header: "Date", Value: "a=b"},
		"5/start-line=SIP/2.0 499 Broken": {Step: "5", Action: StartLine, Value: "SIP/2.0 499 Broken"},
		"11/as-table":                     {Step: "11", Action: AsTable},
		"10/bad-icv":                      {Step: "10", Action: BadICV},
		"10/wrong-spi":                    {Step: "10", Action: WrongSPI},
		"14/replay":                       {Step: "14", Action: Replay},
		"10/in-clear":                     {Step: "10", Action: InClear},
		"7/in-clear":                      {Step: "7", Action: InClear},
		"5/alg-not-offered":               {Step: "5", Action: AlgNotOffered},
	}
	bad := map[string]string{
		"":                        "expected STEP/ACTION",
		"5":                       "expected STEP/ACTION",
		"5/explode":               "expected an action among",
		"9/bad-mac":               "expected a step among",
		"5/drop-header":           "needs a header",
		"5/set-param/Via":         "needs a parameter",
		"5/set-param/Via/a/b/c=1": "expected STEP/ACTION",
		"5/bad-icv":               "bad-icv applies to step 10",
		"2/in-clear":              "in-clear applies to step 7 or 10",
		"10/replay=2":             "expected no header or value",
	}
	checkParse(t, good, bad)
}

// checkParse requires every good form to parse to its deviation and to come
// back the same through String, and every bad one to be refused saying why.
func checkParse(t *testing.T, good map[string]Deviation, bad map[string]string) {
	t.Helper()
	for in, want := range good {
		got, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("Parse(%q) = %+v, want %+v", in, got, want)
		}
		if again, err := Parse(got.String()); err != nil || again != got {
			t.Errorf("Parse(%q.String()=%q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for in, want := range bad {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want it to say %q", in, err, want)
		}
	}
}
