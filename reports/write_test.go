package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var tmp []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out", "run-1") // created by WriteAll
	r := sampleRun()
	p, err := WriteAll(dir, r)
	if err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	want := Paths{Dir: dir, JSON: filepath.Join(dir, "report.json"), HTML: filepath.Join(dir, "report.html"), Pcap: filepath.Join(dir, "trace.pcap"), JUnit: filepath.Join(dir, "junit.xml")}
	if p != want {
		t.Errorf("WriteAll paths: expected %+v, got %+v", want, p)
	}
	if r.Reports != p {
		t.Errorf("WriteAll: expected r.Reports set to %+v, got %+v", p, r.Reports)
	}
	for _, f := range []string{p.JSON, p.HTML, p.Pcap} {
		st, err := os.Stat(f)
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: expected a non-empty file, got %v", f, err)
			continue
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s: expected mode 0644, got %v", f, st.Mode().Perm())
		}
	}
	b, _ := os.ReadFile(p.JSON)
	if !json.Valid(b) {
		t.Errorf("%s: expected valid JSON", p.JSON)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("WriteAll: expected no temporary files left, found %v", tmp)
	}
}

func TestWriteAllKeepsGoingWhenOneFileFails(t *testing.T) {
	dir := t.TempDir()
	// report.html is a non-empty directory: the rename into place fails,
	// whoever runs the test (root included).
	if err := os.MkdirAll(filepath.Join(dir, "report.html", "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := WriteAll(dir, sampleRun())
	if err == nil || !strings.Contains(err.Error(), "report.html") {
		t.Fatalf("WriteAll: expected an error naming report.html, got %v", err)
	}
	if p.HTML != "" {
		t.Errorf("WriteAll: expected no HTML path for the file that failed, got %q", p.HTML)
	}
	if p.JSON == "" {
		t.Errorf("WriteAll: expected report.json written despite report.html failing (error: %v)", err)
	} else if b, rerr := os.ReadFile(p.JSON); rerr != nil || !json.Valid(b) {
		t.Errorf("report.json: expected valid JSON, got %v", rerr)
	}
	if p.Pcap == "" {
		t.Errorf("WriteAll: expected trace.pcap written despite report.html failing (error: %v)", err)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("WriteAll: expected the failed file's temporary removed, found %v", tmp)
	}
}

func TestWriteAllBadInput(t *testing.T) {
	if _, err := WriteAll("", sampleRun()); err == nil || !strings.Contains(err.Error(), "expected a report directory") {
		t.Errorf("WriteAll(\"\"): expected an error asking for a directory, got %v", err)
	}
	if _, err := WriteAll(t.TempDir(), nil); !errors.Is(err, errNilRun) {
		t.Errorf("WriteAll(nil run): expected %v, got %v", errNilRun, err)
	}
}

// --report-dir naming a file (or a directory under one): the run says so,
// fails, and its reports are not lost.
func TestWriteIntoAFileMovesTheReports(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		junit := func(path string) error { return os.WriteFile(path, []byte("<testsuites/>"), 0o644) }
		p, err := Write(dir, sampleRun(), WriteOptions{JUnit: junit})
		var me *MovedError
		if !errors.As(err, &me) || me.Dir != dir || !strings.Contains(err.Error(), "is not a directory") || !strings.Contains(err.Error(), "this run's reports are in "+p.Dir) {
			t.Fatalf("Write(%s): expected a MovedError saying the path is not a directory and where the reports went, got %v", dir, err)
		}
		t.Cleanup(func() { os.RemoveAll(p.Dir) })
		for _, f := range []string{p.JSON, p.HTML, p.Pcap, p.JUnit} {
			if filepath.Dir(f) != me.Moved {
				t.Errorf("Write(%s): expected every report in %s, got %s", dir, me.Moved, f)
			}
			if st, err := os.Stat(f); err != nil || st.Size() == 0 {
				t.Errorf("%s: expected a report, got %v", f, err)
			}
		}
		if b, _ := os.ReadFile(file); string(b) != "x" {
			t.Errorf("the file named as the report directory was changed: %q", b)
		}
	}
}

// A report that fails leaves no file of its name from an earlier run: the
// set never mixes two runs.
func TestWriteRemovesTheStaleFileOfAReportThatFailed(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteAll(dir, sampleRun()); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	p, err := Write(dir, sampleRun(), WriteOptions{JUnit: func(string) error { return boom }})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), filepath.Join(dir, JUnitFile)) || p.JUnit != "" {
		t.Fatalf("Write with a failing JUnit: expected the error naming %s, got %v (paths %+v)", JUnitFile, err, p)
	}
	os.WriteFile(filepath.Join(dir, JUnitFile), []byte("from an earlier run"), 0o644)
	_, err = Write(dir, sampleRun(), WriteOptions{JUnit: func(string) error { return boom }})
	if _, serr := os.Stat(filepath.Join(dir, JUnitFile)); !errors.Is(serr, os.ErrNotExist) || err == nil {
		t.Errorf("junit.xml of an earlier run beside this run's reports: stat %v, write error %v; want it removed and the error", serr, err)
	}
}

