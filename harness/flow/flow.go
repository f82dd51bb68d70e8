// Package flow runs the IMS registration flow of TS 24.206 annex A.3.2.2 once:
// for a lab it first resolves the P-CSCF (harness/discovery); it starts the
// mock VCC Application, then the HSS emulator (with the embedded reference
// core, which speaks Diameter Cx to it; for a lab whose hss section names a
// listen address, waiting until the lab's I-CSCF and S-CSCF have connected),
// then the UE emulator; drives steps 2 to 14; waits up to the lab's step
// timeout for each expected message; de-registers at the end (so that the
// next run against a lab starts unregistered); and hands back the captured
// message of each step (the Cx requests of steps 3, 8 and 9 too, when the
// harness plays the HSS), why a step is missing, the observations (facts),
// the lab values (vars) the check engine needs, how the P-CSCF was
// resolved, the de-registration, and diagnostics a lab engineer can act on.
//
// Under real IPsec (sut.ipsec) the UE and the embedded core's P-CSCF each
// run user-space ESP; the trace then holds the UE's ESP packets beside the
// messages, each message linked to the packets that carried it
// (trace.Message.ESP), the vars name the agreement (pcscf_port_c,
// pcscf_port_s, pcscf_spi_c, pcscf_spi_s, sa_alg, sa_ealg), and the result
// holds the rows of Wireshark's esp_sa table (the SAs' keys, for the file
// beside the pcap and nowhere else).
//
// It judges nothing: the check engine does. It never depends on the order of
// steps 10/14 and 11 on the wire.
package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/discovery"
	"imsconform/harness/esp"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/sqnstate"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
	"imsconform/harness/vccapp"
)

// Steps are the ids of the captured messages of one run, in flow order.
// "10" and "14" are the same 200 OK, checked against both tables. After an
// SQN re-synchronisation the run also holds "5.request" (the REGISTER with
// AUTS that step 5 answers) and "5.resync" (the 401 the AUTS rejected).
var Steps = []string{"2", "5", "7", "10", "14", "11", "13"}

// CxSteps are the ids of the captured Cx requests, received by the HSS
// emulator the harness plays for the embedded core: "3.UAR" the first UAR,
// "3.MAR" the first MAR, "8.UAR" the first UAR after the REGISTER of step 7
// was sent, "9.SAR" the first SAR. Each is the request as captured (its
// trace.Message has Proto Diameter and Role "HSS"); its answer is in the
// trace right after it.
var CxSteps = deviation.CxSteps

// Options configure one run.
type Options struct {
	// Lab is the lab profile; nil means lab.Default().
	Lab *lab.Profile
	// Deviations go to whoever sends the step: 2 and 7 to the UE, 13 to the
	// VCC Application, 5, 10, 11, the Cx steps and the behaviours to the
	// reference core, except stale-sqn (step 5), which the HSS emulator
	// plays: its first vector carries an SQN behind the UE's.
	Deviations []deviation.Deviation
	// Logger receives progress at debug level; nil discards.
	Logger *slog.Logger
}

