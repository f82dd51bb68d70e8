// Package selfproof proves that every rule of the scenario can fail: for each
// rule it runs the flow against the embedded reference core with a deviation
// that breaks the rule's field, and records which deviation made the rule's
// verdict fail. A rule that no deviation breaks is a defect of the scenario or
// of the engine: a check that cannot fail proves nothing.
//
// A rule is proven from a baseline in which it passes: the core as it is
// (conformant at must level), the core that passes step 11 on as table
// A.3.2.2-11 shows it (for the table-level rules of that reading), or the
// HSS whose SQN is behind the UE's (for the rules of a re-synchronisation).
// The deviation that breaks the rule is added to that baseline.
//
// It is not a conformance run: it only ever targets the reference core.
package selfproof

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/scenario"
)

// broken is the value the deviations put where a field should be.
const broken = "broken-by-selfproof"

// ESPDeviations are the deviations of the reference core that break the
// security associations and, for each, the only rules it may make fail:
// its own, in the table of the 200 OK and in its twin -14, or the
// Security-Server's alg. A conformance run and a load run under sut.ipsec
// are proven against them.
var ESPDeviations = []struct {
	Dev   string
	Fails []string
}{
	{"10/bad-icv", []string{"A.3.2.2-10/ESP/icv", "A.3.2.2-14/ESP/icv"}},
	{"10/wrong-spi", []string{"A.3.2.2-10/ESP/spi", "A.3.2.2-14/ESP/spi"}},
	{"10/replay", []string{"A.3.2.2-10/ESP/sequence", "A.3.2.2-14/ESP/sequence"}},
	{"10/in-clear", []string{"A.3.2.2-10/ESP/protected", "A.3.2.2-14/ESP/protected"}},
	{"5/alg-not-offered", []string{"A.3.2.2-5/Security-Server/alg"}},
}

// Baselines are the clean runs a rule may be proven from, tried in order:
// the reference core as it is; with step 11 passed on as table A.3.2.2-11
// shows it (the forwarded reading, level table); with an HSS whose SQN is
// behind the UE's, so that the UE re-synchronises (the rules of
// var resync).
var Baselines = [][]deviation.Deviation{
	nil,
	{{Step: "11", Action: deviation.AsTable}},
	{{Step: "5", Action: deviation.StaleSQN}},
}

// sender maps a step to the step id its sender applies deviations under:
// 10 and 14 are one message, sent by the core as step 10.
func sender(step string) string {
	if step == "14" {
		return "10"
	}
	return step
}

