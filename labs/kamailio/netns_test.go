package kamailio

import (
	"bufio"
	"imsconform/internal/tooltest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The network-namespace lab (netns-lab.sh): Kamailio in one namespace, the
// harness in another, joined by a veth pair with documentation addresses.
// Every namespace these tests create is named netnsPrefix + "core-" or
// "lab-" + the script's PID, and the script removes it on every exit.
const netnsPrefix = "reach-"

// requireNetns skips the test without root or ip, unless
// IMSCONFORM_REQUIRE_TOOLS=1, when it fails.
func requireNetns(t *testing.T) {
	t.Helper()
	requireKamailio(t)
	why := ""
	if os.Geteuid() != 0 {
		why = "network namespaces need root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "ip not installed: apt-get install iproute2"
	}
	if why == "" {
		return
	}
	tooltest.Missing(t, why)
}

// namespacesOf lists the network namespaces of the script run pid.
func namespacesOf(t *testing.T, pid int) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], netnsPrefix) && strings.HasSuffix(f[0], "-"+strconv.Itoa(pid)) {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// script starts netns-lab.sh with args; its output goes to lines.
func script(t *testing.T, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"netns-lab.sh", "-p", netnsPrefix}, args...)...)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(out)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	t.Cleanup(func() {
		// Whatever happened, the script's namespaces must be gone.
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if ns := namespacesOf(t, cmd.Process.Pid); len(ns) > 0 {
			t.Errorf("namespaces left after the script ended: %v", ns)
			for _, n := range ns {
				_ = exec.Command("ip", "netns", "del", n).Run()
			}
		}
	})
	return cmd, lines
}

// TestNetnsLabComesUpAndCleansUp brings the lab up in its namespaces,
// checks from the lab namespace that the P-CSCF in the core namespace
// answers SIP (IPv4 and IPv6), and that the namespaces and Kamailio are gone
// afterwards, also when the script is stopped with SIGTERM while the lab is
// up.
func TestNetnsLabComesUpAndCleansUp(t *testing.T) {
	requireNetns(t)
	for _, fam := range []string{"4", "6"} {
		t.Run("IPv"+fam, func(t *testing.T) {
			cmd, lines := script(t, "-f", fam, "-o", t.TempDir(), "--no-suite")
			var log []string
			for l := range lines {
				log = append(log, l)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("netns-lab.sh --no-suite: %v\n%s", err, strings.Join(log, "\n"))
			}
			if !strings.Contains(strings.Join(log, "\n"), "answers SIP") {
				t.Errorf("expected the P-CSCF to answer from the lab namespace:\n%s", strings.Join(log, "\n"))
			}
			if ns := namespacesOf(t, cmd.Process.Pid); len(ns) > 0 {
				t.Errorf("namespaces left: %v", ns)
			}
		})
	}
	t.Run("SIGTERM", func(t *testing.T) {
		dir := t.TempDir()
		cmd, lines := script(t, "-f", "6", "-o", dir)
		var up bool
		for l := range lines {
			if strings.Contains(l, "Kamailio up in") {
				up = true
				break
			}
		}
		if !up {
			_ = cmd.Wait()
			t.Fatal("the lab did not come up")
		}
		if len(namespacesOf(t, cmd.Process.Pid)) != 2 {
			t.Errorf("expected the two namespaces while the lab is up, got %v", namespacesOf(t, cmd.Process.Pid))
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		go func() {
			for range lines {
			}
		}()
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
			t.Errorf("expected exit status 143 after SIGTERM, got %v", err)
		}
		if ns := namespacesOf(t, cmd.Process.Pid); len(ns) > 0 {
			t.Errorf("namespaces left after SIGTERM: %v", ns)
		}
		if _, err := os.Stat(filepath.Join(dir, "kamailio", "P-CSCF.log")); err != nil {
			t.Errorf("expected the Kamailio logs kept after SIGTERM: %v", err)
		}
	})
}

// TestUnroutablePCSCFIsOneLine runs the suite in a network namespace of
// its own with loopback only, against a P-CSCF it has no route to: the run
// stops at the lab profile with one line naming the field and the
// problem, not one error per rule.
func TestUnroutablePCSCFIsOneLine(t *testing.T) {
	requireNetns(t)
	bin := filepath.Join(t.TempDir(), "registration.test")
	if out, err := exec.Command("go", "test", "-c", "-o", bin, "imsconform/suites/registration").CombinedOutput(); err != nil {
		t.Fatalf("building the suite: %v\n%s", err, out)
	}
	ns := netnsPrefix + "noroute-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "-report-dir", dir, "-ginkgo.no-color", "-set", "sut.pcscf=192.0.2.10:5060")
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	want := "flag -set sut.pcscf: ue.address: expected this host to have a route to sut.pcscf 192.0.2.10:5060 (flag -set sut.pcscf), to take ue.address from, saw no route to 192.0.2.10: network is unreachable"
	if !strings.Contains(string(out), want) {
		t.Errorf("expected the one line %q, got:\n%s", want, tail(string(out), 30))
	}
	if n := strings.Count(string(out), "[FAIL]"); n > 2 {
		t.Errorf("expected one failing spec (the lab profile), got %d [FAIL] lines", n)
	}
	if !strings.Contains(string(out), "Ran 1 of 1 Specs") {
		t.Errorf("expected the run to stop at the lab profile (1 spec):\n%s", tail(string(out), 10))
	}
}
