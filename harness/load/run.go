package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/deviation"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/scenario"
	"imsconform/harness/subscribers"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
	"imsconform/harness/vccapp"
	"imsconform/reports"
)

// Options configure a load run.
type Options struct {
	// Lab is the lab profile: the SUT (sut.pcscf; empty runs the embedded
	// reference core in this process), the population's patterns and keys
	// (subscribers), the UE's address, the VCC Application, the HSS the
	// harness plays (hss), the step timeout. Required.
	Lab *lab.Profile
	// Rules are the profile's rules; Scenario gives the tables' titles.
	Rules    []scenario.Rule
	Scenario *scenario.Scenario
	// Profile and Fingerprint name the rules (a322, the catalogue's
	// fingerprint): shards judged by other rules do not merge.
	Profile, Fingerprint string
	// UEs is N, the whole run's population; 0 means subscribers.count.
	UEs int
	// Rate is the whole run's rate of initial registrations per second
	// (all shards together: each shard runs its share).
	Rate float64
	// Shard is this process's slice of the population; the zero value is
	// the whole run.
	Shard subscribers.Shard
	// Reregister, when not 0, has every registered UE re-register that
	// often; Hold keeps the UEs registered (re-registering) that long after
	// the last one's initial registration started. Deregister de-registers
	// every registered UE at the end, at Rate.
	Reregister, Hold time.Duration
	Deregister       bool
	// Ports is the number of port groups the UEs share (each an
	// unprotected port, port-c and port-s; under sut.ipsec the unprotected
	// port alone, each UE leasing its own port-c, port-s and SPIs, see
	// ipsec.go); 0 means 2.
	Ports int
	// Sample is the share of the initial registrations judged field by
	// field (0 < Sample ≤ 1); 0 means 1, every one.
	Sample float64
	// Gate says which failures count as ineffective ("fields") and gate.
	Gate *reports.Gate
	// Expected holds, per rule id, the verdict an expectations file
	// expects of it in this lab (harness/expect): a registration's result
	// of that verdict is known, counted apart, and does not make the
	// registration ineffective; any other failing verdict still does.
	Expected map[string]check.Verdict
	// Judge replaces the check engine (tests); nil means NewJudge.
	Judge Judge
	// Deviations break the embedded reference core on purpose (its steps
	// 5, 10/14, 11, the Cx steps), to watch rules fail under load; refused
	// with a lab, as in a conformance run. The UEs' own steps take none.
	Deviations []deviation.Deviation
	// Progress gets a line of live progress every ProgressEvery (0: 1 s);
	// nil prints none.
	Progress      io.Writer
	ProgressEvery time.Duration
	Logger        *slog.Logger
	// Clock runs the schedule; nil means the real one.
	Clock Clock
}

// member is one UE of the run's slice: made at its first registration, kept
// with the digest state of its last one (its messages dropped once used).
type member struct {
	ue         *ue.UE
	reg        *ue.Registration
	registered bool
}

// capture is one initial registration under way: what the UE, the VCC
// Application and the HSS saw of it.
type capture struct {
	k      int
	due    time.Time // when the schedule started it: the order of "first" failures
	judged bool
	reg    *ue.Registration
	err    error

	mu   sync.Mutex
	ex   *vccapp.Exchange
	exCh chan struct{} // closed when ex came
	cx   []trace.Message
	pkts []trace.Packet // under sut.ipsec: the ESP packets of the UE's SAs while it ran (ipsec.go)
}

type runner struct {
	o      Options
	ctx    context.Context
	log    *slog.Logger
	clock  Clock
	set    *subscribers.Set
	lo, hi int
	rate   float64 // this shard's
	step   time.Duration
	tp     string
	host   netip.Addr
	env    *environment
	ports  []*ue.Ports
	vars   map[string]string
	judge  Judge

	members []member
	mu      sync.Mutex
	open    map[int]*capture

	queue     chan *capture
	queueFull atomic.Int64
	judgesWG  sync.WaitGroup
	engineNS  atomic.Int64
	inflight  sync.WaitGroup
	busy      atomic.Int64 // registrations under way

	tally   *tally
	pmu     sync.Mutex // guards the phases' counters and the samples
	initial *Phase
	rereg   *Phase
	dereg   *Phase
	judged  int64
	unjudg  int64
	third   atomic.Int64
	samples []Sample
	causeN  map[string]int
	sbytes  int

	series *series
	slip   *Latency

	rq       reregQueue
	stopping atomic.Bool

	calMu  sync.Mutex
	calIns []check.Input // the first judged registrations, judged again after the run (calibrate)

	ipsec ipsecState // under sut.ipsec (ipsec.go)
}

