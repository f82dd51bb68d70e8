// Command imsdiff compares two conformance runs rule by rule from their
// report.json files — release N and release N+1 of a SUT, or one SUT under
// two profiles — prints a table of every rule whose verdict changed, writes
// diff.json and diff.html, and exits non-zero when a rule regressed or newly
// fails at the gate level.
//
//	go run ./harness/cmd/imsdiff OLD/report.json NEW/report.json
//	go run ./harness/cmd/imsdiff -gate should -out /tmp/diff OLD/report.json NEW/report.json
//
// Exit status: 0 no regression, 1 a regression or a new failure at the gate
// level, 2 the reports could not be read or the diff could not be written.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"imsconform/harness/rundiff"
	"imsconform/reports"
)

const (
	exitOK        = 0
	exitRegressed = 1
	exitUsage     = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imsdiff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for diff.json and diff.html; default: the directory of the new report")
	gate := fs.String("gate", "must", "the lowest rule level whose regressions fail the comparison: must, should or table")
	noFail := fs.Bool("no-fail", false, "exit 0 even when rules regressed (report only)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: imsdiff [-gate must|should|table] [-out DIR] [-no-fail] OLD/report.json NEW/report.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "imsdiff: expected two report.json files (old, new), saw %d arguments\n", fs.NArg())
		fs.Usage()
		return exitUsage
	}
	if !rundiff.Gates("must", *gate) {
		fmt.Fprintf(stderr, "imsdiff: -gate: expected must, should or table, saw %q\n", *gate)
		return exitUsage
	}
	old, err := rundiff.Read(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "imsdiff: old report: %v\n", reports.Printable(err.Error()))
		return exitUsage
	}
	nw, err := rundiff.Read(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "imsdiff: new report: %v\n", reports.Printable(err.Error()))
		return exitUsage
	}
	d := rundiff.Compare(old, nw)
	reports.WriteDiffText(stdout, d)
	dir := *out
	if dir == "" {
		dir = filepath.Dir(fs.Arg(1))
	}
	jsonPath, htmlPath, err := reports.WriteDiffFiles(dir, d)
	if err != nil {
		fmt.Fprintf(stderr, "imsdiff: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "diff: %s  %s\n", htmlPath, jsonPath)
	if f := d.Failures(*gate); len(f) > 0 && !*noFail {
		fmt.Fprintf(stdout, "FAIL: %d rule%s regressed or newly fail at level %s or above\n", len(f), plural(len(f)), *gate)
		return exitRegressed
	}
	return exitOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