// runNamed is sampleRun under another tool name and start time, so that
// each report file says which run wrote it.
func runNamed(name string, started time.Time) *Run {
	r := sampleRun()
	r.Tool, r.Started = name, started
	return r
}

// whole reads the report files in dir and returns the one run name they all
// carry, or fails.
func whole(t *testing.T, dir string) string {
	t.Helper()
	var rep struct {
		Tool string `json:"tool"`
	}
	b, err := os.ReadFile(filepath.Join(dir, JSONFile))
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("%s: %v", JSONFile, err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	junit, _ := os.ReadFile(filepath.Join(dir, JUnitFile))
	if !strings.Contains(string(html), "<title>"+rep.Tool+" report") || string(junit) != rep.Tool {
		t.Fatalf("%s: report.json from %q, report.html and junit.xml (%q) from another run", dir, rep.Tool, junit)
	}
	return rep.Tool
}

func TestTwoRunsWritingOneDirectoryAtOnce(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now()
	const runs = 8
	errs := make([]error, runs)
	paths := make([]Paths, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("run-%d", i)
			junit := func(path string) error { return os.WriteFile(path, []byte(name), 0o644) }
			paths[i], errs[i] = Write(dir, runNamed(name, t0.Add(time.Duration(i))), WriteOptions{JUnit: junit})
		}()
	}
	wg.Wait()
	winner := whole(t, dir)
	won := 0
	for i, err := range errs {
		var ce *ConflictError
		switch {
		case err == nil:
			won++
			if fmt.Sprintf("run-%d", i) != winner || paths[i].Dir != dir {
				t.Errorf("run-%d wrote without an error, but %s holds %s's reports", i, dir, winner)
			}
		case errors.As(err, &ce):
			if ce.Dir != dir || paths[i].Dir != ce.Moved || !strings.Contains(err.Error(), "was written by another run (pid") {
				t.Errorf("run-%d: conflict %v, paths %+v: want the directory, the other run and where its reports went", i, err, paths[i])
			}
			if got := whole(t, ce.Moved); got != fmt.Sprintf("run-%d", i) {
				t.Errorf("run-%d: its reports in %s are %s's", i, ce.Moved, got)
			}
		default:
			t.Errorf("run-%d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d runs wrote %s without an error, want exactly 1 (the others lose and say so)", won, dir)
	}
	// A run that starts after the last write is a new run, not a
	// concurrent one: it replaces the reports.
	later := time.Now().Add(time.Millisecond)
	if _, err := Write(dir, runNamed("later", later), WriteOptions{JUnit: func(p string) error { return os.WriteFile(p, []byte("later"), 0o644) }}); err != nil {
		t.Fatalf("a later run: %v", err)
	}
	if got := whole(t, dir); got != "later" {
		t.Errorf("after a later run, %s holds %s's reports", dir, got)
	}
}

func TestWriteAtomicLeavesOldFileOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, []byte("previous report"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("interrupted")
	err := writeAtomic(path, func(w io.Writer) error {
		io.WriteString(w, `{"schema_version": 1, "half`)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("writeAtomic: expected the writer's error, got %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("previous report")) {
		t.Errorf("writeAtomic: expected the previous file untouched, got %q", b)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("writeAtomic: expected the temporary removed, found %v", tmp)
	}
}
