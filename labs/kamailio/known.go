package kamailio

import (
	_ "embed"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"imsconform/harness/check"
	"imsconform/harness/scenario"
)

//go:embed known-results.yaml
var knownYAML []byte

// Known is the list of rules that do not pass against Kamailio as this lab
// runs it, per profile, each with the verdict it must get and why.
type Known struct {
	Kamailio string                          `yaml:"kamailio"`
	Profiles map[string]map[string]KnownRule `yaml:"profiles"`
}

// KnownRule is one rule's expected verdict against Kamailio, the rule's
// level (only a failing must rule gates), and why.
type KnownRule struct {
	Verdict check.Verdict  `yaml:"verdict"`
	Level   scenario.Level `yaml:"level"`
	Why     string         `yaml:"why"`
}

// KnownResults reads known-results.yaml.
func KnownResults() (*Known, error) {
	var k Known
	if err := yaml.Unmarshal(knownYAML, &k); err != nil {
		return nil, fmt.Errorf("known-results.yaml: %w", err)
	}
	return &k, nil
}

// Compare lists, for one profile, every rule whose verdict differs from the
// known one (a rule not listed must pass) and every listed rule the run did
// not judge. An empty list means the run matches.
func (k *Known) Compare(profile string, results []check.Result) []string {
	want := k.Profiles[profile]
	var diffs []string
	seen := map[string]bool{}
	for _, r := range results {
		seen[r.RuleID] = true
		exp := check.Pass
		why := "not listed in known-results.yaml, so it must pass"
		if kr, ok := want[r.RuleID]; ok {
			exp, why = kr.Verdict, kr.Why
		}
		if r.Verdict != exp {
			diffs = append(diffs, fmt.Sprintf("%s: expected %s (%s), got %s: observed %q, %s", r.RuleID, exp, why, r.Verdict, r.Observed, r.Reason))
		}
		if kr, ok := want[r.RuleID]; ok && kr.Level != r.Level {
			diffs = append(diffs, fmt.Sprintf("%s: known-results.yaml gives level %q, the rule's is %q", r.RuleID, kr.Level, r.Level))
		}
	}
	for id := range want {
		if !seen[id] {
			diffs = append(diffs, fmt.Sprintf("%s: listed in known-results.yaml for %s, but the run has no such rule", id, profile))
		}
	}
	sort.Strings(diffs)
	return diffs
}
