package reports

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"imsconform/harness/check"
	"imsconform/harness/trace"
)

//go:embed report.html.tmpl
var htmlSource string

// reportTemplate renders the HTML report. Every dynamic value goes through
// html/template's contextual escaping; nothing is marked template.HTML.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"vclass": verdictClass,
}).Parse(htmlSource))

// Limits that keep the page usable whatever the SUT sends (SCHEMA.md states
// the bound they give). The JSON report and the pcap carry every message the
// trace kept, in full.
const (
	maxCell          = 4000    // characters of an expected/observed/reason cell
	maxCellsTotal    = 1 << 20 // bytes of all cells as escaped in the page; once spent, a cell shows at most minCell characters
	minCell          = 200
	maxBody          = 64 << 10 // bytes of a raw message shown
	maxUnrelatedBody = 2 << 10  // bytes of an unrelated message shown
	maxShownBodies   = 4 << 20  // bytes of raw messages shown in all, as escaped in the page (hex dumps count as written)
	maxMessages      = 1000     // messages listed in the Messages section
	maxLadderRows    = 600      // arrows in the ladder
	ladderUnrelated  = 3        // unrelated messages drawn in a row before the rest are folded into one row
	maxTooltip       = 400      // characters of an arrow's tooltip
)

// Ladder geometry, in SVG user units.
const (
	laneGap    = 360
	laneLeft   = 190
	ladderTop  = 56
	rowHeight  = 50
	charWidth  = 7 // of the 12px monospace label font, about
	labelSlack = 24
)

type htmlView struct {
	Tool, Profile, Target       string
	Started, Finished, Duration string
	Verdict                     string
	Gate                        gateView
	Counts                      []countView
	Total                       int
	Errors                      []string
	Diagnostics                 []Diagnostic
	Discovery                   *Discovery
	Dereg                       string
	Missing                     []missingView
	Lab                         *LabView
	Ladder                      ladderView
	Tables                      []tableView
	Messages                    []msgView
	MessagesNotListed           int // messages past maxMessages
	Tallies                     []tallyView
	Traffic                     trafficView
}

// gateView is the gate's part of the page's header.
type gateView struct {
	Passed                 bool
	Level                  string
	Fields                 int
	Expectations, Baseline string
	Waived                 int
	Problems, Warnings     []string
}

// trafficView sums up the tallies for the page's header.
type trafficView struct {
	Unrelated, Kept, Dropped, Peers int
	DroppedBytes                    int64
	RelatedDropped                  int // related messages past the trace's limits
}

type tallyView struct {
	Role, Peer               string
	Unrelated, Kept, Dropped int
	DroppedBytes             int64
	First, Last              string
}

type countView struct {
	Verdict string
	N       int
}

type missingView struct {
	Step, Tables, Anchor string
}

type ladderView struct {
	Width, Height, LaneBottom int
	Lanes                     []laneView
	Rows                      []rowView
}

type laneView struct {
	Name string
	X    int
}

type rowView struct {
	Kind         string // "msg", "bad", "keepalive", "missing", "missing-all"
	Y, X1, X2    int
	LabelX       int
	Label, Sub   string // the arrow's start line and its tables
	Full         string // tooltip: everything about the row
	Href         string // link to the raw message or the table
	Seq, Rel     string
	BoxX, BoxW   int // for "missing-all"
	LabelY, SubY int
}

type tableView struct {
	Anchor, ID, Title, Step, From, To string
	Example                           string
	Verdict                           string
	Counts                            []countView
	MsgHref                           string
	MsgSeq                            int
	NotReceived                       bool
	Rules                             []ruleView
}

type ruleView struct {
	Field, RuleID, Statement string
	Expected, Observed       string
	Verdict, Reason          string
	Citation                 string
	Level                    string
	Standing, Why            string // how it stands at the gate, when it does not simply pass (Gate.Judge)
	MsgSeq                   int
	MsgHref                  string
}

type msgView struct {
	Anchor, Seq, Time, Rel string
	Proto, Transport       string
	Dir, Role, Src, Dst    string
	From, To               string
	Note, Label, Steps     string
	Bad, Unrelated         bool
	Hex                    bool
	NoBody                 bool // the page's budget for raw messages is spent
	Body                   string
	Size                   int
	Cut                    int // bytes not shown
}

