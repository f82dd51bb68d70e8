// Package flow runs the IMS registration flow of TS 24.206 annex A.3.2.2 once:
// it starts the mock VCC Application, then (when the lab names no SUT) the
// HSS emulator and the embedded reference core, which speaks Diameter Cx to
// it, then the UE emulator; drives steps 2 to 14; waits up to the lab's step
// timeout for each expected message; and hands back the captured message of
// each step (the Cx requests of steps 3, 8 and 9 too, when the harness plays
// the HSS), why a step is missing, the observations (facts) and the lab
// values (vars) the check engine needs.
//
// It judges nothing: the check engine does. It never depends on the order of
// steps 10/14 and 11 on the wire.
package flow

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
	"imsconform/harness/vccapp"
)

// Steps are the ids of the captured messages of one run, in flow order.
// "10" and "14" are the same 200 OK, checked against both tables.
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
	// LabHSS, when set with a lab SUT, says the caller plays the lab's HSS
	// (e.g. the Kamailio lab's Cx emulator): its Cx messages join the run's
	// trace and become steps 3, 8 and 9 as with the embedded core.
	LabHSS *LabHSS
	// Logger receives progress at debug level; nil discards.
	Logger *slog.Logger
}

// LabHSS is an HSS the caller plays for a lab.
type LabHSS struct {
	// Attach starts recording the HSS's Cx messages into t; the returned
	// function stops it. Called once per run.
	Attach func(t *trace.Trace) (detach func())
	// Vars are the Cx values of the lab: hss_realm, hss_host,
	// icscf_diameter_host, scscf_diameter_host, scscf_uri.
	Vars map[string]string
}

// Result is what one run produced. Run never returns nil.
type Result struct {
	Messages map[string]trace.Message // captured message per step id (Steps, and CxSteps when the harness plays the HSS)
	Missing  map[string]string        // step id -> why it is absent ("12": nothing stored, when step 11 never came)
	// Facts are observations: 5.autn (how the AUTN of the 401 of step 5
	// verified: valid, bad-mac, sync-failure or "unusable: <why>"), 5.auts
	// (how many REGISTERs carried an AUTS, when any did; step 5 is then the
	// last 401, the one step 7 answers), 7.response (whether step 7's
	// response is the digest of RES: valid or "invalid: <why>"), and
	// 12.impu, 12.status, 12.contact,
	// 12.expires, 12.preference, 12.accepted ("true" or "false: <why>") from
	// the VCC Application's store.
	Facts map[string]string
	// Vars are lab values and bound addresses; with the HSS played by the
	// harness also hss_realm, hss_host (the HSS's Origin-Host),
	// icscf_diameter_host and scscf_diameter_host (the Origin-Hosts of the
	// core's CSCFs) and scscf_uri (the Server-Name of its MAR and SAR); ""
	// in a lab.
	Vars  map[string]string
	Trace *trace.Trace
	// Target names what was tested: "embedded reference core (P-CSCF
	// [::1]:port)" or "lab P-CSCF host:port".
	Target            string
	Started, Finished time.Time
	// Err is a harness failure (could not bind, could not start the core);
	// the SUT's failures are in Missing and in the messages, not here.
	Err error
}