// Result is what one run produced. Run never returns nil.
type Result struct {
	Messages map[string]trace.Message // captured message per step id (Steps, and CxSteps when the harness plays the HSS)
	Missing  map[string]string        // step id -> why it is absent ("12": nothing stored, when step 11 never came)
	// NotDue holds the SUT's steps whose message could not come because the
	// stimulus it answers was never sent (no step 7 after a failed 401: no
	// 200 OK was due), with why; they are in Missing too. Their rules are
	// inconc, not fail (check.Input.NotDue).
	NotDue map[string]string
	// Facts are observations: 5.autn (how the AUTN of the 401 of step 5
	// verified: valid, bad-mac, sync-failure or "unusable: <why>"), 5.auts
	// (how many REGISTERs carried an AUTS, when any did; step 5 is then the
	// last 401, the one step 7 answers), 7.response (whether step 7's
	// response is the digest of RES: valid or "invalid: <why>"), and
	// 12.impu, 12.status, 12.contact,
	// 12.expires, 12.preference, 12.accepted ("true" or "false: <why>") from
	// the VCC Application's store.
	Facts map[string]string
	// Vars are lab values and bound addresses; when the harness plays the
	// HSS (always with the embedded core; for a lab when its hss section
	// has a listen address) also hss_realm, hss_host (the HSS's
	// Origin-Host), icscf_diameter_host and scscf_diameter_host (the
	// Origin-Hosts of the core's CSCFs) and scscf_uri (the Server-Name of
	// its MAR and SAR); "" otherwise. cx_observed says which.
	Vars  map[string]string
	Trace *trace.Trace
	// Target names what was tested: "embedded reference core (P-CSCF
	// [::1]:port)" or "lab P-CSCF host:port".
	Target string
	// Discovery is how a lab's sut.pcscf was resolved (nil with the
	// embedded core, or when the run stopped before).
	Discovery *discovery.Result
	// Deregistration is the de-registration that ends a registered run;
	// nil when the run did not register.
	Deregistration *Deregistration
	// Diagnostics are the findings a lab engineer can act on, one line
	// each, in the order found.
	Diagnostics []Diagnostic
	// ESPSA are the rows of Wireshark's ESP SA table for every SA the UE
	// made (sut.ipsec), for the esp_sa file beside the pcap. They hold the
	// SAs' keys: fmt output redacts them, esp.WriteESPSAFile writes them.
	ESPSA             []esp.ESPSARecord
	Started, Finished time.Time
	// Err is a harness failure (could not bind, could not start the core);
	// the SUT's failures are in Missing and in the messages, not here.
	Err error
}

// Deregistration is the end of a run: the UE de-registers (REGISTER with
// expires 0 over the protected ports, with an Authorization from the last
// challenge, as TS 24.229 5.1.1.6 has it; a new challenge is answered), so
// that the next run against the lab starts unregistered. It changes no
// rule's verdict: none judges it.
type Deregistration struct {
	Messages []trace.Message // the UE's REGISTERs and the responses to them, in order
	Status   int             // the final status, 0 when none came
	// ThirdParty are the S-CSCF's de-registration REGISTER to the VCC
	// Application and its answer, when they came.
	ThirdParty []trace.Message
	Err        string // why it failed; "" after a 2xx
}

