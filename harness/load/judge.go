package load

import (
	"sync"

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
// the per-UE ones) are vars: today check.Evaluate, with each Input's vars
// laid over the run's.
func NewJudge(rules []scenario.Rule, vars map[string]string) Judge {
	base := make(map[string]string, len(vars))
	for k, v := range vars {
		base[k] = v
	}
	return &evaluator{rules: rules, vars: base}
}

// evaluator is the judge on check.Evaluate: it compiles nothing ahead, so
// each registration pays for the rules' templates and parses in full.
type evaluator struct {
	rules []scenario.Rule
	vars  map[string]string
	pool  sync.Pool // map[string]string: the run's vars with one UE's on top
}

func (e *evaluator) Judge(dst []check.Result, in check.Input) []check.Result {
	vars, _ := e.pool.Get().(map[string]string)
	if vars == nil {
		vars = make(map[string]string, len(e.vars)+len(PerUE))
		for k, v := range e.vars {
			vars[k] = v
		}
	}
	for _, k := range PerUE {
		if v, ok := in.Vars[k]; ok {
			vars[k] = v
		} else if v, ok := e.vars[k]; ok {
			vars[k] = v
		} else {
			delete(vars, k)
		}
	}
	in.Vars = vars
	dst = append(dst, check.Evaluate(e.rules, in)...)
	e.pool.Put(vars)
	return dst
}
