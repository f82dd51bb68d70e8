package main

import (
	"time"

	"imsconform/harness/check"
	"imsconform/harness/expect"
	"imsconform/harness/lab"
	"imsconform/harness/load"
	"imsconform/harness/run"
	"imsconform/reports"
)

// expectations are a load run's expectations file (harness/expect, the
// conformance run's): before the run, the verdict each rule is expected to
// get (so that a registration with the known results is not ineffective
// for them); after it, the gate's waivers and problems, from the rules'
// verdicts over every registration.
type expectations struct {
	f    *expect.File
	run  expect.Run
	opts expect.Options
	pre  map[string]check.Verdict
}

func loadExpectations(file string, staleWarn bool, plan *run.Plan) (*expectations, error) {
	f, err := expect.Load(file)
	if err != nil {
		return nil, err
	}
	l := plan.Lab
	e := &expectations{f: f, opts: expect.Options{StaleWarnOnly: staleWarn},
		run: expect.Run{Profile: plan.Profile, SUT: l.SUT.Name, SUTVersion: l.SUT.Version, Transport: l.SUT.Transport, Today: time.Now()}}
	if plan.Rules != nil {
		pass := make([]check.Result, len(plan.Rules))
		for i, r := range plan.Rules {
			pass[i] = check.Result{RuleID: r.ID, Level: r.Level, Verdict: check.Pass}
		}
		e.pre = map[string]check.Verdict{}
		for _, ro := range expect.Apply(f, pass, e.run, e.opts).Rules {
			if ro.Entry != nil && ro.Class != expect.Expired {
				e.pre[ro.RuleID] = ro.Entry.Verdict
			}
		}
	}
	return e, nil
}

// verdicts are the expected verdicts by rule id; nil without a file.
func (e *expectations) verdicts() map[string]check.Verdict {
	if e == nil {
		return nil
	}
	return e.pre
}

// judge sets g's expectations, waivers, problems and warnings from the
// rules' verdicts over the run.
func (e *expectations) judge(g *reports.Gate, rep *load.Report) {
	if e == nil {
		return
	}
	results := make([]check.Result, len(rep.Rules))
	for i := range rep.Rules {
		results[i] = rep.Rules[i].Result()
	}
	o := expect.Apply(e.f, results, e.run, e.opts)
	g.Expectations, g.Waived = e.f.Name, map[string]string{}
	for _, r := range o.Rules {
		if r.Class == expect.Expected {
			g.Waived[r.RuleID] = r.Why
		}
	}
	g.Problems = append(g.Problems, o.Problems...)
	g.Warnings = append(g.Warnings, o.Warnings...)
}

// mergedLab is what the expectations' scope reads of a merged run.
func mergedLab(rep *load.Report) *lab.Profile {
	p := lab.Default()
	p.SUT.Name, p.SUT.Version, p.SUT.Transport = rep.SUTName, rep.SUTVersion, transportName(rep.Config.Transport)
	return p
}

func transportName(t string) string {
	switch t {
	case "TCP":
		return "tcp"
	}
	return "udp"
}
