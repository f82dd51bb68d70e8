// Command kamailiolab runs the registration flow of TS 24.206 annex A.3.2.2
// against a real IMS core in one go: it brings up Kamailio 5.6 as P-CSCF,
// I-CSCF and S-CSCF (labs/kamailio; installing the Debian packages when they
// are missing), runs the flow once with the UE, the mock VCC Application and
// the HSS emulator against the P-CSCF, judges every rule, writes the
// reports, and stops everything, also on failure or interrupt:
//
//	kamailiolab [-report-dir out/kamailio] [-profile a322|ts24229] [-transport udp|tcp] [-install=true] [-keep] [-mask-vectors] [-v]
//
// The nodes are on loopback (127.0.0.2-6) unless -pcscf, -icscf, -scscf,
// -hss, -vccapp and -ue give other addresses (IPv4 or IPv6, one family).
// It writes report.json, report.html and trace.pcap (SIP and the Cx the HSS
// saw; its MAAs carry XRES, CK and IK, as Cx does, unless -mask-vectors) as the suite does, and the
// Kamailio logs under kamailio/ in the report directory.
//
// With -serve it only brings the CSCFs up, writes the lab profile a harness
// elsewhere (another host, another network namespace) runs with into
// -lab-out, prints "ready", and keeps the lab up until SIGINT or SIGTERM: see
// labs/kamailio/netns-lab.sh. The file holds no key: the lab's subscriber
// is TS 35.208 test set 1, the profile's default. When it stops it copies
// the Kamailio logs under kamailio/ in -report-dir. With -probe IP:port it
// only checks that a SIP server answers OPTIONS there.
//
// It judges the run against the lab's expectations
// (labs/kamailio/expectations.yaml, applied strictly: every rule no entry
// covers must pass) and prints every difference.
//
// Exit status: 0 when the lab came up and the run is as the expectations say
// (Kamailio's known faults included: a real core deviates), 1 on a harness
// error, 2 when the lab could not be brought up, 3 when the run differs from
// the expectations (the harness or Kamailio changed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/run"
	"imsconform/labs/kamailio"
	"imsconform/reports"
)

