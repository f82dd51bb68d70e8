package selfproof

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/lab"
	"imsconform/harness/scenario"
	"imsconform/internal/tooltest"
	"imsconform/scenarios"
)

// variant is a lab under which the rules are proven: some rules apply only
// when sigcomp is on, others only when it is off, one only over IPsec.
type variant struct {
	name string
	edit func(*lab.Profile)
}

var variants = []variant{
	{"sigcomp off", func(*lab.Profile) {}},
	{"sigcomp on", func(p *lab.Profile) { p.UE.Sigcomp = true }},
	// Real SAs in user-space ESP (root or CAP_NET_RAW). A packet the UE
	// refuses is made good by a retransmission (the UE's REGISTER after
	// T1 over UDP, the segment over TCP): the step timeout leaves room for
	// it.
	{"ipsec on", func(p *lab.Profile) { p.SUT.IPsec = true; p.Timeouts.Step = 2 * time.Second }},
	// Content-Length is a must over a stream transport. A TCP run connects
	// before it sends: on a loaded machine the connection may take longer
	// than the other labs' short step timeout.
	{"tcp", func(p *lab.Profile) { p.SUT.Transport = "tcp"; p.Timeouts.Step = 2 * time.Second }},
}

// TestEveryRuleCanFail is the self-proof: the clean run of the core as it is
// passes every applicable must and should rule (the core is conformant);
// a table rule it does not pass passes in another baseline (step 11 as the
// table shows it); and for every rule some deviation of the reference core,
// the UE or the VCC App, added to a baseline it passes in, makes it fail. A
// rule nothing breaks is listed.
func TestEveryRuleCanFail(t *testing.T) {
	sc, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, profile := range sc.Profiles() {
		proven := map[string]Proof{}
		applicable := map[string]bool{}
		var ids []string
		ipsecSkipped := false
		for _, v := range variants {
			l := lab.DefaultFor(lab.Loopback())
			if v.name == "ipsec on" && !rawESP(t) {
				ipsecSkipped = true
				continue
			}
			l.Timeouts.Step = 500 * time.Millisecond
			v.edit(l)
			// After the first lab, only the rules still unproven are tried.
			var only []string
			if ids != nil {
				only = []string{}
			}
			for _, id := range ids {
				if _, ok := proven[id]; !ok {
					only = append(only, id)
				}
			}
			// Most deviation runs wait out a step timeout: they run six at a time.
			clean, proofs, err := Prove(ctx, sc, profile, Options{Lab: l, Only: only, Parallel: 6})
			if err != nil {
				t.Fatalf("%s, %s: %v", profile, v.name, err)
			}
			for i, r := range clean {
				switch {
				case proofs[i].Clean == check.Pass:
					applicable[r.RuleID] = true
				case r.Verdict == check.None:
				default:
					t.Errorf("%s, %s: clean run: %s (%s) is %s in every baseline: expected %q, observed %q: %s", profile, v.name, r.RuleID, r.Level, r.Verdict, r.Expected, r.Observed, r.Reason)
				}
				if r.Verdict != check.Pass && r.Verdict != check.None && r.Level != scenario.LevelTable {
					t.Errorf("%s, %s: clean run of the core as it is: %s (level %s) is %s: expected %q, observed %q: %s", profile, v.name, r.RuleID, r.Level, r.Verdict, r.Expected, r.Observed, r.Reason)
				}
			}
			if ids == nil {
				for _, p := range proofs {
					ids = append(ids, p.RuleID)
				}
			}
			for _, p := range proofs {
				if _, ok := proven[p.RuleID]; !ok && p.Proven {
					proven[p.RuleID] = p
				}
			}
		}
		var unproven, needIPsec []string
		for _, id := range ids {
			if _, ok := proven[id]; !ok {
				if r, _ := ruleByID(sc, id); ipsecSkipped && onlyUnderIPsec(r) {
					needIPsec = append(needIPsec, id)
					continue
				}
				why := "no deviation made it fail"
				if !applicable[id] {
					why = "not applicable in any lab variant tried"
				}
				unproven = append(unproven, id+" ("+why+")")
			}
		}
		sort.Strings(unproven)
		if len(unproven) > 0 {
			t.Errorf("profile %s: %d of %d rules cannot be made to fail:\n  %s", profile, len(unproven), len(ids), strings.Join(unproven, "\n  "))
		}
		t.Logf("profile %s: %d of %d rules proven to fail", profile, len(proven), len(ids))
		if len(needIPsec) > 0 {
			defer t.Skipf("profile %s: %d rules of sut.ipsec not proven: this process may not open raw sockets (root or CAP_NET_RAW): %s", profile, len(needIPsec), strings.Join(needIPsec, ", "))
		}
		if testing.Verbose() {
			for _, id := range ids {
				if p, ok := proven[id]; ok {
					from := ""
					if len(p.Baseline) > 0 {
						from = " (from " + baselineName(p.Baseline) + ")"
					}
					t.Logf("  %-55s %s%s", id, Describe(p.Deviation), from)
				}
			}
		}
	}
}

// rawESP reports whether this process may open the raw ESP sockets of
// sut.ipsec; it fails the test instead under IMSCONFORM_REQUIRE_TOOLS=1.
func rawESP(t *testing.T) bool {
	t.Helper()
	err := lab.RawESP(netip.MustParseAddr(lab.Loopback()))
	if err == nil {
		tooltest.ESPAlone(t)
		return true
	}
	if tooltest.Required() {
		t.Fatalf("sut.ipsec needs raw sockets (root or CAP_NET_RAW) and IMSCONFORM_REQUIRE_TOOLS=1: %v", err)
	}
	t.Logf("sut.ipsec skipped: %v (run as root or with CAP_NET_RAW)", err)
	return false
}

func ruleByID(sc *scenario.Scenario, id string) (scenario.Rule, bool) {
	for _, r := range sc.AllRules() {
		if r.ID == id {
			return r, true
		}
	}
	return scenario.Rule{}, false
}

func onlyUnderIPsec(r scenario.Rule) bool {
	for _, c := range r.When {
		if c.Var == "ipsec" && c.Value == "true" {
			return true
		}
	}
	return false
}