// WriteHTML writes the HTML report of r: one self-contained page with inline
// CSS, an inline SVG ladder diagram, no scripts and no external resources (a
// Content-Security-Policy forbids both). Every value is escaped by
// html/template.
func WriteHTML(w io.Writer, r *Run) error {
	if r == nil {
		return errNilRun
	}
	if w == nil {
		return errors.New("reports: WriteHTML: expected an io.Writer, got nil")
	}
	if err := reportTemplate.Execute(w, buildHTML(r)); err != nil {
		return fmt.Errorf("reports: writing HTML report: %w", err)
	}
	return nil
}

func verdictClass(v string) string {
	if known(check.Verdict(v)) {
		return "v-" + v
	}
	return "v-error"
}

func countsView(c Counts) []countView {
	out := make([]countView, 0, len(verdictOrder))
	for _, v := range verdictOrder {
		out = append(out, countView{string(v), c.Of(v)})
	}
	return out
}

// cutter cuts the text cells of one page: each to maxCell characters, and
// every cell to minCell once maxCellsTotal characters have been shown.
type cutter struct{ left int }

func newCutter() *cutter { return &cutter{left: maxCellsTotal} }

func (c *cutter) cell(s string) string {
	s = visible(s)
	limit := maxCell
	if c.left <= 0 {
		limit = minCell
	}
	if utf8.RuneCountInString(s) > limit {
		rs := []rune(s)
		s = string(rs[:limit]) + fmt.Sprintf("… [%d more characters; the full value is in report.json]", len(rs)-limit)
	}
	c.left -= escapedLen(s)
	return s
}

// escapedLen is at least the length of s once html/template has escaped it
// as text: its bytes, and 4 more for each character it writes as an entity.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<', '>', '&', '"', '\'', '+', 0:
			n += 4
		}
	}
	return n
}

func (c *cutter) cells(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = c.cell(s)
	}
	return out
}

