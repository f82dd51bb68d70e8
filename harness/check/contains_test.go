package check

import (
	"strings"
	"testing"

	"imsconform/harness/scenario"
)

// TestContains: the option-tag rules of the scenario accept a list, or tags
// spread over several header lines, and fail when the tag is not there.
func TestContains(t *testing.T) {
	s := loadTS24206(t)
	byID := map[string]scenario.Rule{}
	for _, r := range s.AllRules() {
		byID[r.ID] = r
	}
	m7 := string(seedInput("a322").Messages["7"].Raw)
	m11 := string(seedForwarded().Messages["11"].Raw)
	rp := func(m, old, new string) string {
		if !strings.Contains(m, old) {
			t.Fatalf("seed message lacks %q", old)
		}
		return strings.Replace(m, old, new, 1)
	}
	cases := []struct {
		name, rule, step, raw string
		want                  Verdict
		observed              string
	}{
		{"list", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: path, gruu"), Pass, "path | gruu"},
		{"list, tag second", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: gruu,path"), Pass, "gruu | path"},
		{"two lines", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: gruu\r\nSupported: path"), Pass, "gruu | path"},
		{"compact form", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "k: gruu, path"), Pass, "gruu | path"},
		{"case", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: PATH"), Pass, "PATH"},
		{"other tag only", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: gruu"), Fail, "gruu"},
		{"tag as a prefix", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported: pathx, gruu"), Fail, "pathx | gruu"},
		{"absent", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path\r\n", ""), Fail, "header absent"},
		{"empty", "A.3.2.2-7/Supported/path", "7", rp(m7, "Supported: path", "Supported:"), Fail, ""},
		{"require list", "A.3.2.2-7/Require/sec-agree", "7", rp(m7, "Require: sec-agree", "Require: precondition, sec-agree"), Pass, "precondition | sec-agree"},
		{"require lines", "A.3.2.2-7/Require/sec-agree", "7", rp(m7, "Require: sec-agree", "Require: precondition\r\nRequire: sec-agree"), Pass, "precondition | sec-agree"},
		{"require other only", "A.3.2.2-7/Require/sec-agree", "7", rp(m7, "Require: sec-agree", "Require: precondition"), Fail, "precondition"},
		{"proxy-require list", "A.3.2.2-7/Proxy-Require/sec-agree", "7", rp(m7, "Proxy-Require: sec-agree", "Proxy-Require: sec-agree, foo"), Pass, "sec-agree | foo"},
		{"proxy-require other only", "A.3.2.2-7/Proxy-Require/sec-agree", "7", rp(m7, "Proxy-Require: sec-agree", "Proxy-Require: foo"), Fail, "foo"},
		{"11 require list", "A.3.2.2-11/Require/path", "11", rp(m11, "Require: path", "Require: path, gruu"), Pass, "path | gruu"},
		{"11 require other only", "A.3.2.2-11/Require/path", "11", rp(m11, "Require: path", "Require: gruu"), Fail, "gruu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok := byID[c.rule]
			if !ok {
				t.Fatalf("no rule %s", c.rule)
			}
			if r.Kind != scenario.KindContains {
				t.Fatalf("%s is kind %s, want contains", c.rule, r.Kind)
			}
			in := seedInput("a322")
			if c.step == "11" {
				in = seedForwarded()
			}
			in.Messages[c.step] = withRaw(in.Messages[c.step], c.raw)
			in.Deviated = map[string]bool{c.step: true} // a broken stimulus on purpose: fail, not error
			got := Evaluate([]scenario.Rule{r}, in)[0]
			if got.Verdict != c.want || got.Observed != c.observed || got.Expected != "includes "+r.Value {
				t.Fatalf("got %s (expected %q observed %q reason %q), want %s observing %q", got.Verdict, got.Expected, got.Observed, got.Reason, c.want, c.observed)
			}
			if c.want == Fail && got.Reason == "" {
				t.Fatal("a failure without a reason")
			}
		})
	}
}

// TestContainsExactCase: without ignore_case the tag must match exactly, and
// a templated value is filled from the lab.
func TestContainsExactCase(t *testing.T) {
	r := rule(scenario.KindContains, "Supported", func(r *scenario.Rule) { r.Value = "path" })
	in := seedInput("a322")
	in.Messages["7"] = withRaw(in.Messages["7"], strings.Replace(string(in.Messages["7"].Raw), "Supported: path", "Supported: gruu, PATH", 1))
	if got := Evaluate([]scenario.Rule{r}, in)[0]; got.Verdict != Fail || !strings.Contains(got.Reason, "does not include path") {
		t.Fatalf("got %s %q, want fail", got.Verdict, got.Reason)
	}
	r.Value = "{{nosuch}}"
	if got := Evaluate([]scenario.Rule{r}, seedInput("a322"))[0]; got.Verdict != Error {
		t.Fatalf("unfilled variable: got %s, want error", got.Verdict)
	}
}
