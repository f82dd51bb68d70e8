package loadreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/load"
	"imsconform/reports"
)

//go:embed load.html.tmpl
var htmlSource string

var page = template.Must(template.New("load").Parse(htmlSource))

// Limits that keep the page usable whatever the SUT sends.
const (
	maxPoints  = 600      // points of a plot: longer runs are drawn in buckets of several seconds
	maxCell    = 1000     // characters of an expected, observed or reason cell
	maxRawShow = 16 << 10 // bytes of a sampled message shown
)

type kv struct{ K, V string }

type phaseView struct {
	Name                                          string
	Attempted, Succeeded, Ineffective, Unfinished int64
	Pct                                           string
	Causes                                        []kv
	RRD                                           load.Quantiles
}

type tick struct {
	At    float64
	Label string
}

type seriesView struct {
	Name, Class, Points string
}

type plotView struct {
	ID, Title, YLabel string
	W, H, L, T, R, B  int
	Series            []seriesView
	XTicks, YTicks    []tick
	Bucket            int // seconds per point
	Empty             bool
	top, span         float64
}

type failView struct {
	UE, IMPI, At, Verdict, Expected, Observed, Reason string
}

type ruleView struct {
	ID, Level, Verdict, Class, Statement, Citation, Standing, Why string
	Pass, Fail, Inconc, None, Error, Gating                       int64
	First                                                         []failView
}

type tableView struct {
	ID, Title string
	Rules     []ruleView
	Bad       int
}

type msgView struct {
	Seq                           int
	Time, Dir, Role, Src, Dst, Tp string
	Text                          string
	Cut                           int
}

type sampleView struct {
	UE, IMPI, Why string
	Messages      []msgView
}

type view struct {
	Verdict, Class, Target, Profile, Started, Duration, Shards, SUT string
	MaxIRA                                                          string
	Config, Generator, Repeats                                      []kv
	Phases                                                          []phaseView
	Slip                                                            load.Quantiles
	Warnings, Errors, Problems                                      []string
	Expectations                                                    string
	Plots                                                           []plotView
	Tables                                                          []tableView
	Samples                                                         []sampleView
	Judged, NotJudged, ThirdParties                                 int64
}

// WriteHTML writes load.html: one self-contained page with inline CSS and
// inline SVG, no scripts and no external resources.
func WriteHTML(w io.Writer, rep *load.Report, o Options) error {
	if err := page.Execute(w, build(rep, o)); err != nil {
		return fmt.Errorf("loadreport: writing load.html: %w", err)
	}
	return nil
}