// Candidates returns deviations, most specific first, each of which should
// make rule r fail. The first ones edit exactly the rule's field; the last
// ones (a message never sent, a bad MAC) are kept for rules on the envelope
// of a message or on what the harness observed, which no header edit reaches.
func Candidates(r scenario.Rule) []deviation.Deviation {
	st := sender(r.Step)
	h := r.Header
	edit := func(a deviation.Action, header, param, value string) deviation.Deviation {
		return deviation.Deviation{Step: st, Action: a, Header: header, Param: param, Value: value}
	}
	var out []deviation.Deviation
	if r.Protocol == scenario.ProtoDiameter {
		// A rule on a Cx request: the reference core edits the request's
		// AVPs before sending it (Header names the AVP, "Group/Member"
		// inside a grouped one), its Value typed as the dictionary types
		// the AVP. The Diameter header cannot be edited: a rule on it is
		// made to fail by a request never sent.
		avp := func(a deviation.Action, value string) deviation.Deviation {
			return deviation.Deviation{Step: st, Action: a, Header: h, Value: value}
		}
		if r.Kind == scenario.KindStartLine {
			return []deviation.Deviation{{Step: st, Action: deviation.NoAnswer}}
		}
		// A wrong value of the AVP's type: text for string AVPs, numbers (one
		// large, one zero) for numeric ones.
		wrong := []string{broken}
		if path, err := scenario.DiameterPath(h); err == nil {
			switch path[len(path)-1].Type {
			case diameter.TypeUnsigned32, diameter.TypeUnsigned64, diameter.TypeInteger32, diameter.TypeEnumerated, diameter.TypeTime:
				wrong = []string{"99", "0"}
			}
		}
		switch r.Kind {
		case scenario.KindPresent:
			return append(out, avp(deviation.DropHeader, ""))
		case scenario.KindAbsent:
			return append(out, avp(deviation.AddHeader, wrong[0]))
		case scenario.KindCount:
			return append(out, avp(deviation.AddHeader, wrong[0]), avp(deviation.DropHeader, ""))
		case scenario.KindExcludes:
			return append(out, avp(deviation.AddHeader, r.Value))
		}
		for _, v := range wrong {
			out = append(out, avp(deviation.SetHeader, v))
		}
		return append(out, avp(deviation.DropHeader, ""))
	}
	part := r.Part
	switch r.Kind {
	case scenario.KindStartLine:
		if st == "5" || st == "10" || st == "13" {
			out = append(out,
				edit(deviation.StartLine, "", "", "SIP/2.0 499 Broken"),
				edit(deviation.StartLine, "", "", "SIP/2.1 401 Unauthorized"))
			if r.Start.ReasonPattern != "" {
				code := "200"
				if st == "5" {
					code = "401"
				}
				out = append(out, edit(deviation.StartLine, "", "", "SIP/2.0 "+code+" "))
			}
		} else {
			out = append(out,
				edit(deviation.StartLine, "", "", "BROKEN sip:broken.invalid SIP/2.0"),
				edit(deviation.StartLine, "", "", "REGISTER sip:broken.invalid SIP/2.1"))
		}
	case scenario.KindPresent:
		if p, ok := strings.CutPrefix(part, "param:"); ok {
			out = append(out, edit(deviation.DropParam, h, p, ""))
		}
		out = append(out, edit(deviation.DropHeader, h, "", ""))
	case scenario.KindAbsent:
		if p, ok := strings.CutPrefix(part, "param:"); ok {
			out = append(out, edit(deviation.SetParam, h, p, "1"))
		}
		if p, ok := strings.CutPrefix(part, "digest:"); ok {
			out = append(out, edit(deviation.SetParam, h, p, "00112233445566778899aabbccddeeff"))
		}
		out = append(out, edit(deviation.AddHeader, h, "", "<sip:"+broken+".invalid>"))
	case scenario.KindWithin:
		out = append(out, edit(deviation.AddHeader, h, "", "<sip:"+broken+"@"+broken+".invalid>"))
	case scenario.KindAfter:
		// The Cx request the message should wait for, sent after it.
		return append(out, deviation.Deviation{Step: r.Ref.Step, Action: deviation.Late})
	case scenario.KindDiffers:
		if strings.HasPrefix(part, "aka.") {
			// An HSS that repeats the rejected RAND after the re-synchronisation.
			return append(out, deviation.Deviation{Step: "5", Action: deviation.StaleSQN, Value: deviation.ReplayRAND})
		}
	case scenario.KindExcludes:
		out = append(out, edit(deviation.AddHeader, h, "", r.Value), edit(deviation.SetHeader, h, "", r.Value))
	case scenario.KindCount:
		out = append(out, edit(deviation.AddHeader, h, "", "SIP/2.0/UDP "+broken+".invalid;branch=z9hG4bK"+broken), edit(deviation.DropHeader, h, "", ""))
	case scenario.KindViaEcho:
		out = append(out, edit(deviation.SetParam, "Via", "branch", "z9hG4bK"+broken), edit(deviation.AddHeader, "Via", "", "SIP/2.0/UDP "+broken+".invalid;branch=z9hG4bK1"))
	case scenario.KindDate:
		out = append(out, edit(deviation.SetHeader, h, "", "Wed, 11 July 2001 08:49:37 GMT"))
	case scenario.KindNonce:
		out = append(out, edit(deviation.SetParam, h, "nonce", "c2hvcnQ="))
	case scenario.KindFact:
		switch {
		case strings.HasPrefix(r.Fact, "5."):
			out = append(out, deviation.Deviation{Step: "5", Action: deviation.BadMAC})
		case strings.HasPrefix(r.Fact, "7."):
			out = append(out, edit(deviation.SetParam, "Authorization", "response", "0123456789abcdef0123456789abcdef"),
				deviation.Deviation{Step: "7", Action: deviation.WrongRES})
		case strings.HasPrefix(r.Fact, "12."):
			out = append(out, edit(deviation.SetHeader, "To", "", "<sip:"+broken+"@"+broken+".invalid>"),
				edit(deviation.SetParam, "Contact", "expires", "0"))
		}
		out = append(out, deviation.Deviation{Step: st, Action: deviation.NoAnswer})
		return out
	case scenario.KindEnvelope:
		return append(out, deviation.Deviation{Step: st, Action: deviation.NoAnswer})
	case scenario.KindESP:
		// The SAs broken on purpose (sut.ipsec): the fault each part judges.
		switch r.Part {
		case "protected", "spi":
			out = append(out, deviation.Deviation{Step: st, Action: deviation.InClear})
		case "packets.icv":
			out = append(out, deviation.Deviation{Step: st, Action: deviation.BadICV})
		case "packets.spi":
			out = append(out, deviation.Deviation{Step: st, Action: deviation.WrongSPI})
		case "packets.sequence":
			out = append(out, deviation.Deviation{Step: st, Action: deviation.Replay})
		}
		return append(out, deviation.Deviation{Step: st, Action: deviation.NoAnswer})
	}
	// The field edits shared by the value kinds (equals, matches, one-of,
	// members, same-as, compare) and, as a fallback, by the kinds above.
	switch {
	case strings.HasPrefix(part, "param:"):
		p := strings.TrimPrefix(part, "param:")
		out = append(out, edit(deviation.SetParam, h, p, broken), edit(deviation.SetParam, h, p, "4294967296"), edit(deviation.DropParam, h, p, ""))
	case strings.HasPrefix(part, "digest:"):
		p := strings.TrimPrefix(part, "digest:")
		out = append(out, edit(deviation.SetParam, h, p, broken), edit(deviation.DropParam, h, p, ""))
	case part == "digest.scheme":
		out = append(out, edit(deviation.SetHeader, h, "", `Basic realm="`+broken+`"`))
	case strings.HasPrefix(part, "cseq."):
		out = append(out, edit(deviation.SetHeader, h, "", "4711 BROKEN"))
	case strings.HasPrefix(part, "via."):
		out = append(out, edit(deviation.SetHeader, h, "", "SIP/2.0/SCTP "+broken+".invalid:9;branch=z9hG4bK"+broken))
	case strings.HasPrefix(part, "uri"):
		out = append(out, edit(deviation.SetHeader, h, "", "<sips:"+broken+"@"+broken+".invalid:9;x=y>;tag=1;expires=1"))
	}
	out = append(out,
		edit(deviation.SetHeader, h, "", broken),
		edit(deviation.SetHeader, h, "", "4294967296"),
		edit(deviation.DropHeader, h, "", ""))
	return out
}

