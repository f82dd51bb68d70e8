package scenario

import (
	"bytes"
	"fmt"
	"strings"
)

// Catalogue renders the scenario's rules as a Markdown table: id, profiles,
// table, citation, what must hold, note. It is checked in as RULES.md.
func (s *Scenario) Catalogue() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Rule catalogue: %s\n\n", s.Title)
	fmt.Fprintf(&b, "Generated from the scenario files; do not edit. Regenerate with\n`go test ./scenarios/... -run TestCatalogue -update`.\n\n")
	for _, p := range s.profiles {
		rs, _ := s.Rules(p.Name)
		def := ""
		if p.Default {
			def = " (default)"
		}
		fmt.Fprintf(&b, "- **%s**%s: %d rules. %s\n", p.Name, def, len(rs), p.Description)
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "\n## %s %s (step %s)\n\n", t.ID, t.Title, t.Step)
		if t.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", cell(t.Note))
		}
		if t.Format != "" {
			fmt.Fprintf(&b, "Command format (TS 29.229 6.1):\n\n```\n%s\n```\n\n", strings.TrimRight(t.Format, "\n"))
		}
		b.WriteString("| id | profiles | citation | what must hold | note |\n|---|---|---|---|---|\n")
		for _, r := range s.rules {
			if r.Table != t.ID {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s › %s | %s |\n", r.ID, strings.Join(r.Profiles, ", "),
				cell(r.Citation), cell(r.Header), cell(r.Statement), cell(r.Note))
		}
	}
	return b.Bytes()
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
