package selfproof

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/scenario"
	"imsconform/harness/trace"
	"imsconform/scenarios"
)

// Under sut.ipsec, over UDP and TCP, IPv6 and IPv4, the clean run passes
// every rule that applies (the IPsec rules included: real SAs in user-space
// ESP), and each ESP deviation makes exactly its rules fail: every other
// rule keeps the verdict of the clean run. The bad ICV and the wrong SPI
// hit one packet; the UE refuses it and the 200 OK still arrives (UDP: the
// UE's retransmitted REGISTER is answered; TCP: the segment is sent again),
// which is what lets every other rule be judged as before.
func TestESPDeviationsBreakExactlyTheirRules(t *testing.T) {
	if !rawESP(t) {
		t.Skip("sut.ipsec needs raw sockets (root or CAP_NET_RAW)")
	}
	sc, err := scenario.Load(scenarios.FS, "ts24206")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := sc.Rules("a322")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	type labCase struct{ name, host, transport string }
	var labs []labCase
	for _, host := range []string{"::1", "127.0.0.1"} {
		for _, tp := range []string{"udp", "tcp"} {
			labs = append(labs, labCase{fmt.Sprintf("%s/%s", tp, host), host, tp})
		}
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, lc := range labs {
		l := lab.DefaultFor(lc.host)
		l.SUT.IPsec, l.SUT.Transport = true, lc.transport
		// Room for the retransmission that makes good a refused packet.
		l.Timeouts.Step = 3 * time.Second
		judge := func(ds []deviation.Deviation) ([]check.Result, *flow.Result) {
			fr := flow.Run(ctx, flow.Options{Lab: l, Deviations: ds})
			if fr.Err != nil {
				t.Errorf("%s %v: %v", lc.name, ds, fr.Err)
				return nil, fr
			}
			dev := map[string]bool{}
			for _, d := range ds {
				dev[d.Step] = true
			}
			return check.Evaluate(rules, check.Input{Messages: fr.Messages, Missing: fr.Missing, Facts: fr.Facts,
				Vars: fr.Vars, Deviated: dev, Packets: fr.Trace.Packets()}), fr
		}
		clean, cfr := judge(nil)
		if clean == nil {
			continue
		}
		ipsecRules := 0
		for i, r := range clean {
			if onlyUnderIPsec(rules[i]) {
				ipsecRules++
				if r.Verdict != check.Pass {
					t.Errorf("%s clean: IPsec rule %s is %s: %s (observed %q)", lc.name, r.RuleID, r.Verdict, r.Reason, r.Observed)
				}
			}
			if r.Verdict != check.Pass && r.Verdict != check.None && rules[i].Level != scenario.LevelTable {
				t.Errorf("%s clean: %s is %s: %s (observed %q)", lc.name, r.RuleID, r.Verdict, r.Reason, r.Observed)
			}
		}
		if ipsecRules < 15 {
			t.Errorf("%s: only %d rules apply under sut.ipsec", lc.name, ipsecRules)
		}
		if refused := refusedBy(cfr); refused != "" {
			t.Errorf("%s clean: the UE refused ESP packets: %s", lc.name, refused)
		}
		for _, ed := range ESPDeviations {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				d, err := deviation.Parse(ed.Dev)
				if err != nil {
					t.Error(err)
					return
				}
				res, fr := judge([]deviation.Deviation{d})
				if res == nil {
					return
				}
				var failed, changed []string
				for i, r := range res {
					want := clean[i].Verdict
					if slices.Contains(ed.Fails, r.RuleID) {
						want = check.Fail
					}
					if r.Verdict == check.Fail {
						failed = append(failed, r.RuleID)
					}
					if r.Verdict != want {
						changed = append(changed, fmt.Sprintf("%s: %s, want %s (%s; observed %q)", r.RuleID, r.Verdict, want, r.Reason, r.Observed))
					}
				}
				sort.Strings(changed)
				if len(changed) > 0 {
					t.Errorf("%s %s: the rules that differ from what the deviation must do:\n  %s\nESP packets: %s", lc.name, ed.Dev, strings.Join(changed, "\n  "), packetsLine(fr))
				}
				t.Logf("%s %s: fail %v", lc.name, ed.Dev, failed)
			}()
		}
	}
	wg.Wait()
}

func refusedBy(fr *flow.Result) string {
	var out []string
	for _, p := range fr.Trace.Packets() {
		if p.Dir == trace.Received && p.Refusal != "" {
			out = append(out, fmt.Sprintf("packet %d SPI %d seq %d: %s", p.Seq, p.SPI, p.ESPSeq, p.Err))
		}
	}
	return strings.Join(out, "; ")
}

func packetsLine(fr *flow.Result) string {
	var out []string
	for _, p := range fr.Trace.Packets() {
		s := fmt.Sprintf("%d %s SPI %d seq %d %d→%d", p.Seq, p.Dir, p.SPI, p.ESPSeq, p.SrcPort, p.DstPort)
		if p.Refusal != "" {
			s += " " + p.Refusal
		}
		if p.Fault != "" {
			s += " fault " + p.Fault
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}