// Proof says how one rule was made to fail, or that it could not be.
type Proof struct {
	RuleID  string
	Profile string
	Proven  bool
	// Baseline is the clean run the rule was judged from (one of
	// Baselines), Clean its verdict there: pass, or none when the rule does
	// not apply in this lab.
	Baseline  []deviation.Deviation
	Clean     check.Verdict
	Deviation deviation.Deviation // the deviation, added to Baseline, that made it fail
	Observed  string              // what the rule saw then
	Reason    string
	Tried     int // how many deviations were tried
}

// Options bound a self-proof.
type Options struct {
	// Lab is the reference core's lab; nil = lab.Default with short timeouts.
	Lab *lab.Profile
	// Parallel runs this many flows at once (default 2).
	Parallel int
	// Only, when not nil, limits the deviations to the rules with these ids
	// (the clean runs still judge every rule); the others are reported unproven.
	Only []string
}

// Prove runs the clean flow of every baseline and then, for every rule of
// profile, deviations from Candidates added to the first baseline the rule
// passes in, until the rule fails. Each distinct run is made once and
// judged against every rule, so rules sharing a field share the run. It
// returns the results of the first baseline's clean run (the core as it is)
// and a proof per rule.
func Prove(ctx context.Context, sc *scenario.Scenario, profile string, o Options) ([]check.Result, []Proof, error) {
	rules, err := sc.Rules(profile)
	if err != nil {
		return nil, nil, err
	}
	l := o.Lab
	if l == nil {
		l = lab.DefaultFor(lab.Loopback())
		l.Timeouts.Step = 400 * time.Millisecond
	}
	cp := *l
	cp.Profile = profile
	l = &cp
	par := o.Parallel
	if par <= 0 {
		par = 2
	}
	run := func(ds []deviation.Deviation) ([]check.Result, error) {
		fr := flow.Run(ctx, flow.Options{Lab: l, Deviations: ds})
		if fr.Err != nil {
			return nil, fr.Err
		}
		// The deviations are asked for on purpose: on a step the harness
		// sends, a broken stimulus fails its rules rather than erring.
		dev := map[string]bool{}
		for _, d := range ds {
			dev[d.Step] = true
		}
		return check.Evaluate(rules, check.Input{Messages: fr.Messages, Missing: fr.Missing, Facts: fr.Facts, Vars: fr.Vars, Deviated: dev, Packets: fr.Trace.Packets(), NotDue: fr.NotDue}), nil
	}
	cleans := make([][]check.Result, len(Baselines))
	for b, base := range Baselines {
		if cleans[b], err = run(base); err != nil {
			return nil, nil, fmt.Errorf("clean run %s: %w", baselineName(base), err)
		}
	}

	proofs := make([]Proof, len(rules))
	cands := make([][][]deviation.Deviation, len(rules))
	only := map[string]bool{}
	for _, id := range o.Only {
		only[id] = true
	}
	for i, r := range rules {
		proofs[i] = Proof{RuleID: r.ID, Profile: profile, Clean: cleans[0][i].Verdict}
		base := -1
		for b := range Baselines {
			if cleans[b][i].Verdict == check.Pass {
				base = b
				break
			}
		}
		if base < 0 {
			continue // passes in no baseline: nothing to prove it from
		}
		proofs[i].Baseline, proofs[i].Clean = Baselines[base], check.Pass
		if o.Only == nil || only[r.ID] {
			for _, d := range Candidates(r) {
				cands[i] = append(cands[i], with(Baselines[base], d))
			}
		}
	}
	done := map[string][]check.Result{} // run key -> results
	for round := 0; ; round++ {
		// The next untried candidate of every unproven rule.
		var todo [][]deviation.Deviation
		seen := map[string]bool{}
		for i := range rules {
			if proofs[i].Proven || round >= len(cands[i]) {
				continue
			}
			ds := cands[i][round]
			k := runKey(ds)
			if _, ok := done[k]; ok || seen[k] {
				continue
			}
			seen[k] = true
			todo = append(todo, ds)
		}
		if len(todo) == 0 && !anyLeft(proofs, cands, round) {
			break
		}
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, par)
		var wg sync.WaitGroup
		for _, ds := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func(ds []deviation.Deviation) {
				defer wg.Done()
				defer func() { <-sem }()
				res, err := run(ds)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("run with %s: %w", runKey(ds), err)
					}
					return
				}
				done[runKey(ds)] = res
			}(ds)
		}
		wg.Wait()
		if firstErr != nil {
			return cleans[0], proofs, firstErr
		}
		if ctx.Err() != nil {
			return cleans[0], proofs, ctx.Err()
		}
		// Judge every unproven rule against every run made so far, in the
		// order of its own candidates, so the proof names the most specific.
		for i := range rules {
			if proofs[i].Proven {
				continue
			}
			for j := 0; j <= round && j < len(cands[i]); j++ {
				res, ok := done[runKey(cands[i][j])]
				if !ok {
					continue
				}
				proofs[i].Tried = j + 1
				if res[i].Verdict == check.Fail {
					ds := cands[i][j]
					proofs[i].Proven = true
					proofs[i].Deviation = ds[len(ds)-1]
					proofs[i].Observed = res[i].Observed
					proofs[i].Reason = res[i].Reason
					break
				}
			}
		}
	}
	return cleans[0], proofs, nil
}

