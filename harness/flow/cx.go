package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	"imsconform/harness/hss"
	"imsconform/harness/lab"
	"imsconform/harness/subscribers"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
)

// notPlayed is why the Cx steps are absent when the harness does not play
// the lab's HSS.
const notPlayed = "Cx not observed: the harness does not play the HSS in this lab (hss.listen is empty)"

// HSSHost returns the Origin-Host of the HSS emulator the flow plays for
// the embedded core of lab l: "hss." + its home domain.
func HSSHost(l *lab.Profile) string { return "hss." + l.HomeDomain }

// hssRun is the HSS emulator of one run and where it listens.
type hssRun struct {
	h    *hss.HSS
	addr netip.AddrPort
}

// startHSS starts the HSS emulator for the lab subscriber at listen,
// recording its messages into res's trace, and sets the Cx vars (StartHSS).
func startHSS(l *lab.Profile, listen netip.AddrPort, forLab bool, res *Result, ds []deviation.Deviation, log *slog.Logger) (*hssRun, error) {
	h, addr, vars, err := StartHSS(l, listen, forLab, HSSOptions{Deviations: ds, Observer: hss.TraceObserver(res.Trace), Logger: log})
	if err != nil {
		return nil, err
	}
	for k, v := range vars {
		res.Vars[k] = v
	}
	return &hssRun{h: h, addr: addr}, nil
}

// HSSOptions are what a run gives the HSS emulator it plays, besides the
// lab.
type HSSOptions struct {
	// Deviations: a stale-sqn deviation of step 5 has its first vector
	// carry an SQN behind the UE's; with the value replay-rand the vector
	// after the re-synchronisation repeats its RAND.
	Deviations []deviation.Deviation
	// Observer gets every Diameter message (hss.Config.Observer).
	Observer func(diameter.Capture)
	// Population is the load run's population it holds besides the lab's
	// subscriber; nil means the lab's (subscribers.count).
	Population *subscribers.Set
	Logger     *slog.Logger
}

// StartHSS starts the HSS emulator a run plays at listen: for the embedded
// core (forLab false) with the HSSHost identity, for a lab with the
// identity and the peers of its hss section. It returns the HSS, the
// address it listens on and the Cx vars the rules read of it: hss_realm
// and hss_host, and for a lab the Origin-Hosts of its CSCFs
// (icscf_diameter_host, scscf_diameter_host) and scscf_uri.
func StartHSS(l *lab.Profile, listen netip.AddrPort, forLab bool, o HSSOptions) (*hss.HSS, netip.AddrPort, map[string]string, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := *l
	if p.Subscriber.AMF == "" {
		p.Subscriber.AMF = "8000"
	}
	if p.Subscriber.SQN == "" {
		p.Subscriber.SQN = "000000000000"
	}
	var cfg hss.Config
	var err error
	if forLab {
		cfg, err = hss.ConfigForLab(&p)
	} else {
		cfg, err = hss.ConfigFromProfile(&p, HSSHost(l), l.HomeDomain)
	}
	if err != nil {
		return nil, netip.AddrPort{}, nil, fmt.Errorf("flow: HSS emulator: %w", err)
	}
	if o.Population != nil {
		cfg.Population = o.Population
	}
	if d, ok := deviation.Find(deviation.For(o.Deviations, "5"), deviation.StaleSQN); ok {
		var random io.Reader
		if d.Value == deviation.ReplayRAND {
			// The vector after the re-synchronisation repeats the RAND the
			// UE rejected.
			rand := [16]byte{0x52, 0x41, 0x4e, 0x44, 0x2d, 0x72, 0x65, 0x70, 0x6c, 0x61, 0x79, 0x65, 0x64, 0x2d, 0x31, 0x36}
			random = hss.FixedRAND(rand)
			if cfg.Vectors, err = hss.VectorsFromProfile(p.Subscriber, hss.FixedRAND(rand)); err != nil {
				return nil, netip.AddrPort{}, nil, fmt.Errorf("flow: HSS emulator: %w", err)
			}
		}
		if cfg.Vectors, err = hss.StaleFirstRAND(p.Subscriber, cfg.Vectors, random); err != nil {
			return nil, netip.AddrPort{}, nil, fmt.Errorf("flow: HSS emulator: %w", err)
		}
	}
	cfg.Observer = o.Observer
	cfg.Logf = func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) }
	h, err := hss.New(cfg)
	if err != nil {
		return nil, netip.AddrPort{}, nil, fmt.Errorf("flow: HSS emulator: %w", err)
	}
	ln, err := net.Listen("tcp", listen.String())
	if err != nil {
		return nil, netip.AddrPort{}, nil, fmt.Errorf("flow: HSS emulator: expected to listen on TCP %s (hss.listen), got: %w", listen, err)
	}
	go func() {
		if err := h.Serve(ln); err != nil && !errors.Is(err, diameter.ErrServerClosed) {
			log.Debug("flow: HSS emulator stopped", "error", err)
		}
	}()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	vars := map[string]string{"hss_realm": cfg.OriginRealm, "hss_host": cfg.OriginHost}
	if forLab {
		vars["icscf_diameter_host"] = l.HSS.ICSCFPeer
		vars["scscf_diameter_host"] = l.HSS.SCSCFPeer
		vars["scscf_uri"] = l.HSSServerName()
	}
	return h, netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), vars, nil
}

