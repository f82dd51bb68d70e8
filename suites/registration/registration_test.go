package registration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	. "github.com/onsi/ginkgo/v2"

	"imsconform/harness/check"
	"imsconform/harness/run"
)

// outcome is the one run of the flow, shared by every spec.
var outcome *run.Outcome

// The container body runs while RunSpecs builds the tree, after the flags
// are parsed.
var _ = Describe("TS 24.206 A.3.2.2 IMS registration", Ordered, ContinueOnFailure, func() {
	plan, err := run.Prepare(run.Options{
		LabFile: *labFile, Profile: *profile, Overrides: sets.s, Environ: os.Environ(),
		Deviations: deviations,
	})
	if len(sets.errs) > 0 {
		err = errors.Join(append(sets.errs, err)...)
	}
	if err != nil {
		// A broken lab or scenario fails a spec instead of panicking while the
		// tree is built (a panic there leaves a JUnit that shows no failure).
		It("loads the lab profile and the scenario", func() { Fail(err.Error()) })
		return
	}

	BeforeAll(func(ctx SpecContext) {
		// A Ctrl-C that came before this node started still stops the run.
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(interrupted, cancel)()
		fmt.Fprintf(os.Stderr, "imsconform: running the flow (profile %s, %s)\n", plan.Profile, target(plan))
		outcome = plan.Execute(runCtx)
	}, NodeTimeout(plan.Timeout()))

	for _, rule := range plan.Rules {
		labels := Label(rule.Table, "step-"+rule.Step, "profile-"+plan.Profile)
		It(rule.SpecName(), labels, func() {
			r, ok := outcome.Result(rule.ID)
			if !ok {
				Fail("no verdict for rule " + rule.ID + ": the flow did not run")
			}
			AddReportEntry("rule", r.RuleID, ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("verdict", string(r.Verdict), ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("expected", r.Expected, ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("observed", r.Observed, ReportEntryVisibilityFailureOrVerbose)
			if r.Reason != "" {
				AddReportEntry("reason", r.Reason, ReportEntryVisibilityFailureOrVerbose)
			}
			AddReportEntry("citation", r.Citation, ReportEntryVisibilityFailureOrVerbose)
			AddReportEntry("level", string(r.Level), ReportEntryVisibilityFailureOrVerbose)
			if (r.Verdict == check.Fail || r.Verdict == check.Inconc) && !r.Gates(false) {
				// A should or table rule: reported at its level, it does not gate.
				AddReportEntry("not gating", fmt.Sprintf("%s at level %s: %s", r.Verdict, r.Level, run.Describe(r)), ReportEntryVisibilityAlways)
				return
			}
			switch r.Verdict {
			case check.Pass:
			case check.None:
				Skip("verdict none (not applicable): " + r.Reason)
			case check.Inconc:
				if *failOnInconc {
					Fail(run.Describe(r))
				}
				AddReportEntry("inconc", run.Describe(r), ReportEntryVisibilityFailureOrVerbose)
			default:
				Fail(run.Describe(r))
			}
		})
	}
})

// interrupted ends at the first SIGINT or SIGTERM of the process, whenever it
// comes (Ginkgo's own handler only interrupts the node under way).
var interrupted, _ = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)

func target(plan *run.Plan) string {
	if plan.Lab.SUT.PCSCF == "" {
		return "embedded reference core"
	}
	return "lab P-CSCF " + plan.Lab.SUT.PCSCF
}
