// Package lossnet makes a lossy network for the harness's own tests: a
// network namespace of its own (loopback only, up) whose nftables drop a
// share of the UDP packets at random (numgen random; this machine's kernel
// has no netem, see the lab notes), all of them or only those of some
// ports, and a way to run a command inside it. The loss test runs the
// conformance flow against the embedded reference core in such a
// namespace: every SIP hop then crosses a lossy loopback, as the
// retransmissions of RFC 3261 17.1.2 must survive.
//
// The namespace is named prefix-<pid>-<n>; Close deletes it, and its
// nftables with it. Sweep removes the namespaces a killed process of the
// same prefix left behind. Only root can do any of it (ip netns, nft).
//
// It is not a network emulator: no delay, no reordering, no rate limit.
package lossnet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Namespace is a network namespace made by New.
type Namespace struct {
	Name string
}

var seq atomic.Int32

// Available says why New cannot work here ("" when it can): not root, or
// ip or nft not installed.
func Available() string {
	switch {
	case os.Geteuid() != 0:
		return "network namespaces need root"
	}
	for _, tool := range []struct{ bin, pkg string }{{"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			return tool.bin + " not installed: apt-get install " + tool.pkg
		}
	}
	return ""
}

// New makes the namespace prefix-<pid>-<n> with its loopback up and no
// other device (the kernel gives lo 127.0.0.1/8 and ::1).
func New(prefix string) (*Namespace, error) {
	ns := &Namespace{Name: fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))}
	if err := do("ip", "netns", "add", ns.Name); err != nil {
		return nil, err
	}
	if err := do("ip", "-n", ns.Name, "link", "set", "lo", "up"); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// Loss is which UDP packets a namespace drops, and how many.
type Loss struct {
	// Percent of the matching packets dropped, each on its own draw
	// (0..100).
	Percent int
	// Ports, when not empty, limit the loss to UDP packets from or to one of
	// these ports (e.g. the UE's: its access link); empty means every UDP
	// packet.
	Ports []int
}

// Ruleset is the nftables ruleset of l: one table "lossnet" of family inet
// (IPv4 and IPv6) whose input chain drops the matching UDP packets. Each
// packet on loopback is delivered once, so each is drawn once; and the drop
// is on the way in, so that the sender sees nothing, as on a lossy link (a
// drop on the way out would fail the sender's write with EPERM).
func (l Loss) Ruleset() (string, error) {
	if l.Percent < 0 || l.Percent > 100 {
		return "", fmt.Errorf("lossnet: expected a loss of 0 to 100 %%, got %d", l.Percent)
	}
	var b strings.Builder
	b.WriteString("table inet lossnet {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
	drop := "numgen random mod 100 < " + strconv.Itoa(l.Percent) + " counter drop"
	if l.Percent == 100 {
		drop = "counter drop" // numgen's values are 0..99
	}
	if len(l.Ports) == 0 {
		b.WriteString("\t\tmeta l4proto udp " + drop + "\n")
	} else {
		var ps []string
		for _, p := range l.Ports {
			if p <= 0 || p > 65535 {
				return "", fmt.Errorf("lossnet: expected ports 1 to 65535, got %d", p)
			}
			ps = append(ps, strconv.Itoa(p))
		}
		set := "{ " + strings.Join(ps, ", ") + " }"
		// Two rules, one draw each: a packet matches one of them (from a
		// port of the set, or to one).
		b.WriteString("\t\tudp sport " + set + " " + drop + "\n")
		b.WriteString("\t\tudp sport != " + set + " udp dport " + set + " " + drop + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// Drop installs l in the namespace, replacing any loss installed before.
func (ns *Namespace) Drop(l Loss) error {
	rs, err := l.Ruleset()
	if err != nil {
		return err
	}
	_ = do("ip", "netns", "exec", ns.Name, "nft", "delete", "table", "inet", "lossnet")
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rs)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lossnet: nft -f in %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Dropped is how many packets the loss has dropped so far (the rules'
// counters).
func (ns *Namespace) Dropped() (int, error) {
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "lossnet").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("lossnet: nft list in %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	n := 0
	f := strings.Fields(string(out))
	for i := 0; i+2 < len(f); i++ {
		if f[i] == "counter" && f[i+1] == "packets" {
			v, err := strconv.Atoi(f[i+2])
			if err != nil {
				return 0, fmt.Errorf("lossnet: expected a packet count after \"counter packets\", got %q", f[i+2])
			}
			n += v
		}
	}
	return n, nil
}

// Command is exec.Command of name and args run inside the namespace; the
// process is killed if the one that starts it dies (so a killed test leaves
// nothing running in it).
func (ns *Namespace) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Close deletes the namespace (and its nftables). It is idempotent.
func (ns *Namespace) Close() error {
	if ns.Name == "" {
		return nil
	}
	err := do("ip", "netns", "del", ns.Name)
	if err != nil && !exists(ns.Name) {
		err = nil
	}
	if err == nil {
		ns.Name = ""
	}
	return err
}

// Sweep deletes the namespaces named prefix-<pid>-<n> whose process is no
// longer running (left by a killed test), and returns their names.
func Sweep(prefix string) ([]string, error) {
	names, err := list()
	if err != nil {
		return nil, err
	}
	var gone []string
	var errs []error
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prefix+"-")
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		if err := do("ip", "netns", "del", n); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, n)
	}
	return gone, errors.Join(errs...)
}

func list() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("lossnet: ip netns list: %w", err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

func exists(name string) bool {
	names, err := list()
	if err != nil {
		return true
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

func do(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("lossnet: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
