package reports

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The JSON report. Field order is the order of these structs; SCHEMA.md
// documents every field.
type jsonReport struct {
	SchemaVersion int          `json:"schema_version"`
	Tool          string       `json:"tool"`
	Profile       string       `json:"profile"`
	Target        string       `json:"target"`
	Started       string       `json:"started,omitempty"`
	Finished      string       `json:"finished,omitempty"`
	DurationMS    int64        `json:"duration_ms"`
	Verdict       string       `json:"verdict"`
	Counts        Counts       `json:"counts"`
	RulesInScope  int          `json:"rules_in_scope"`
	Catalogue     *jsonCat     `json:"catalogue"`
	Gate          jsonGate     `json:"gate"`
	Errors        []string     `json:"errors"`
	Diagnostics   []jsonDiag   `json:"diagnostics"`
	Discovery     *jsonDisc    `json:"discovery"`
	Dereg         *jsonDereg   `json:"deregistration"`
	Lab           *LabView     `json:"lab"`
	Tables        []jsonTable  `json:"tables"`
	Steps         []jsonStep   `json:"steps"`
	Results       []jsonResult `json:"results"`
	Trace         []jsonMsg    `json:"trace"`
	Tallies       []jsonTally  `json:"tallies"`
}

type jsonCat struct {
	Scenario    string `json:"scenario"`
	Rules       int    `json:"rules"`
	Fingerprint string `json:"fingerprint"`
}

type jsonGate struct {
	Passed       bool     `json:"passed"`
	Level        string   `json:"level"`
	FailOnInconc bool     `json:"fail_on_inconc"`
	Fields       Counts   `json:"fields"`
	Expectations string   `json:"expectations"`
	Expected     int      `json:"expected"`
	Baseline     string   `json:"baseline"`
	Problems     []string `json:"problems"`
	Warnings     []string `json:"warnings"`
}

type jsonTally struct {
	Role         string `json:"role"`
	Peer         string `json:"peer"`
	Unrelated    int    `json:"unrelated"`
	Kept         int    `json:"kept"`
	Dropped      int    `json:"dropped"`
	DroppedBytes int64  `json:"dropped_bytes"`
	First        string `json:"first,omitempty"`
	Last         string `json:"last,omitempty"`
}

type jsonDiag struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type jsonDisc struct {
	Input   string   `json:"input"`
	Method  string   `json:"method"`
	Targets []string `json:"targets"`
	Steps   []string `json:"steps"`
}

type jsonDereg struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	Seqs   []int  `json:"seqs"`
}

type jsonTable struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Step    string `json:"step"`
	From    string `json:"from"`
	To      string `json:"to"`
	Example string `json:"example"`
}

type jsonStep struct {
	Step     string   `json:"step"`
	Seq      int      `json:"seq"`
	Received bool     `json:"received"`
	Expected bool     `json:"expected"`
	Tables   []string `json:"tables"`
}

type jsonResult struct {
	RuleID    string `json:"rule_id"`
	Table     string `json:"table"`
	Step      string `json:"step"`
	Verdict   string `json:"verdict"`
	Level     string `json:"level"`
	Statement string `json:"statement"`
	Expected  string `json:"expected"`
	Observed  string `json:"observed"`
	Reason    string `json:"reason"`
	Citation  string `json:"citation"`
	MsgSeq    int    `json:"msg_seq"`
	CountedAs string `json:"counted_as"`
	Standing  string `json:"standing"`
	Why       string `json:"why"`
}

type jsonMsg struct {
	Seq       int      `json:"seq"`
	Time      string   `json:"time,omitempty"`
	Proto     string   `json:"proto"`
	Transport string   `json:"transport"`
	Dir       string   `json:"dir"`
	Role      string   `json:"role"`
	Src       string   `json:"src"`
	Dst       string   `json:"dst"`
	Note      string   `json:"note"`
	Unrelated bool     `json:"unrelated"`
	Label     string   `json:"label"`
	Parsed    bool     `json:"parsed"`
	Steps     []string `json:"steps"`
	Size      int      `json:"size"`
	Encoding  string   `json:"encoding"`
	Raw       string   `json:"raw"`
	// ESP: how the message travelled inside IPsec ESP (sut.ipsec); absent
	// for one in clear.
	ESP *jsonESP `json:"esp,omitempty"`
}

type jsonESP struct {
	SPI     uint32   `json:"spi"`
	Seq     []uint32 `json:"seq"`
	Packets []int    `json:"packets"`
}

// errNilRun is returned by the writers for a nil *Run.
var errNilRun = errors.New("reports: expected a *Run, got nil")

// WriteJSON writes the JSON report of r (schema: SCHEMA.md, version
// SchemaVersion). The output is deterministic for a given r: maps are written
// in sorted order and nothing depends on the clock. Raw messages are text
// when they are valid UTF-8, else base64 ("encoding" says which).
func WriteJSON(w io.Writer, r *Run) error {
	if r == nil {
		return errNilRun
	}
	if w == nil {
		return errors.New("reports: WriteJSON: expected an io.Writer, got nil")
	}
	rep := buildJSON(r)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("reports: writing JSON report: %w", err)
	}
	return nil
}