// Run runs the flow once. It honours ctx: when ctx ends it stops waiting and
// returns what it has, every step not yet seen Missing "interrupted".
func Run(ctx context.Context, opts Options) *Result {
	res := &Result{
		Messages: map[string]trace.Message{}, Missing: map[string]string{}, NotDue: map[string]string{},
		Facts: map[string]string{}, Vars: map[string]string{},
		Trace: trace.New(), Started: time.Now(),
	}
	defer func() { res.Finished = time.Now() }()
	// Last, once the UE has closed: every ESP packet is in, so each message
	// can be linked to the packets that carried it.
	defer linkESP(res)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := opts.Lab
	if l == nil {
		l = lab.Default()
	}
	fail := func(err error) *Result {
		res.Err = err
		for _, s := range append(append([]string{}, Steps...), CxSteps...) {
			if _, ok := res.Messages[s]; !ok {
				if _, ok := res.Missing[s]; !ok {
					res.Missing[s] = "not run: harness failure: " + err.Error()
				}
			}
		}
		return res
	}
	transport := strings.ToUpper(l.SUT.Transport)
	if transport == "" {
		transport = "UDP"
	}
	if transport != "UDP" && transport != "TCP" {
		return fail(fmt.Errorf("flow: lab sut.transport: expected udp or tcp, got %q", l.SUT.Transport))
	}
	host := netip.IPv6Loopback()
	if l.UE.Address != "" {
		h, err := netip.ParseAddr(strings.Trim(l.UE.Address, "[]"))
		if err != nil {
			return fail(fmt.Errorf("flow: lab ue.address: expected an IP literal, got %q", l.UE.Address))
		}
		host = h.Unmap()
	}
	embedded := l.SUT.PCSCF == ""
	playsHSS := embedded || l.HSS.Plays()
	labVars(res.Vars, l, transport, host)
	res.Vars["cx_observed"] = strconv.FormatBool(playsHSS)
	step := l.Timeouts.Step
	if step <= 0 {
		step = ue.DefaultTimeout
	}

	// A lab's P-CSCF: resolved first, so that a name that does not resolve
	// is said before anything starts.
	var pcscf netip.AddrPort
	if !embedded {
		var ok bool
		if pcscf, host, ok = resolvePCSCF(ctx, l, host, res, log); !ok {
			return res
		}
	}

	exCh := make(chan vccapp.Exchange, 16)
	app, err := vccapp.Start(ctx, vccapp.Options{
		Lab: l, Trace: res.Trace, Deviations: opts.Deviations, Logger: log,
		OnRegister: func(ex vccapp.Exchange) {
			select {
			case exCh <- ex:
			default:
			}
		},
	})
	if err != nil {
		return fail(err)
	}
	defer app.Close()
	res.Vars["vccapp_host"] = app.Addr().String()

	if embedded {
		h, err := startHSS(l, netip.AddrPortFrom(host, 0), false, res, opts.Deviations, log)
		if err != nil {
			return fail(err)
		}
		defer h.h.Close()
		core, err := refcore.Start(ctx, refcore.Config{Lab: l, Host: host.String(), Transport: transport, VCCApp: app.Addr(),
			HSS: h.addr, Deviations: opts.Deviations, Logger: opts.Logger})
		if err != nil {
			return fail(fmt.Errorf("flow: starting the reference core: %w", err))
		}
		defer core.Close()
		pcscf = core.PCSCF()
		res.Vars["icscf_diameter_host"], res.Vars["scscf_diameter_host"] = core.DiameterHosts()
		res.Vars["scscf_uri"] = core.ServerName()
		res.Target = fmt.Sprintf("embedded reference core (P-CSCF %s)", pcscf)
	} else if playsHSS {
		listen, err := netip.ParseAddrPort(l.HSS.Listen)
		if err != nil {
			return fail(fmt.Errorf("flow: lab hss.listen: expected IP:port, got %q", l.HSS.Listen))
		}
		h, err := startHSS(l, listen, true, res, opts.Deviations, log)
		if err != nil {
			return fail(err)
		}
		defer h.h.Close()
		waitPeers(ctx, l, h, res)
	}
	res.Vars["pcscf_entry"] = pcscf.String()
	log.Debug("flow: target", "target", res.Target)

	usim := openUSIMState(res, l, playsHSS, log)
	u, err := ue.New(ue.Options{Lab: l, PCSCF: pcscf, Transport: transport, Host: host, Trace: res.Trace,
		Deviations: opts.Deviations, Timeout: step, Logger: log, SQNMS: usim.start})
	if err != nil {
		return fail(err)
	}
	defer func() {
		u.Close()
		res.ESPSA = u.ESPSA()
	}()
	defer usim.keep(res, u)
	ueVars(res.Vars, u.Addrs())

	reg, regErr := u.Register(ctx)
	res.Vars["expires"] = strconv.Itoa(reg.Expires)
	saVars(res.Vars, reg.SA)
	if l.SUT.IPsec {
		diagnoseAgreement(res, reg)
	}
	ueSteps(res, reg)
	if !diagnoseUnreachable(res, regErr, pcscf) {
		diagnoseRegistration(res, reg, pcscf, transport, playsHSS)
	}
	log.Debug("flow: UE done", "status", reg.Status, "autn", reg.AUTN, "why", reg.Why)

	// Step 11 (and 13): it may have come before, with or after 10/14.
	var ex *vccapp.Exchange
	select {
	case e := <-exCh:
		ex = &e
	default:
	}
	if ex == nil && ctx.Err() == nil {
		wait := step
		if !Due11(reg) {
			// No registration was made: no third-party REGISTER is due. A
			// SUT that sends one anyway gets a short chance to show it.
			wait = 0
		}
		ex = waitExchange(ctx, exCh, wait)
	}
	exchangeSteps(res, reg, ex, ctx.Err() != nil, step, l)
	cxSteps(res, res.Trace.Messages(), reg, step, playsHSS, ctx.Err() != nil)
	if reg.Registered() && ctx.Err() == nil {
		deregister(ctx, res, u, reg, ex != nil, exCh, step)
	}
	diagnoseUnparseable(res)
	if l.SUT.IPsec {
		diagnoseESP(res)
	}
	return res
}

