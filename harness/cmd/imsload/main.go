// Command imsload runs the registration flow of TS 24.206 annex A.3.2.2 for
// thousands of UEs at a set rate against an IMS core, judges every field of
// every message by the conformance run's rules (harness/load), and writes
// load.json, load.html, junit.xml and load.pcap:
//
//	imsload run [-lab lab.yaml] [-set key=value] -ues N -rate R [-shard i/n]
//	            [-transport udp|tcp] [-reregister 60s -hold 5m] [-deregister]
//	            [-sample 1] [-ports 2] [-gate must] [-max-ineffective 1]
//	            [-report-dir out/load]
//	imsload merge [-report-dir out/load] shard-0/load.json shard-1/load.json ...
//	imsload subscribers [-lab lab.yaml] [-ues N] [-shard i/n] -csv subscribers.csv
//
// With no lab (or a lab without sut.pcscf) it runs against the embedded
// reference core in the same process. run prints a line of progress every
// second and a summary at the end.
//
// Exit status: 0 when the run passed (no rule gates, at most
// -max-ineffective percent of the initial registrations ineffective, no
// harness error), 1 when it did not, 2 when it could not run (bad flags, a
// lab file that does not load, reports that could not be written).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/load"
	"imsconform/harness/run"
	"imsconform/harness/scenario"
	"imsconform/harness/subscribers"
	"imsconform/harness/transport"
	"imsconform/reports"
	"imsconform/reports/loadreport"
)

// Exit statuses.
const (
	exitPassed = 0
	exitFailed = 1
	exitUsage  = 2
)

