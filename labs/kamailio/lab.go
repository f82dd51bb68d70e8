package kamailio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"imsconform/harness/lab"
)

// Roles of the lab's processes, as Logs and errors name them.
const (
	RolePCSCF = "P-CSCF"
	RoleICSCF = "I-CSCF"
	RoleSCSCF = "S-CSCF"
)

// stopGrace is how long Stop waits for a CSCF to end after SIGTERM before it
// kills its process group.
const stopGrace = 5 * time.Second

// node is one Kamailio instance.
type node struct {
	role, file string // "P-CSCF", "pcscf"
	addr       netip.Addr
	cmd        *exec.Cmd
	logPath    string
	logFile    *os.File
	done       chan struct{} // closed when the main process has been reaped
	waitErr    error
}

// Lab is a running Kamailio IMS core. Its methods are safe for concurrent
// use.
type Lab struct {
	cfg     Config
	dir     string
	ownsDir bool
	bin     string
	version string // what kamailio -v says, e.g. "5.6.3"
	profile *lab.Profile
	nodes   []*node

	stopOnce sync.Once
	stopErr  error
}

// Start brings the lab up: it finds (or installs) Kamailio, writes the
// configurations into cfg.Dir, starts the I-CSCF, S-CSCF and P-CSCF, and
// waits until each answers a SIP OPTIONS. The HSS is the harness's, played
// by each run from the profile's hss section (see Overrides): the I-CSCF
// and the S-CSCF connect to it when a run starts it (cdp retries every Tc
// seconds), and the run waits for both. On any failure Start stops what it
// started and returns an error that names the node and ends with the tail
// of its log. Call Stop when done.
func Start(ctx context.Context, cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	bin, err := Find(ctx, cfg.Install, cfg.Logf)
	if err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg, bin: bin, dir: cfg.Dir, version: Version(bin)}
	if l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "kamailio-lab-"); err != nil {
			return nil, fmt.Errorf("kamailio: temporary directory: %w", err)
		}
		l.ownsDir = !cfg.KeepDir
	}
	if l.dir, err = filepath.Abs(l.dir); err != nil {
		return nil, fmt.Errorf("kamailio: lab directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			l.Stop()
		}
	}()
	if l.profile, err = l.buildProfile(); err != nil {
		return nil, err
	}
	if _, err := WriteConfigs(cfg, l.dir); err != nil {
		return nil, err
	}
	if err := l.checkPortsFree(); err != nil {
		return nil, err
	}
	l.nodes = []*node{
		{role: RoleICSCF, file: "icscf", addr: cfg.Addrs.ICSCF},
		{role: RoleSCSCF, file: "scscf", addr: cfg.Addrs.SCSCF},
		{role: RolePCSCF, file: "pcscf", addr: cfg.Addrs.PCSCF},
	}
	for _, n := range l.nodes {
		n.logPath = filepath.Join(l.dir, n.file+".log")
	}
	for _, n := range l.nodes {
		if err := l.startNode(n); err != nil {
			return nil, err
		}
	}
	for _, n := range l.nodes {
		if err := l.waitReady(ctx, n); err != nil {
			return nil, err
		}
		cfg.Logf("kamailio: %s ready on %s", n.role, netip.AddrPortFrom(n.addr, uint16(cfg.SIPPort)))
	}
	ok = true
	return l, nil
}

// Dir is the directory holding the configurations and logs.
func (l *Lab) Dir() string { return l.dir }

// Logs returns the log file of each process by role: "P-CSCF", "I-CSCF",
// "S-CSCF" (Kamailio's stdout and stderr).
func (l *Lab) Logs() map[string]string {
	m := map[string]string{}
	for _, n := range l.nodes {
		m[n.role] = n.logPath
	}
	return m
}

// PIDs returns the main process id of each running CSCF by role (each is
// also the id of its process group).
func (l *Lab) PIDs() map[string]int {
	m := map[string]int{}
	for _, n := range l.nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			m[n.role] = n.cmd.Process.Pid
		}
	}
	return m
}

// Version is the Kamailio version the lab runs, as kamailio -v says it
// ("5.6.3"; "" when it says none).
func (l *Lab) Version() string { return l.version }