func buildHTML(r *Run) htmlView {
	cut := newCutter()
	v := htmlView{
		Tool: printable(r.Tool), Profile: printable(r.Profile), Target: printable(r.Target),
		Started: human(r.Started), Finished: human(r.Finished),
		Verdict: string(Overall(r)),
		Gate:    gateViewOf(r, cut),
		Errors:  cut.cells(r.Errors),
		Lab:     labView(r.Lab),
		Dereg:   printable(deregLine(r.Deregistration)),
	}
	for _, d := range r.Diagnostics {
		v.Diagnostics = append(v.Diagnostics, Diagnostic{Code: printable(d.Code), Message: cut.cell(d.Message)})
	}
	if d := r.Discovery; d != nil {
		v.Discovery = &Discovery{Input: printable(d.Input), Method: printable(d.Method), Targets: cut.cells(d.Targets), Steps: cut.cells(d.Steps)}
	}
	na := notApplicable(r)
	if d := duration(r); d > 0 {
		v.Duration = d.Round(time.Millisecond).String()
	}
	c := countResults(r.Results)
	v.Counts, v.Total = countsView(c), c.Total()

	seqs := seqSet(r.Trace)
	byStep := tablesByStep(r)
	tableAnchor := map[string]string{}
	for i, t := range r.Tables {
		if _, dup := tableAnchor[t.ID]; !dup {
			tableAnchor[t.ID] = fmt.Sprintf("table-%d", i+1)
		}
	}
	for _, s := range stepIDs(r) {
		if _, ok := received(r, seqs, s); !ok && !na[s] {
			mv := missingView{Step: printable(s), Tables: printable(tableNames(byStep[s], false))}
			if ts := byStep[s]; len(ts) > 0 {
				mv.Anchor = "#" + tableAnchor[ts[0].ID]
			}
			v.Missing = append(v.Missing, mv)
		}
	}

	base := r.Started
	if base.IsZero() && len(r.Trace) > 0 {
		base = r.Trace[0].Time
	}
	v.Ladder = buildLadder(r, seqs, byStep, tableAnchor, base)
	v.Tables = buildTables(r, seqs, tableAnchor, cut)

	v.Tallies, v.Traffic = buildTallies(r.Tallies, base)

	steps := stepsBySeq(r)
	budget := maxShownBodies
	for i, m := range r.Trace {
		if i == maxMessages {
			v.MessagesNotListed = len(r.Trace) - maxMessages
			break
		}
		label, kind := describe(m)
		from, to := ends(m)
		mv := msgView{
			Anchor: fmt.Sprintf("msg-%d", m.Seq), Seq: fmt.Sprint(m.Seq),
			Time: human(m.Time), Rel: rel(m.Time, base),
			Proto: printable(string(m.Proto)), Transport: printable(m.Transport), Dir: printable(string(m.Dir)),
			Src: addr(m.Src), Dst: addr(m.Dst), From: from, To: to,
			Note: cut.cell(m.Note), Label: printable(label), Role: printable(m.Role), Bad: kind == kindBad, Size: len(m.Raw),
			Unrelated: m.Unrelated,
		}
		if ss := steps[m.Seq]; len(ss) > 0 {
			var parts []string
			for _, s := range ss {
				p := "step " + s
				if n := tableNames(byStep[s], false); n != "" {
					p += " (" + n + ")"
				}
				parts = append(parts, p)
			}
			mv.Steps = printable(strings.Join(parts, ", "))
		}
		limit := maxBody
		if m.Unrelated {
			limit = maxUnrelatedBody
		}
		// A step's message is always shown; the others while the budget lasts.
		if len(steps[m.Seq]) == 0 && budget <= 0 {
			mv.NoBody = true
			v.Messages = append(v.Messages, mv)
			continue
		}
		raw := m.Raw
		if len(raw) > limit {
			mv.Cut = len(raw) - limit
			raw = raw[:limit]
		}
		if utf8.Valid(m.Raw) {
			for len(raw) > 0 && !utf8.Valid(raw) { // cut inside a rune
				raw = raw[:len(raw)-1]
				mv.Cut++
			}
			mv.Body = visible(string(raw))
		} else {
			mv.Hex, mv.Body = true, hexDump(raw)
		}
		budget -= escapedLen(mv.Body)
		v.Messages = append(v.Messages, mv)
	}
	return v
}

// buildTallies turns the trace's tallies into the rows of the Unrelated
// traffic section and their sum.
func buildTallies(ts []trace.Tally, base time.Time) ([]tallyView, trafficView) {
	var out []tallyView
	var sum trafficView
	peers := map[string]bool{}
	for _, tl := range ts {
		peer := addr(tl.Peer)
		if peer == "" {
			peer = "(all further peers)"
		}
		out = append(out, tallyView{
			Role: printable(tl.Role), Peer: peer, Unrelated: tl.Unrelated, Kept: tl.Kept,
			Dropped: tl.Dropped, DroppedBytes: tl.DroppedBytes, First: rel(tl.First, base), Last: rel(tl.Last, base),
		})
		sum.Unrelated += tl.Unrelated
		sum.Kept += tl.Kept
		sum.Dropped += tl.Dropped
		sum.DroppedBytes += tl.DroppedBytes
		sum.RelatedDropped += tl.Dropped - (tl.Unrelated - tl.Kept)
		if tl.Unrelated > 0 && !peers[peer] {
			peers[peer] = true
			sum.Peers++
		}
	}
	return out, sum
}

