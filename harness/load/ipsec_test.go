package load

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/lab"
	"imsconform/harness/selfproof"
	"imsconform/internal/tooltest"
)

// ipsecLab is the test lab under real IPsec, or skips without raw sockets
// (fails under IMSCONFORM_REQUIRE_TOOLS=1), as the UE's IPsec tests do.
func ipsecLab(t *testing.T, transport string) *lab.Profile {
	t.Helper()
	l := testLab()
	tooltest.NeedRawESP(t, lab.RawESP(netip.MustParseAddr("127.0.0.1")))
	l.SUT.IPsec, l.SUT.Transport = true, transport
	l.Timeouts.Step = 10 * time.Second
	return l
}

// espRules are the rules of kind esp of the scenario: on step 7 (inside
// ESP, on the P-CSCF's spi-s) and on the 200 OK and the packets under it
// (table A.3.2.2-10).
var espRules = []string{"A.3.2.2-7/ESP/protected", "A.3.2.2-7/ESP/spi",
	"A.3.2.2-10/ESP/protected", "A.3.2.2-10/ESP/icv", "A.3.2.2-10/ESP/spi", "A.3.2.2-10/ESP/sequence"}

// Over real SAs against the embedded core, over UDP and TCP: every UE of
// the population runs the agreement with protected ports and SPIs of its
// own, step 7 and the 200 OK travel inside ESP and every rule is judged,
// the ESP rules passing on every registration; the UEs re-register over
// their SAs while held and de-register at the end; and no lease and no SA
// is left on the UEs' stack (Run says so in Errors, which run fails on),
// nor anywhere in the process.
func TestOverIPsec(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			const n = 200
			l := ipsecLab(t, tp)
			// Re-registrations every second: more would fill the core's
			// server transactions (4096 per hop, each kept for Timer J,
			// 32 s over UDP), which then answer 503 statelessly.
			rep := run(t, Options{Lab: l, UEs: n, Rate: 400, Reregister: time.Second, Hold: 3 * time.Second, Deregister: true})
			in := rep.Initial
			if in.Attempted != n || in.Succeeded != n || in.Ineffective != 0 || rep.Judged != n || !rep.Config.IPsec {
				t.Errorf("initial: %+v, judged %d, ipsec %v; want %d of %d succeeded and judged", in, rep.Judged, rep.Config.IPsec, n, n)
			}
			for _, r := range rep.Rules {
				if r.Judged() != n {
					t.Errorf("%s judged %d times, want %d", r.RuleID, r.Judged(), n)
				}
				if r.Gating > 0 || (r.Level == "must" && r.Fail+r.Error+r.Inconc > 0) {
					t.Errorf("%s: %d fail, %d error, %d inconc over IPsec on a conformant core: %+v", r.RuleID, r.Fail, r.Error, r.Inconc, r.First)
				}
			}
			for _, id := range append(espRules, "A.3.2.2-2/Security-Client/spi-c", "A.3.2.2-2/Security-Client/port-c", "A.3.2.2-7/Envelope/source-port", "A.3.2.2-10/Envelope/destination") {
				if r := rule(t, rep, id); r.Pass != n {
					t.Errorf("%s: %d pass, %d none, want %d pass: judged on each UE's own SAs", id, r.Pass, r.None, n)
				}
			}
			// How many fall due within the hold depends on the machine's
			// speed; that each one succeeds over its SAs does not.
			if re := rep.Reregister; re.Attempted == 0 || re.Succeeded != re.Attempted {
				t.Errorf("re-registrations over the SAs: %+v; want some, every one a success", re)
			}
			t.Logf("%d re-registrations over the SAs", rep.Reregister.Attempted)
			if de := rep.Deregister; de.Attempted != n || de.Succeeded != n {
				t.Errorf("de-registrations over the SAs: %+v; want one per UE", de)
			}
			if got := esp.LeasedPorts(netip.MustParseAddr("127.0.0.1")); got != 0 {
				t.Errorf("%d protected ports still leased in the process after the run", got)
			}
		})
	}
}