// Profile returns a lab profile for this lab: sut.pcscf the P-CSCF over UDP
// without IPsec, the UE on its address, the VCC Application at the address
// the iFC names (accepting REGISTERs from the S-CSCF only), the HSS the
// harness plays (its address, identity and the CSCFs' Diameter identities
// as peers), the core names Kamailio writes into Path and Service-Route,
// and the subscriber. The caller may change the copy it gets.
func (l *Lab) Profile() *lab.Profile {
	p, err := l.buildProfile()
	if err != nil {
		// Start built the same profile without error.
		panic("kamailio: lab profile: " + err.Error())
	}
	return p
}

// Overrides returns the lab's profile as lab field overrides (YAML path ->
// value), for run.Options.Overrides or lab.Resolve. The subscriber
// keys are among them: keep the map in memory, never print it (lab.Settings
// redacts them).
func (l *Lab) Overrides() map[string]string {
	c := l.cfg
	p := c.Lab
	u := p.UE
	return map[string]string{
		"profile":                 p.Profile,
		"sut.pcscf":               netip.AddrPortFrom(c.Addrs.PCSCF, uint16(c.SIPPort)).String(),
		"sut.transport":           "udp",
		"sut.name":                "kamailio",
		"sut.version":             l.version,
		"sut.ipsec":               "false",
		"sut.sec_agree":           "false",
		"home_domain":             p.HomeDomain,
		"realm":                   p.Realm,
		"registrar":               p.Registrar,
		"subscriber.impi":         p.Subscriber.IMPI,
		"subscriber.impus":        strings.Join(p.Subscriber.IMPUs, ","),
		"subscriber.k":            p.Subscriber.K.Reveal(),
		"subscriber.op":           p.Subscriber.OP.Reveal(),
		"subscriber.opc":          p.Subscriber.OPc.Reveal(),
		"subscriber.amf":          p.Subscriber.AMF,
		"subscriber.sqn":          p.Subscriber.SQN,
		"ue.address":              c.Addrs.UE.String(),
		"ue.port":                 strconv.Itoa(u.Port),
		"ue.port_c":               strconv.Itoa(u.PortC),
		"ue.port_s":               strconv.Itoa(u.PortS),
		"ue.spi_c":                strconv.FormatUint(uint64(u.SPIC), 10),
		"ue.spi_s":                strconv.FormatUint(uint64(u.SPIS), 10),
		"ue.sigcomp":              "false",
		"ue.access_network_info":  u.AccessNetworkInfo,
		"ue.expires":              strconv.Itoa(u.Expires),
		"ue.preference":           u.Preference,
		"vcc_app.listen":          netip.AddrPortFrom(c.Addrs.VCCApp, uint16(c.SIPPort)).String(),
		"vcc_app.uri":             c.VCCAppURI(),
		"vcc_app.accept_from":     c.Addrs.SCSCF.String(),
		"hss.listen":              netip.AddrPortFrom(c.Addrs.HSS, uint16(c.HSSPort)).String(),
		"hss.origin_host":         HSSName,
		"hss.origin_realm":        p.HomeDomain,
		"hss.icscf_peer":          ICSCFName,
		"hss.scscf_peer":          SCSCFName,
		"hss.server_name":         c.SCSCFURI(),
		"hss.peer_timeout":        (time.Duration(2*c.Tc+2) * time.Second).String(),
		"core.pcscf_name":         URIHost(c.Addrs.PCSCF),
		"core.icscf_name":         URIHost(c.Addrs.ICSCF),
		"core.scscf_name":         URIHost(c.Addrs.SCSCF),
		"core.visited_network_id": VisitedNetworkID,
		"core.max_expires":        strconv.Itoa(c.MaxExpires),
		"timeouts.step":           p.Timeouts.Step.String(),
	}
}

func (l *Lab) buildProfile() (*lab.Profile, error) {
	p := lab.DefaultFor(l.cfg.Addrs.UE.String())
	if err := p.Override(l.Overrides()); err != nil {
		return nil, fmt.Errorf("kamailio: lab profile: %w", err)
	}
	return p, nil
}