// gcPercent is the collector's target for a load run (GOGC): a load run
// allocates for every message of every UE, and collecting half as often
// saves about a quarter of its CPU for twice the heap over the live data.
// GOGC in the environment wins.
const gcPercent = 200

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "merge":
		return merge(args[1:], stdout, stderr)
	case "subscribers":
		return exportSubscribers(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitPassed
	}
	fmt.Fprintf(stderr, "imsload: expected a command (run, merge, subscribers), got %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  imsload run [flags]            run the load (imsload run -h for the flags)
  imsload merge [flags] FILE...  merge the load.json of a run's shards into one report
  imsload subscribers [flags]    export the population for provisioning an HSS (CSV)
`)
}

// common are the flags of run and subscribers that pick the lab and the
// population.
type common struct {
	lab   *lab.Flags
	ues   int
	shard string
}

func commonFlags(fs *flag.FlagSet) *common {
	c := &common{lab: lab.RegisterFlags(fs)}
	fs.IntVar(&c.ues, "ues", 0, "N, the number of UEs (subscribers) of the whole run; 0: the lab's subscribers.count")
	fs.StringVar(&c.shard, "shard", "0/1", "this process's slice of the population, i/n: the i-th of n (0 ≤ i < n); in a Kubernetes Indexed Job, $(JOB_COMPLETION_INDEX)/n")
	return c
}

func (c *common) resolve() (subscribers.Shard, error) {
	if c.ues < 0 {
		return subscribers.Shard{}, fmt.Errorf("-ues: expected 0 or more, got %d", c.ues)
	}
	sh, err := subscribers.ParseShard(c.shard)
	if err != nil {
		return sh, fmt.Errorf("-shard: %w", err)
	}
	return sh, nil
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("imsload run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := commonFlags(fs)
	profile := fs.String("profile", "", "scenario profile: a322 (default) or ts24229")
	rate := fs.Float64("rate", 100, "initial registrations per second, of the whole run (each shard runs its share)")
	tp := fs.String("transport", "", "udp or tcp (default: the lab's sut.transport)")
	rereg := fs.Duration("reregister", 0, "re-register every registered UE this often (e.g. 60s); 0: never")
	hold := fs.Duration("hold", 0, "keep the UEs registered (re-registering) this long after the last initial registration started")
	dereg := fs.Bool("deregister", false, "de-register every registered UE at the end, at -rate")
	ports := fs.Int("ports", 2, "port groups the UEs share (each an unprotected port, port-c and port-s)")
	sample := fs.Float64("sample", 1, "share of the initial registrations judged field by field, 0 < s ≤ 1 (the others are measured only)")
	gate := fs.String("gate", "must", "the lowest rule level whose failures fail the run: must, should or table")
	failInconc := fs.Bool("fail-on-inconc", false, "make an inconc verdict fail the run")
	maxIRA := fs.Float64("max-ineffective", 1, "the share of ineffective initial registrations, in percent, above which the run fails")
	expectFile := fs.String("expect", "", "expectations file (YAML, as for the conformance run): the known results of this SUT; a registration whose results are the expected ones is not ineffective for them; a stale or differing entry fails the run")
	staleWarn := fs.Bool("expect-stale-warn", false, "with -expect: a stale expectation only warns")
	dir := fs.String("report-dir", "out/load", "where load.json, load.html, junit.xml and load.pcap go")
	quiet := fs.Bool("quiet", false, "no line of progress every second")
	verbose := fs.Bool("v", false, "log the harness's roles to stderr (debug)")
	var devs deviation.Flag
	fs.Var(&devs, "deviate", "break the embedded reference core on purpose, STEP/ACTION[/HEADER[/PARAM]][=VALUE] (e.g. 10/drop-header/P-Associated-URI), to watch rules fail under load; repeatable; not with a lab")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile (go tool pprof) to this file")
	memProfile := fs.String("memprofile", "", "write the generator's heap profile at the end of the load (go tool pprof) to this file")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "imsload run: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "imsload run: -cpuprofile: %v\n", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "imsload run: expected only flags, got %q\n", fs.Args())
		return exitUsage
	}
	shard, err := c.resolve()
	if err == nil && (*sample <= 0 || *sample > 1) {
		err = fmt.Errorf("-sample: expected 0 < s ≤ 1, got %g", *sample)
	}
	if err == nil && *rate <= 0 {
		err = fmt.Errorf("-rate: expected a rate above 0, got %g", *rate)
	}
	level, lerr := scenario.ParseLevel(*gate)
	if err == nil && lerr != nil {
		err = fmt.Errorf("-gate: %w", lerr)
	}
	if err == nil && *tp != "" {
		if _, err = transport.Network(*tp); err == nil {
			c.lab.Set["sut.transport"] = *tp
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "imsload run: %v\n", err)
		return exitUsage
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	plan, err := run.Prepare(run.Options{LabFile: c.lab.Lab, Profile: *profile, Overrides: c.lab.Set, Environ: os.Environ(),
		Deviations: devs, Gate: run.GateOptions{Level: level, FailOnInconc: *failInconc}, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "imsload run: %v\n", err)
		return exitUsage
	}
	g := &reports.Gate{Level: level, FailOnInconc: *failInconc}
	var ex *expectations
	if *expectFile != "" {
		if ex, err = loadExpectations(*expectFile, *staleWarn, plan); err != nil {
			fmt.Fprintf(stderr, "imsload run: %v\n", err)
			return exitUsage
		}
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep := load.Run(ctx, load.Options{Lab: plan.Lab, Rules: plan.Rules, Scenario: plan.Scenario, Profile: plan.Profile,
		Fingerprint: plan.Catalogue.Fingerprint, UEs: c.ues, Rate: *rate, Shard: shard, Reregister: *rereg, Hold: *hold,
		Deregister: *dereg, Ports: *ports, Sample: *sample, Gate: g, Expected: ex.verdicts(), Deviations: devs, Progress: progress, Logger: logger})
	ex.judge(g, rep)
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fmt.Fprintf(stderr, "imsload run: -memprofile: %v\n", err)
		}
	}
	o := loadreport.Options{Gate: g, MaxIneffective: *maxIRA, Started: started}
	return finish(rep, run.ResolveDir(*dir), o, stdout, stderr)
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// finish writes the reports and the summary and gives the exit status.
func finish(rep *load.Report, dir string, o loadreport.Options, stdout, stderr io.Writer) int {
	loadreport.Summary(stdout, rep, o)
	at, paths, err := loadreport.Write(dir, rep, o)
	if len(paths) > 0 {
		fmt.Fprintf(stdout, "  reports in %s: %s, %s, %s, %s\n", at, loadreport.JSONFile, loadreport.HTMLFile, loadreport.JUnitFile, loadreport.PcapFile)
	}
	if err != nil {
		fmt.Fprintf(stderr, "imsload: writing the reports: %v\n", err)
		return exitUsage
	}
	if len(rep.Errors) > 0 && rep.Initial.Attempted == 0 {
		return exitUsage // it could not run
	}
	if !loadreport.Passed(rep, o) {
		return exitFailed
	}
	return exitPassed
}

func merge(args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("imsload merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("report-dir", "out/load", "where the merged load.json, load.html, junit.xml and load.pcap go")
	gate := fs.String("gate", "", "the gate level (default: the shards' own)")
	maxIRA := fs.Float64("max-ineffective", 1, "the share of ineffective initial registrations, in percent, above which the run fails")
	expectFile := fs.String("expect", "", "expectations file applied to the merged run (as imsload run -expect)")
	staleWarn := fs.Bool("expect-stale-warn", false, "with -expect: a stale expectation only warns")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "imsload merge: expected the load.json of each shard, got none")
		return exitUsage
	}
	var reps []*load.Report
	for _, f := range fs.Args() {
		rep, err := load.Read(f)
		if err != nil {
			fmt.Fprintf(stderr, "imsload merge: %v\n", err)
			return exitUsage
		}
		reps = append(reps, rep)
	}
	rep, err := load.Merge(reps)
	if err != nil {
		fmt.Fprintf(stderr, "imsload merge: %v\n", err)
		return exitUsage
	}
	level := rep.Config.Scope()
	if *gate != "" {
		l, err := scenario.ParseLevel(*gate)
		if err != nil {
			fmt.Fprintf(stderr, "imsload merge: -gate: %v\n", err)
			return exitUsage
		}
		level = l
	}
	g := &reports.Gate{Level: level}
	if *expectFile != "" {
		ex, err := loadExpectations(*expectFile, *staleWarn, &run.Plan{Profile: rep.Profile, Lab: mergedLab(rep)})
		if err != nil {
			fmt.Fprintf(stderr, "imsload merge: %v\n", err)
			return exitUsage
		}
		ex.judge(g, rep)
	}
	o := loadreport.Options{Gate: g, MaxIneffective: *maxIRA, Started: started}
	return finish(rep, run.ResolveDir(*dir), o, stdout, stderr)
}

func exportSubscribers(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imsload subscribers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := commonFlags(fs)
	out := fs.String("csv", "", "the CSV file to write (it holds every subscriber's K and OPc: keep it as you keep the HSS's)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	shard, err := c.resolve()
	if err == nil && *out == "" {
		err = errors.New("-csv: expected the file to write")
	}
	if err != nil {
		fmt.Fprintf(stderr, "imsload subscribers: %v\n", err)
		return exitUsage
	}
	p, err := c.lab.Profile(os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "imsload subscribers: %v\n", err)
		return exitUsage
	}
	set, err := p.Population(c.ues)
	if err == nil && set == nil {
		err = errors.New("expected a population: give subscribers.count in the lab, or -ues N")
	}
	if err != nil {
		fmt.Fprintf(stderr, "imsload subscribers: %v\n", err)
		return exitUsage
	}
	lo, hi := shard.Slice(set.Len())
	path := run.ResolveDir(*out)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintf(stderr, "imsload subscribers: %v\n", err)
		return exitUsage
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err == nil {
		err = subscribers.WriteCSV(f, set, lo, hi)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "imsload subscribers: writing %s: %v\n", path, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%d subscribers (%s to %s) written to %s (mode 0600: it holds their keys)\n", hi-lo, set.IMPI(lo), set.IMPI(hi-1), path)
	return exitPassed
}