// Run runs the load and returns its report; it never returns nil. A
// failure to start (the SUT unreachable at bind time, a port in use) is
// in the report's Errors.
func Run(ctx context.Context, o Options) *Report {
	started := time.Now()
	rep := &Report{SchemaVersion: SchemaVersion, Tool: "imsconform", Profile: o.Profile, Started: started, Fingerprint: o.Fingerprint,
		Initial: newPhase(), Reregister: newPhase(), Deregister: newPhase(), Slip: NewLatency(), Warnings: []string{}, Errors: []string{}}
	if o.Scenario != nil {
		rep.Scenario = o.Scenario.Name
		for _, t := range o.Scenario.Tables {
			rep.Tables = append(rep.Tables, Table{ID: t.ID, Title: t.Title, Step: t.Step})
		}
	}
	fail := func(err error) *Report {
		rep.Errors = append(rep.Errors, err.Error())
		rep.Finished = time.Now()
		return rep
	}
	r, err := prepare(ctx, o)
	if err != nil {
		return fail(err)
	}
	rep.Config = r.config()
	rep.SUTName, rep.SUTVersion = o.Lab.SUT.Name, o.Lab.SUT.Version
	host, _ := os.Hostname()
	info := ShardInfo{Shard: o.Shard.String(), First: r.set.Number(r.lo), Last: r.set.Number(r.hi - 1), Host: host, Started: started, Rate: r.rate}
	if r.hi <= r.lo {
		info.First, info.Last = 0, -1
	}
	cpuUser0, cpuSys0 := processCPU()
	gc0 := gcCPU()
	if err := r.start(ctx); err != nil {
		if left := r.stop(); left != nil {
			rep.Errors = append(rep.Errors, left.Error())
		}
		return fail(err)
	}
	rep.Target = r.env.target
	rep.Generator.Roles = r.env.roles
	rep.Warnings = append(rep.Warnings, r.env.warnings...)
	r.run()
	if left := r.stop(); left != nil {
		rep.Errors = append(rep.Errors, left.Error())
	}
	cpuUser1, cpuSys1 := processCPU()
	gc1 := gcCPU()
	perJudged := r.calibrate()

	rep.Finished = time.Now()
	info.Finished = rep.Finished
	rep.Shards = []ShardInfo{info}
	rep.Initial, rep.Reregister, rep.Deregister = r.initial, r.rereg, r.dereg
	rep.Judged, rep.NotJudged, rep.ThirdParties = r.judged, r.unjudg, r.third.Load()
	rep.Slip = r.slip
	rep.Seconds = r.series.seconds()
	rep.Rules = r.tally.snapshot()
	for _, p := range r.ports {
		rep.Repeats.add(p.Repeats(), transportRepeatsNone)
	}
	rep.Repeats.add(transportRepeatsNone, r.env.app.Repeats())
	rep.Samples = r.samples
	g := &rep.Generator
	g.CPUUser, g.CPUSystem = (cpuUser1 - cpuUser0).Seconds(), (cpuSys1 - cpuSys0).Seconds()
	g.EngineThread = time.Duration(r.engineNS.Load()).Seconds()
	g.Engine = perJudged.Seconds() * float64(r.judged)
	g.EngineMeasured = threadCPUWorks
	g.GC = (gc1 - gc0).Seconds()
	_, g.RSS = rss()
	g.Procs = runtime.GOMAXPROCS(0)
	g.finish(rep)
	rep.Warnings = append(rep.Warnings, r.bottlenecks(rep)...)
	if ctx.Err() != nil {
		rep.Errors = append(rep.Errors, "the run was interrupted before its end: the counts are of what ran")
	}
	return rep
}