// checkPortsFree binds each SIP address the lab needs, and releases it, so
// that a port already in use is reported before anything starts. The VCC
// Application's and the HSS's are checked when they are addresses of this
// host (the harness may run in another network namespace).
func (l *Lab) checkPortsFree() error {
	c := l.cfg
	for _, x := range []struct {
		role    string
		network string
		a       netip.Addr
		port    int
		kam     bool
	}{{RolePCSCF, "udp", c.Addrs.PCSCF, c.SIPPort, true}, {RolePCSCF, "tcp", c.Addrs.PCSCF, c.SIPPort, true},
		{RoleICSCF, "udp", c.Addrs.ICSCF, c.SIPPort, true}, {RoleICSCF, "tcp", c.Addrs.ICSCF, c.SIPPort, true},
		{RoleSCSCF, "udp", c.Addrs.SCSCF, c.SIPPort, true}, {RoleSCSCF, "tcp", c.Addrs.SCSCF, c.SIPPort, true},
		{"VCC Application", "udp", c.Addrs.VCCApp, c.SIPPort, false}, {"HSS", "tcp", c.Addrs.HSS, c.HSSPort, false}} {
		ap := netip.AddrPortFrom(x.a, uint16(x.port))
		var err error
		if x.network == "udp" {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", ap.String()); err == nil {
				pc.Close()
			}
		} else {
			var ln net.Listener
			if ln, err = net.Listen("tcp", ap.String()); err == nil {
				ln.Close()
			}
		}
		if err == nil {
			continue
		}
		if !x.kam && errors.Is(err, syscall.EADDRNOTAVAIL) {
			continue // not this host's: the harness runs elsewhere
		}
		return fmt.Errorf("kamailio: %s: expected %s %s to be free, got: %v (another lab running? see pgrep -a kamailio)", x.role, strings.ToUpper(x.network), ap, err)
	}
	return nil
}

// SharedMemoryMB is each Kamailio node's shared memory, in MB.
const SharedMemoryMB = 512

func (l *Lab) startNode(n *node) error {
	f, err := os.Create(n.logPath)
	if err != nil {
		return fmt.Errorf("kamailio: %s log: %w", n.role, err)
	}
	n.logFile = f
	// Shared memory (-m, MB): Kamailio's default of 64 MB holds about 2,000
	// registrations in the S-CSCF (their vectors, user data and
	// transactions); a load run beside SIPp registers many more. The pages
	// are used as they are touched.
	cmd := exec.Command(l.bin, "-DD", "-E", "-m", strconv.Itoa(SharedMemoryMB), "-w", l.dir, "-f", filepath.Join(l.dir, n.file+".cfg"))
	cmd.Dir = l.dir
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that Stop reaches every child; SIGTERM when
	// this process dies without calling Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kamailio: %s: expected %s to start, got: %v", n.role, l.bin, err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	go func() {
		n.waitErr = cmd.Wait()
		close(n.done)
	}()
	l.cfg.Logf("kamailio: %s started, pid %d, log %s", n.role, cmd.Process.Pid, n.logPath)
	return nil
}

// waitReady waits until n's SIP port answers an OPTIONS.
func (l *Lab) waitReady(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ReadyTimeout)
	defer cancel()
	fail := func(what string) error {
		why := "not ready within " + l.cfg.ReadyTimeout.String()
		if errors.Is(ctx.Err(), context.Canceled) {
			why = "interrupted before it was ready"
		}
		return fmt.Errorf("kamailio: %s (pid %d) %s: %s; the tail of %s:\n%s",
			n.role, n.cmd.Process.Pid, why, what, n.logPath, logTail(n.logPath, 20))
	}
	target := netip.AddrPortFrom(n.addr, uint16(l.cfg.SIPPort))
	errc := make(chan error, 1)
	go func() { errc <- ProbeSIP(ctx, target) }()
	select {
	case err := <-errc:
		if err != nil {
			select {
			case <-n.done:
				return l.exited(n)
			default:
			}
			return fail(err.Error())
		}
		return nil
	case <-n.done:
		cancel()
		<-errc
		return l.exited(n)
	}
}

func (l *Lab) exited(n *node) error {
	return fmt.Errorf("kamailio: %s: expected it to keep running, it exited (%v); the tail of %s:\n%s",
		n.role, n.waitErr, n.logPath, logTail(n.logPath, 20))
}

