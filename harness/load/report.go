package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"imsconform/harness/scenario"
	"imsconform/harness/subscribers"
	"imsconform/harness/trace"
)

// SchemaVersion is the version of load.json's schema; it changes when a
// field is removed, renamed or changes meaning (adding one does not).
const SchemaVersion = 1

// Report is what a load run found: load.json. A report of one shard and
// the report of a whole run merged from its shards (Merge) have the same
// form.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          string    `json:"tool"`
	Profile       string    `json:"profile"`
	Target        string    `json:"target"` // what was tested: "embedded reference core (P-CSCF ...)", "lab P-CSCF ..."
	SUTName       string    `json:"sut_name,omitempty"`
	SUTVersion    string    `json:"sut_version,omitempty"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	// Catalogue identifies the rules the registrations were judged by:
	// shards judged by other rules do not merge.
	Scenario    string `json:"scenario"`
	Fingerprint string `json:"catalogue_fingerprint"`
	// Tables are the titles of the scenario's tables, for the reports.
	Tables []Table `json:"tables"`

	Config Config `json:"config"`
	// Shards are the shards the report covers, one per process that ran:
	// one for a shard's own report, all of them after Merge.
	Shards []ShardInfo `json:"shards"`

	Initial      *Phase `json:"initial"`
	Reregister   *Phase `json:"reregistration"`
	Deregister   *Phase `json:"deregistration"`
	Judged       int64  `json:"judged"`        // initial registrations judged field by field
	NotJudged    int64  `json:"not_judged"`    // left out by the sample (Config.Sample)
	ThirdParties int64  `json:"third_parties"` // third-party REGISTERs (step 11) not judged: of re-registrations and de-registrations, of registrations the sample left out, or too late
	// Slip is how late the initial registrations started against their
	// schedule: a generator that cannot keep up shows here first.
	Slip    *Latency    `json:"start_slip"`
	Seconds []Second    `json:"seconds"`
	Rules   []RuleTally `json:"rules"`
	Repeats Repeats     `json:"repeats"`
	// Generator is what the process that ran the UEs spent, per shard
	// summed (and RSS per shard at most) after Merge.
	Generator Generator `json:"generator"`
	// Warnings say when a number above is the generator's, not the SUT's
	// (the schedule slipped, the judges fell behind, the CPU was spent),
	// or what else a reader must know. Errors are the harness's.
	Warnings []string `json:"warnings"`
	Errors   []string `json:"errors"`
	// Samples are a bounded sample of whole registrations, their messages
	// as captured: the first few, and the first few of each cause of an
	// ineffective attempt.
	Samples []Sample `json:"samples"`
}

// Table is a table's id and title.
type Table struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Step  string `json:"step"`
}

// Config is how the run was asked to run.
type Config struct {
	UEs        int     `json:"ues"`  // N, the whole run's
	Rate       float64 `json:"rate"` // initial registrations per second, the whole run's
	Transport  string  `json:"transport"`
	Reregister string  `json:"reregister_every,omitempty"` // Go duration; "" for none
	Hold       string  `json:"hold,omitempty"`
	Deregister bool    `json:"deregister"`
	Ports      int     `json:"port_groups"`
	Sample     float64 `json:"sample"` // share of the initial registrations judged field by field
	Gate       string  `json:"gate"`   // the level whose failures gate: must, should or table
	IMPI       string  `json:"impi_pattern"`
	Keys       string  `json:"keys"`
	// IPsec says the UEs ran the security agreement of TS 33.203 over
	// real SAs (sut.ipsec), each with its own protected ports and SPIs.
	IPsec bool `json:"ipsec,omitempty"`
}

// ShardInfo is one shard of a run.
type ShardInfo struct {
	Shard    string    `json:"shard"` // i/n
	First    int       `json:"first_ue"`
	Last     int       `json:"last_ue"` // subscriber numbers, inclusive
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Rate is the shard's share of the run's rate.
	Rate float64 `json:"rate"`
}

// Generator is the generator's own use of the machine.
type Generator struct {
	CPUUser   float64 `json:"cpu_user_s"`
	CPUSystem float64 `json:"cpu_system_s"`
	// CPUPerRegistration is the CPU the generator spent per initial
	// registration that ended, re-registrations and de-registrations
	// counted in the CPU too when the run made them.
	CPUPerRegistration float64 `json:"cpu_per_registration_us"`
	// Engine is the CPU the check engine spent over the run, the garbage
	// collection of what it allocated included: its CPU per judged
	// registration, measured after the run by judging the run's first
	// registrations again with nothing else running (process CPU, a
	// collection at the end), times the registrations judged.
	// EnginePerRegistration is that per judged registration, EngineShare
	// its share of the generator's CPU. EngineThread is what the judges'
	// own threads spent during the run (RUSAGE_THREAD): the engine without
	// the background collection of its garbage; EngineMeasured is false
	// where a thread's CPU cannot be read (not Linux). GC is the garbage
	// collector's CPU over the run, the whole generator's.
	Engine                float64 `json:"engine_cpu_s"`
	EnginePerRegistration float64 `json:"engine_cpu_per_judged_registration_us"`
	EngineShare           float64 `json:"engine_share"`
	EngineThread          float64 `json:"engine_thread_cpu_s"`
	EngineMeasured        bool    `json:"engine_measured"`
	GC                    float64 `json:"gc_cpu_s"`
	// RSS is the resident set at its highest (VmHWM), per shard at most.
	RSS   int64 `json:"max_rss_bytes"`
	Procs int   `json:"gomaxprocs"`
	// Roles says what the generator played besides the UEs: "VCC
	// Application", "HSS", "embedded reference core".
	Roles []string `json:"roles"`
}

// Sample is one whole registration as captured.
type Sample struct {
	UE       int             `json:"ue"`
	IMPI     string          `json:"impi"`
	Why      string          `json:"why"` // "first registrations", or the cause
	Messages []trace.Message `json:"messages"`
}

// maxSamples bounds the samples: of the first registrations, and per cause.
const (
	firstSamples    = 2
	perCauseSamples = 2
	maxSampleBytes  = 256 << 10
)

// Read reads a load.json.
func Read(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load: expected a readable load.json: %w", err)
	}
	defer f.Close()
	return Decode(path, f)
}

// Decode reads a load.json from r; name says where it came from in errors.
func Decode(name string, r io.Reader) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(io.LimitReader(r, 512<<20))
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("load: %s: expected a load.json report, saw one that does not decode: %w", name, err)
	}
	if rep.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("load: %s: expected schema_version %d, saw %d", name, SchemaVersion, rep.SchemaVersion)
	}
	for _, p := range []**Phase{&rep.Initial, &rep.Reregister, &rep.Deregister} {
		if *p == nil {
			*p = newPhase()
		}
		if (*p).Causes == nil {
			(*p).Causes = map[string]int64{}
		}
		if (*p).RRD == nil {
			(*p).RRD = NewLatency()
		}
	}
	if rep.Slip == nil {
		rep.Slip = NewLatency()
	}
	for i := range rep.Seconds {
		if rep.Seconds[i].RRD == nil {
			rep.Seconds[i].RRD = newLatency(intervalDigits)
		}
	}
	return &rep, nil
}

// Merge combines the reports of a run's shards into the report of the run.
// They must be of one run: the same rules (catalogue fingerprint), the
// same N, rate and shard count, each shard once. Counts add; histograms
// merge exactly (HdrHistograms of the same layout add bucket by bucket);
// the seconds add second by second (wall clock); each rule keeps the
// first failures of all shards by time; the generator's CPU adds up and
// its RSS is the highest shard's. A shard missing is a warning of the
// merged report, not an error: its UEs are not in it.
func Merge(reps []*Report) (*Report, error) {
	if len(reps) == 0 {
		return nil, errors.New("load: merge: expected the load.json of at least one shard, saw none")
	}
	base := reps[0]
	of := 0
	if len(base.Shards) > 0 {
		if sh, err := subscribers.ParseShard(base.Shards[0].Shard); err == nil {
			of = sh.Of
		}
	}
	out := &Report{SchemaVersion: SchemaVersion, Tool: base.Tool, Profile: base.Profile, Target: base.Target, SUTName: base.SUTName, SUTVersion: base.SUTVersion,
		Scenario: base.Scenario, Fingerprint: base.Fingerprint, Tables: base.Tables, Config: base.Config,
		Initial: newPhase(), Reregister: newPhase(), Deregister: newPhase(), Slip: NewLatency(), Errors: []string{}, Warnings: []string{}}
	seen := map[string]bool{}
	var errs []string
	for i, r := range reps {
		switch {
		case r.Fingerprint != base.Fingerprint:
			return nil, fmt.Errorf("load: merge: report %d was judged by other rules (catalogue %s, the first's %s): it is not of this run", i+1, r.Fingerprint, base.Fingerprint)
		case r.Config.UEs != base.Config.UEs || r.Config.Rate != base.Config.Rate:
			return nil, fmt.Errorf("load: merge: report %d ran %d UEs at %g/s, the first %d at %g/s: not one run", i+1, r.Config.UEs, r.Config.Rate, base.Config.UEs, base.Config.Rate)
		}
		for _, s := range r.Shards {
			sh, err := subscribers.ParseShard(s.Shard)
			if err != nil || (of != 0 && sh.Of != of) {
				return nil, fmt.Errorf("load: merge: report %d is shard %s, the first's of %d: not one run", i+1, s.Shard, of)
			}
			if seen[s.Shard] {
				return nil, fmt.Errorf("load: merge: shard %s comes twice", s.Shard)
			}
			seen[s.Shard] = true
			out.Shards = append(out.Shards, s)
		}
		if out.Started.IsZero() || r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Finished.After(out.Finished) {
			out.Finished = r.Finished
		}
		for _, m := range []struct{ a, b *Phase }{{out.Initial, r.Initial}, {out.Reregister, r.Reregister}, {out.Deregister, r.Deregister}} {
			if err := m.a.merge(m.b); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if err := out.Slip.Merge(r.Slip); err != nil {
			errs = append(errs, err.Error())
		}
		var err error
		if out.Seconds, err = mergeSeconds(out.Seconds, r.Seconds); err != nil {
			errs = append(errs, err.Error())
		}
		out.Judged += r.Judged
		out.NotJudged += r.NotJudged
		out.ThirdParties += r.ThirdParties
		out.Rules = mergeRules(out.Rules, r.Rules, DefaultKeepFailures)
		out.Repeats.merge(r.Repeats)
		g := &out.Generator
		g.CPUUser += r.Generator.CPUUser
		g.CPUSystem += r.Generator.CPUSystem
		g.Engine += r.Generator.Engine
		g.EngineThread += r.Generator.EngineThread
		g.GC += r.Generator.GC
		g.EngineMeasured = r.Generator.EngineMeasured && (i == 0 || g.EngineMeasured)
		g.RSS = max(g.RSS, r.Generator.RSS)
		g.Procs = max(g.Procs, r.Generator.Procs)
		g.Roles = r.Generator.Roles
		for _, w := range r.Warnings {
			out.Warnings = append(out.Warnings, shardNote(r, w))
		}
		for _, e := range r.Errors {
			out.Errors = append(out.Errors, shardNote(r, e))
		}
		for _, s := range r.Samples {
			if len(out.Samples) < 4*(firstSamples+perCauseSamples) {
				out.Samples = append(out.Samples, s)
			}
		}
	}
	out.Errors = append(out.Errors, errs...)
	sort.Slice(out.Shards, func(i, j int) bool { return out.Shards[i].First < out.Shards[j].First })
	if of > 0 && len(seen) < of {
		var missing []string
		for i := range of {
			if s := (subscribers.Shard{Index: i, Of: of}).String(); !seen[s] {
				missing = append(missing, s)
			}
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("shard(s) %s of %d are missing: their UEs are not in this report", strings.Join(missing, ", "), of))
	}
	out.Generator.finish(out)
	return out, nil
}

func shardNote(r *Report, s string) string {
	if len(r.Shards) == 1 {
		return "shard " + r.Shards[0].Shard + ": " + s
	}
	return s
}

// finish derives the per-registration figures from the totals.
func (g *Generator) finish(r *Report) {
	ended := r.Initial.Succeeded + r.Initial.Ineffective
	cpu := g.CPUUser + g.CPUSystem
	if ended > 0 {
		g.CPUPerRegistration = cpu / float64(ended) * 1e6
	}
	if r.Judged > 0 {
		g.EnginePerRegistration = g.Engine / float64(r.Judged) * 1e6
	}
	if cpu > 0 {
		g.EngineShare = g.Engine / cpu
	}
}

// Scope is the run's gate level as a scenario level.
func (c Config) Scope() scenario.Level {
	if c.Gate == "" {
		return scenario.LevelMust
	}
	return scenario.Level(c.Gate)
}

// Passed reports whether the run passes: no harness error, no rule gates,
// and the initial registrations' ineffective share is at most maxIRA
// percent.
func (r *Report) Passed(maxIRA float64) bool {
	if len(r.Errors) > 0 || r.Initial.Succeeded+r.Initial.Ineffective == 0 {
		return false
	}
	for i := range r.Rules {
		if r.Rules[i].Gating > 0 {
			return false
		}
	}
	return r.Initial.IneffectivePercent() <= maxIRA
}

func (s *Second) marshal() ([]byte, error) { return json.Marshal(s) }

func (s *Second) unmarshal(b []byte) error { return json.Unmarshal(b, s) }
