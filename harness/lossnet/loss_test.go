package lossnet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/run"
	"imsconform/harness/scenario"
	"imsconform/internal/tooltest"
)

// The loss test: the conformance flow against the embedded reference core,
// run in a namespace whose loopback drops 30 % of the UDP packets — every
// one (each SIP hop, the UE's and the VCC Application's included; step
// timeout at Timer F, 32 s), or only the UE's access link (the packets from
// and to the UE's three ports; the default step timeout) — ends in PASS
// every time. CI runs 3 runs of each; IMSCONFORM_LOSS_RUNS=10 (loss.sh) the
// full count. The Diameter Cx connections run over TCP, which the loss does
// not touch (TCP retransmits on its own).

// netnsPrefix names this test's namespaces.
const netnsPrefix = "servers-loss"

// The UE's ports in the namespace (a namespace of its own: fixed ports are
// free), so that a rule can pick its access link.
var uePorts = []int{5071, 5072, 5073}

// envChild carries a child's lab overrides (JSON) and makes TestMain run
// one flow instead of the tests.
const envChild = "IMSCONFORM_LOSS_CHILD"

// outcome is what a child reports of its run.
type outcome struct {
	Verdict  check.Verdict `json:"verdict"`
	Seconds  float64       `json:"seconds"`
	Failures []string      `json:"failures,omitempty"` // gating rules that did not pass: id, verdict, reason
	Errors   []string      `json:"errors,omitempty"`
	// Diagnostics of the run (e.g. a de-registration that failed: no rule
	// judges it) and when each step's message came, in seconds from the start.
	Diagnostics []string           `json:"diagnostics,omitempty"`
	Steps       map[string]float64 `json:"steps,omitempty"`
}

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(envChild); ok {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

// child runs the flow once with the overrides in v and prints its outcome
// as a line "LOSS {json}".
func child(v string) int {
	var set map[string]string
	if err := json.Unmarshal([]byte(v), &set); err != nil {
		fmt.Fprintln(os.Stderr, "loss child:", err)
		return 2
	}
	pl, err := run.Prepare(run.Options{Overrides: set})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loss child:", err)
		return 2
	}
	start := time.Now()
	o := pl.Execute(context.Background())
	out := outcome{Seconds: time.Since(start).Seconds(), Errors: o.Errors, Steps: map[string]float64{}}
	for _, d := range o.Flow.Diagnostics {
		out.Diagnostics = append(out.Diagnostics, d.Code+": "+d.Message)
	}
	for id, m := range o.Flow.Messages {
		out.Steps[id] = m.Time.Sub(start).Seconds()
	}
	for _, r := range o.Results {
		if r.Gates(scenario.LevelMust) && r.Verdict != check.Pass && r.Verdict != check.None {
			out.Failures = append(out.Failures, r.RuleID+": "+string(r.Verdict)+": "+r.Reason)
		}
	}
	out.Verdict = o.Verdict() // the run's, as its gate (must, by default) reads it
	b, _ := json.Marshal(out)
	fmt.Printf("LOSS %s\n", b)
	return 0
}

// lossRuns is how many runs each condition gets: 3, or
// IMSCONFORM_LOSS_RUNS.
func lossRuns(t *testing.T) int {
	return tooltest.Count(t, "IMSCONFORM_LOSS_RUNS", 3)
}

func requireNamespaces(t *testing.T) {
	t.Helper()
	if why := Available(); why != "" {
		tooltest.Missing(t, why)
	}
	if gone, err := Sweep(netnsPrefix); err != nil || len(gone) > 0 {
		t.Logf("namespaces left by a killed run, removed: %v %v", gone, err)
	}
}