// waitPeers waits up to the lab's hss.peer_timeout for the I-CSCF and the
// S-CSCF to connect to the HSS, and adds a diagnostic for each that did not.
func waitPeers(ctx context.Context, l *lab.Profile, h *hssRun, res *Result) {
	wait := l.HSS.PeerTimeout
	if wait <= 0 {
		wait = lab.DefaultPeerTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	missing := h.h.WaitPeers(ctx, []string{l.HSS.ICSCFPeer, l.HSS.SCSCFPeer})
	for _, peer := range missing {
		var roles []string
		if peer == l.HSS.ICSCFPeer {
			roles = append(roles, "I-CSCF")
		}
		if peer == l.HSS.SCSCFPeer {
			roles = append(roles, "S-CSCF")
		}
		res.diagnose(DiagHSSPeer, fmt.Sprintf("the %s (Origin-Host %s) did not connect to the HSS at %s within %s: its Diameter peer configuration must name the HSS at that address, Origin-Host %s, realm %s",
			strings.Join(roles, " and "), peer, h.addr, wait, h.h.Config().OriginHost, h.h.Config().OriginRealm))
	}
}

// cxSteps picks the Cx requests of steps 3, 8 and 9 out of the messages
// captured (the run's trace; a load run's registration's own): the first
// UAR, the first MAR, the first UAR after the REGISTER of step 7 went
// out, the first SAR.
//
// A Cx request comes before the SIP answer to the REGISTER that causes it,
// so when that answer has come the request is in the trace or will not come:
// the flow waits for nothing more here.
func cxSteps(res *Result, captured []trace.Message, reg *ue.Registration, step time.Duration, played, interrupted bool) {
	if !played {
		for _, s := range CxSteps {
			res.Missing[s] = notPlayed
		}
		return
	}
	var uars, mars, sars []trace.Message
	for _, m := range captured {
		if m.Proto != trace.Diameter || m.Role != "HSS" || m.Dir != trace.Received {
			continue
		}
		h, err := diameter.ParseHeader(m.Raw)
		if err != nil || h.Flags&diameter.FlagRequest == 0 || h.ApplicationID != diameter.AppCx {
			continue
		}
		switch h.Code {
		case diameter.CmdUserAuthorization:
			uars = append(uars, m)
		case diameter.CmdMultimediaAuth:
			mars = append(mars, m)
		case diameter.CmdServerAssignment:
			sars = append(sars, m)
		}
	}
	if len(uars) > 0 {
		res.Messages[deviation.StepUAR3] = uars[0]
	}
	if len(mars) > 0 {
		res.Messages[deviation.StepMAR3] = mars[0]
	}
	if reg.Authorized != nil {
		for _, m := range uars {
			if m.Time.After(reg.Authorized.Time) {
				res.Messages[deviation.StepUAR8] = m
				break
			}
		}
	}
	if len(sars) > 0 {
		res.Messages[deviation.StepSAR9] = sars[0]
	}

	// Why the absent ones are absent.
	initialAnswer := (*trace.Message)(nil)
	switch {
	case len(reg.Challenges) > 0:
		initialAnswer = &reg.Challenges[0]
	case reg.Authorized == nil && reg.AUTS == 0:
		initialAnswer = reg.Final
	}
	why := func(trigger, answer *trace.Message, notSent string, stepID string) string {
		switch {
		case interrupted:
			return "interrupted"
		case trigger == nil:
			return notSent
		case answer != nil:
			return fmt.Sprintf("not received: the REGISTER of step %s was answered with %s before it", stepID, startLine(answer.Raw))
		}
		return fmt.Sprintf("not received within %s", step)
	}
	for _, s := range []string{deviation.StepUAR3, deviation.StepMAR3} {
		if _, ok := res.Messages[s]; !ok {
			res.Missing[s] = why(reg.Initial, initialAnswer, "not due: the REGISTER of step 2 was not sent", "2")
			if reg.Initial == nil && !interrupted {
				res.NotDue[s] = res.Missing[s]
			}
		}
	}
	for _, s := range []string{deviation.StepUAR8, deviation.StepSAR9} {
		if _, ok := res.Messages[s]; !ok {
			res.Missing[s] = why(reg.Authorized, reg.Final, "not due: no REGISTER with a challenge response was sent (step 7 "+res.Missing["7"]+")", "7")
			if reg.Authorized == nil && !interrupted {
				res.NotDue[s] = res.Missing[s]
			}
		}
	}
}
