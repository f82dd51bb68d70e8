package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"imsconform/harness/discovery"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
	"imsconform/harness/vccapp"
)

// Capture is what one registration left for the check engine: the UE's
// exchange, the VCC Application's and the Cx requests the HSS received.
// Run makes one; a load run makes one per registration it judges.
type Capture struct {
	Lab *lab.Profile
	Reg *ue.Registration
	// Exchange is the VCC Application's exchange of the registration
	// (steps 11 to 13); nil when none came (Waited says how long it was
	// waited for after the registration).
	Exchange *vccapp.Exchange
	Waited   time.Duration
	// Cx are the Cx requests the HSS received for the registration, in the
	// order received, when PlaysHSS; the harness plays no HSS otherwise.
	Cx       []trace.Message
	PlaysHSS bool
	// Interrupted says that the run ended before the capture was complete.
	Interrupted bool
}

// StepsOf maps a capture onto the steps the rules read, as Run does with its
// one registration: the Result's Messages, Missing, NotDue, Facts and the
// vars that depend on the registration ("expires", "resync"). Its other
// fields are empty.
func StepsOf(c Capture) *Result {
	res := &Result{Messages: map[string]trace.Message{}, Missing: map[string]string{}, NotDue: map[string]string{},
		Facts: map[string]string{}, Vars: map[string]string{}}
	res.Vars["expires"] = strconv.Itoa(c.Reg.Expires)
	ueSteps(res, c.Reg)
	exchangeSteps(res, c.Reg, c.Exchange, c.Interrupted, c.Waited, c.Lab)
	cxSteps(res, c.Cx, c.Reg, c.Waited, c.PlaysHSS, c.Interrupted)
	return res
}

// Due11 reports whether the registration makes the third-party REGISTER
// of step 11 due: a REGISTER with a challenge response was sent and
// answered with a 2xx.
func Due11(reg *ue.Registration) bool { return reg.Authorized != nil && reg.Registered() }

// exchangeSteps maps the VCC Application's exchange onto steps 11 to 13,
// and says why step 11 is absent when it did not come: the run was
// interrupted, no registration made it due, or it did not come within the
// wait.
func exchangeSteps(res *Result, reg *ue.Registration, ex *vccapp.Exchange, interrupted bool, waited time.Duration, l *lab.Profile) {
	if ex == nil {
		switch {
		case interrupted:
			res.Missing["11"] = "interrupted"
		case !Due11(reg):
			res.notDue("11", "not due: "+notRegistered(res, reg))
		default:
			res.Missing["11"] = fmt.Sprintf("not received within %s", waited)
		}
	}
	vccSteps(res, ex, l)
}

// LabVars returns the vars the rules of a run of lab l read that come from
// the lab, over transport ("UDP" or "TCP") from the UE's address host, as
// Run sets them before anything is bound.
func LabVars(l *lab.Profile, transport string, host netip.Addr) map[string]string {
	v := map[string]string{}
	labVars(v, l, transport, host)
	return v
}

// UEVars sets in v the vars of the UE's bound addresses, as Run does.
func UEVars(v map[string]string, a ue.Addrs) { ueVars(v, a) }

// SAVars sets in v the vars of a registration's security agreement
// (sut.ipsec; a nil one empties them), as Run does.
func SAVars(v map[string]string, a *ue.Agreement) { saVars(v, a) }

// Resolve finds a lab's P-CSCF as Run does (harness/discovery, RFC 3263 for
// a domain) and the UE's address that reaches it (host, or, when the lab
// left ue.address out, the address this host reaches the P-CSCF from). The
// error is the diagnostic Run would give.
func Resolve(ctx context.Context, l *lab.Profile, host netip.Addr) (netip.AddrPort, netip.Addr, *discovery.Result, error) {
	res := &Result{Messages: map[string]trace.Message{}, Missing: map[string]string{}, NotDue: map[string]string{},
		Facts: map[string]string{}, Vars: map[string]string{}}
	pcscf, h, ok := resolvePCSCF(ctx, l, host, res, slog.New(slog.DiscardHandler))
	if !ok {
		why := "the P-CSCF could not be resolved"
		if len(res.Diagnostics) > 0 {
			why = res.Diagnostics[0].Message
		}
		return netip.AddrPort{}, host, res.Discovery, errors.New(why)
	}
	return pcscf, h, res.Discovery, nil
}