// resolvePCSCF finds a lab's P-CSCF (discovery) and the UE's address that
// reaches it; on failure it records why, marks the steps missing and
// returns false.
func resolvePCSCF(ctx context.Context, l *lab.Profile, host netip.Addr, res *Result, log *slog.Logger) (netip.AddrPort, netip.Addr, bool) {
	fam := discovery.FamilyOf(host)
	if l.IsDefault("ue.address") {
		fam = discovery.Any
	}
	r := &discovery.Resolver{Server: l.SUT.DNS}
	d, err := r.Resolve(ctx, l.SUT.PCSCF, l.SUT.Transport, fam)
	res.Discovery = d
	if err != nil {
		why := fmt.Sprintf("the P-CSCF %s does not resolve: %v", l.SUT.PCSCF, err)
		if errors.Is(err, context.Canceled) {
			why = "interrupted while resolving the P-CSCF " + l.SUT.PCSCF
		}
		res.diagnose(DiagUnresolved, why)
		res.Target = "lab P-CSCF " + l.SUT.PCSCF + " (not resolved)"
		unreached(res, why)
		cxSteps(res, nil, &ue.Registration{}, 0, l.HSS.Plays(), ctx.Err() != nil)
		return netip.AddrPort{}, host, false
	}
	pcscf := d.Chosen()
	res.Target = "lab P-CSCF " + pcscf.String()
	if d.Method != "literal" {
		res.Target = fmt.Sprintf("lab P-CSCF %s → %s (%s)", l.SUT.PCSCF, pcscf, d.Method)
	}
	if h, step := ueHost(l, pcscf, host); step != "" {
		host = h
		d.Steps = append(d.Steps, step)
		res.Vars["ue_ip"], res.Vars["ue_host"] = host.String(), hostString(host)
	}
	if err := lab.CheckReach(host, pcscf); err != nil {
		why := fmt.Sprintf("the UE at %s cannot reach the P-CSCF %s: %v", host, pcscf, err)
		res.diagnose(DiagUnreachable, why)
		unreached(res, why)
		cxSteps(res, nil, &ue.Registration{}, 0, l.HSS.Plays(), ctx.Err() != nil)
		return netip.AddrPort{}, host, false
	}
	log.Debug("flow: P-CSCF resolved", "pcscf", pcscf, "steps", len(d.Steps))
	return pcscf, host, true
}

// deregister ends a registered run (see Deregistration) and records it;
// when step 11 came, it waits for the S-CSCF's de-registration of the VCC
// Application too.
func deregister(ctx context.Context, res *Result, u *ue.UE, reg *ue.Registration, thirdParty bool, exCh <-chan vccapp.Exchange, step time.Duration) {
	// A copy: the flow's steps keep the registration as it was.
	d := *reg
	d.SecurityServer = slices.Clone(reg.SecurityServer)
	dr, err := u.Deregister(ctx, &d)
	rec := &Deregistration{Status: dr.Status}
	var msgs []trace.Message
	msgs = append(msgs, dr.Requests...)
	msgs = append(msgs, dr.Challenges...)
	if dr.Final != nil {
		msgs = append(msgs, *dr.Final)
	}
	slices.SortFunc(msgs, func(a, b trace.Message) int { return a.Seq - b.Seq })
	rec.Messages = msgs
	if err != nil {
		rec.Err = dr.Why
		if rec.Err == "" {
			rec.Err = err.Error()
		}
		if dr.Final != nil {
			rec.Err = "answered " + startLine(dr.Final.Raw)
		}
		res.diagnose(DiagDeregistration, fmt.Sprintf("the de-registration at the end of the run (REGISTER with expires 0, TS 24.229 5.1.1.6) failed: %s; the lab may still hold the registration, and the next run would start registered", rec.Err))
	} else if thirdParty {
		if ex := waitExchange(ctx, exCh, step); ex != nil {
			rec.ThirdParty = append(rec.ThirdParty, ex.Request)
			if ex.Response != nil {
				rec.ThirdParty = append(rec.ThirdParty, *ex.Response)
			}
		}
	}
	res.Deregistration = rec
}

