package scenarios_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"imsconform/harness/scenario"
	"imsconform/scenarios"
)

var update = flag.Bool("update", false, "rewrite ts24206/RULES.md from the scenario")

// TestCatalogue keeps ts24206/RULES.md in step with the scenario files.
func TestCatalogue(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	got := s.Catalogue()
	if *update {
		if err := os.WriteFile("ts24206/RULES.md", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("ts24206/RULES.md")
	if err != nil {
		t.Fatalf("read RULES.md: %v; regenerate with: go test ./scenarios/... -run TestCatalogue -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ts24206/RULES.md is out of date with the scenario; regenerate with: go test ./scenarios/... -run TestCatalogue -update")
	}
}

// TestEveryHeaderLineHasARule: each header line a table's example shows,
// the start line included, is covered by at least one rule of that table.
func TestEveryHeaderLineHasARule(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range s.Tables {
		covered := map[string]bool{}
		for _, r := range s.AllRules() {
			if r.Table == tb.ID {
				covered[r.Header] = true
			}
		}
		for i, line := range bytes.Split([]byte(tb.Example), []byte("\n")) {
			l := string(bytes.TrimSpace(line))
			if l == "" {
				continue
			}
			name := "Request-Line"
			if bytes.HasPrefix([]byte(l), []byte("SIP/2.0")) {
				name = "Status-Line"
			}
			if i > 0 {
				name = l[:bytes.IndexByte([]byte(l), ':')]
			}
			if !covered[name] {
				t.Errorf("%s: %s has no rule", tb.ID, name)
			}
		}
	}
}
