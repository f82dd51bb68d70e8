package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/lab"
	"imsconform/harness/load"
	"imsconform/internal/tooltest"
)

// build compiles a command of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freePort is a port of 127.0.0.1 free on UDP and TCP a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		u.Close()
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startRefcore runs the reference core as a process of its own, with the
// population of labFile and one VCC Application address per shard.
func startRefcore(t *testing.T, bin, labFile string, pcscf int, vccs []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-lab", labFile, "-listen", fmt.Sprintf("127.0.0.1:%d", pcscf), "-vcc", strings.Join(vccs, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "P-CSCF listening on") {
		t.Fatalf("refcore did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, r)
}

func writeLab(t *testing.T, dir string, pcscf, ues int) string {
	t.Helper()
	p := filepath.Join(dir, "lab.yaml")
	y := fmt.Sprintf("sut:\n  pcscf: 127.0.0.1:%d\nue:\n  address: 127.0.0.1\nvcc_app:\n  listen: 127.0.0.1:0\n  accept_from: [127.0.0.1]\nsubscribers:\n  count: %d\n  keys: derived\n", pcscf, ues)
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCmd(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), b.String()
	} else if err != nil {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return 0, b.String()
}

// Two shards, each a process of its own with its own VCC Application,
// register their halves of one population through one core (its step 11
// sent per slice, as an iFC per slice would); imsload merge makes the
// report of the whole run: every UE once, every rule judged on every UE,
// the histograms added.
func TestShardsRunAsProcessesAndMerge(t *testing.T) {
	dir := t.TempDir()
	imsload, refcore := build(t, dir, "imsconform/harness/cmd/imsload"), build(t, dir, "imsconform/harness/cmd/refcore")
	const n = 80
	pcscf := freePort(t)
	labFile := writeLab(t, dir, pcscf, n)
	vccs := []string{fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	startRefcore(t, refcore, labFile, pcscf, vccs)

	var wg sync.WaitGroup
	codes, outs := make([]int, 2), make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = runCmd(t, imsload, "run", "-lab", labFile, "-set", "vcc_app.listen="+vccs[i], "-shard", fmt.Sprintf("%d/2", i),
				"-rate", "160", "-quiet", "-report-dir", filepath.Join(dir, fmt.Sprintf("shard-%d", i)))
		}()
	}
	wg.Wait()
	var shards []*load.Report
	for i := range 2 {
		if codes[i] != 0 {
			t.Fatalf("shard %d/2: exit %d\n%s", i, codes[i], outs[i])
		}
		rep, err := load.Read(filepath.Join(dir, fmt.Sprintf("shard-%d", i), "load.json"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Initial.Attempted != n/2 || rep.Initial.Succeeded != n/2 || rep.Judged != n/2 {
			t.Fatalf("shard %d: %+v judged %d", i, rep.Initial, rep.Judged)
		}
		shards = append(shards, rep)
	}
	if shards[0].Shards[0].Last+1 != shards[1].Shards[0].First {
		t.Errorf("the shards' slices: %+v and %+v: expected contiguous", shards[0].Shards[0], shards[1].Shards[0])
	}

	code, out := runCmd(t, imsload, "merge", "-report-dir", filepath.Join(dir, "merged"), filepath.Join(dir, "shard-1", "load.json"), filepath.Join(dir, "shard-0", "load.json"))
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s", code, out)
	}
	m, err := load.Read(filepath.Join(dir, "merged", "load.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Initial.Attempted != n || m.Initial.Succeeded != n || m.Judged != n || m.Initial.RRD.Count() != n || m.Slip.Count() != n {
		t.Errorf("merged: %+v judged %d RRD %d", m.Initial, m.Judged, m.Initial.RRD.Count())
	}
	if len(m.Shards) != 2 || m.Shards[0].First != 1 || m.Shards[1].Last != n {
		t.Errorf("merged shards: %+v", m.Shards)
	}
	for _, r := range m.Rules {
		if r.Judged() != n {
			t.Fatalf("%s judged %d times in the merged report, want %d", r.RuleID, r.Judged(), n)
		}
		if r.RuleID == "A.3.2.2-11/To/impu.ts24229" && r.Pass != n {
			t.Errorf("step 11 of every UE judged by its own shard: %d pass, want %d", r.Pass, n)
		}
	}
	var att int64
	for _, s := range m.Seconds {
		att += s.Attempted
	}
	if att != n {
		t.Errorf("merged seconds: %d attempts, want %d", att, n)
	}
	for _, f := range []string{"load.html", "junit.xml", "load.pcap"} {
		if st, err := os.Stat(filepath.Join(dir, "merged", f)); err != nil || st.Size() == 0 {
			t.Errorf("merged %s: %v", f, err)
		}
	}

	// A shard missing is said; the same shard twice, or another run's, refused.
	code, out = runCmd(t, imsload, "merge", "-report-dir", filepath.Join(dir, "half"), filepath.Join(dir, "shard-0", "load.json"))
	if !strings.Contains(out, "shard(s) 1/2 of 2 are missing") {
		t.Errorf("merging one of two shards (exit %d): expected a warning naming 1/2:\n%s", code, out)
	}
	if code, out = runCmd(t, imsload, "merge", filepath.Join(dir, "shard-0", "load.json"), filepath.Join(dir, "shard-0", "load.json")); code != exitUsage || !strings.Contains(out, "shard 0/2 comes twice") {
		t.Errorf("merging a shard twice: exit %d\n%s", code, out)
	}
}

func TestSubscribersExport(t *testing.T) {
	dir := t.TempDir()
	labFile := writeLab(t, dir, freePort(t), 10)
	csvFile := filepath.Join(dir, "subs.csv")
	var out, errb bytes.Buffer
	if code := runMain(context.Background(), []string{"subscribers", "-lab", labFile, "-shard", "1/2", "-csv", csvFile}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := os.Stat(csvFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the export: %v, mode %v; want 0600 (it holds keys)", err, st.Mode())
	}
	f, _ := os.Open(csvFile)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 6 || rows[1][0] != "user000006_private@home1.net" || len(rows[1][2]) != 32 {
		t.Errorf("rows: %q %v", rows, err)
	}
	if strings.Contains(out.String()+errb.String(), rows[1][2]) {
		t.Error("the command printed a key")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"launch"}, `expected a command (run, merge, subscribers), got "launch"`},
		{[]string{"run", "-shard", "2/2"}, "-shard: expected a shard i/n with 0 ≤ i < n, saw 2/2"},
		{[]string{"run", "-sample", "0"}, "-sample: expected 0 < s ≤ 1"},
		{[]string{"run", "-gate", "maybe"}, "-gate"},
		{[]string{"run", "-transport", "sctp"}, `expected "udp" or "tcp"`},
		{[]string{"run", "-lab", "/nonexistent.yaml"}, "nonexistent.yaml"},
		{[]string{"run", "-set", "sut.pcscf=127.0.0.1:5060", "-deviate", "10/drop-header/Date"}, "deviations break the embedded reference core"},
		{[]string{"merge"}, "expected the load.json of each shard"},
		{[]string{"merge", "/nonexistent/load.json"}, "expected a readable load.json"},
		{[]string{"subscribers", "-csv", "x.csv"}, "expected a population"},
	} {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), c.args, &out, &errb)
		if code != exitUsage || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("%q: exit %d, output %q; want exit %d saying %q", c.args, code, out.String()+errb.String(), exitUsage, c.want)
		}
	}
}