func waitExchange(ctx context.Context, ch <-chan vccapp.Exchange, d time.Duration) *vccapp.Exchange {
	if d <= 0 {
		select {
		case e := <-ch:
			return &e
		default:
			return nil
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case e := <-ch:
		return &e
	case <-ctx.Done():
		return nil
	case <-t.C:
		return nil
	}
}

// ueSteps maps the UE's registration onto steps 2, 5, 7 and 10/14.
func ueSteps(res *Result, reg *ue.Registration) {
	why := exchangeWhy(res, reg)
	if reg.Initial != nil {
		res.Messages["2"] = *reg.Initial
	} else {
		res.Missing["2"] = "not sent: " + why
	}
	switch {
	case reg.Challenge != nil:
		res.Messages["5"] = *reg.Challenge
		// The i-th 401 answers the i-th REGISTER: after a re-synchronisation
		// the 401 of step 5 answers the REGISTER with AUTS, not step 2, and
		// the 401 before it (step 5.resync) is the challenge the AUTS
		// rejected.
		if n := len(reg.Challenges); n > 1 && n <= len(reg.Requests) {
			res.Messages["5.request"] = reg.Requests[n-1]
			res.Messages["5.resync"] = reg.Challenges[n-2]
		}
	case reg.Final != nil:
		res.Missing["5"] = "no 401 Unauthorized: the REGISTER of step 2 was answered with " + startLine(reg.Final.Raw)
	case reg.Initial == nil:
		res.notDue("5", "not due: step 2 was not sent ("+why+")")
	default:
		res.Missing["5"] = why
	}
	switch {
	case reg.Authorized != nil:
		res.Messages["7"] = *reg.Authorized
	case reg.Challenge == nil:
		res.Missing["7"] = "not sent: no 401 Unauthorized to answer (" + res.Missing["5"] + ")"
	default:
		res.Missing["7"] = "not sent: " + why
	}
	switch {
	case reg.Authorized != nil && reg.Final != nil:
		res.Messages["10"], res.Messages["14"] = *reg.Final, *reg.Final
	case reg.Authorized != nil:
		res.Missing["10"], res.Missing["14"] = why, why
	default:
		m := "not due: no REGISTER with a challenge response was sent (step 7 " + res.Missing["7"] + ")"
		res.notDue("10", m)
		res.notDue("14", m)
	}
	switch {
	case reg.AUTN != "":
		res.Facts["5.autn"] = reg.AUTN
	case reg.Challenge == nil:
		res.Facts["5.autn"] = "unusable: no 401 Unauthorized received"
	}
	if reg.AUTS > 0 {
		res.Facts["5.auts"] = strconv.Itoa(reg.AUTS)
	}
	res.Vars["resync"] = strconv.FormatBool(res.Messages["5.resync"].Raw != nil)
	if reg.Response != "" {
		res.Facts["7.response"] = reg.Response
	}
}

// vccSteps maps the VCC Application's exchange onto steps 11, 12 and 13.
func vccSteps(res *Result, ex *vccapp.Exchange, l *lab.Profile) {
	if ex == nil {
		why := res.Missing["11"]
		if _, ok := res.Missing["13"]; !ok {
			res.Missing["13"] = "not sent: no REGISTER received at step 11 (" + why + ")"
		}
		if _, ok := res.NotDue["11"]; ok {
			res.notDue("12", "nothing stored, none due: "+why)
			return
		}
		res.Missing["12"] = "nothing stored: no REGISTER received at step 11 (" + why + ")"
		res.Facts["12.accepted"] = "false: no REGISTER received at step 11 (" + why + ")"
		return
	}
	res.Messages["11"] = ex.Request
	if ex.Response != nil {
		res.Messages["13"] = *ex.Response
	} else {
		res.Missing["13"] = "not sent by the VCC Application (a deviation of step 13 withholds it, or the send failed)"
	}
	rec := ex.Record
	res.Facts["12.impu"] = rec.IMPU
	res.Facts["12.status"] = rec.Status
	res.Facts["12.contact"] = rec.Contact
	if rec.Expires >= 0 {
		res.Facts["12.expires"] = strconv.Itoa(rec.Expires)
	} else {
		res.Facts["12.expires"] = ""
	}
	res.Facts["12.preference"] = rec.Preference
	if rec.Accepted {
		res.Facts["12.accepted"] = "true"
	} else {
		res.Facts["12.accepted"] = "false: " + rec.Why
	}
}

// usimState is the UE's SQN_MS kept between runs against a lab whose HSS is
// the lab's own (harness/sqnstate): the embedded core's HSS and the one the
// harness plays for a lab start afresh every run, and so does the USIM.
type usimState struct {
	store     *sqnstate.Store // nil: nothing kept
	lab, impi string
	start     uint64
}

// openUSIMState reads the SQN_MS kept for the lab's IMPI, when state is
// kept. A state file that cannot be read is a diagnostic, and the run goes
// on from the lab's subscriber as a new USIM would.
func openUSIMState(res *Result, l *lab.Profile, playsHSS bool, log *slog.Logger) *usimState {
	u := &usimState{lab: l.SUT.PCSCF + " " + l.Realm, impi: l.Subscriber.IMPI}
	if l.SUT.PCSCF == "" || playsHSS || l.UE.SQNState == "off" {
		return u
	}
	st, err := sqnstate.Open(l.UE.SQNState)
	if err == nil {
		var ok bool
		if u.start, ok, err = st.Get(u.lab, u.impi); err == nil {
			u.store = st
			log.Debug("flow: USIM state", "file", st.Path(), "sqn_ms", u.start, "kept", ok)
		}
	}
	if err != nil {
		res.diagnose(DiagUSIMState, "the UE's kept SQN could not be read, so it starts as a new USIM: "+err.Error()+" (ue.sqn_state names the file; off keeps none)")
	}
	return u
}

// keep stores the UE's SQN_MS after the run.
func (u *usimState) keep(res *Result, ue *ue.UE) {
	if u.store == nil {
		return
	}
	if err := u.store.Put(u.lab, u.impi, ue.SQNMS(), time.Now()); err != nil {
		res.diagnose(DiagUSIMState, "the UE's SQN could not be kept for the next run: "+err.Error())
	}
}

// notDue marks step as missing because the stimulus it answers was never
// sent (see Result.NotDue).
func (r *Result) notDue(step, why string) {
	r.Missing[step] = why
	r.NotDue[step] = why
}

// exchangeWhy says why the UE's exchange stopped short of a 2xx, naming
// what the SUT answered when it answered: a final response that is not a
// 2xx by its status line, bytes that do not parse as SIP by their size and
// the parser's reason.
func exchangeWhy(res *Result, reg *ue.Registration) string {
	if reg.Final != nil && !reg.Registered() {
		return fmt.Sprintf("the REGISTER CSeq %d was answered %s", reg.CSeq, startLine(reg.Final.Raw))
	}
	if bad := unparsedAnswer(res, reg); bad != "" {
		return bad + " (" + reg.Why + ")"
	}
	if reg.Why == "" {
		return "not received"
	}
	return reg.Why
}

// unparsedAnswer describes the first message the UE received after its last
// REGISTER that does not parse as SIP, "" when there is none.
func unparsedAnswer(res *Result, reg *ue.Registration) string {
	if len(reg.Requests) == 0 || res.Trace == nil {
		return ""
	}
	last := reg.Requests[len(reg.Requests)-1].Seq
	for _, m := range res.Trace.Messages() {
		if m.Seq > last && m.Role == ue.Role && m.Dir == trace.Received && strings.HasPrefix(m.Note, "does not parse as SIP") {
			return fmt.Sprintf("answered with %d bytes from %s that %s", len(m.Raw), m.Src, m.Note)
		}
	}
	return ""
}

// notRegistered says why no registration was made, for the steps that only
// a registration makes due.
func notRegistered(res *Result, reg *ue.Registration) string {
	if reg.Authorized == nil {
		return "no REGISTER with a challenge response was sent (step 7 " + res.Missing["7"] + ")"
	}
	return "the registration failed: " + exchangeWhy(res, reg)
}

func startLine(raw []byte) string {
	s := string(raw)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strconvQuote(s)
}

func strconvQuote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}

