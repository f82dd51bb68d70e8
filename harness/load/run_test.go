package load

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/scenario"
	"imsconform/harness/subscribers"
	"imsconform/scenarios"
)

func subscribersShard(i, n int) subscribers.Shard { return subscribers.Shard{Index: i, Of: n} }

func scenarioRules(t *testing.T) (*scenario.Scenario, []scenario.Rule) {
	t.Helper()
	sc, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := sc.Rules("a322")
	if err != nil {
		t.Fatal(err)
	}
	return sc, rules
}

func testLab() *lab.Profile {
	l := lab.DefaultFor("127.0.0.1")
	l.Timeouts.Step = 5 * time.Second
	return l
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	sc, rules := scenarioRules(t)
	o.Scenario, o.Rules, o.Profile = sc, rules, "a322"
	if o.Lab == nil {
		o.Lab = testLab()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := Run(ctx, o)
	if len(rep.Errors) > 0 {
		t.Fatalf("harness errors: %v", rep.Errors)
	}
	return rep
}

func rule(t *testing.T, rep *Report, id string) RuleTally {
	t.Helper()
	for _, r := range rep.Rules {
		if r.RuleID == id {
			return r
		}
	}
	t.Fatalf("no rule %s in the report", id)
	return RuleTally{}
}

// A conformant core: every registration succeeds, and every rule is judged
// on every one of them — the SIP tables and the Cx the HSS emulator saw —
// with no rule gating.
func TestEveryRegistrationOfAConformantCoreIsJudged(t *testing.T) {
	const n = 120
	rep := run(t, Options{UEs: n, Rate: 200})
	in := rep.Initial
	if in.Attempted != n || in.Succeeded != n || in.Ineffective != 0 || rep.Judged != n || in.RRD.Count() != n || rep.Slip.Count() != n {
		t.Fatalf("initial: %+v, judged %d, RRD %d, slip %d; want %d of each", in, rep.Judged, in.RRD.Count(), rep.Slip.Count(), n)
	}
	for _, r := range rep.Rules {
		if r.Judged() != n {
			t.Errorf("%s judged %d times, want %d", r.RuleID, r.Judged(), n)
		}
		if r.Gating > 0 || (r.Level == scenario.LevelMust && r.Fail+r.Error+r.Inconc > 0) {
			t.Errorf("%s: %d fail, %d error, %d inconc on a conformant core: %+v", r.RuleID, r.Fail, r.Error, r.Inconc, r.First)
		}
	}
	for _, id := range []string{"Cx-3-UAR/User-Name/impi", "Cx-9-SAR/Public-Identity/impu", "A.3.2.2-10/P-Associated-URI/impus", "A.3.2.2-11/To/impu.ts24229", "A.3.2.2-13/P-Associated-URI/impus", "A.3.2.2-2/Contact/port"} {
		if r := rule(t, rep, id); r.Pass != n {
			t.Errorf("%s: %d pass, want %d: each UE judged on its own identities and ports", id, r.Pass, n)
		}
	}
	var att int64
	for _, s := range rep.Seconds {
		att += s.Attempted
	}
	if att != n {
		t.Errorf("the seconds hold %d attempts, want %d", att, n)
	}
	if len(rep.Samples) == 0 || len(rep.Samples[0].Messages) < 8 {
		t.Errorf("samples: %d; want the first registrations whole", len(rep.Samples))
	}
	if g := rep.Generator; g.EnginePerRegistration <= 0 || g.EngineShare <= 0 || g.EngineShare > 1 || g.CPUPerRegistration <= 0 || g.RSS <= 0 {
		t.Errorf("generator: %+v", g)
	}
}

// A fault of the SUT on every registration fails its rules for every UE,
// names the first UEs with what was expected and observed, and makes each
// registration ineffective for its fields.
func TestAFaultIsAggregatedPerRule(t *testing.T) {
	const n = 60
	rep := run(t, Options{UEs: n, Rate: 200, Deviations: []deviation.Deviation{{Step: "10", Action: deviation.DropHeader, Header: "P-Associated-URI"}}})
	r := rule(t, rep, "A.3.2.2-10/P-Associated-URI/impus")
	if r.Fail != n || r.Gating != n || len(r.First) != DefaultKeepFailures {
		t.Fatalf("P-Associated-URI rule: %d fail, %d gating, %d kept; want %d, %d, %d", r.Fail, r.Gating, len(r.First), n, n, DefaultKeepFailures)
	}
	seen := map[int]bool{}
	for i, f := range r.First {
		if seen[f.UE] || f.Verdict != check.Fail || !strings.Contains(f.Observed, "absent") && f.Observed == "" || (i > 0 && f.At.Before(r.First[i-1].At)) || f.UE != i+1 {
			t.Errorf("first failure %d: %+v", i, f)
		}
		seen[f.UE] = true
	}
	if rep.Initial.Causes[CauseFields] != n || rep.Initial.Succeeded != 0 {
		t.Errorf("causes %v, succeeded %d; want every registration ineffective for its fields", rep.Initial.Causes, rep.Initial.Succeeded)
	}
	if ok := rule(t, rep, "A.3.2.2-10/Status-Line/status"); ok.Pass != n {
		t.Errorf("the rest still passes: status rule %d pass", ok.Pass)
	}
}

func TestOverTCP(t *testing.T) {
	l := testLab()
	l.SUT.Transport = "tcp"
	rep := run(t, Options{Lab: l, UEs: 40, Rate: 200})
	if rep.Initial.Succeeded != 40 || rep.Config.Transport != "TCP" {
		t.Fatalf("over TCP: %+v", rep.Initial)
	}
	if r := rule(t, rep, "A.3.2.2-7/Envelope/transport"); r.Pass != 40 {
		t.Errorf("transport rule over TCP: %+v", r)
	}
}

// Registered UEs re-register while held, and de-register at the end; each
// kind is counted apart.
func TestReregistrationsAndDeregistrations(t *testing.T) {
	const n = 30
	rep := run(t, Options{UEs: n, Rate: 300, Reregister: 200 * time.Millisecond, Hold: 1500 * time.Millisecond, Deregister: true})
	if rep.Initial.Succeeded != n {
		t.Fatalf("initial: %+v", rep.Initial)
	}
	re := rep.Reregister
	if re.Attempted < n || re.Succeeded != re.Attempted || re.RRD.Count() != re.Succeeded {
		t.Errorf("re-registrations: %+v; want at least one per UE, every one a success", re)
	}
	de := rep.Deregister
	if de.Attempted != n || de.Succeeded != n {
		t.Errorf("de-registrations: %+v; want one per UE", de)
	}
	if rep.ThirdParties < int64(n) {
		t.Errorf("third-party REGISTERs of re- and de-registrations: %d, want at least %d", rep.ThirdParties, n)
	}
}

// A P-CSCF that answers nothing: every attempt is ineffective by timeout;
// one where nothing listens: by unreachable.
func TestIneffectiveAttemptsByCause(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		b := make([]byte, 65536)
		for {
			if _, _, err := silent.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	closed, _ := net.ListenPacket("udp", "127.0.0.1:0")
	closedAddr := closed.LocalAddr().String()
	closed.Close()
	for _, c := range []struct{ pcscf, cause string }{{silent.LocalAddr().String(), CauseTimeout}, {closedAddr, CauseUnreachable}} {
		l := testLab()
		l.SUT.PCSCF = c.pcscf
		l.Timeouts.Step = 600 * time.Millisecond
		rep := run(t, Options{Lab: l, UEs: 10, Rate: 100})
		if rep.Initial.Causes[c.cause] != 10 || rep.Initial.Ineffective != 10 {
			t.Errorf("P-CSCF %s: causes %v, want 10 %s", c.pcscf, rep.Initial.Causes, c.cause)
		}
		if r := rule(t, rep, "A.3.2.2-5/Status-Line/status"); r.Fail != 10 || !strings.Contains(r.First[0].Reason, "") {
			t.Errorf("the 401's rules: %+v", r)
		}
	}
}

// Against a core apart (the lab names its P-CSCF) whose HSS the harness
// does not play: the Cx rules are none; a sample judges only its share.
func TestAgainstALabPCSCFWithASample(t *testing.T) {
	l := testLab()
	l.Subscribers.Count = 200
	core, err := refcore.Start(context.Background(), refcore.Config{Lab: l, Host: "127.0.0.1", Transport: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	l.SUT.PCSCF = core.PCSCF().String()
	rep := run(t, Options{Lab: l, Rate: 400, Sample: 0.25})
	if rep.Config.UEs != 200 || rep.Initial.Attempted != 200 || rep.Judged+rep.NotJudged != 200 || rep.Judged < 50 || rep.Judged > 51 {
		t.Fatalf("UEs %d attempted %d judged %d not %d", rep.Config.UEs, rep.Initial.Attempted, rep.Judged, rep.NotJudged)
	}
	if r := rule(t, rep, "Cx-3-UAR/User-Name/impi"); r.None != rep.Judged {
		t.Errorf("Cx rule without the HSS played: %+v; want none", r)
	}
	// No VCC Application address was given to the core: step 11 is missing.
	if r := rule(t, rep, "A.3.2.2-11/To/impu.ts24229"); r.Fail != rep.Judged || !strings.Contains(r.First[0].Reason, "not received within") {
		t.Errorf("step 11 with no VCC Application at the core: %+v", r)
	}
}

func TestRefusesWhatItCannotRun(t *testing.T) {
	sc, rules := scenarioRules(t)
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"no population", Options{Rate: 10}, "expected a population"},
		{"no rate", Options{UEs: 5}, "expected a rate"},
		{"ipsec with fixed protected ports", Options{UEs: 5, Rate: 10, Lab: func() *lab.Profile {
			l := testLab()
			l.SUT.IPsec, l.UE.PortC, l.UE.PortS = true, 15100, 15101
			return l
		}()}, "leases protected ports of its own"},
		{"deviation with a lab", Options{UEs: 5, Rate: 10, Lab: func() *lab.Profile { l := testLab(); l.SUT.PCSCF = "127.0.0.1:5060"; return l }(),
			Deviations: []deviation.Deviation{{Step: "10", Action: deviation.DropHeader, Header: "Date"}}}, "deviations break the embedded reference core"},
		{"deviation of the harness's own step", Options{UEs: 5, Rate: 10, Deviations: []deviation.Deviation{{Step: "7", Action: deviation.DropHeader, Header: "Date"}}}, "not the harness's own"},
		{"shard", Options{UEs: 5, Rate: 10, Shard: subscribersShard(3, 2)}, "0 ≤ i < n"},
	} {
		o := c.o
		o.Scenario, o.Rules = sc, rules
		if o.Lab == nil {
			o.Lab = testLab()
		}
		rep := Run(context.Background(), o)
		if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], c.want) || rep.Initial.Attempted != 0 {
			t.Errorf("%s: errors %q, %d attempted; want one error saying %q", c.name, rep.Errors, rep.Initial.Attempted, c.want)
		}
	}
}