func buildJSON(r *Run) jsonReport {
	rep := jsonReport{
		SchemaVersion: SchemaVersion,
		Tool:          r.Tool,
		Profile:       r.Profile,
		Target:        r.Target,
		Started:       stamp(r.Started),
		Finished:      stamp(r.Finished),
		DurationMS:    duration(r).Milliseconds(),
		Verdict:       string(Overall(r)),
		Counts:        countResults(r.Results),
		RulesInScope:  len(r.Results),
		Gate:          gateJSON(r),
		Catalogue:     catJSON(r),
		Errors:        nonNil(r.Errors),
		Diagnostics:   []jsonDiag{},
		Lab:           labView(r.Lab),
		Tables:        []jsonTable{},
		Steps:         []jsonStep{},
		Results:       make([]jsonResult, 0, len(r.Results)),
		Trace:         make([]jsonMsg, 0, len(r.Trace)),
		Tallies:       make([]jsonTally, 0, len(r.Tallies)),
	}
	for _, tl := range r.Tallies {
		rep.Tallies = append(rep.Tallies, jsonTally{
			Role: tl.Role, Peer: addr(tl.Peer), Unrelated: tl.Unrelated, Kept: tl.Kept,
			Dropped: tl.Dropped, DroppedBytes: tl.DroppedBytes, First: stamp(tl.First), Last: stamp(tl.Last),
		})
	}
	for _, t := range r.Tables {
		rep.Tables = append(rep.Tables, jsonTable(t))
	}
	for _, d := range r.Diagnostics {
		rep.Diagnostics = append(rep.Diagnostics, jsonDiag(d))
	}
	if d := r.Discovery; d != nil {
		rep.Discovery = &jsonDisc{Input: d.Input, Method: d.Method, Targets: nonNil(d.Targets), Steps: nonNil(d.Steps)}
	}
	if d := r.Deregistration; d != nil {
		rep.Dereg = &jsonDereg{Status: d.Status, Error: d.Err, Seqs: append([]int{}, d.Seqs...)}
	}
	na := notApplicable(r)
	seqs := seqSet(r.Trace)
	byStep := tablesByStep(r)
	for _, s := range stepIDs(r) {
		seq, ok := received(r, seqs, s)
		st := jsonStep{Step: s, Seq: seq, Received: ok, Expected: !na[s], Tables: []string{}}
		for _, t := range byStep[s] {
			st.Tables = append(st.Tables, t.ID)
		}
		rep.Steps = append(rep.Steps, st)
	}
	for _, res := range r.Results {
		st, why := r.Gate.Judge(res)
		rep.Results = append(rep.Results, jsonResult{
			RuleID: res.RuleID, Table: res.Table, Step: res.Step, Verdict: string(res.Verdict), Level: string(res.Level),
			Statement: res.Statement, Expected: res.Expected, Observed: res.Observed,
			Reason: res.Reason, Citation: res.Citation, MsgSeq: res.MsgSeq, CountedAs: res.CountedAs,
			Standing: string(st), Why: why,
		})
	}
	steps := stepsBySeq(r)
	for _, m := range r.Trace {
		label, kind := describe(m)
		jm := jsonMsg{
			Seq: m.Seq, Time: stamp(m.Time), Proto: string(m.Proto), Transport: m.Transport,
			Dir: string(m.Dir), Role: m.Role, Src: addr(m.Src), Dst: addr(m.Dst), Note: m.Note, Unrelated: m.Unrelated,
			Label: label, Parsed: kind != kindBad, Steps: nonNil(steps[m.Seq]), Size: len(m.Raw),
		}
		if m.ESP != nil {
			jm.ESP = &jsonESP{SPI: m.ESP.SPI, Seq: append([]uint32{}, m.ESP.Seq...), Packets: append([]int{}, m.ESP.Packets...)}
		}
		if utf8.Valid(m.Raw) {
			jm.Encoding, jm.Raw = "text", string(m.Raw)
		} else {
			jm.Encoding, jm.Raw = "base64", base64.StdEncoding.EncodeToString(m.Raw)
		}
		rep.Trace = append(rep.Trace, jm)
	}
	return rep
}

func gateJSON(r *Run) jsonGate {
	g := jsonGate{Passed: Passed(r), Level: string(r.Gate.level()), Fields: Fields(r.Results), Problems: []string{}, Warnings: []string{}}
	if gt := r.Gate; gt != nil {
		g.FailOnInconc, g.Expectations, g.Expected, g.Baseline = gt.FailOnInconc, gt.Expectations, len(gt.Waived), gt.Baseline
		g.Problems, g.Warnings = nonNil(gt.Problems), nonNil(gt.Warnings)
	}
	return g
}

func catJSON(r *Run) *jsonCat {
	if r.Catalogue == nil {
		return nil
	}
	return &jsonCat{Scenario: r.Catalogue.Scenario, Rules: r.Catalogue.Rules, Fingerprint: r.Catalogue.Fingerprint}
}