// A SUT's known fault, in an expectations file, is shown and does not make
// its registrations ineffective; without the file the same run fails; an
// entry that waives nothing is a problem.
func TestExpectationsWaiveKnownResults(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte("expectations:\n  - rule: A.3.2.2-10/P-Associated-URI/*\n    verdict: fail\n    reason: known (LAB-1)\n  - rule: A.3.2.2-14/P-Associated-URI/*\n    verdict: fail\n    reason: the same 200 OK\n"), 0o644)
	stale := filepath.Join(dir, "stale.yaml")
	b, _ := os.ReadFile(exp)
	os.WriteFile(stale, append(b, []byte("  - rule: A.3.2.2-5/Date/*\n    verdict: fail\n    reason: gone\n")...), 0o644)
	args := func(extra ...string) []string {
		return append([]string{"run", "-ues", "20", "-rate", "200", "-quiet", "-deviate", "10/drop-header/P-Associated-URI", "-report-dir", filepath.Join(dir, "r")}, extra...)
	}
	var out bytes.Buffer
	if code := runMain(context.Background(), args(), &out, &out); code != exitFailed || !strings.Contains(out.String(), "fields 20") {
		t.Fatalf("without expectations: exit %d, want %d with every registration ineffective for its fields:\n%s", code, exitFailed, out.String())
	}
	out.Reset()
	if code := runMain(context.Background(), args("-expect", exp), &out, &out); code != exitPassed || !strings.Contains(out.String(), "0 ineffective") {
		t.Fatalf("with the fault expected: exit %d, want %d:\n%s", code, exitPassed, out.String())
	}
	rep, err := load.Read(filepath.Join(dir, "r", "load.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rules {
		if strings.HasPrefix(r.RuleID, "A.3.2.2-10/P-Associated-URI/") && r.Fail > 0 && (r.Expected != r.Fail || r.Gating != 0) {
			t.Errorf("%s: %d fail, %d expected, %d gating", r.RuleID, r.Fail, r.Expected, r.Gating)
		}
	}
	out.Reset()
	if code := runMain(context.Background(), args("-expect", stale), &out, &out); code != exitFailed || !strings.Contains(out.String(), "gate problem: "+stale+":8: A.3.2.2-5/Date/* is stale") {
		t.Errorf("a stale expectation: exit %d:\n%s", code, out.String())
	}
}

// Over real SAs from the command line: a clean run passes with the ESP
// rules judged on every UE; the core's bad ICV fails the run, its rule
// failing for every UE.
func TestRunOverIPsec(t *testing.T) {
	tooltest.NeedRawESP(t, lab.RawESP(netip.MustParseAddr("::1")))
	for _, c := range []struct {
		deviate string
		code    int
		pass    int64
	}{{"", 0, 30}, {"10/bad-icv", 1, 0}} {
		dir := t.TempDir()
		args := []string{"run", "-set", "sut.ipsec=true", "-ues", "30", "-rate", "100", "-quiet", "-report-dir", dir}
		if c.deviate != "" {
			args = append(args, "-deviate", c.deviate)
		}
		var out, errb bytes.Buffer
		code := runMain(context.Background(), args, &out, &errb)
		if code != c.code {
			t.Fatalf("%q: exit %d, want %d:\n%s%s", args, code, c.code, out.String(), errb.String())
		}
		rep, err := load.Read(filepath.Join(dir, "load.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Config.IPsec {
			t.Errorf("%q: the report's config does not say the run was over SAs", args)
		}
		for _, r := range rep.Rules {
			if r.RuleID == "A.3.2.2-10/ESP/icv" && (r.Pass != c.pass || r.Fail != 30-c.pass) {
				t.Errorf("%q: %s: %d pass, %d fail; want %d pass", args, r.RuleID, r.Pass, r.Fail, c.pass)
			}
		}
	}
}
