package reports

import (
	"html/template"
	"io"

	"imsconform/harness/rundiff"
)

// WriteDiffHTML writes diff.html: one self-contained page (no scripts, no
// fetches) with the counts and a table of every rule whose verdict or level
// changed, then the rules that still fail. Every value from a report is
// escaped by html/template.
func WriteDiffHTML(w io.Writer, d *rundiff.Diff) error {
	type group struct {
		Change rundiff.Change
		Rows   []rundiff.Row
	}
	var groups []group
	for _, c := range rundiff.Order {
		if c == rundiff.StillPass || c == rundiff.Unchanged {
			continue
		}
		g := group{Change: c}
		for _, r := range d.Rows {
			if r.Change == c {
				g.Rows = append(g.Rows, r)
			}
		}
		if len(g.Rows) > 0 {
			groups = append(groups, g)
		}
	}
	var moved []rundiff.Row
	for _, r := range d.Rows {
		if r.LevelMoved {
			moved = append(moved, r)
		}
	}
	var counts []struct {
		Change rundiff.Change
		N      int
	}
	for _, c := range rundiff.Order {
		if n := d.Counts[c]; n > 0 {
			counts = append(counts, struct {
				Change rundiff.Change
				N      int
			}{c, n})
		}
	}
	return diffPage.Execute(w, map[string]any{
		"D": d, "Old": diffLabel(d.Old), "New": diffLabel(d.New), "Groups": groups, "Moved": moved, "Counts": counts, "Total": len(d.Rows),
	})
}

var diffPage = template.Must(template.New("diff").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>imsconform diff</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
code,.mono{font-family:ui-monospace,monospace;font-size:13px;white-space:pre-wrap;word-break:break-all}
.regressed,.new-fail{background:#fde2e2}.fixed{background:#e2f6e2}.changed{background:#fff4d6}
.note{background:#eef3ff;padding:.5em;border-left:4px solid #7a9bff}
</style></head><body>
<h1>imsconform: comparison of two runs</h1>
<p>old: <code>{{.D.OldFile}}</code> ({{.Old}})<br>new: <code>{{.D.NewFile}}</code> ({{.New}})</p>
{{with .D.CatalogueNote}}<p class="note">{{.}}</p>{{end}}
{{with .D.ProfileNote}}<p class="note">{{.}}</p>{{end}}
<table id="counts"><tr><th>class</th><th>rules</th></tr>
{{range .Counts}}<tr><td>{{.Change}}</td><td>{{.N}}</td></tr>{{end}}
<tr><th>all</th><th>{{.Total}}</th></tr></table>
{{range .Groups}}<h2>{{.Change}} ({{len .Rows}})</h2>
<table class="rows"><tr><th>rule</th><th>old</th><th>new</th><th>level</th><th>statement</th><th>observed (new)</th><th>reason (new)</th></tr>
{{range .Rows}}<tr class="{{if eq .Change "regressed"}}regressed{{else if eq .Change "new fail"}}new-fail{{else if eq .Change "fixed"}}fixed{{else if eq .Change "changed"}}changed{{end}}">
<td class="mono">{{.RuleID}}</td><td>{{.Old}}</td><td>{{.New}}</td><td>{{.Level}}</td><td>{{.Statement}}{{if .Restated}} <em>(restated)</em>{{end}}</td>
<td class="mono">{{.Observed}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}
{{if .Moved}}<h2>rules whose level changed ({{len .Moved}})</h2>
<table><tr><th>rule</th><th>old level</th><th>new level</th><th>old</th><th>new</th></tr>
{{range .Moved}}<tr><td class="mono">{{.RuleID}}</td><td>{{.OldLevel}}</td><td>{{.NewLevel}}</td><td>{{.Old}}</td><td>{{.New}}</td></tr>{{end}}
</table>{{end}}
</body></html>
`))