// Exit statuses.
const (
	exitOK       = 0
	exitHarness  = 1
	exitLabDown  = 2
	exitBadUsage = 1
	exitDiffers  = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runLab(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// addrFlag is an optional IP address flag.
type addrFlag struct{ a *netip.Addr }

func (f addrFlag) String() string {
	if f.a == nil || !f.a.IsValid() {
		return ""
	}
	return f.a.String()
}

func (f addrFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("expected an IP address such as 127.0.0.2 or 2001:db8::2, got %q", s)
	}
	*f.a = a
	return nil
}

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("kamailiolab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reportDir := fs.String("report-dir", "out/kamailio", "directory for report.json, report.html, trace.pcap and the Kamailio logs")
	profile := fs.String("profile", "", "scenario profile: a322 (the tables as written, default) or ts24229")
	transport := fs.String("transport", "udp", "transport of the UE's REGISTERs: udp or tcp")
	install := fs.Bool("install", true, "install kamailio, kamailio-ims-modules and kamailio-presence-modules with apt-get when missing")
	keep := fs.Bool("keep", false, "keep the lab's temporary directory (configurations, logs) and print its path")
	readyTimeout := fs.Duration("ready-timeout", kamailio.DefaultReadyTimeout, "how long to wait for each CSCF to be ready")
	serve := fs.Bool("serve", false, "only bring the CSCFs up, write the harness's lab profile to -lab-out, print \"ready\" and wait for SIGINT or SIGTERM")
	labOut := fs.String("lab-out", "", "with -serve: where to write the lab profile for the harness")
	probe := fs.String("probe", "", "only send SIP OPTIONS to this IP:port until it answers (10 s at most), e.g. to check a lab from another network namespace")
	verbose := fs.Bool("v", false, "log bring-up, teardown and the flow's progress to stderr")
	var addrs kamailio.Addrs
	for _, a := range []struct {
		name string
		p    *netip.Addr
		def  netip.Addr
	}{{"pcscf", &addrs.PCSCF, kamailio.DefaultPCSCF}, {"icscf", &addrs.ICSCF, kamailio.DefaultICSCF},
		{"scscf", &addrs.SCSCF, kamailio.DefaultSCSCF}, {"hss", &addrs.HSS, kamailio.DefaultHSS},
		{"vccapp", &addrs.VCCApp, kamailio.DefaultVCCApp}, {"ue", &addrs.UE, kamailio.DefaultUE}} {
		fs.Var(addrFlag{a.p}, a.name, fmt.Sprintf("address of the %s (default %s)", a.name, a.def))
	}
	maskVectors := fs.Bool("mask-vectors", false, "overwrite the authentication vectors (RAND, AUTN, XRES, CK, IK, AUTS) in every report and in the pcap: for reports that leave the lab")
	if err := fs.Parse(args); err != nil {
		return exitBadUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kamailiolab: expected only flags, got %q\n", fs.Args())
		return exitBadUsage
	}
	if *serve && *labOut == "" {
		fmt.Fprintln(stderr, "kamailiolab: -serve: expected -lab-out FILE for the harness's lab profile")
		return exitBadUsage
	}
	if *probe != "" {
		ap, err := netip.ParseAddrPort(*probe)
		if err != nil {
			fmt.Fprintf(stderr, "kamailiolab: -probe: expected IP:port, got %q\n", *probe)
			return exitBadUsage
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := kamailio.ProbeSIP(pctx, ap); err != nil {
			fmt.Fprintf(stderr, "kamailiolab: -probe: %v\n", err)
			return exitLabDown
		}
		fmt.Fprintf(stdout, "%s answers SIP\n", ap)
		return exitOK
	}
	logf := func(string, ...any) {}
	var logger *slog.Logger
	if *verbose {
		logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dir := run.ResolveDir(*reportDir)

	began := time.Now()
	l, err := kamailio.Start(ctx, kamailio.Config{
		Install: *install, KeepDir: *keep, ReadyTimeout: *readyTimeout, Addrs: addrs, Logf: logf,
	})
	bringUp := time.Since(began)
	if err != nil {
		fmt.Fprintf(stderr, "kamailiolab: the lab could not be brought up (after %s): %v\n", bringUp.Round(time.Millisecond), err)
		return exitLabDown
	}
	defer func() {
		if err := l.Stop(); err != nil {
			fmt.Fprintf(stderr, "kamailiolab: %v\n", err)
		}
	}()
	if *keep {
		fmt.Fprintf(stdout, "lab directory: %s\n", l.Dir())
	}
	fmt.Fprintf(stdout, "Kamailio lab up in %s: P-CSCF %s\n", bringUp.Round(time.Millisecond), l.Profile().SUT.PCSCF)
	if *serve {
		if err := l.WriteLabFile(*labOut); err != nil {
			fmt.Fprintf(stderr, "kamailiolab: %v\n", err)
			return exitHarness
		}
		fmt.Fprintf(stdout, "lab profile: %s\nready\n", *labOut)
		<-ctx.Done()
		fmt.Fprintln(stdout, "stopping")
		if err := copyLogs(filepath.Join(dir, "kamailio"), l.Logs()); err != nil {
			fmt.Fprintf(stderr, "kamailiolab: copying the logs: %v\n", err)
		}
		return exitOK
	}

	set := l.Overrides()
	set["sut.transport"] = *transport
	plan, err := run.Prepare(run.Options{Overrides: set, Profile: *profile, Logger: logger, MaskVectors: *maskVectors})
	if err != nil {
		fmt.Fprintf(stderr, "kamailiolab: preparing the run: %v\n", err)
		return exitHarness
	}
	runCtx, cancel := context.WithTimeout(ctx, plan.Timeout())
	defer cancel()
	began = time.Now()
	out := plan.Execute(runCtx)
	runTime := time.Since(began)

	code := exitOK
	if err := out.WriteReports(dir, stdout, reports.WriteOptions{Started: started}); err != nil {
		fmt.Fprintf(stderr, "kamailiolab: writing the reports into %s: %v\n", dir, err)
		code = exitHarness
	}
	if err := copyLogs(filepath.Join(dir, "kamailio"), l.Logs()); err != nil {
		fmt.Fprintf(stderr, "kamailiolab: copying the logs: %v\n", err)
	}

	counts := out.Counts()
	fmt.Fprintf(stdout, "\nKamailio lab, profile %s, %s: %d rules: %d pass, %d fail, %d inconc, %d none, %d error\n",
		plan.Profile, plan.Lab.SUT.Transport, len(out.Results), counts[check.Pass], counts[check.Fail], counts[check.Inconc], counts[check.None], counts[check.Error])
	fmt.Fprintf(stdout, "bring-up %s, run %s; reports in %s\n", bringUp.Round(time.Millisecond), runTime.Round(time.Millisecond), dir)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "kamailiolab: interrupted")
		return exitHarness
	case out.Flow.Err != nil:
		fmt.Fprintf(stderr, "kamailiolab: harness error: %v\n", out.Flow.Err)
		return exitHarness
	case counts[check.Error] > 0:
		fmt.Fprintf(stderr, "kamailiolab: %d rules got the verdict error\n", counts[check.Error])
		return exitHarness
	}
	diffs, err := kamailio.Compare(plan.Profile, plan.Lab.SUT.Transport, l.Version(), out.Results)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "kamailiolab: %v\n", err)
		return exitHarness
	case len(diffs) > 0:
		fmt.Fprintf(stdout, "the run differs from %s in %d rule(s):\n", kamailio.ExpectationsFile, len(diffs))
		for _, d := range diffs {
			fmt.Fprintf(stdout, "  %s\n", reports.Printable(d))
		}
		if code == exitOK {
			code = exitDiffers
		}
	default:
		fmt.Fprintf(stdout, "the run is as %s says\n", kamailio.ExpectationsFile)
	}
	return code
}

// copyLogs copies each role's log into dir as <role>.log.
func copyLogs(dir string, logs map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	roles := make([]string, 0, len(logs))
	for r := range logs {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var errs []error
	for _, r := range roles {
		b, err := os.ReadFile(logs[r])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, r+".log"), b, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
