package scenario

import (
	"bytes"
	"fmt"
	"strings"
)

// Catalogue renders the scenario's rules as Markdown: per profile its
// reading and its rule counts per level, then per table one row a rule:
// id, level, profiles, citation, what must hold, note. It is checked in as
// RULES.md.
func (s *Scenario) Catalogue() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Rule catalogue: %s\n\n", s.Title)
	fmt.Fprintf(&b, "Generated from the scenario files; do not edit. Regenerate with\n`go test ./scenarios/... -run TestCatalogue -update`.\n\n")
	b.WriteString("Every rule has a level taken from its source: **must** (the RFC or TS says MUST or SHALL), " +
		"**should** (SHOULD), **table** (only the seed's example shows it, and the normative text allows otherwise). " +
		"A run's gate fails on `must` by default; every level is judged and reported.\n\n")
	for _, p := range s.profiles {
		rs, _ := s.Rules(p.Name)
		def := ""
		if p.Default {
			def = " (default)"
		}
		n := map[Level]int{}
		for _, r := range rs {
			n[r.Level]++
		}
		var per []string
		for _, l := range Levels {
			per = append(per, fmt.Sprintf("%d %s", n[l], l))
		}
		fmt.Fprintf(&b, "- **%s**%s: %d rules (%s). %s\n", p.Name, def, len(rs), strings.Join(per, ", "), p.Description)
	}
	b.WriteString("\nRules per table and level (a322 / ts24229):\n\n| table | must | should | table |\n|---|---|---|---|\n")
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "| %s |", t.ID)
		for _, l := range Levels {
			var c []string
			for _, p := range s.profiles {
				k := 0
				for _, r := range s.rules {
					if r.Table == t.ID && r.Level == l && r.InProfile(p.Name) {
						k++
					}
				}
				c = append(c, fmt.Sprint(k))
			}
			fmt.Fprintf(&b, " %s |", strings.Join(c, " / "))
		}
		b.WriteString("\n")
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "\n## %s %s (step %s)\n\n", t.ID, t.Title, t.Step)
		if st, ok := s.Step(t.Step); ok && st.Sender == SenderHarness {
			b.WriteString("Sent by the harness: its rules check the stimulus. A failure is the harness's `error` unless a deviation was asked for on this step; a message the harness did not send is `inconc`.\n\n")
		}
		if t.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", cell(t.Note))
		}
		if t.Format != "" {
			fmt.Fprintf(&b, "Command format (TS 29.229 6.1):\n\n```\n%s\n```\n\n", strings.TrimRight(t.Format, "\n"))
		}
		b.WriteString("| id | level | profiles | citation | what must hold | note |\n|---|---|---|---|---|---|\n")
		for _, r := range s.rules {
			if r.Table != t.ID {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s › %s | %s |\n", r.ID, r.Level, strings.Join(r.Profiles, ", "),
				cell(r.Citation), cell(r.Header), cell(r.Statement), cell(r.Note))
		}
	}
	return b.Bytes()
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
