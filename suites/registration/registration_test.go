package registration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"

	"imsconform/harness/check"
	"imsconform/harness/run"
	"imsconform/harness/scenario"
	"imsconform/reports"
)

var (
	plan    *run.Plan
	planErr error
	// outcome is the one run of the flow, shared by every spec.
	outcome *run.Outcome
	// selected holds the rules whose spec ran: a --label-filter or --focus
	// narrows the gate and the JUnit to them (reports.Gate.Only).
	selected = map[string]bool{}
)

// prepare resolves the lab and loads the rules, after the flags are parsed.
func prepare() {
	plan, planErr = run.Prepare(run.Options{
		LabFile: *labFile, Profile: *profile, Overrides: sets.s, Environ: os.Environ(),
		Deviations: deviations, MaskVectors: *maskVectors,
		Gate: run.GateOptions{Level: scenario.Level(*gateLevel), FailOnInconc: *failOnInconc, Expect: *expectFile,
			StaleWarnOnly: *staleWarn, Baseline: *baseline},
	})
	if len(sets.errs) > 0 {
		planErr = errors.Join(append(sets.errs, planErr)...)
	}
	if planErr != nil {
		plan = nil
	}
}

// The container body runs while RunSpecs builds the tree, after prepare.
//
// Serial: with -p (or -procs=N) Ginkgo runs serial specs on process 1 only,
// after the other processes are done, so the flow always runs in process 1,
// the process whose ReportAfterSuite writes every report. Ordered: the flow
// runs once, before the first spec, and an interruption while it runs still
// reports every spec (interrupted or skipped) in the JUnit.
var _ = Describe("TS 24.206 A.3.2.2 IMS registration", Ordered, Serial, ContinueOnFailure, func() {
	if plan == nil {
		// A broken lab or scenario fails a spec instead of panicking while the
		// tree is built (a panic there leaves a JUnit that shows no failure).
		It("loads the lab profile and the scenario", func() { Fail(reports.Printable(planErr.Error())) })
		return
	}

	BeforeAll(func(ctx SpecContext) {
		// A Ctrl-C that came before this node started still stops the run.
		runCtx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		defer context.AfterFunc(interrupted, func() { cancel(context.Cause(interrupted)) })()
		fmt.Fprintf(os.Stderr, "imsconform: running the flow (profile %s, %s)\n", plan.Profile, target(plan))
		outcome = plan.Execute(runCtx)
	}, NodeTimeout(plan.Timeout()))

	p := reports.Printable
	for _, rule := range plan.Rules {
		labels := Label(rule.Table, "step-"+rule.Step, "profile-"+plan.Profile)
		It(rule.SpecName(), labels, func() {
			selected[rule.ID] = true
			r, ok := outcome.Result(rule.ID)
			if !ok {
				Fail("no verdict for rule " + rule.ID + ": the flow did not run")
			}
			// Report entries and failure messages reach the terminal: every
			// SUT value goes through reports.Printable.
			AddReportEntry("rule", p(r.RuleID), ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("verdict", p(string(r.Verdict)), ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("expected", p(r.Expected), ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("observed", p(r.Observed), ReportEntryVisibilityFailureOrVerbose)
			if r.Reason != "" {
				AddReportEntry("reason", p(r.Reason), ReportEntryVisibilityFailureOrVerbose)
			}
			AddReportEntry("citation", p(r.Citation), ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("level", string(r.Level), ReportEntryVisibilityFailureOrVerbose)
			// The spec stands as the rule stands at the run's gate
			// (reports.Gate.Judge): only what gates fails a spec, so the
			// exit status is the gate's; the rest says why it does not.
			switch st, why := outcome.Gate.Judge(r); st {
			case reports.Gating:
				Fail(p(run.Describe(r)))
			case reports.Quiet:
				if r.Verdict == check.None {
					Skip("verdict none (not applicable): " + p(r.Reason))
				}
			default:
				AddReportEntry("not gating", p(why), ReportEntryVisibilityFailureOrVerbose)
				Skip(fmt.Sprintf("%s, not gating: %s", r.Verdict, p(why)))
			}
		})
	}

	// The gate's own findings — stale or differing expectations, a missed
	// rules_in_scope pin, regressions against the baseline — fail the run
	// as a rule does.
	It("the gate: expectations and baseline hold", Label("gate"), func() {
		for _, w := range outcome.Gate.Warnings {
			AddReportEntry("gate warning", p(w), ReportEntryVisibilityAlways)
		}
		if probs := outcome.Gate.Problems; len(probs) > 0 {
			for i := range probs {
				probs[i] = p(probs[i])
			}
			Fail(fmt.Sprintf("%d gate problem(s):\n  %s", len(probs), strings.Join(probs, "\n  ")))
		}
	})
})

// interrupted ends at the first SIGINT or SIGTERM of the process, whenever it
// comes (Ginkgo's own handler only interrupts the node under way); its cause
// names the signal.
var interrupted = func() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-ch
		name := "SIGTERM"
		if s == os.Interrupt {
			name = "SIGINT"
		}
		cancel(fmt.Errorf("stopped by %s", name))
	}()
	return ctx
}()

func target(plan *run.Plan) string {
	if plan.Lab.SUT.PCSCF == "" {
		return "embedded reference core"
	}
	return "lab P-CSCF " + plan.Lab.SUT.PCSCF
}