// labVars fills the vars that come from the lab profile.
func labVars(v map[string]string, l *lab.Profile, transport string, host netip.Addr) {
	impus := l.Subscriber.IMPUs
	v["impu"] = ""
	if len(impus) > 0 {
		v["impu"] = impus[0]
	}
	v["impus"] = strings.Join(impus, " ")
	v["tel_impu"] = ""
	for _, u := range impus {
		if strings.HasPrefix(strings.ToLower(u), "tel:") {
			v["tel_impu"] = u
			break
		}
	}
	v["impi"] = l.Subscriber.IMPI
	v["realm"] = l.Realm
	v["registrar"] = l.Registrar
	v["home_domain"] = l.HomeDomain
	v["transport"] = transport
	v["ue_ip"] = host.String()
	v["ue_host"] = hostString(host)
	v["sigcomp"] = strconv.FormatBool(l.UE.Sigcomp)
	v["ipsec"] = strconv.FormatBool(l.SUT.IPsec)
	v["sec_agree"] = strconv.FormatBool(l.SUT.SecAgree)
	v["pani"] = l.UE.AccessNetworkInfo
	exp := l.UE.Expires
	if exp <= 0 {
		exp = ue.DefaultExpires
	}
	v["expires"] = strconv.Itoa(exp)
	v["preference"] = l.UE.Preference
	v["pcscf_name"] = l.Core.PCSCFName
	v["icscf_name"] = l.Core.ICSCFName
	v["scscf_name"] = l.Core.SCSCFName
	pc, ic, sc := l.Core.NameSets()
	v["pcscf_names"], v["icscf_names"], v["scscf_names"] = strings.Join(pc, " "), strings.Join(ic, " "), strings.Join(sc, " ")
	v["visited_network_id"] = l.Core.VisitedNetworkID
	v["vccapp_uri"] = l.VCCApp.URI
	v["vccapp_host"] = ""
	v["pcscf_entry"] = l.SUT.PCSCF
	v["profile"] = l.Profile
	for _, k := range []string{"ue_port", "ue_port_c", "ue_port_s"} {
		v[k] = ""
	}
	v["ue_spi_c"] = strconv.FormatUint(uint64(l.UE.SPIC), 10)
	v["ue_spi_s"] = strconv.FormatUint(uint64(l.UE.SPIS), 10)
	// The security agreement (sut.ipsec): set once the UE made its SAs.
	saVars(v, nil)
	// Cx: set when the harness plays the HSS, "" otherwise.
	for _, k := range []string{"hss_realm", "hss_host", "icscf_diameter_host", "scscf_diameter_host", "scscf_uri"} {
		v[k] = ""
	}
}