// human formats t for people, in UTC.
func human(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func rel(t, base time.Time) string {
	if t.IsZero() || base.IsZero() {
		return ""
	}
	d := t.Sub(base)
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	return fmt.Sprintf("%s%.3fs", sign, d.Seconds())
}

// tableNames joins "A.3.2.2-5 401 Unauthorized"-style names.
func tableNames(ts []TableInfo, short bool) string {
	var parts []string
	for _, t := range ts {
		n := t.ID
		if !short && t.Title != "" {
			n += " " + t.Title
		}
		parts = append(parts, n)
	}
	return strings.Join(parts, ", ")
}

// Lanes of the ladder diagram.
const (
	laneUE     = "UE"
	laneSUT    = "SUT"
	laneVCCApp = "VCC App"
)

// laneOf maps a role name (harness role or table end) to a lane name.
func laneOf(role string) string {
	k := strings.ToLower(role)
	k = strings.NewReplacer(" ", "", "-", "", "_", "", ".", "").Replace(k)
	switch k {
	case "ue", "vccue":
		return laneUE
	case "vccapp", "vccapplication", "vccas", "vcc":
		return laneVCCApp
	case "sut", "xcscf", "pcscf", "icscf", "scscf", "cscf", "imscore", "core":
		return laneSUT
	case "":
		return "(no role)"
	}
	return printable(truncate(role, 24))
}

// ends returns the lanes a message went from and to: the harness role that
// saw it on one side, the SUT on the other.
func ends(m trace.Message) (from, to string) {
	l := laneOf(m.Role)
	if l == laneSUT {
		return l, l
	}
	if m.Dir == trace.Sent {
		return l, laneSUT
	}
	return laneSUT, l
}

func buildLadder(r *Run, seqs map[int]bool, byStep map[string][]TableInfo, anchors map[string]string, base time.Time) ladderView {
	lanes := []string{laneUE, laneSUT, laneVCCApp}
	x := map[string]int{}
	addLane := func(n string) {
		if _, ok := x[n]; !ok {
			x[n] = laneLeft + len(x)*laneGap
			if len(x) > 3 {
				lanes = append(lanes, n)
			}
		}
	}
	for _, n := range lanes {
		addLane(n)
	}
	for _, m := range r.Trace {
		f, t := ends(m)
		addLane(f)
		addLane(t)
	}
	for _, t := range r.Tables {
		addLane(laneOf(t.From))
		addLane(laneOf(t.To))
	}
	lv := ladderView{}
	for _, n := range lanes {
		lv.Lanes = append(lv.Lanes, laneView{Name: n, X: x[n]})
	}
	right := x[lanes[len(lanes)-1]] + laneLeft - 40

	// Rows: every message in capture order; a step that never came goes
	// after the last received step that precedes it in flow order.
	steps := stepsBySeq(r)
	type missing struct{ step string }
	after := map[int][]missing{} // trace index (-1 = top) -> missing steps
	lastIdx := -1
	idxOf := map[int]int{}
	for i, m := range r.Trace {
		if _, dup := idxOf[m.Seq]; !dup {
			idxOf[m.Seq] = i
		}
	}
	na := notApplicable(r)
	for _, s := range stepIDs(r) {
		if seq, ok := received(r, seqs, s); ok {
			if i := idxOf[seq]; i > lastIdx {
				lastIdx = i
			}
			continue
		}
		if na[s] {
			continue // not expected in this lab: no "not received" row
		}
		after[lastIdx] = append(after[lastIdx], missing{s})
	}

	dereg := deregLabels(r)
	y := ladderTop + 30
	addMissing := func(ms []missing) {
		for _, mm := range ms {
			ts := byStep[mm.step]
			row := rowView{Kind: "missing", Y: y, Seq: "step " + mm.step}
			name := tableNames(ts, false)
			row.Label = "not received"
			row.Sub = "step " + mm.step
			if name != "" {
				row.Sub += " · " + name
				row.Href = "#" + anchors[ts[0].ID]
			}
			row.Full = "step " + mm.step + " never came: " + name
			if len(ts) > 0 {
				row.X1, row.X2 = x[laneOf(ts[0].From)], x[laneOf(ts[0].To)]
			}
			if len(ts) == 0 || row.X1 == row.X2 {
				row.Kind = "missing-all"
				row.BoxX, row.BoxW = laneLeft-60, right-laneLeft+60
				row.X1, row.X2 = laneLeft, right
			}
			placeLabel(&row, right)
			lv.Rows = append(lv.Rows, row)
			y += rowHeight
		}
	}
	addMissing(after[-1])
	// A run of unrelated messages (a flood) is drawn as its first few
	// arrows and one row that counts the rest.
	folded, foldedPeers := 0, map[string]bool{}
	fold := func() {
		if folded == 0 {
			return
		}
		row := rowView{Kind: "folded", Y: y, BoxX: laneLeft - 60, BoxW: right - laneLeft + 60, X1: laneLeft, X2: right,
			Href: "#unrelated", Seq: "…",
			Label: fmt.Sprintf("… %d more unrelated messages from %d peers", folded, len(foldedPeers)),
			Full:  fmt.Sprintf("%d unrelated messages in a row not drawn; the Unrelated traffic section counts them", folded)}
		placeLabel(&row, right)
		lv.Rows = append(lv.Rows, row)
		y += rowHeight
		folded, foldedPeers = 0, map[string]bool{}
	}
	inRow := 0 // unrelated messages in a row so far
	for i, m := range r.Trace {
		if len(lv.Rows) >= maxLadderRows {
			fold()
			row := rowView{Kind: "missing-all", Y: y, BoxX: laneLeft - 60, BoxW: right - laneLeft + 60, X1: laneLeft, X2: right,
				Href: "#messages", Seq: "…", Label: fmt.Sprintf("… %d more messages not drawn", len(r.Trace)-i),
				Full: "the ladder draws at most " + fmt.Sprint(maxLadderRows) + " rows; the Messages section and report.json list every message"}
			placeLabel(&row, right)
			lv.Rows = append(lv.Rows, row)
			y += rowHeight
			break
		}
		if m.Unrelated && len(steps[m.Seq]) == 0 {
			inRow++
			if inRow > ladderUnrelated {
				folded++
				foldedPeers[addr(m.Peer())] = true
				addMissing(after[i])
				continue
			}
		} else {
			inRow = 0
			fold()
		}
		label, kind := describe(m)
		f, t := ends(m)
		row := rowView{Kind: "msg", Y: y, X1: x[f], X2: x[t], Href: fmt.Sprintf("#msg-%d", m.Seq),
			Seq: fmt.Sprintf("#%d", m.Seq), Rel: rel(m.Time, base)}
		if row.X1 == row.X2 {
			row.X2 = row.X1 + 60
		}
		switch {
		case kind == kindBad:
			row.Kind = "bad"
		case kind == kindKeepAlive:
			row.Kind = "keepalive"
		case m.Unrelated:
			row.Kind = "unrelated"
		}
		row.Label = printable(label)
		var tn []string
		for _, s := range steps[m.Seq] {
			if n := tableNames(byStep[s], true); n != "" {
				tn = append(tn, n)
			} else {
				tn = append(tn, "step "+s)
			}
		}
		if l, ok := dereg[m.Seq]; ok && len(tn) == 0 {
			tn = append(tn, l)
		}
		row.Sub = strings.Join(tn, ", ")
		if row.Sub == "" && kind == kindBad && m.Note != "" {
			row.Sub = printable(m.Note)
		}
		row.Full = fmt.Sprintf("#%d %s %s → %s (%s %s, %s)", m.Seq, printable(label), f, t,
			m.Proto, m.Transport, m.Dir)
		if m.Unrelated {
			row.Full += " — unrelated to the run"
			if row.Sub == "" {
				row.Sub = "unrelated"
			}
		}
		if m.Note != "" {
			row.Full += " — " + printable(m.Note)
		}
		placeLabel(&row, right)
		lv.Rows = append(lv.Rows, row)
		y += rowHeight
		addMissing(after[i])
	}
	fold()
	if len(lv.Rows) == 0 {
		lv.Rows = append(lv.Rows, rowView{Kind: "missing-all", Y: y, BoxX: laneLeft - 60, BoxW: right - laneLeft + 60,
			X1: laneLeft, X2: right, Label: "no messages captured", Full: "the trace is empty"})
		placeLabel(&lv.Rows[0], right)
		y += rowHeight
	}
	lv.LaneBottom = y - rowHeight/2
	lv.Height = y
	lv.Width = right + 20
	return lv
}

// placeLabel centres the labels over the arrow and cuts them to its length.
func placeLabel(row *rowView, right int) {
	lo, hi := row.X1, row.X2
	if lo > hi {
		lo, hi = hi, lo
	}
	row.LabelX = (lo + hi) / 2
	row.LabelY, row.SubY = row.Y-7, row.Y+16
	n := (hi - lo - labelSlack) / charWidth
	if n < 12 {
		n = 12
	}
	row.Label = truncate(printable(row.Label), n)
	row.Sub = truncate(printable(row.Sub), n+n/5)
	row.Full = truncate(printable(row.Full), maxTooltip)
	row.Seq = printable(row.Seq)
}

func buildTables(r *Run, seqs map[int]bool, anchors map[string]string, cut *cutter) []tableView {
	var out []tableView
	index := map[string]int{}
	for _, t := range r.Tables {
		if _, dup := index[t.ID]; dup {
			continue
		}
		tv := tableView{Anchor: anchors[t.ID], ID: printable(t.ID), Title: printable(t.Title), Step: printable(t.Step),
			From: printable(t.From), To: printable(t.To), Example: visible(t.Example)}
		if t.Step != "" {
			seq, ok := received(r, seqs, t.Step)
			tv.NotReceived = !ok
			if ok {
				tv.MsgSeq, tv.MsgHref = seq, fmt.Sprintf("#msg-%d", seq)
			}
		}
		index[t.ID] = len(out)
		out = append(out, tv)
	}
	var extra []string
	for _, res := range r.Results {
		if _, ok := index[res.Table]; !ok {
			index[res.Table] = -1
			extra = append(extra, res.Table)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		title := printable(id)
		if id == "" {
			title = "(rules with no table)"
		}
		index[id] = len(out)
		out = append(out, tableView{Anchor: fmt.Sprintf("table-x%d", len(out)+1), ID: title, Title: "not in the scenario's table list"})
	}
	per := make([][]check.Result, len(out))
	for _, res := range r.Results {
		i := index[res.Table]
		per[i] = append(per[i], res)
		rv := ruleView{
			Field: printable(strings.TrimPrefix(res.RuleID, res.Table+"/")), RuleID: printable(res.RuleID),
			Statement: cut.cell(res.Statement), Expected: cut.cell(res.Expected), Observed: cut.cell(res.Observed),
			Verdict: printable(string(res.Verdict)), Reason: cut.cell(res.Reason), Citation: cut.cell(res.Citation),
			Level: printable(string(res.Level)), MsgSeq: res.MsgSeq,
		}
		if st, why := r.Gate.Judge(res); st != Quiet {
			rv.Standing, rv.Why = string(st), cut.cell(why)
		}
		if rv.Field == "" {
			rv.Field = printable(res.RuleID)
		}
		if res.MsgSeq > 0 && seqs[res.MsgSeq] {
			rv.MsgHref = fmt.Sprintf("#msg-%d", res.MsgSeq)
		}
		out[i].Rules = append(out[i].Rules, rv)
	}
	for i := range out {
		c := countResults(per[i])
		out[i].Counts = countsView(c)
		vs := make([]check.Verdict, 0, len(per[i]))
		for _, res := range per[i] {
			vs = append(vs, effective(res.Verdict))
		}
		out[i].Verdict = string(check.Worst(vs...))
	}
	return out
}

// hexDump formats b as offset, hex and ASCII columns, 16 bytes a line.
func hexDump(b []byte) string {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		end := min(off+16, len(b))
		fmt.Fprintf(&sb, "%08x  ", off)
		for i := off; i < off+16; i++ {
			if i < end {
				fmt.Fprintf(&sb, "%02x ", b[i])
			} else {
				sb.WriteString("   ")
			}
			if i == off+7 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString(" |")
		for _, c := range b[off:end] {
			if c >= 0x20 && c < 0x7f {
				sb.WriteByte(c)
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteString("|\n")
	}
	return sb.String()
}

func gateViewOf(r *Run, cut *cutter) gateView {
	v := gateView{Passed: Passed(r), Level: string(r.Gate.level()), Fields: Fields(r.Results).Total()}
	if g := r.Gate; g != nil {
		v.Expectations, v.Baseline, v.Waived = printable(g.Expectations), printable(g.Baseline), len(g.Waived)
		v.Problems, v.Warnings = cut.cells(g.Problems), cut.cells(g.Warnings)
	}
	return v
}