// runIn runs one flow in ns with the overrides set and returns its outcome
// and the packets the loss dropped meanwhile.
func runIn(t *testing.T, ns *Namespace, set map[string]string) (outcome, int) {
	t.Helper()
	before, err := ns.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(set)
	cmd := ns.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(b))
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A safety net far above any run: 10 steps of 32 s.
	timer := time.AfterFunc(6*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var res outcome
	found := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if j, ok := strings.CutPrefix(sc.Text(), "LOSS "); ok {
			found = json.Unmarshal([]byte(j), &res) == nil
		}
	}
	if err := cmd.Wait(); err != nil || !found {
		t.Fatalf("the run in %s did not report (%v):\n%s", ns.Name, err, stderr.String())
	}
	after, err := ns.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	return res, after - before
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestLoss runs the flow against the embedded core under 30 % UDP loss:
// every run must end in PASS.
func TestLoss(t *testing.T) {
	requireNamespaces(t)
	runs := lossRuns(t)
	ports := map[string]string{"ue.port": strconv.Itoa(uePorts[0]), "ue.port_c": strconv.Itoa(uePorts[1]), "ue.port_s": strconv.Itoa(uePorts[2])}
	for _, c := range []struct {
		name string
		loss Loss
		set  map[string]string
	}{
		{"every UDP packet, timeouts.step 32s", Loss{Percent: 30}, map[string]string{"timeouts.step": "32s"}},
		{"the UE's access link, default timeouts", Loss{Percent: 30, Ports: uePorts}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns, err := New(netnsPrefix)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := ns.Close(); err != nil {
					t.Errorf("removing the namespace: %v", err)
				}
			})
			if err := ns.Drop(c.loss); err != nil {
				t.Fatal(err)
			}
			set := map[string]string{}
			for k, v := range ports {
				set[k] = v
			}
			for k, v := range c.set {
				set[k] = v
			}
			var secs []float64
			pass, dropped := 0, 0
			for i := range runs {
				res, d := runIn(t, ns, set)
				secs = append(secs, res.Seconds)
				dropped += d
				t.Logf("run %d: %s in %.1f s, %d packets dropped; steps at %v s; %s", i+1, res.Verdict, res.Seconds, d, res.Steps, strings.Join(res.Diagnostics, "; "))
				if res.Verdict == check.Pass {
					pass++
					continue
				}
				t.Errorf("run %d: expected PASS, got %s: %s %s", i+1, res.Verdict, strings.Join(res.Failures, "; "), strings.Join(res.Errors, "; "))
			}
			t.Logf("LOSS TABLE | 30 %% loss on %s | %d of %d PASS | median %.1f s | min %.1f s | max %.1f s | %d packets dropped |",
				c.name, pass, runs, median(secs), slices.Min(secs), slices.Max(secs), dropped)
			if dropped == 0 {
				t.Errorf("expected the loss to drop packets, it dropped none")
			}
		})
	}
}

// TestRuleset: the nftables rules of a loss, and the refusal of a loss
// that is none.
func TestRuleset(t *testing.T) {
	rs, err := Loss{Percent: 30}.Ruleset()
	if err != nil || !strings.Contains(rs, "meta l4proto udp numgen random mod 100 < 30 counter drop") || !strings.Contains(rs, "hook input") {
		t.Errorf("every UDP packet: got %q, %v", rs, err)
	}
	rs, err = Loss{Percent: 5, Ports: []int{5071, 5072}}.Ruleset()
	if err != nil || !strings.Contains(rs, "udp sport { 5071, 5072 } numgen random mod 100 < 5 counter drop") ||
		!strings.Contains(rs, "udp sport != { 5071, 5072 } udp dport { 5071, 5072 } numgen random mod 100 < 5 counter drop") {
		t.Errorf("ports: got %q, %v", rs, err)
	}
	for _, bad := range []Loss{{Percent: 101}, {Percent: -1}, {Percent: 10, Ports: []int{0}}, {Percent: 10, Ports: []int{70000}}} {
		if _, err := bad.Ruleset(); err == nil {
			t.Errorf("%+v: expected an error", bad)
		}
	}
}

// TestNamespaceDropsAndIsRemoved: in a namespace with 100 % loss on one
// port, a datagram to that port is lost and one to another port is not;
// the namespace is gone after Close; Sweep removes one whose process is
// gone.
func TestNamespaceDropsAndIsRemoved(t *testing.T) {
	requireNamespaces(t)
	ns, err := New(netnsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	name := ns.Name
	defer ns.Close()
	if err := ns.Drop(Loss{Percent: 100, Ports: []int{5999}}); err != nil {
		t.Fatal(err)
	}
	// bash's /dev/udp sends a datagram; the rules' counter says what was
	// dropped (the sender sees no error: the drop is on the way in).
	for _, port := range []string{"5999", "6000"} {
		if out, err := ns.Command("bash", "-c", "echo x > /dev/udp/127.0.0.1/"+port).CombinedOutput(); err != nil {
			t.Fatalf("send to %s: %v %s", port, err, out)
		}
	}
	if n, err := ns.Dropped(); err != nil || n != 1 {
		t.Errorf("expected exactly the datagram to port 5999 dropped, got %d dropped (%v)", n, err)
	}
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(name) {
		t.Errorf("expected %s gone after Close", name)
	}
	// A namespace named as if by a process that is gone.
	stale := fmt.Sprintf("%s-%d-1", netnsPrefix, 1<<22+7)
	if err := do("ip", "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	defer do("ip", "netns", "del", stale)
	gone, err := Sweep(netnsPrefix)
	if err != nil || !slices.Contains(gone, stale) || exists(stale) {
		t.Errorf("expected Sweep to remove %s, got %v, %v", stale, gone, err)
	}
}
