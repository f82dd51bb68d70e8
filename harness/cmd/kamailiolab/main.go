// Command kamailiolab runs the registration flow of TS 24.206 annex A.3.2.2
// against a real IMS core in one go: it brings up Kamailio 5.6 as P-CSCF,
// I-CSCF and S-CSCF on loopback with the harness's HSS emulator (labs/kamailio;
// installing the Debian packages when they are missing), runs the flow once
// with the UE and the mock VCC Application against the P-CSCF, judges every
// rule, writes the reports, and stops everything, also on failure or
// interrupt:
//
//	kamailiolab [-report-dir out/kamailio] [-profile a322|ts24229] [-install=true] [-keep] [-mask-vectors] [-v]
//
// It writes report.json, report.html and trace.pcap (SIP) as the suite does,
// cx.pcap (the Diameter Cx the HSS saw: its MAAs carry XRES, CK and IK, as Cx
// does, unless -mask-vectors) and the Kamailio logs under kamailio/ in the
// report directory.
//
// Exit status: 0 when the lab came up and every rule got a verdict (fail
// verdicts included: a real core deviates), 1 on a harness error, 2 when the
// lab could not be brought up.
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
	"sort"
	"syscall"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/hss"
	"imsconform/harness/run"
	"imsconform/harness/trace"
	"imsconform/harness/trace/mask"
	"imsconform/harness/trace/pcap"
	"imsconform/labs/kamailio"
	"imsconform/reports"
)

// Exit statuses.
const (
	exitOK       = 0
	exitHarness  = 1
	exitLabDown  = 2
	exitBadUsage = 1
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runLab(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("kamailiolab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reportDir := fs.String("report-dir", "out/kamailio", "directory for report.json, report.html, trace.pcap, cx.pcap and the Kamailio logs")
	profile := fs.String("profile", "", "scenario profile: a322 (the tables as written, default) or ts24229")
	install := fs.Bool("install", true, "install kamailio, kamailio-ims-modules and kamailio-presence-modules with apt-get when missing")
	keep := fs.Bool("keep", false, "keep the lab's temporary directory (configurations, logs) and print its path")
	readyTimeout := fs.Duration("ready-timeout", kamailio.DefaultReadyTimeout, "how long to wait for each CSCF to be ready")
	verbose := fs.Bool("v", false, "log bring-up, teardown and the flow's progress to stderr")
	maskVectors := fs.Bool("mask-vectors", false, "overwrite the authentication vectors (RAND, AUTN, XRES, CK, IK, AUTS) in every report and pcap, cx.pcap included: for reports that leave the lab")
	if err := fs.Parse(args); err != nil {
		return exitBadUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kamailiolab: expected only flags, got %q\n", fs.Args())
		return exitBadUsage
	}
	logf := func(string, ...any) {}
	var logger *slog.Logger
	if *verbose {
		logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dir := run.ResolveDir(*reportDir)

	cx := trace.New()
	began := time.Now()
	l, err := kamailio.Start(ctx, kamailio.Config{
		Install: *install, KeepDir: *keep, ReadyTimeout: *readyTimeout,
		Observer: hss.TraceObserver(cx), Logf: logf,
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

	plan, err := run.Prepare(run.Options{Overrides: l.Overrides(), Profile: *profile, LabHSS: l.LabHSS(), Logger: logger, MaskVectors: *maskVectors})
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
	if err := writeCx(dir, cx, *maskVectors); err != nil {
		fmt.Fprintf(stderr, "kamailiolab: %v\n", err)
		code = exitHarness
	}
	if err := copyLogs(filepath.Join(dir, "kamailio"), l.Logs()); err != nil {
		fmt.Fprintf(stderr, "kamailiolab: copying the logs: %v\n", err)
	}

	counts := out.Counts()
	fmt.Fprintf(stdout, "\nKamailio lab, profile %s: %d rules: %d pass, %d fail, %d inconc, %d none, %d error\n",
		plan.Profile, len(out.Results), counts[check.Pass], counts[check.Fail], counts[check.Inconc], counts[check.None], counts[check.Error])
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
	return code
}

// writeCx writes the Cx messages the HSS saw as cx.pcap, their vectors
// masked when asked.
func writeCx(dir string, cx *trace.Trace, maskVectors bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "cx.pcap"))
	if err != nil {
		return err
	}
	msgs := cx.Messages()
	if maskVectors {
		msgs = mask.New().Messages(msgs)
	}
	werr := pcap.Write(f, msgs)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("writing cx.pcap: %w", werr)
	}
	return nil
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