// with is base plus d, d replacing a deviation of base of the same step
// and action (stale-sqn=replay-rand in place of plain stale-sqn).
func with(base []deviation.Deviation, d deviation.Deviation) []deviation.Deviation {
	out := make([]deviation.Deviation, 0, len(base)+1)
	for _, b := range base {
		if b.Step != d.Step || b.Action != d.Action {
			out = append(out, b)
		}
	}
	return append(out, d)
}

func baselineName(base []deviation.Deviation) string {
	if len(base) == 0 {
		return "(the core as it is)"
	}
	return runKey(base)
}

func anyLeft(proofs []Proof, cands [][][]deviation.Deviation, round int) bool {
	for i := range proofs {
		if !proofs[i].Proven && round < len(cands[i]) {
			return true
		}
	}
	return false
}

func runKey(ds []deviation.Deviation) string {
	var ks []string
	for _, d := range ds {
		ks = append(ks, strings.Join([]string{d.Step, string(d.Action), d.Header, d.Param, d.Value}, "|"))
	}
	return strings.Join(ks, " + ")
}

// Describe formats a deviation for people: "step 5: set-param WWW-Authenticate;algorithm=broken".
func Describe(d deviation.Deviation) string {
	s := fmt.Sprintf("step %s: %s", d.Step, d.Action)
	if d.Header != "" {
		s += " " + d.Header
	}
	if d.Param != "" {
		s += ";" + d.Param
	}
	if d.Value != "" {
		s += fmt.Sprintf(" = %q", d.Value)
	}
	return s
}

// Unproven lists the ids of rules no deviation made fail, sorted.
func Unproven(proofs []Proof) []string {
	var ids []string
	for _, p := range proofs {
		if !p.Proven {
			ids = append(ids, p.RuleID)
		}
	}
	sort.Strings(ids)
	return ids
}
