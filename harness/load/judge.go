package load

import (
	"imsconform/harness/check"
	"imsconform/harness/scenario"
)

// Judge judges one registration: every rule against the messages, facts
// and vars of its check.Input, one result per rule in the order of the
// rules, appended to dst. It is the one place a load run calls the check
// engine, so that another engine (a compiled one) replaces it here alone.
// It is called from several goroutines at once.
type Judge interface {
	Judge(dst []check.Result, in check.Input) []check.Result
}

// PerUE are the vars that differ from one UE (or one registration) to the
// next: the identities, the SPIs, the ports of the UE's port group (under
// sut.ipsec its own protected ports), what the registration itself decides
// (the expiry it asked for, whether an SQN re-synchronisation happened)
// and, under sut.ipsec, its security agreement (the P-CSCF's protected
// ports and SPIs, the algorithms). A Judge is given the run's other vars
// once (NewJudge); each Input's Vars hold these.
var PerUE = []string{"impi", "impu", "impus", "tel_impu", "ue_spi_c", "ue_spi_s",
	"ue_ip", "ue_host", "ue_port", "ue_port_c", "ue_port_s", "expires", "resync",
	"pcscf_port_c", "pcscf_port_s", "pcscf_spi_c", "pcscf_spi_s", "sa_alg", "sa_ealg"}

// NewJudge returns the judge of rules for a run whose vars (every var but
// the per-UE ones) are vars: the rules compiled (check.Compile) and bound
// to the run's vars once, the per-UE ones filled from each Input's vars at
// each judgement into storage the engine reuses (check.Plan).
func NewJudge(rules []scenario.Rule, vars map[string]string) Judge {
	return planJudge{check.Compile(rules).Bind(vars, PerUE...)}
}

// planJudge is the judge on a compiled plan, which is safe for concurrent
// use.
type planJudge struct{ plan *check.Plan }

func (j planJudge) Judge(dst []check.Result, in check.Input) []check.Result {
	return j.plan.AppendResults(dst, in)
}