// ProbeSIP sends an OPTIONS over UDP to target every 200 ms until any SIP
// response comes back or ctx ends, from the address this host routes to
// target from (a connected UDP socket).
func ProbeSIP(ctx context.Context, target netip.AddrPort) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return fmt.Errorf("expected a UDP socket towards %s for the OPTIONS probe, got: %v", target, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	ip := local.Addr()
	buf := make([]byte, 4096)
	for i := 1; ; i++ {
		branch := fmt.Sprintf("z9hG4bK-probe-%d-%d", os.Getpid(), i)
		req := "OPTIONS sip:" + target.String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local.String() + ";branch=" + branch + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:probe@" + URIHost(ip) + ">;tag=probe\r\n" +
			"To: <sip:" + target.String() + ">\r\n" +
			"Call-ID: probe-" + branch + "\r\n" +
			"CSeq: " + strconv.Itoa(i) + " OPTIONS\r\n" +
			"Content-Length: 0\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			return fmt.Errorf("expected to send an OPTIONS to %s, got: %v", target, err)
		}
		deadline := time.Now().Add(200 * time.Millisecond)
		for {
			if ctx.Err() != nil {
				return fmt.Errorf("expected any SIP response to an OPTIONS sent to %s, saw none", target)
			}
			_ = conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					continue // ICMP port unreachable: not listening yet
				}
				break
			}
			if strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
				return nil
			}
		}
	}
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return tail(string(b), n)
}

// Stop stops every process the lab started: SIGTERM to each CSCF's main
// process, a wait of up to 5 s, then SIGKILL to its whole process group
// (whatever is left). It removes the lab's directory when Start
// created it (unless Config.KeepDir). It is idempotent and safe to call on a
// partly started lab.
func (l *Lab) Stop() error {
	l.stopOnce.Do(func() {
		var errs []error
		for i := len(l.nodes) - 1; i >= 0; i-- {
			if n := l.nodes[i]; n.cmd != nil {
				_ = syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM)
			}
		}
		for _, n := range l.nodes {
			if n.cmd == nil {
				continue
			}
			pid := n.cmd.Process.Pid
			select {
			case <-n.done:
			case <-time.After(stopGrace):
				errs = append(errs, fmt.Errorf("kamailio: %s (pid %d): expected it to end within %s of SIGTERM, it did not: killed", n.role, pid, stopGrace))
			}
			// Whatever is left of the group (children outliving the main process).
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-n.done:
			case <-time.After(stopGrace):
				errs = append(errs, fmt.Errorf("kamailio: %s (pid %d): expected it to end after SIGKILL, it did not", n.role, pid))
			}
			waitGroupGone(pid, 2*time.Second)
			if n.logFile != nil {
				n.logFile.Close()
			}
		}
		if l.ownsDir && l.dir != "" {
			if err := os.RemoveAll(l.dir); err != nil {
				errs = append(errs, fmt.Errorf("kamailio: removing %s: %w", l.dir, err))
			}
		}
		l.stopErr = errors.Join(errs...)
		if l.stopErr == nil && len(l.nodes) > 0 {
			l.cfg.Logf("kamailio: lab stopped")
		}
	})
	return l.stopErr
}

// waitGroupGone waits until no process of group pgid is left (kill(-pgid, 0)
// fails), or d passes.
func waitGroupGone(pgid int, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := syscall.Kill(-pgid, 0); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WriteLabFile writes the lab's profile (Profile) as a lab file for a
// harness that runs elsewhere, e.g. in another network namespace (see
// netns-lab.sh). It holds no key: it refuses a lab whose subscriber keys
// are not the defaults (TS 35.208 test set 1), which the file's reader gets
// without them.
func (l *Lab) WriteLabFile(path string) error {
	p := l.Profile()
	d := lab.Default().Subscriber
	s := p.Subscriber
	if s.K.Reveal() != d.K.Reveal() || s.OP.Reveal() != d.OP.Reveal() || !s.OPc.IsZero() {
		return fmt.Errorf("kamailio: lab file %s: expected the default subscriber keys (TS 35.208 test set 1), which the file can leave out; the lab has keys of its own, which are written into no file: give them to the harness through IMSCONFORM_SUBSCRIBER_K and IMSCONFORM_SUBSCRIBER_OP or _OPC", path)
	}
	var b strings.Builder
	header := fmt.Sprintf("Lab profile of the imsconform Kamailio lab (Kamailio %s): P-CSCF %s.\nThe harness plays the UE, the VCC Application and the HSS at the addresses below.\nSubscriber keys: TS 35.208 test set 1, the defaults (no key is written here).", l.version, p.SUT.PCSCF)
	if err := p.WriteYAML(&b, header); err != nil {
		return fmt.Errorf("kamailio: lab file %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("kamailio: lab file: %w", err)
	}
	return nil
}