// Each of the reference core's IPsec deviations makes exactly its rules
// fail for every registration of a load run, over UDP and TCP, as in a conformance run
// (harness/selfproof): its own in table A.3.2.2-10 and its twin -14, or the
// Security-Server's alg; each registration is ineffective for its fields;
// every other rule keeps passing; and no lease is left behind.
func TestIPsecDeviationsUnderLoad(t *testing.T) {
	const n = 40
	for _, tp := range []string{"udp", "tcp"} {
		for _, c := range selfproof.ESPDeviations {
			t.Run(tp+"/"+strings.ReplaceAll(c.Dev, "/", "_"), func(t *testing.T) {
				d, err := deviation.Parse(c.Dev)
				if err != nil {
					t.Fatal(err)
				}
				l := ipsecLab(t, tp)
				// Room for the retransmission that makes good a refused packet.
				l.Timeouts.Step = 3 * time.Second
				rep := run(t, Options{Lab: l, UEs: n, Rate: 200, Deviations: []deviation.Deviation{d}})
				if in := rep.Initial; in.Attempted != n || in.Ineffective != n || in.Causes[CauseFields] != n {
					t.Errorf("initial: %+v; want all %d ineffective for their fields", in, n)
				}
				for _, id := range c.Fails {
					r := rule(t, rep, id)
					if r.Fail != n || (!strings.HasPrefix(id, "A.3.2.2-14/") && r.Gating != n) || len(r.First) == 0 || r.First[0].Verdict != check.Fail {
						t.Fatalf("%s: %d fail, %d gating, %d pass; want %d failing", id, r.Fail, r.Gating, r.Pass, n)
					}
					t.Logf("%s: first failure: expected %q, observed %q: %s", id, r.First[0].Expected, r.First[0].Observed, r.First[0].Reason)
				}
				for _, r := range rep.Rules {
					if !slices.Contains(c.Fails, r.RuleID) && r.Level == "must" && r.Fail+r.Error > 0 {
						t.Errorf("%s: %d fail, %d error under %s, which breaks other rules only: %+v", r.RuleID, r.Fail, r.Error, c.Dev, r.First)
					}
				}
				if got := esp.LeasedPorts(netip.MustParseAddr("127.0.0.1")); got != 0 {
					t.Errorf("%d protected ports still leased in the process after the run", got)
				}
			})
		}
	}
}

// cancelAfter is the engine's judge that interrupts the run once it has
// judged n registrations.
type cancelAfter struct {
	next   Judge
	n      atomic.Int64
	at     int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Judge(dst []check.Result, in check.Input) []check.Result {
	dst = c.next.Judge(dst, in)
	if c.n.Add(1) == c.at {
		c.cancel()
	}
	return dst
}

// A run over IPsec interrupted while UEs are registered, registering and
// waiting to re-register still gives back every UE's SAs and lease: the
// only error is the interruption.
func TestIPsecInterruptedLeavesNothing(t *testing.T) {
	l := ipsecLab(t, "udp")
	l.Subscribers.Count = 300
	sc, rules := scenarioRules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The engine without the run's vars: its verdicts are beside the point.
	j := &cancelAfter{next: NewJudge(rules, nil), at: 50, cancel: cancel}
	rep := Run(ctx, Options{Lab: l, Rules: rules, Scenario: sc, Profile: "a322", Rate: 300, Reregister: 200 * time.Millisecond, Hold: time.Minute, Deregister: true,
		Judge: j})
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "interrupted") {
		t.Errorf("errors %q; want the interruption alone", rep.Errors)
	}
	if rep.Initial.Attempted < 50 || rep.Initial.Attempted == 300 && rep.Initial.Unfinished == 0 && rep.Reregister.Attempted == 0 {
		t.Errorf("initial %+v, re-registrations %+v: the run was not interrupted under way", rep.Initial, rep.Reregister)
	}
	if got := esp.LeasedPorts(netip.MustParseAddr("127.0.0.1")); got != 0 {
		t.Errorf("%d protected ports still leased in the process after the interrupted run", got)
	}
}
