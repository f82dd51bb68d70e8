package scenarios_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
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
// A Cx table has no example in the seed; it shows its command format
// instead (TS 29.229 6.1), and TestEveryRequiredAVPHasARule covers it.
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
		if tb.Example == "" && tb.Format != "" {
			continue
		}
		if tb.Example == "" {
			t.Errorf("%s: neither an example nor a command format", tb.ID)
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

// TestEveryRequiredAVPHasARule: a Cx table shows the command format of its
// request (TS 29.229 6.1). The Diameter header and every AVP the format
// requires (< fixed > or { required }) have at least one rule; an optional
// AVP ([ optional ], *[ repeated ]) may go unchecked, since its absence
// conforms. Conversely every rule names an AVP of the format (or, for a
// grouped AVP, a member of one), so the format is the table's real list.
func TestEveryRequiredAVPHasARule(t *testing.T) {
	s, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	formats := 0
	for _, tb := range s.Tables {
		if tb.Format == "" {
			continue
		}
		formats++
		covered := map[string]bool{}
		for _, r := range s.AllRules() {
			if r.Table == tb.ID {
				top, _, _ := strings.Cut(r.Header, "/")
				covered[strings.ToLower(top)] = true
			}
		}
		listed := map[string]bool{}
		for i, line := range strings.Split(strings.TrimSpace(tb.Format), "\n") {
			l := strings.TrimSpace(line)
			if i == 0 {
				if !strings.Contains(l, "Diameter Header:") {
					t.Errorf("%s: format line 1: expected the command's Diameter Header, saw %q", tb.ID, l)
				}
				if !covered[strings.ToLower(scenario.DiameterHeader)] {
					t.Errorf("%s: the Diameter header has no rule", tb.ID)
				}
				continue
			}
			required := strings.HasPrefix(l, "<") || strings.HasPrefix(l, "{")
			name := strings.TrimSpace(strings.Trim(strings.TrimPrefix(l, "*"), "<>{}[] "))
			if name == "" || strings.ContainsAny(name, " ") {
				t.Errorf("%s: format line %d: expected one AVP like { User-Name }, saw %q", tb.ID, i+1, l)
				continue
			}
			listed[strings.ToLower(name)] = true
			if required && !covered[strings.ToLower(name)] {
				t.Errorf("%s: required AVP %s has no rule", tb.ID, name)
			}
		}
		for h := range covered {
			if h != strings.ToLower(scenario.DiameterHeader) && !listed[h] {
				t.Errorf("%s: a rule checks %s, which the command format does not list", tb.ID, h)
			}
		}
	}
	if formats == 0 {
		t.Fatal("no table shows a command format")
	}
}