// ueVars fills the vars of the UE's bound addresses.
func ueVars(v map[string]string, a ue.Addrs) {
	v["ue_ip"] = a.Host.String()
	v["ue_host"] = a.HostString()
	v["ue_port"] = strconv.Itoa(int(a.Port))
	v["ue_port_c"] = strconv.Itoa(int(a.PortC))
	v["ue_port_s"] = strconv.Itoa(int(a.PortS))
	v["ue_spi_c"] = strconv.FormatUint(uint64(a.SPIC), 10)
	v["ue_spi_s"] = strconv.FormatUint(uint64(a.SPIS), 10)
	v["transport"] = a.Transport
}

// saVars fills the vars of the security agreement a: the P-CSCF's
// protected ports and SPIs and the algorithms, "" without one.
func saVars(v map[string]string, a *ue.Agreement) {
	for _, k := range []string{"pcscf_port_c", "pcscf_port_s", "pcscf_spi_c", "pcscf_spi_s", "sa_alg", "sa_ealg"} {
		v[k] = ""
	}
	if a == nil {
		return
	}
	r := a.Remote
	v["pcscf_port_c"], v["pcscf_port_s"] = strconv.Itoa(int(r.PortC)), strconv.Itoa(int(r.PortS))
	v["pcscf_spi_c"], v["pcscf_spi_s"] = strconv.FormatUint(uint64(r.SPIC), 10), strconv.FormatUint(uint64(r.SPIS), 10)
	v["sa_alg"], v["sa_ealg"] = string(a.Integrity), string(a.Encryption)
}

// linkESP links every captured message to the ESP packets that carried it
// (trace.LinkESP), and the result's messages with it.
func linkESP(res *Result) {
	if len(res.Trace.Packets()) == 0 {
		return
	}
	res.Trace.LinkESP()
	bySeq := map[int]*trace.ESP{}
	for _, m := range res.Trace.Messages() {
		if m.ESP != nil {
			bySeq[m.Seq] = m.ESP
		}
	}
	for k, m := range res.Messages {
		m.ESP = bySeq[m.Seq]
		res.Messages[k] = m
	}
	if d := res.Deregistration; d != nil {
		for _, ms := range [][]trace.Message{d.Messages, d.ThirdParty} {
			for i := range ms {
				ms[i].ESP = bySeq[ms[i].Seq]
			}
		}
	}
}

func hostString(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.Unmap().String()
}
