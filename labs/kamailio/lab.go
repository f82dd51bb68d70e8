package kamailio

import (
	"sync/atomic"

	"imsconform/harness/flow"
	"imsconform/harness/trace"

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

	"imsconform/harness/diameter"
	"imsconform/harness/hss"
	"imsconform/harness/lab"
)

// Roles of the lab's processes, as Logs and errors name them.
const (
	RolePCSCF = "P-CSCF"
	RoleICSCF = "I-CSCF"
	RoleSCSCF = "S-CSCF"
	RoleHSS   = "HSS"
)

// stopGrace is how long Stop waits for a CSCF to end after SIGTERM before it
// kills its process group.
const stopGrace = 5 * time.Second

// node is one Kamailio instance.
type node struct {
	role, file string // "P-CSCF", "pcscf"
	addr       netip.Addr
	cerFrom    string // the cdp Origin-Host the HSS must see a CER from; "" = no Diameter
	cmd        *exec.Cmd
	logPath    string
	logFile    *os.File
	done       chan struct{} // closed when the main process has been reaped
	waitErr    error
}

// Lab is a running Kamailio IMS core with its HSS. Its methods are safe for
// concurrent use.
type Lab struct {
	cfg     Config
	dir     string
	ownsDir bool
	bin     string
	profile *lab.Profile
	nodes   []*node
	hss     *hss.HSS
	hssLog  *os.File
	hssDone chan struct{}

	cerMu sync.Mutex
	cer   map[string]chan struct{} // Origin-Host -> closed at its first CER

	// runTrace is the trace of the run under way, if any: the Cx messages
	// the HSS sees join it (see LabHSS).
	runTrace atomic.Pointer[trace.Trace]

	stopOnce sync.Once
	stopErr  error
}

// Start brings the lab up: it finds (or installs) Kamailio, writes the
// configurations into cfg.Dir, starts the HSS emulator, then the I-CSCF,
// S-CSCF and P-CSCF, and waits until each is ready. On any failure it stops
// what it started and returns an error that names the node and ends with the
// tail of its log. Call Stop when done.
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
	l := &Lab{cfg: cfg, bin: bin, dir: cfg.Dir, cer: map[string]chan struct{}{}}
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
		{role: RoleICSCF, file: "icscf", addr: cfg.Addrs.ICSCF, cerFrom: ICSCFName},
		{role: RoleSCSCF, file: "scscf", addr: cfg.Addrs.SCSCF, cerFrom: SCSCFName},
		{role: RolePCSCF, file: "pcscf", addr: cfg.Addrs.PCSCF},
	}
	for _, n := range l.nodes {
		n.logPath = filepath.Join(l.dir, n.file+".log")
		if n.cerFrom != "" {
			l.cer[n.cerFrom] = make(chan struct{})
		}
	}
	if err := l.startHSS(); err != nil {
		return nil, err
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
// "S-CSCF" (Kamailio's stdout and stderr) and "HSS" (the emulator's lines).
func (l *Lab) Logs() map[string]string {
	m := map[string]string{RoleHSS: filepath.Join(l.dir, "hss.log")}
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

// Profile returns a lab profile for this lab: sut.pcscf the P-CSCF over UDP
// without IPsec, the UE on its loopback address, the VCC Application at the
// address the iFC names (accepting REGISTERs from the S-CSCF only), the core
// names Kamailio writes into Path and Service-Route, and the subscriber the
// HSS serves. The caller may change the copy it gets.
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
		"core.pcscf_name":         c.Addrs.PCSCF.String(),
		"core.icscf_name":         c.Addrs.ICSCF.String(),
		"core.scscf_name":         c.Addrs.SCSCF.String(),
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
// that a port already in use is reported before anything starts.
func (l *Lab) checkPortsFree() error {
	c := l.cfg
	for _, x := range []struct {
		role string
		a    netip.Addr
	}{{RolePCSCF, c.Addrs.PCSCF}, {RoleICSCF, c.Addrs.ICSCF}, {RoleSCSCF, c.Addrs.SCSCF}, {"VCC Application", c.Addrs.VCCApp}} {
		ap := netip.AddrPortFrom(x.a, uint16(c.SIPPort))
		pc, err := net.ListenPacket("udp", ap.String())
		if err != nil {
			return fmt.Errorf("kamailio: %s: expected UDP %s to be free, got: %v (another lab running? see pgrep -a kamailio)", x.role, ap, err)
		}
		pc.Close()
	}
	return nil
}

func (l *Lab) startHSS() error {
	c := l.cfg
	hc, err := hss.ConfigFromProfile(l.profile, HSSName, c.Lab.HomeDomain)
	if err != nil {
		return fmt.Errorf("kamailio: HSS: %w", err)
	}
	hc.ServerName = c.SCSCFURI()
	hc.ASURI = l.profile.VCCApp.URI
	hc.Observer = l.observe
	if l.hssLog, err = os.Create(filepath.Join(l.dir, "hss.log")); err != nil {
		return fmt.Errorf("kamailio: HSS log: %w", err)
	}
	var mu sync.Mutex
	hc.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(l.hssLog, time.Now().Format("15:04:05.000000 ")+format+"\n", args...)
	}
	h, err := hss.New(hc)
	if err != nil {
		return fmt.Errorf("kamailio: HSS: %w", err)
	}
	ap := netip.AddrPortFrom(c.Addrs.HSS, uint16(c.HSSPort))
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return fmt.Errorf("kamailio: HSS: expected to listen on TCP %s, got: %v", ap, err)
	}
	l.hss = h
	l.hssDone = make(chan struct{})
	go func() {
		defer close(l.hssDone)
		_ = h.Serve(ln)
	}()
	c.Logf("kamailio: HSS %s listening on %s", HSSName, ap)
	return nil
}

