// Package servertest runs a standalone command (refcore, hss) as a process
// of its own, for the commands' flood, slow-connection and churn tests: the
// test binary runs itself again as the command (Main in TestMain), so that
// nothing is built, with -debug on loopback; the test reads the lines the
// command prints and samples what it holds (stats.Sample) while it is
// pressed and after.
//
// It is test support only: it knows nothing of SIP or Diameter.
package servertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imsconform/harness/cmd/internal/stats"
)

const envArgs = "IMSCONFORM_SERVERTEST_ARGS"

func init() {
	// The samples' connections leave their ports on an address of their own
	// too (see Dialer).
	stats.Client = &http.Client{Transport: &http.Transport{DialContext: Dialer("127.0.0.105").DialContext}}
}

// Main runs the command instead of the tests when this process is one that
// Start started, and exits; otherwise it returns at once. Call it first in
// the command's TestMain.
func Main(run func(args []string) error) {
	v, ok := os.LookupEnv(envArgs)
	if !ok {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(v), &args); err != nil {
		fmt.Fprintln(os.Stderr, "servertest:", err)
		os.Exit(2)
	}
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Proc is a running command.
type Proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	Debug netip.AddrPort // its -debug endpoint

	mu    sync.Mutex
	seen  []string      // every line so far
	more  chan struct{} // closed and replaced at each line
	ended bool
}

var debugLine = regexp.MustCompile(`debug endpoint on http://(\S+)/debug/vars`)

// Start starts the command (name, for messages) with args and -debug
// 127.0.0.1:0, and waits up to 30 s for its debug endpoint. The process is
// stopped (SIGTERM, then SIGKILL) when the test ends.
func Start(t *testing.T, name string, args ...string) *Proc {
	t.Helper()
	b, _ := json.Marshal(append(append([]string{}, args...), "-debug", "127.0.0.1:0"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envArgs+"="+string(b))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &Proc{t: t, name: name, cmd: cmd, more: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.mu.Lock()
			p.seen = append(p.seen, s.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.ended = true
		close(p.more)
		p.mu.Unlock()
	}()
	t.Cleanup(p.stop)
	m := p.Line(debugLine, 30*time.Second)
	if p.Debug, err = netip.ParseAddrPort(m[1]); err != nil {
		t.Fatalf("%s: debug endpoint %q: %v", name, m[1], err)
	}
	return p
}

// Pid is the command's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Line waits up to d for a line matching re (the first such line it
// printed, however long ago) and returns its submatches.
func (p *Proc) Line(re *regexp.Regexp, d time.Duration) []string {
	p.t.Helper()
	timeout := time.After(d)
	for next := 0; ; {
		p.mu.Lock()
		lines, more, ended := p.seen[next:], p.more, p.ended
		next = len(p.seen)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		if ended {
			p.t.Fatalf("%s ended before printing a line matching %s:\n%s", p.name, re, p.output())
		}
		select {
		case <-more:
		case <-timeout:
			p.t.Fatalf("%s: expected a line matching %s within %s, got:\n%s", p.name, re, d, p.output())
		}
	}
}

func (p *Proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.seen, "\n")
}

// Sample reads what the command holds now; with gc after a garbage
// collection.
func (p *Proc) Sample(gc bool) stats.Sample {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := stats.Read(ctx, p.Pid(), p.Debug, gc)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return s
}

// Until samples the command every 100 ms (after a garbage collection)
// until ok holds or d has passed, and returns the last sample and whether
// ok held.
func (p *Proc) Until(d time.Duration, ok func(stats.Sample) bool) (stats.Sample, bool) {
	p.t.Helper()
	end := time.Now().Add(d)
	for {
		s := p.Sample(true)
		if ok(s) {
			return s, true
		}
		if time.Now().After(end) {
			return s, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Peak samples the command every 50 ms while f runs and returns the
// largest RSS and goroutine count seen (the last sample is taken after f).
func (p *Proc) Peak(f func()) stats.Sample {
	p.t.Helper()
	var peak stats.Sample
	var mu sync.Mutex
	take := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s, err := stats.Read(ctx, p.Pid(), p.Debug, false); err == nil {
			mu.Lock()
			peak.RSS, peak.Goroutines, peak.HeapInuse = max(peak.RSS, s.RSS), max(peak.Goroutines, s.Goroutines), max(peak.HeapInuse, s.HeapInuse)
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				take()
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	take()
	return peak
}

func (p *Proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not stop within 10 s of SIGTERM: killed", p.name)
		_ = p.cmd.Process.Kill()
		<-exited
	}
}

// Parallel calls f(0) to f(n-1) on workers goroutines, each taking every
// workers-th i, and returns when all have returned.
func Parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Dialer dials from the loopback address from (e.g. "127.0.0.101"), port
// chosen by the kernel: a test that opens thousands of connections then
// takes its ephemeral ports (and leaves its TIME_WAITs) on an address of
// its own, not on 127.0.0.1, where other tests pick ports to bind.
func Dialer(from string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
}
