package esp

import (
	"bufio"
	"bytes"
	"fmt"
	"imsconform/internal/tooltest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// spiFilter is a capture filter for the ESP packets of these SPIs, IPv4
// (after a header of any length) and IPv6 (right after the fixed header).
func spiFilter(spis []uint32) string {
	var v4, v6 []string
	for _, spi := range spis {
		v4 = append(v4, fmt.Sprintf("ip[((ip[0]&0xf)<<2):4] = 0x%08x", spi))
		v6 = append(v6, fmt.Sprintf("ip6[40:4] = 0x%08x", spi))
	}
	return fmt.Sprintf("(ip proto 50 and (%s)) or (ip6 proto 50 and (%s))", strings.Join(v4, " or "), strings.Join(v6, " or "))
}

// capture is a running tshark on lo writing a pcap, printing one line per
// packet so that the test knows when it has them all.
type capture struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines int
	more  chan struct{}
	path  string
}

func startCapture(t *testing.T, tshark, filter string) *capture {
	t.Helper()
	c := &capture{more: make(chan struct{}, 1), path: filepath.Join(t.TempDir(), "esp.pcap")}
	c.cmd = exec.Command(tshark, "-n", "-l", "-i", "lo", "-f", filter, "-F", "pcap", "-w", c.path, "-P")
	stdout, _ := c.cmd.StdoutPipe()
	stderr, _ := c.cmd.StderrPipe()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	ready := make(chan struct{})
	var errText bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			errText.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Capture started") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines++
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("tshark did not start capturing on lo:\n%s", errText.String())
	}
	return c
}

// stop waits until tshark has shown n packets (the timeout is a safety
// net), then stops it.
func (c *capture) stop(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		got := c.lines
		c.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Errorf("tshark captured %d packets, the stacks sent %d", got, n)
			c.cmd.Process.Signal(syscall.SIGINT)
			c.cmd.Wait()
			return
		}
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
}

type esptFrame struct {
	spi, seq, icvGood, icvBad, next, udp, tcp string
}

func dissect(t *testing.T, tshark, pcap string, env []string, opts ...string) []esptFrame {
	t.Helper()
	args := append([]string{"-n", "-r", pcap,
		"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}, opts...)
	args = append(args, "-Y", "esp", "-T", "fields", "-E", "separator=|",
		"-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "esp.protocol",
		"-e", "udp.srcport", "-e", "tcp.srcport")
	cmd := exec.Command(tshark, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, stderr.String())
	}
	if s := strings.ReplaceAll(stderr.String(), "Running as user \"root\" and group \"root\". This could be dangerous.\n", ""); strings.TrimSpace(s) != "" {
		t.Errorf("tshark complained:\n%s", s)
	}
	var fr []esptFrame
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 7 {
			t.Fatalf("tshark line %q", l)
		}
		fr = append(fr, esptFrame{f[0], f[1], f[2], f[3], f[4], f[5], f[6]})
	}
	return fr
}

// Every ESP packet the stacks send, over both SA pairs, UDP and TCP, IPv4
// and IPv6, every algorithm, is captured by tshark on lo under a filter for
// the SPIs and dissected with the esp_sa file this package writes: ICV
// good, decrypted, UDP or TCP inside. With a wrong key the same packets
// show a bad ICV, so the check can fail.
func TestTsharkDecodesESP(t *testing.T) {
	tshark := tooltest.Need(t, "tshark", "tshark")
	var pairs []*pair
	var spis []uint32
	for _, addr := range []string{"127.0.0.1", "::1"} {
		for _, integ := range Integrities {
			for _, enc := range Encryptions {
				p := newPair(t, addr, integ, enc)
				pairs = append(pairs, p)
				spis = append(spis, p.ueSide.SPIC, p.ueSide.SPIS, p.pcscfSide.SPIC, p.pcscfSide.SPIS)
			}
		}
	}
	c := startCapture(t, tshark, spiFilter(spis))
	for _, p := range pairs {
		u, s := p.ueSide, p.pcscfSide
		udpEcho(t, p.ue, p.pcscf, u.PortC, s.PortS, sipMessage(700))
		tcpEcho(t, p.pcscf, p.ue, s.PortC, u.PortS, sipMessage(3000))
	}
	// Close the stacks: their SAs go first, so that no packet leaves after
	// the count is taken.
	var records []ESPSARecord
	sent := map[uint32]int{}
	total := 0
	for _, p := range pairs {
		records = append(records, p.ueB.ESPSA()...)
		p.ue.Close()
		p.pcscf.Close()
		for _, r := range []*recorder{p.ueRec, p.pcscfRec} {
			for _, pk := range r.packets() {
				if pk.Dir == Sent && pk.Err == nil {
					sent[pk.SPI]++
					total++
				}
			}
		}
	}
	c.stop(t, total)

	dir := t.TempDir()
	espSA := filepath.Join(dir, "esp_sa")
	if err := WriteESPSAFile(espSA, records); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(espSA)
	var opts []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if !strings.HasPrefix(l, "#") {
			opts = append(opts, "-o", "uat:esp_sa:"+l)
		}
	}
	check := func(name string, frames []esptFrame) {
		got := map[uint32]int{}
		for _, f := range frames {
			var spi uint32
			fmt.Sscanf(f.spi, "0x%x", &spi)
			got[spi]++
			if f.icvGood != "1" || f.icvBad == "1" {
				t.Errorf("%s: SPI %s seq %s: ICV good=%q bad=%q", name, f.spi, f.seq, f.icvGood, f.icvBad)
			}
			if !(f.next == "0x11" && f.udp != "") && !(f.next == "0x06" && f.tcp != "") {
				t.Errorf("%s: SPI %s seq %s: next header %q, UDP port %q, TCP port %q: not decrypted to UDP or TCP", name, f.spi, f.seq, f.next, f.udp, f.tcp)
			}
		}
		if len(frames) != total {
			t.Errorf("%s: tshark dissected %d ESP packets, the stacks sent %d", name, len(frames), total)
		}
		for spi, n := range sent {
			if got[spi] != n {
				t.Errorf("%s: SPI 0x%08x: %d packets in the capture, %d sent", name, spi, got[spi], n)
			}
		}
	}
	check("-o uat:esp_sa", dissect(t, tshark, c.path, nil, opts...))
	check("WIRESHARK_CONFIG_DIR/esp_sa", dissect(t, tshark, c.path, []string{"WIRESHARK_CONFIG_DIR=" + dir}))

	// The negative control: one wrong authentication key bit.
	for i := range records {
		records[i].authKey = bytes.Clone(records[i].authKey)
		records[i].authKey[0] ^= 1
	}
	opts = opts[:0]
	for _, r := range records {
		opts = append(opts, "-o", "uat:esp_sa:"+r.Line())
	}
	for _, f := range dissect(t, tshark, c.path, nil, opts...) {
		if f.icvBad != "1" {
			t.Fatalf("wrong key: SPI %s seq %s not flagged with a bad ICV (good=%q bad=%q)", f.spi, f.seq, f.icvGood, f.icvBad)
		}
	}
	t.Logf("tshark dissected %d ESP packets of %d SAs with a good ICV", total, len(records))
}