// LabHSS tells a run that the harness plays this lab's HSS: while the run
// is attached, the Cx messages the HSS sees go into the run's trace, so the
// Cx steps 3, 8 and 9 are checked as against the embedded core.
func (l *Lab) LabHSS() *flow.LabHSS {
	return &flow.LabHSS{
		Attach: func(t *trace.Trace) func() {
			l.runTrace.Store(t)
			return func() { l.runTrace.CompareAndSwap(t, nil) }
		},
		Vars: map[string]string{
			"hss_realm":           l.cfg.Lab.HomeDomain,
			"hss_host":            HSSName,
			"icscf_diameter_host": ICSCFName,
			"scscf_diameter_host": SCSCFName,
			"scscf_uri":           l.cfg.SCSCFURI(),
		},
	}
}

// observe passes Cx captures on and notes each peer's first CER.
func (l *Lab) observe(cp diameter.Capture) {
	if l.cfg.Observer != nil {
		l.cfg.Observer(cp)
	}
	if t := l.runTrace.Load(); t != nil {
		hss.TraceObserver(t)(cp)
	}
	if !cp.Received {
		return
	}
	h, err := diameter.ParseHeader(cp.Raw)
	if err != nil || h.Code != diameter.CmdCapabilitiesExchange || h.Flags&diameter.FlagRequest == 0 {
		return
	}
	m, err := diameter.Unmarshal(cp.Raw)
	if err != nil {
		return
	}
	a, ok := m.Find(diameter.AVPOriginHost, 0)
	if !ok {
		return
	}
	host, err := a.UTF8()
	if err != nil {
		return
	}
	l.cerMu.Lock()
	defer l.cerMu.Unlock()
	if ch, ok := l.cer[host]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
}

func (l *Lab) startNode(n *node) error {
	f, err := os.Create(n.logPath)
	if err != nil {
		return fmt.Errorf("kamailio: %s log: %w", n.role, err)
	}
	n.logFile = f
	cmd := exec.Command(l.bin, "-DD", "-E", "-w", l.dir, "-f", filepath.Join(l.dir, n.file+".cfg"))
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

// waitReady waits until n's Diameter connection is up (the HSS saw its CER)
// and its SIP port answers an OPTIONS.
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
	if n.cerFrom != "" {
		l.cerMu.Lock()
		ch := l.cer[n.cerFrom]
		l.cerMu.Unlock()
		select {
		case <-ch:
		case <-n.done:
			return l.exited(n)
		case <-ctx.Done():
			return fail(fmt.Sprintf("expected a CER from Origin-Host %q at the HSS %s, saw none", n.cerFrom, netip.AddrPortFrom(l.cfg.Addrs.HSS, uint16(l.cfg.HSSPort))))
		}
	}
	target := netip.AddrPortFrom(n.addr, uint16(l.cfg.SIPPort))
	errc := make(chan error, 1)
	go func() { errc <- probeSIP(ctx, l.cfg.Addrs.UE, target) }()
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

// probeSIP sends an OPTIONS over UDP from ip to target every 200 ms until any
// SIP response comes back or ctx ends.
func probeSIP(ctx context.Context, ip netip.Addr, target netip.AddrPort) error {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return fmt.Errorf("expected a UDP socket on %s for the OPTIONS probe, got: %v", ip, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 4096)
	for i := 1; ; i++ {
		branch := fmt.Sprintf("z9hG4bK-probe-%d-%d", os.Getpid(), i)
		req := "OPTIONS sip:" + target.String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local.String() + ";branch=" + branch + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:probe@" + ip.String() + ">;tag=probe\r\n" +
			"To: <sip:" + target.String() + ">\r\n" +
			"Call-ID: probe-" + branch + "\r\n" +
			"CSeq: " + strconv.Itoa(i) + " OPTIONS\r\n" +
			"Content-Length: 0\r\n\r\n"
		if _, err := conn.WriteToUDPAddrPort([]byte(req), target); err != nil {
			return fmt.Errorf("expected to send an OPTIONS to %s, got: %v", target, err)
		}
		deadline := time.Now().Add(200 * time.Millisecond)
		for {
			if ctx.Err() != nil {
				return fmt.Errorf("expected any SIP response to an OPTIONS sent to %s, saw none", target)
			}
			_ = conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
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
// (whatever is left); then the HSS. It removes the lab's directory when Start
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
		if l.hss != nil {
			_ = l.hss.Close()
			<-l.hssDone
		}
		if l.hssLog != nil {
			l.hssLog.Close()
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
