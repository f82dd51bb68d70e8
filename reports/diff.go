package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"imsconform/harness/rundiff"
)

// The comparison of two runs (harness/rundiff) as people and machines read
// it: a table for the terminal, diff.json, and diff.html, written beside a
// run's reports (the suite's --baseline) or where imsdiff is told.

// Diff file names.
const (
	DiffJSONFile = "diff.json"
	DiffHTMLFile = "diff.html"
)

// DiffVersion is the version of diff.json's format.
const DiffVersion = 1

// WriteDiffText writes the comparison for a terminal: the counts, then one
// line per rule whose verdict or level changed. Every value from a report
// is made printable, so that a hostile one cannot drive the terminal.
func WriteDiffText(w io.Writer, d *rundiff.Diff) {
	fmt.Fprintf(w, "imsdiff · old %s (%s) · new %s (%s)\n", printable(d.OldFile), printable(diffLabel(d.Old)), printable(d.NewFile), printable(diffLabel(d.New)))
	for _, n := range []string{d.CatalogueNote, d.ProfileNote} {
		if n != "" {
			fmt.Fprintf(w, "note: %s\n", printable(n))
		}
	}
	var parts []string
	for _, c := range rundiff.Order {
		if n := d.Counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	fmt.Fprintf(w, "%d rules: %s\n", len(d.Rows), strings.Join(parts, ", "))
	rows := d.Changes()
	for _, r := range d.Rows {
		if r.LevelMoved && r.Old == r.New {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no rule changed its verdict")
		return
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(printable(r.RuleID)))
	}
	fmt.Fprintf(w, "%-10s  %-*s  %-7s  %-7s  %-13s  %s\n", "change", width, "rule", "old", "new", "level", "reason (new run)")
	for _, r := range rows {
		lvl := r.Level
		if r.LevelMoved {
			lvl = r.OldLevel + "→" + r.NewLevel
		}
		fmt.Fprintf(w, "%-10s  %-*s  %-7s  %-7s  %-13s  %s\n", r.Change, width, printable(r.RuleID), dash(printable(r.Old)), dash(printable(r.New)), dash(printable(lvl)), truncate(printable(r.Reason), 100))
	}
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func diffLabel(r *rundiff.Report) string {
	if r == nil {
		return ""
	}
	s := r.Profile
	if s == "" {
		s = "(no profile)"
	}
	if r.Lab != nil && r.Lab.SUTName != "" {
		s += ", " + r.Lab.SUTName
		if r.Lab.SUTVersion != "" {
			s += " " + r.Lab.SUTVersion
		}
	}
	if r.Started != "" {
		s += ", " + r.Started
	}
	return s
}

// WriteDiffJSON writes diff.json: the counts and every row.
func WriteDiffJSON(w io.Writer, d *rundiff.Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Version int `json:"diff_version"`
		*rundiff.Diff
	}{DiffVersion, d})
}

// WriteDiffFiles writes diff.json and diff.html into dir (created when
// missing), each under a temporary name first and renamed, so that a reader
// never sees half a file. It returns the two paths.
func WriteDiffFiles(dir string, d *rundiff.Diff) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("reports: a directory for the diff: %w", err)
	}
	jsonPath, htmlPath = filepath.Join(dir, DiffJSONFile), filepath.Join(dir, DiffHTMLFile)
	files := []reportFile{
		{name: DiffJSONFile, path: new(string), write: writerTo(func(w io.Writer) error { return WriteDiffJSON(w, d) })},
		{name: DiffHTMLFile, path: new(string), write: writerTo(func(w io.Writer) error { return WriteDiffHTML(w, d) })},
	}
	errs := stage(dir, files)
	errs = append(errs, commit(dir, files)...)
	if len(errs) > 0 {
		return "", "", fmt.Errorf("reports: writing the diff: %v", errs)
	}
	return jsonPath, htmlPath, nil
}