// Run runs the flow once. It honours ctx: when ctx ends it stops waiting and
// returns what it has, every step not yet seen Missing "interrupted".
func Run(ctx context.Context, opts Options) *Result {
	res := &Result{
		Messages: map[string]trace.Message{}, Missing: map[string]string{},
		Facts: map[string]string{}, Vars: map[string]string{},
		Trace: trace.New(), Started: time.Now(),
	}
	defer func() { res.Finished = time.Now() }()
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
	labVars(res.Vars, l, transport, host)
	step := l.Timeouts.Step
	if step <= 0 {
		step = ue.DefaultTimeout
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

	var pcscf netip.AddrPort
	playsHSS := l.SUT.PCSCF == ""
	cxObserved := playsHSS
	if !playsHSS && opts.LabHSS != nil && opts.LabHSS.Attach != nil {
		detach := opts.LabHSS.Attach(res.Trace)
		if detach != nil {
			defer detach()
		}
		for k, v := range opts.LabHSS.Vars {
			if _, ok := res.Vars[k]; ok {
				res.Vars[k] = v
			}
		}
		cxObserved = true
	}
	res.Vars["cx_observed"] = strconv.FormatBool(cxObserved)
	if playsHSS {
		h, hssAddr, err := startHSS(l, host, res, opts.Deviations, log)
		if err != nil {
			return fail(err)
		}
		defer h.Close()
		core, err := refcore.Start(ctx, refcore.Config{Lab: l, Host: host.String(), Transport: transport, VCCApp: app.Addr(),
			HSS: hssAddr, Deviations: opts.Deviations, Logger: opts.Logger})
		if err != nil {
			return fail(fmt.Errorf("flow: starting the reference core: %w", err))
		}
		defer core.Close()
		pcscf = core.PCSCF()
		res.Vars["icscf_diameter_host"], res.Vars["scscf_diameter_host"] = core.DiameterHosts()
		res.Vars["scscf_uri"] = core.ServerName()
		res.Target = fmt.Sprintf("embedded reference core (P-CSCF %s)", pcscf)
	} else {
		pcscf, err = netip.ParseAddrPort(l.SUT.PCSCF)
		if err != nil {
			return fail(fmt.Errorf("flow: lab sut.pcscf: expected host:port with an IP literal, got %q", l.SUT.PCSCF))
		}
		res.Target = "lab P-CSCF " + pcscf.String()
	}
	res.Vars["pcscf_entry"] = pcscf.String()
	log.Debug("flow: target", "target", res.Target)

	u, err := ue.New(ue.Options{Lab: l, PCSCF: pcscf, Transport: transport, Host: host, Trace: res.Trace,
		Deviations: opts.Deviations, Timeout: step, Logger: log})
	if err != nil {
		return fail(err)
	}
	defer u.Close()
	ueVars(res.Vars, u.Addrs())

	reg, _ := u.Register(ctx)
	res.Vars["expires"] = strconv.Itoa(reg.Expires)
	ueSteps(res, reg)
	log.Debug("flow: UE done", "status", reg.Status, "autn", reg.AUTN, "why", reg.Why)

	// Step 11 (and 13): it may have come before, with or after 10/14.
	var ex *vccapp.Exchange
	select {
	case e := <-exCh:
		ex = &e
	default:
	}
	if ex == nil {
		switch {
		case ctx.Err() != nil:
			res.Missing["11"] = "interrupted"
		case reg.Authorized == nil && reg.Status == 0:
			// The flow never got as far as an authenticated REGISTER; give a
			// SUT that sends step 11 anyway a short chance.
			ex = waitExchange(ctx, exCh, 0)
			if ex == nil {
				res.Missing["11"] = "not received: no REGISTER with a challenge response was sent (step 7 missing)"
			}
		default:
			ex = waitExchange(ctx, exCh, step)
			if ex == nil {
				if ctx.Err() != nil {
					res.Missing["11"] = "interrupted"
				} else {
					res.Missing["11"] = fmt.Sprintf("not received within %s", step)
				}
			}
		}
	}
	vccSteps(res, ex, l)
	cxSteps(ctx, res, reg, step, cxObserved)
	return res
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
	why := reg.Why
	if why == "" {
		why = "not received"
	}
	if reg.Initial != nil {
		res.Messages["2"] = *reg.Initial
	} else {
		res.Missing["2"] = "not sent: " + why
	}
	switch {
	case reg.Challenge != nil:
		res.Messages["5"] = *reg.Challenge
		// The i-th 401 answers the i-th REGISTER: after a re-synchronisation
		// the 401 of step 5 answers the REGISTER with AUTS, not step 2.
		if n := len(reg.Challenges); n > 1 && n <= len(reg.Requests) {
			res.Messages["5.request"] = reg.Requests[n-1]
		}
	case reg.Final != nil:
		res.Missing["5"] = "no 401 Unauthorized: the REGISTER of step 2 was answered with " + startLine(reg.Final.Raw)
	case reg.Initial == nil:
		res.Missing["5"] = "not received: step 2 was not sent"
	default:
		res.Missing["5"] = why
	}
	switch {
	case reg.Authorized != nil:
		res.Messages["7"] = *reg.Authorized
	case reg.Challenge == nil:
		res.Missing["7"] = "not sent: no 401 Unauthorized to answer (step 5 missing)"
	default:
		res.Missing["7"] = "not sent: " + why
	}
	switch {
	case reg.Authorized != nil && reg.Final != nil:
		res.Messages["10"], res.Messages["14"] = *reg.Final, *reg.Final
	case reg.Authorized != nil:
		res.Missing["10"], res.Missing["14"] = why, why
	default:
		m := "not received: no REGISTER with a challenge response was sent (step 7 missing)"
		res.Missing["10"], res.Missing["14"] = m, m
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
	if reg.Response != "" {
		res.Facts["7.response"] = reg.Response
	}
}

// vccSteps maps the VCC Application's exchange onto steps 11, 12 and 13.
func vccSteps(res *Result, ex *vccapp.Exchange, l *lab.Profile) {
	if ex == nil {
		if _, ok := res.Missing["13"]; !ok {
			res.Missing["13"] = "not sent: no REGISTER received at step 11"
		}
		why := res.Missing["11"]
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
	// Cx: set when the harness plays the HSS (embedded core), "" otherwise.
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

func hostString(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.Unmap().String()
}
