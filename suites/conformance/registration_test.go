package conformance_test

import (
	"os"

	. "github.com/onsi/ginkgo/v2"

	"imsconform/harness/check"
	"imsconform/harness/conformance"
)

// outcome is the one run of the flow, shared by every spec.
var outcome *conformance.Outcome

// The container body runs while RunSpecs builds the tree, after the flags
// are parsed.
var _ = Describe("TS 24.206 A.3.2.2 IMS registration", Ordered, ContinueOnFailure, func() {
	plan, err := conformance.Prepare(conformance.Options{
		LabFile: *labFile, Profile: *profile, Overrides: sets, Environ: os.Environ(),
		Deviations: deviations,
	})
	if err != nil {
		// A broken lab or scenario fails a spec instead of panicking while the
		// tree is built (a panic there leaves a JUnit that shows no failure).
		It("loads the lab profile and the scenario", func() { Fail(err.Error()) })
		return
	}

	BeforeAll(func(ctx SpecContext) {
		outcome = plan.Execute(ctx)
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
			switch r.Verdict {
			case check.Pass:
			case check.None:
				Skip("verdict none (not applicable): " + r.Reason)
			case check.Inconc:
				if *failOnInconc {
					Fail(conformance.Describe(r))
				}
				AddReportEntry("inconc", conformance.Describe(r), ReportEntryVisibilityFailureOrVerbose)
			default:
				Fail(conformance.Describe(r))
			}
		})
	}
})