// prepare checks the options and works out the run's slice and rate.
func prepare(ctx context.Context, o Options) (*runner, error) {
	if o.Lab == nil {
		return nil, errors.New("load: expected a lab profile, got none")
	}
	if len(o.Rules) == 0 {
		return nil, errors.New("load: expected the scenario's rules, got none")
	}
	if len(o.Deviations) > 0 && o.Lab.SUT.PCSCF != "" {
		return nil, fmt.Errorf("load: deviations break the embedded reference core on purpose; the lab names a SUT (sut.pcscf %s), so they cannot apply", o.Lab.SUT.PCSCF)
	}
	for _, d := range o.Deviations {
		if d.Step == "2" || d.Step == "7" || d.Step == "13" {
			return nil, fmt.Errorf("load: deviation %s: a load run breaks the SUT's steps only, not the harness's own (2, 7, 13)", d)
		}
	}
	if o.Lab.SUT.IPsec && (o.Lab.UE.PortC != 0 || o.Lab.UE.PortS != 0) {
		return nil, fmt.Errorf("load: the lab says sut.ipsec and fixes ue.port_c %d and ue.port_s %d: over real SAs each UE of a population leases protected ports of its own (TS 33.203 7.1), so they cannot be fixed; leave them out of the lab", o.Lab.UE.PortC, o.Lab.UE.PortS)
	}
	if o.Rate <= 0 {
		return nil, fmt.Errorf("load: expected a rate of initial registrations above 0 per second, got %g", o.Rate)
	}
	if o.Shard.Of == 0 {
		o.Shard = subscribers.Whole
	}
	if err := o.Shard.Check(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	set, err := o.Lab.Population(o.UEs)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if set == nil {
		return nil, errors.New("load: expected a population: give subscribers.count in the lab, or the number of UEs")
	}
	if o.Ports <= 0 {
		o.Ports = 2
	}
	if o.Lab.UE.Port != 0 || o.Lab.UE.PortC != 0 || o.Lab.UE.PortS != 0 {
		o.Ports = 1 // fixed ports bind once
	}
	if o.Sample <= 0 || o.Sample > 1 {
		o.Sample = 1
	}
	if o.Gate == nil {
		o.Gate = &reports.Gate{}
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	r := &runner{o: o, ctx: ctx, log: o.Logger, clock: o.Clock, set: set, open: map[int]*capture{},
		initial: newPhase(), rereg: newPhase(), dereg: newPhase(), causeN: map[string]int{},
		series: newSeries(), slip: NewLatency()}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	r.lo, r.hi = o.Shard.Slice(set.Len())
	r.rate = o.Rate * float64(r.hi-r.lo) / float64(set.Len())
	if r.rate <= 0 {
		r.rate = o.Rate
	}
	r.members = make([]member, r.hi-r.lo)
	r.step = o.Lab.Timeouts.Step
	if r.step <= 0 {
		r.step = ue.DefaultTimeout
	}
	r.tp = strings.ToUpper(o.Lab.SUT.Transport)
	if r.tp == "" {
		r.tp = "UDP"
	}
	r.tally = newTally(o.Rules, DefaultKeepFailures, o.Gate, o.Expected)
	return r, nil
}

func (r *runner) config() Config {
	c := Config{UEs: r.set.Len(), Rate: r.o.Rate, Transport: r.tp, Deregister: r.o.Deregister, Ports: r.o.Ports,
		Sample: r.o.Sample, Gate: string(r.o.Gate.Level), IMPI: r.o.Lab.Subscribers.IMPI, Keys: r.o.Lab.Subscribers.Keys, IPsec: r.o.Lab.SUT.IPsec}
	if c.Gate == "" {
		c.Gate = string(scenario.LevelMust)
	}
	if r.o.Reregister > 0 {
		c.Reregister = r.o.Reregister.String()
	}
	if r.o.Hold > 0 {
		c.Hold = r.o.Hold.String()
	}
	return c
}

// start brings up what the run plays besides the UEs, binds the UEs'
// ports, and starts the judges.
func (r *runner) start(ctx context.Context) error {
	r.host = netip.IPv6Loopback()
	if a := r.o.Lab.UE.Address; a != "" {
		h, err := netip.ParseAddr(strings.Trim(a, "[]"))
		if err != nil {
			return fmt.Errorf("load: lab ue.address: expected an IP literal, got %q", a)
		}
		r.host = h.Unmap()
	}
	var err error
	if r.env, err = startEnvironment(ctx, r); err != nil {
		return err
	}
	if err := r.startESP(); err != nil {
		return err
	}
	for range r.o.Ports {
		p, err := ue.NewPorts(ue.Options{Lab: r.o.Lab, PCSCF: r.env.pcscf, Transport: r.tp, Host: r.host, Untraced: true, NoSecondOpinion: true, Timeout: r.step, Logger: r.log,
			ESP: r.ipsec.stack})
		if err != nil {
			return fmt.Errorf("load: binding the UEs' ports: %w", err)
		}
		r.ports = append(r.ports, p)
	}
	r.vars = flow.LabVars(r.o.Lab, r.tp, r.host)
	for k, v := range r.env.vars {
		r.vars[k] = v
	}
	flow.UEVars(r.vars, r.ports[0].Addrs())
	r.judge = r.o.Judge
	if r.judge == nil {
		r.judge = NewJudge(r.o.Rules, r.vars)
	}
	r.queue = make(chan *capture, 4096)
	for range runtime.GOMAXPROCS(0) {
		r.judgesWG.Add(1)
		go r.judges()
	}
	return nil
}

// stop waits for the judges and closes everything the run started: the
// UEs (their SAs and leases, under sut.ipsec), their ports, their ESP,
// what the run plays besides. It returns what it found left behind.
func (r *runner) stop() error {
	if r.queue != nil {
		close(r.queue)
		r.judgesWG.Wait()
	}
	for k := range r.members {
		r.closeMember(k)
	}
	left := r.stopESP()
	for _, p := range r.ports {
		p.Close()
	}
	r.ipsec.close()
	if r.env != nil {
		r.env.close()
	}
	return left
}

// run drives the schedule, the hold and the de-registrations, and waits
// for what is under way.
func (r *runner) run() {
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(done)
	}()
	reregDone := make(chan struct{})
	if r.o.Reregister > 0 {
		go func() {
			defer close(reregDone)
			r.reregistrations()
		}()
	} else {
		close(reregDone)
	}
	sched := Schedule{Start: r.clock.Now(), Rate: r.rate, N: r.hi - r.lo}
	sched.Run(r.ctx, r.clock, r.startInitial)
	if r.o.Hold > 0 {
		r.clock.Sleep(r.ctx, r.o.Hold)
	}
	r.stopping.Store(true)
	r.rq.wake()
	<-reregDone
	r.inflight.Wait()
	if r.o.Deregister && r.ctx.Err() == nil {
		r.deregistrations()
		r.inflight.Wait()
	}
	close(done)
	<-progressDone
	r.pmu.Lock()
	r.initial.Unfinished += int64(r.hi-r.lo) - r.initial.Attempted
	r.pmu.Unlock()
}

// memberUE returns the k-th UE of the slice, made on first use (under
// sut.ipsec with protected ports and SPIs of its own, which can fail).
func (r *runner) memberUE(k int) (*ue.UE, error) {
	m := &r.members[k]
	if m.ue == nil {
		i := r.lo + k
		u, err := r.ports[k%len(r.ports)].UE(ue.Member{IMPI: r.set.IMPI(i), IMPU: r.set.IMPU(i), Milenage: r.set.Milenage(i),
			ContactUser: "ue" + strconv.Itoa(r.set.Number(i))})
		if err != nil {
			return nil, fmt.Errorf("load: UE %d: %w", r.set.Number(i), err)
		}
		m.ue = u
		r.ipsec.track(k, u.Addrs())
	}
	return m.ue, nil
}

// startInitial starts the k-th UE's initial registration in a goroutine of
// its own: the schedule never waits for it. It is under way (inflight)
// until it has ended (ended), judged or not: the de-registrations at the
// end start from the UEs it left registered.
func (r *runner) startInitial(k int, due time.Time) {
	r.inflight.Add(1)
	go func() {
		queued := false // then the judge ends it
		defer func() {
			if !queued {
				r.inflight.Done()
			}
		}()
		now := time.Now()
		r.slip.Record(now.Sub(due))
		c := &capture{k: k, due: due, judged: sampled(k, r.o.Sample), exCh: make(chan struct{})}
		u, err := r.memberUE(k)
		if err != nil {
			r.pmu.Lock()
			r.initial.Attempted++
			r.pmu.Unlock()
			r.series.attempted(now)
			c.reg, c.err, c.judged = &ue.Registration{Why: err.Error()}, err, false
			r.ended(c, false)
			return
		}
		r.mu.Lock()
		r.open[k] = c
		r.mu.Unlock()
		r.pmu.Lock()
		r.initial.Attempted++
		r.pmu.Unlock()
		r.series.attempted(now)
		r.busy.Add(1)
		c.reg, c.err = u.Register(r.ctx)
		r.busy.Add(-1)
		if c.judged && flow.Due11(c.reg) && r.env.app != nil {
			t := time.NewTimer(r.step)
			select {
			case <-c.exCh:
			case <-t.C:
			case <-r.ctx.Done():
			}
			t.Stop()
		}
		if c.judged {
			r.settleESP()
		}
		r.mu.Lock()
		delete(r.open, k)
		r.mu.Unlock()
		if !c.judged {
			r.ended(c, false)
			return
		}
		queued = true
		select {
		case r.queue <- c:
		default:
			r.queueFull.Add(1)
			r.queue <- c
		}
	}()
}

// judges judge the captures in the queue, each on an OS thread of its own
// so that the engine's CPU is measured apart (RUSAGE_THREAD).
func (r *runner) judges() {
	defer r.judgesWG.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var res []check.Result
	for c := range r.queue {
		in := r.input(c)
		r.keepForCalibration(in)
		t0 := threadCPU()
		res = r.judge.Judge(res[:0], in)
		r.engineNS.Add(int64(threadCPU() - t0))
		i := r.lo + c.k
		gating := r.tally.add(r.set.Number(i), r.set.IMPI(i), c.due, res)
		r.ended(c, gating)
		r.inflight.Done()
	}
}

// input is the check engine's input for one captured registration, with
// the UE's own vars.
func (r *runner) input(c *capture) check.Input {
	c.mu.Lock()
	ex, cx := c.ex, c.cx
	c.mu.Unlock()
	st := flow.StepsOf(flow.Capture{Lab: r.o.Lab, Reg: c.reg, Exchange: ex, Waited: r.step, Cx: cx, PlaysHSS: r.env.playsHSS,
		Interrupted: r.ctx.Err() != nil})
	c.mu.Lock()
	pkts := c.pkts
	c.mu.Unlock()
	number(st.Messages, c.reg, ex, cx, pkts)
	i := r.lo + c.k
	u := r.members[c.k].ue
	vars := map[string]string{}
	impus := r.set.IMPUs(i)
	vars["impi"], vars["impu"], vars["impus"] = r.set.IMPI(i), impus[0], strings.Join(impus, " ")
	vars["tel_impu"] = ""
	for _, x := range impus {
		if strings.HasPrefix(strings.ToLower(x), "tel:") {
			vars["tel_impu"] = x
			break
		}
	}
	flow.UEVars(vars, u.Addrs())
	if r.o.Lab.SUT.IPsec {
		flow.SAVars(vars, c.reg.SA)
	}
	for k, v := range st.Vars {
		vars[k] = v
	}
	return check.Input{Messages: st.Messages, Missing: st.Missing, NotDue: st.NotDue, Facts: st.Facts, Vars: vars, Packets: pkts}
}

// ended accounts for a finished initial registration: its phase, its
// second, a sample, the UE's state, and its first re-registration.
func (r *runner) ended(c *capture, gating bool) {
	now := time.Now()
	reg := c.reg
	why := cause(reg, c.err)
	if why == "" && gating {
		why = CauseFields
	}
	var rrd time.Duration
	if reg.Registered() && reg.Initial != nil && reg.Final != nil {
		rrd = reg.Final.Time.Sub(reg.Initial.Time)
		r.initial.RRD.Record(rrd)
	}
	r.series.ended(now, why == "", rrd)
	r.pmu.Lock()
	switch {
	case why == CauseInterrupted:
		r.initial.Unfinished++
	case why == "":
		r.initial.Succeeded++
	default:
		r.initial.Ineffective++
		r.initial.Causes[why]++
	}
	if c.judged {
		r.judged++
	} else {
		r.unjudg++
	}
	r.sample(c, why)
	r.pmu.Unlock()
	m := &r.members[c.k]
	m.reg, m.registered = reg, reg.Registered()
	reg.Forget()
	if !m.registered {
		r.closeMember(c.k)
	}
	if m.registered && r.o.Reregister > 0 && !r.stopping.Load() {
		r.rq.push(reregItem{at: now.Add(r.o.Reregister), k: c.k})
	}
}

// sample keeps c whole when it is one of the first registrations or of the
// first of its cause. The caller holds r.pmu.
func (r *runner) sample(c *capture, why string) {
	label, limit := why, perCauseSamples
	if why == "" {
		label, limit = "first registrations", firstSamples
	}
	if r.causeN[label] >= limit || r.sbytes >= maxSampleBytes {
		return
	}
	var msgs []trace.Message
	reg := c.reg
	msgs = append(msgs, reg.Requests...)
	msgs = append(msgs, reg.Challenges...)
	if reg.Final != nil {
		msgs = append(msgs, *reg.Final)
	}
	c.mu.Lock()
	if c.ex != nil {
		msgs = append(msgs, c.ex.Request)
		if c.ex.Response != nil {
			msgs = append(msgs, *c.ex.Response)
		}
	}
	msgs = append(msgs, c.cx...)
	c.mu.Unlock()
	slices.SortStableFunc(msgs, func(a, b trace.Message) int { return a.Time.Compare(b.Time) })
	for i := range msgs {
		msgs[i].Seq = i + 1
		r.sbytes += len(msgs[i].Raw)
	}
	r.causeN[label]++
	i := r.lo + c.k
	r.samples = append(r.samples, Sample{UE: r.set.Number(i), IMPI: r.set.IMPI(i), Why: label, Messages: msgs})
}

// onExchange takes the VCC Application's exchange (step 11 to 13) to the
// initial registration of its IMPU under way.
func (r *runner) onExchange(ex vccapp.Exchange) {
	c := r.capture(-1, ex.Record.IMPU)
	if c == nil || !c.judged {
		r.third.Add(1)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ex != nil {
		r.third.Add(1)
		return
	}
	c.ex = &ex
	close(c.exCh)
}

// capture returns the initial registration under way of the member of
// index i (-1: the one impu names), nil when none is.
func (r *runner) capture(i int, impu string) *capture {
	if i < 0 {
		var ok bool
		if i, ok = r.set.ByIMPU(impu); !ok {
			return nil
		}
	}
	if i < r.lo || i >= r.hi {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open[i-r.lo]
}

// number gives a registration's messages their place in capture order, as
// a run's trace numbers its messages (trace.Message.Seq): a load run keeps
// no trace, and the rules that compare the order of two messages (kind
// after) read it. Steps that are one message on the wire (10 and 14) get
// one number. Under sut.ipsec it links each message to the ESP packets of
// pkts that carried it (trace.Link), as a run's trace does.
func number(steps map[string]trace.Message, reg *ue.Registration, ex *vccapp.Exchange, cx []trace.Message, pkts []trace.Packet) {
	var all []trace.Message
	all = append(all, reg.Requests...)
	all = append(all, reg.Challenges...)
	if reg.Final != nil {
		all = append(all, *reg.Final)
	}
	if ex != nil {
		all = append(all, ex.Request)
		if ex.Response != nil {
			all = append(all, *ex.Response)
		}
	}
	all = append(all, cx...)
	slices.SortStableFunc(all, func(a, b trace.Message) int { return a.Time.Compare(b.Time) })
	if len(pkts) > 0 {
		trace.Link(all, pkts)
	}
	at := make(map[*byte]int, len(all))
	for i, m := range all {
		if len(m.Raw) > 0 {
			at[&m.Raw[0]] = i
		}
	}
	for step, m := range steps {
		if len(m.Raw) > 0 {
			if i, ok := at[&m.Raw[0]]; ok {
				m.Seq, m.ESP = i+1, all[i].ESP
			}
			steps[step] = m
		}
	}
}
