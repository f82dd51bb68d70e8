package scenario_test

import (
	"strings"
	"testing"
)

func TestLoadContains(t *testing.T) {
	rule := "kind: start-line\n    status: \"401\""
	ok := strings.Replace(table5, rule, "kind: contains\n    value: sec-agree", 1)
	if err := load(ok); err != nil {
		t.Fatalf("contains with a value refused: %v", err)
	}
	if err := load(strings.Replace(table5, rule, "kind: contains\n    value: sec-agree\n    index: all", 1)); err != nil {
		t.Fatalf("contains with index all refused: %v", err)
	}
	for doc, want := range map[string]string{
		strings.Replace(table5, rule, "kind: contains", 1):                                 "expected value for kind contains, saw none",
		strings.Replace(table5, rule, "kind: contains\n    value: x\n    index: \"1\"", 1): `expected no index for kind contains`,
	} {
		err := load(doc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error with %q", err, want)
		}
	}
}
