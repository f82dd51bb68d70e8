package load

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"imsconform/harness/diameter"
	"imsconform/harness/flow"
	"imsconform/harness/hss"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
	"imsconform/harness/vccapp"
)

var transportRepeatsNone transport.Repeats

// environment is what a load run plays besides the UEs, as a conformance
// run does (harness/flow): the mock VCC Application, the HSS emulator when
// the harness plays the HSS (always with the embedded core), and the
// embedded reference core when the lab names no P-CSCF, each provisioned
// with the run's population.
type environment struct {
	app      *vccapp.App
	hss      *hss.HSS
	hssAddr  netip.AddrPort
	core     *refcore.Core
	pcscf    netip.AddrPort
	playsHSS bool
	vars     map[string]string // the vars these set: Cx identities, the VCC Application's and the P-CSCF's addresses
	target   string
	roles    []string
	warnings []string
}

func startEnvironment(ctx context.Context, r *runner) (*environment, error) {
	l := r.o.Lab
	e := &environment{vars: map[string]string{}}
	embedded := l.SUT.PCSCF == ""
	e.playsHSS = embedded || l.HSS.Plays()
	e.vars["cx_observed"] = strconv.FormatBool(e.playsHSS)
	if !embedded {
		pcscf, host, _, err := flow.Resolve(ctx, l, r.host)
		if err != nil {
			return e, fmt.Errorf("load: %w", err)
		}
		e.pcscf, r.host = pcscf, host
		e.target = "lab P-CSCF " + pcscf.String()
		if l.SUT.PCSCF != pcscf.String() {
			e.target = fmt.Sprintf("lab P-CSCF %s → %s", l.SUT.PCSCF, pcscf)
		}
	}
	set := r.set
	app, err := vccapp.Start(ctx, vccapp.Options{Lab: l, Logger: r.log, OnRegister: r.onExchange, Trace: trace.NewLimited(trace.Limits{Messages: 1, Bytes: 1}), NoSecondOpinion: true, NoStore: true,
		IMPUs: func(impu string) []string {
			if i, ok := set.ByIMPU(impu); ok {
				return set.IMPUs(i)
			}
			return nil
		}})
	if err != nil {
		return e, fmt.Errorf("load: starting the VCC Application: %w", err)
	}
	e.app = app
	e.roles = append(e.roles, "VCC Application")
	e.vars["vccapp_host"] = app.Addr().String()
	if e.playsHSS {
		listen := netip.AddrPortFrom(r.host, 0)
		if !embedded {
			if listen, err = netip.ParseAddrPort(l.HSS.Listen); err != nil {
				return e, fmt.Errorf("load: lab hss.listen: expected IP:port, got %q", l.HSS.Listen)
			}
		}
		if err := e.startHSS(l, listen, !embedded, r); err != nil {
			return e, err
		}
		e.roles = append(e.roles, "HSS")
	}
	if embedded {
		core, err := refcore.Start(ctx, refcore.Config{Lab: l, Host: r.host.String(), Transport: r.tp, VCCApp: app.Addr(),
			HSS: e.hssAddr, Population: set, Deviations: r.o.Deviations, Logger: r.log})
		if err != nil {
			return e, fmt.Errorf("load: starting the reference core: %w", err)
		}
		e.core = core
		e.pcscf = core.PCSCF()
		e.vars["icscf_diameter_host"], e.vars["scscf_diameter_host"] = core.DiameterHosts()
		e.vars["scscf_uri"] = core.ServerName()
		e.target = fmt.Sprintf("embedded reference core (P-CSCF %s)", e.pcscf)
		e.roles = append(e.roles, "embedded reference core")
		e.warnings = append(e.warnings, "the SUT is the embedded reference core, in this process: the generator's CPU and RSS include the SUT's; run the core apart (go run ./harness/cmd/refcore) to measure the generator alone")
	} else if e.playsHSS {
		e.waitPeers(ctx, l)
	}
	e.vars["pcscf_entry"] = e.pcscf.String()
	return e, nil
}

// startHSS starts the HSS emulator with the run's population, its Cx
// requests going to the registrations under way.
func (e *environment) startHSS(l *lab.Profile, listen netip.AddrPort, forLab bool, r *runner) error {
	h, addr, vars, err := flow.StartHSS(l, listen, forLab, flow.HSSOptions{Observer: r.onDiameter, Population: r.set, Logger: r.log})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	e.hss, e.hssAddr = h, addr
	for k, v := range vars {
		e.vars[k] = v
	}
	return nil
}

// waitPeers waits for the lab's CSCFs to connect to the HSS; a peer that
// does not is a warning (the Cx rules then fail on its messages).
func (e *environment) waitPeers(ctx context.Context, l *lab.Profile) {
	wait := l.HSS.PeerTimeout
	if wait <= 0 {
		wait = lab.DefaultPeerTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if missing := e.hss.WaitPeers(ctx, []string{l.HSS.ICSCFPeer, l.HSS.SCSCFPeer}); len(missing) > 0 {
		e.warnings = append(e.warnings, fmt.Sprintf("the lab's %s did not connect to the HSS at %s within %s", strings.Join(missing, " and "), l.HSS.Listen, wait))
	}
}

func (e *environment) close() {
	if e.core != nil {
		e.core.Close()
	}
	if e.hss != nil {
		e.hss.Close()
	}
	if e.app != nil {
		e.app.Close()
	}
}

// onDiameter takes a Cx request the HSS received to the initial
// registration under way of the user it names.
func (r *runner) onDiameter(c diameter.Capture) {
	if !c.Received {
		return
	}
	h, err := diameter.ParseHeader(c.Raw)
	if err != nil || h.Flags&diameter.FlagRequest == 0 || h.ApplicationID != diameter.AppCx {
		return
	}
	m, err := diameter.Unmarshal(c.Raw)
	if err != nil {
		return
	}
	i := -1
	if a, ok := m.Find(diameter.AVPUserName, 0); ok {
		if s, err := a.UTF8(); err == nil {
			if j, ok := r.set.ByIMPI(s); ok {
				i = j
			}
		}
	}
	impu := ""
	if a, ok := m.Find(diameter.AVPPublicIdentity, diameter.Vendor3GPP); ok {
		impu, _ = a.UTF8()
	}
	cp := r.capture(i, impu)
	if cp == nil || !cp.judged {
		return
	}
	cp.mu.Lock()
	cp.cx = append(cp.cx, trace.Message{Time: c.Time, Proto: trace.Diameter, Transport: "TCP", Dir: trace.Received, Role: "HSS", Src: c.Src, Dst: c.Dst, Raw: c.Raw})
	cp.mu.Unlock()
}