func build(rep *load.Report, o Options) view {
	v := view{Target: rep.Target, Profile: rep.Profile, Started: rep.Started.UTC().Format(time.RFC3339),
		Duration: rep.Finished.Sub(rep.Started).Round(time.Millisecond).String(), Shards: shardList(rep),
		MaxIRA: strconv.FormatFloat(o.MaxIneffective, 'g', -1, 64), Warnings: rep.Warnings, Errors: rep.Errors,
		Judged: rep.Judged, NotJudged: rep.NotJudged, ThirdParties: rep.ThirdParties, Slip: rep.Slip.Quantiles()}
	if rep.SUTName != "" || rep.SUTVersion != "" {
		v.SUT = strings.TrimSpace(rep.SUTName + " " + rep.SUTVersion)
	}
	if g := o.Gate; g != nil {
		v.Expectations, v.Problems = g.Expectations, g.Problems
		v.Warnings = append(append([]string(nil), v.Warnings...), g.Warnings...)
	}
	v.Verdict, v.Class = "pass", "v-pass"
	if !Passed(rep, o) {
		v.Verdict, v.Class = "fail", "v-fail"
	}
	c := rep.Config
	v.Config = []kv{{"UEs", strconv.Itoa(c.UEs)}, {"rate", fmt.Sprintf("%g initial registrations/s", c.Rate)}, {"transport", c.Transport},
		{"over real SAs (sut.ipsec)", strconv.FormatBool(c.IPsec)}, {"IMPI pattern", c.IMPI}, {"keys", c.Keys}, {"re-register every", dash(c.Reregister)}, {"hold", dash(c.Hold)},
		{"de-register at the end", strconv.FormatBool(c.Deregister)}, {"port groups", strconv.Itoa(c.Ports)},
		{"judged field by field", fmt.Sprintf("%g of the initial registrations", c.Sample)}, {"gate", c.Gate}}
	for _, ph := range []struct {
		name string
		p    *load.Phase
	}{{"initial registrations", rep.Initial}, {"re-registrations", rep.Reregister}, {"de-registrations", rep.Deregister}} {
		if ph.p == nil || (ph.p.Attempted == 0 && ph.name != "initial registrations") {
			continue
		}
		pv := phaseView{Name: ph.name, Attempted: ph.p.Attempted, Succeeded: ph.p.Succeeded, Ineffective: ph.p.Ineffective,
			Unfinished: ph.p.Unfinished, Pct: fmt.Sprintf("%.2f %%", ph.p.IneffectivePercent()), RRD: ph.p.RRD.Quantiles()}
		for k, n := range ph.p.Causes {
			pv.Causes = append(pv.Causes, kv{k, strconv.FormatInt(n, 10)})
		}
		sort.Slice(pv.Causes, func(i, j int) bool { return pv.Causes[i].K < pv.Causes[j].K })
		v.Phases = append(v.Phases, pv)
	}
	g := rep.Generator
	engine := fmt.Sprintf("%.1f µs per judged registration, garbage collection included (%.1f %% of the generator's CPU)", g.EnginePerRegistration, 100*g.EngineShare)
	if g.EngineMeasured {
		engine += fmt.Sprintf("; its threads alone %.2f s", g.EngineThread)
	}
	v.Generator = []kv{{"CPU per registration", fmt.Sprintf("%.1f µs", g.CPUPerRegistration)},
		{"CPU", fmt.Sprintf("%.2f s user, %.2f s system, of which garbage collection %.2f s", g.CPUUser, g.CPUSystem, g.GC)}, {"check engine", engine},
		{"max RSS", fmt.Sprintf("%.1f MiB", float64(g.RSS)/(1<<20))}, {"CPUs", strconv.Itoa(g.Procs)},
		{"plays besides the UEs", strings.Join(g.Roles, ", ")}}
	r := rep.Repeats
	v.Repeats = []kv{{"REGISTERs the UEs retransmitted (Timer E)", strconv.FormatInt(r.Retransmitted, 10)},
		{"third-party REGISTERs the SUT sent again", strconv.FormatInt(r.ThirdParty, 10)}}
	codes := make([]string, 0, len(r.Responses))
	for code := range r.Responses {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		v.Repeats = append(v.Repeats, kv{code + " responses the SUT sent again", strconv.FormatInt(r.Responses[code], 10)})
	}
	v.Plots = plots(rep.Seconds)
	v.Tables = tables(rep, o)
	for _, s := range rep.Samples {
		sv := sampleView{UE: strconv.Itoa(s.UE), IMPI: s.IMPI, Why: s.Why}
		for _, m := range s.Messages {
			mv := msgView{Seq: m.Seq, Time: m.Time.UTC().Format("15:04:05.000000"), Dir: string(m.Dir), Role: m.Role,
				Src: m.Src.String(), Dst: m.Dst.String(), Tp: string(m.Proto) + "/" + m.Transport}
			raw := m.Raw
			if len(raw) > maxRawShow {
				mv.Cut = len(raw) - maxRawShow
				raw = raw[:maxRawShow]
			}
			if m.Proto == "Diameter" {
				mv.Text = fmt.Sprintf("Diameter, %d bytes (open load.pcap in Wireshark to read it)", len(m.Raw))
			} else {
				mv.Text = reports.Printable(strings.ReplaceAll(string(raw), "\r\n", "\n"))
			}
			sv.Messages = append(sv.Messages, mv)
		}
		v.Samples = append(v.Samples, sv)
	}
	return v
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// tables groups the rules by table, in the scenario's order.
func tables(rep *load.Report, o Options) []tableView {
	titles := map[string]string{}
	var order []string
	for _, t := range rep.Tables {
		titles[t.ID] = t.Title
		order = append(order, t.ID)
	}
	by := map[string]*tableView{}
	for i := range rep.Rules {
		rt := &rep.Rules[i]
		tv := by[rt.Table]
		if tv == nil {
			tv = &tableView{ID: rt.Table, Title: titles[rt.Table]}
			by[rt.Table] = tv
			if _, ok := titles[rt.Table]; !ok {
				order = append(order, rt.Table)
				titles[rt.Table] = ""
			}
		}
		res := rt.Result()
		st, why := o.Gate.Judge(res)
		rv := ruleView{ID: rt.RuleID, Level: string(rt.Level), Verdict: string(res.Verdict), Class: "v-" + string(res.Verdict),
			Statement: rt.Statement, Citation: rt.Citation, Standing: string(st), Why: why,
			Pass: rt.Pass, Fail: rt.Fail, Inconc: rt.Inconc, None: rt.None, Error: rt.Error, Gating: rt.Gating}
		for _, f := range rt.First {
			rv.First = append(rv.First, failView{UE: strconv.Itoa(f.UE), IMPI: f.IMPI, At: f.At.UTC().Format("15:04:05.000"), Verdict: string(f.Verdict),
				Expected: clip(f.Expected), Observed: clip(f.Observed), Reason: clip(f.Reason)})
		}
		if rt.Fail+rt.Error+rt.Inconc > 0 {
			tv.Bad++
		}
		tv.Rules = append(tv.Rules, rv)
	}
	var out []tableView
	for _, id := range order {
		if tv := by[id]; tv != nil {
			out = append(out, *tv)
		}
	}
	return out
}

func clip(s string) string {
	s = reports.Printable(s)
	if r := []rune(s); len(r) > maxCell {
		return string(r[:maxCell]) + "…"
	}
	return s
}

// plots draws the rate and the RRD over the run's seconds.
func plots(secs []load.Second) []plotView {
	if len(secs) == 0 {
		return []plotView{{ID: "rate", Title: "Rate", Empty: true}, {ID: "latency", Title: "RRD", Empty: true}}
	}
	t0, t1 := secs[0].T, secs[len(secs)-1].T
	span := int(t1-t0) + 1
	bucket := max(1, (span+maxPoints-1)/maxPoints)
	n := (span + bucket - 1) / bucket
	groups := make([][]*load.Latency, n)
	att, ok, bad := make([]float64, n), make([]float64, n), make([]float64, n)
	for _, s := range secs {
		i := int(s.T-t0) / bucket
		att[i] += float64(s.Attempted) / float64(bucket)
		ok[i] += float64(s.Succeeded) / float64(bucket)
		bad[i] += float64(s.Ineffective) / float64(bucket)
		groups[i] = append(groups[i], s.RRD)
	}
	xs := make([]float64, n)
	p50, p90, p99 := make([]float64, n), make([]float64, n), make([]float64, n)
	has := make([]bool, n)
	for i := range n {
		xs[i] = float64(i*bucket) + float64(bucket)/2
		if sum, err := load.Sum(groups[i]...); err == nil {
			if q := sum.Quantiles(); q.Count > 0 {
				p50[i], p90[i], p99[i], has[i] = q.P50, q.P90, q.P99, true
			}
		}
	}
	rate := newPlot("rate", "Initial registrations per second", "per second", float64(span), maxOf(att, ok, bad))
	rate.Bucket = bucket
	rate.Series = []seriesView{{"attempted", "s-att", rate.line(xs, att, nil)}, {"succeeded", "s-ok", rate.line(xs, ok, nil)},
		{"ineffective", "s-bad", rate.line(xs, bad, nil)}}
	lat := newPlot("latency", "Registration Request Delay (RFC 6076) of the registrations that ended in each interval", "ms", float64(span), maxOf(p50, p90, p99))
	lat.Bucket = bucket
	lat.Series = []seriesView{{"p50", "s-p50", lat.line(xs, p50, has)}, {"p90", "s-p90", lat.line(xs, p90, has)}, {"p99", "s-p99", lat.line(xs, p99, has)}}
	return []plotView{rate, lat}
}

func maxOf(vs ...[]float64) float64 {
	m := 0.0
	for _, v := range vs {
		for _, x := range v {
			m = math.Max(m, x)
		}
	}
	return m
}

func newPlot(id, title, ylabel string, xspan, ymax float64) plotView {
	p := plotView{ID: id, Title: title, YLabel: ylabel, W: 900, H: 240, L: 64, T: 14, R: 16, B: 36}
	step := niceStep(ymax)
	top := step * math.Ceil(ymax/step)
	if top <= 0 {
		top, step = 1, 0.25
	}
	for y := 0.0; y <= top+step/2; y += step {
		p.YTicks = append(p.YTicks, tick{At: p.y(y, top), Label: trimFloat(y)})
	}
	xstep := niceStep(xspan)
	for x := 0.0; x <= xspan; x += xstep {
		p.XTicks = append(p.XTicks, tick{At: p.x(x, xspan), Label: trimFloat(x) + " s"})
	}
	p.top, p.span = top, xspan
	return p
}

func (p plotView) x(v, span float64) float64 {
	return float64(p.L) + v/math.Max(span, 1)*float64(p.W-p.L-p.R)
}

func (p plotView) y(v, top float64) float64 {
	return float64(p.H-p.B) - v/top*float64(p.H-p.T-p.B)
}

// line is a polyline's points; has, when given, leaves out the points
// without data.
func (p plotView) line(xs, ys []float64, has []bool) string {
	var b strings.Builder
	for i := range xs {
		if has != nil && !has[i] {
			continue
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", p.x(xs[i], p.span), p.y(ys[i], p.top))
	}
	return strings.TrimSpace(b.String())
}

// niceStep is a step of 1, 2 or 5 times a power of ten giving about five
// ticks up to v.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }
