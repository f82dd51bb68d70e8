package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names Write uses inside its directory.
const (
	JSONFile  = "report.json"
	HTMLFile  = "report.html"
	PcapFile  = "trace.pcap"
	JUnitFile = "junit.xml"
	// RunFile records which run wrote the directory's reports last (pid,
	// host, when it started and when it wrote), so that a run that ran at
	// the same time does not replace them (see Write).
	RunFile = ".imsconform-run.json"
)

// WriteOptions are the extras of Write.
type WriteOptions struct {
	// JUnit writes junit.xml at the path it is given (a temporary name in
	// the report directory) instead of WriteJUnit; nil means WriteJUnit.
	JUnit func(path string) error
	// NoJUnit writes no junit.xml.
	NoJUnit bool
	// Started is when this run began (the process, not only the flow);
	// zero means r.Started.
	Started time.Time
}

// WriteAll is Write with the default options.
func WriteAll(dir string, r *Run) (Paths, error) { return Write(dir, r, WriteOptions{}) }

// Write writes report.json, report.html, trace.pcap, junit.xml (WriteJUnit)
// and, when the run was compared with a baseline (r.Diff), diff.json and
// diff.html into dir, creating it, as one set:
//
//   - every file is written to a temporary name in dir first, and the set is
//     renamed into place under an exclusive lock of dir, so that two runs
//     writing at once never mix their files and no reader sees a half-written
//     file;
//   - when another run wrote dir after this one started (the two ran at the
//     same time), dir keeps the other run's reports whole, this run's go into
//     a new directory beside it, and the error (a *ConflictError) says where;
//   - when dir cannot be created or written, the reports go into a new
//     temporary directory, and the error (a *MovedError) says where;
//   - a file that cannot be written is left out of the set (an older file of
//     that name is removed, so the set never mixes runs), and the error names
//     it; the others are still written.
//
// The returned Paths (also stored in r.Reports, for Summary) name the files
// written, wherever they went; a path is empty when its file failed. The
// error joins every failure: any error means a report is missing or not
// where it was asked for.
func Write(dir string, r *Run, o WriteOptions) (Paths, error) {
	p := Paths{Dir: dir}
	if r == nil {
		return p, errNilRun
	}
	if dir == "" {
		return p, errors.New("reports: Write: expected a report directory, got an empty path")
	}
	started := o.Started
	if started.IsZero() {
		started = r.Started
	}
	files := []reportFile{
		{name: JSONFile, path: &p.JSON, write: writerTo(func(w io.Writer) error { return WriteJSON(w, r) })},
		{name: HTMLFile, path: &p.HTML, write: writerTo(func(w io.Writer) error { return WriteHTML(w, r) })},
		{name: PcapFile, path: &p.Pcap, write: writerTo(func(w io.Writer) error { return WritePcap(w, r) })},
	}
	switch {
	case o.JUnit != nil:
		files = append(files, reportFile{name: JUnitFile, path: &p.JUnit, write: o.JUnit})
	case !o.NoJUnit:
		files = append(files, reportFile{name: JUnitFile, path: &p.JUnit, write: writerTo(func(w io.Writer) error { return WriteJUnit(w, r) })})
	}
	if r.Diff != nil {
		files = append(files,
			reportFile{name: DiffJSONFile, path: &p.DiffJSON, write: writerTo(func(w io.Writer) error { return WriteDiffJSON(w, r.Diff) })},
			reportFile{name: DiffHTMLFile, path: &p.DiffHTML, write: writerTo(func(w io.Writer) error { return WriteDiffHTML(w, r.Diff) })})
	}

	dir, err := writeSet(dir, files, started)
	p.Dir = dir
	r.Reports = p
	return p, err
}

// File is one file of a set WriteSet writes.
type File struct {
	Name  string
	Write func(io.Writer) error
}

// WriteSet writes files into dir as one set, as Write writes a run's
// reports: temporary names first, renamed together under a lock of dir;
// another run's set written there meanwhile kept whole (this one goes
// beside it); a dir that cannot be used replaced by a temporary one; a
// file that fails left out. started is when the run began. It returns the
// directory the set went to and the path of each file written, by name;
// the error says what is missing or where the set went instead.
func WriteSet(dir string, files []File, started time.Time) (string, map[string]string, error) {
	if dir == "" {
		return "", nil, errors.New("reports: WriteSet: expected a directory, got an empty path")
	}
	paths := make([]string, len(files))
	rf := make([]reportFile, len(files))
	for i, f := range files {
		rf[i] = reportFile{name: f.Name, path: &paths[i], write: writerTo(f.Write)}
	}
	dir, err := writeSet(dir, rf, started)
	out := map[string]string{}
	for i, f := range files {
		if paths[i] != "" {
			out[f.Name] = paths[i]
		}
	}
	return dir, out, err
}

// writeSet writes files into dir as one set (see Write) and returns the
// directory they went to.
func writeSet(dir string, files []reportFile, started time.Time) (string, error) {
	var moved error
	if err := usableDir(dir); err != nil {
		alt, aerr := os.MkdirTemp("", "imsconform-reports-")
		if aerr != nil {
			return dir, fmt.Errorf("reports: cannot write into %s (%v), nor into a temporary directory: %w", dir, err, aerr)
		}
		moved = &MovedError{Dir: dir, Err: err, Moved: alt}
		dir = alt
	}
	errs := stage(dir, files)

	unlock, err := lockDir(dir)
	if err != nil {
		errs = append(errs, fmt.Errorf("reports: locking %s: %w (writing without the lock)", dir, err))
		unlock = func() {}
	}
	me := runStamp{PID: os.Getpid(), Started: started}
	me.Host, _ = os.Hostname()
	var conflict *ConflictError
	if prev, ok := readStamp(dir); ok && !started.IsZero() && prev.Written.After(started) && !prev.same(me) {
		alt, aerr := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".run-")
		if aerr != nil {
			unlock()
			discard(files)
			return dir, fmt.Errorf("reports: %s was written by another run (%s) while this one ran, and no directory for this run's reports could be made beside it: %w", dir, prev, aerr)
		}
		conflict = &ConflictError{Dir: dir, Other: prev.String(), Moved: alt}
		unlock()
		dir, unlock = alt, func() {}
	}
	errs = append(errs, commit(dir, files)...)
	if conflict == nil {
		me.Written = time.Now()
		if err := writeStamp(dir, me); err != nil {
			errs = append(errs, fmt.Errorf("reports: %s: %w", filepath.Join(dir, RunFile), err))
		}
	}
	unlock()
	if conflict != nil {
		errs = append([]error{conflict}, errs...)
	}
	if moved != nil {
		errs = append([]error{moved}, errs...)
	}
	return dir, errors.Join(errs...)
}

// ConflictError says that another run wrote the report directory while this
// one ran: the directory keeps that run's reports, and this run's are in
// Moved.
type ConflictError struct {
	Dir   string // the directory asked for
	Other string // the run that wrote it: pid, host, started, written
	Moved string // where this run's reports went
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("reports: %s was written by another run (%s) while this run was under way: it keeps that run's reports whole, and this run's reports are in %s", e.Dir, e.Other, e.Moved)
}

// MovedError says that the report directory could not be used: the reports
// are in Moved instead.
type MovedError struct {
	Dir   string
	Err   error
	Moved string
}

func (e *MovedError) Error() string {
	return fmt.Sprintf("reports: cannot write into %s (%v): this run's reports are in %s instead", e.Dir, e.Err, e.Moved)
}

func (e *MovedError) Unwrap() error { return e.Err }

// reportFile is one file of the set.
type reportFile struct {
	name  string
	path  *string                 // where Paths records it
	write func(path string) error // writes the file at path
	tmp   string                  // its temporary name once staged
}

// writerTo adapts a writer of an io.Writer to a writer of a path.
func writerTo(write func(io.Writer) error) func(string) error {
	return func(path string) (err error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		if err = write(f); err != nil {
			return err
		}
		return f.Sync()
	}
}

// usableDir creates dir and checks that a file can be made in it.
func usableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory") {
			return fmt.Errorf("%s is not a directory", pe.Path)
		}
		return err
	}
	f, err := os.CreateTemp(dir, ".imsconform-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// stage writes every file under a temporary name in dir; a file that fails
// keeps no temporary name.
func stage(dir string, files []reportFile) []error {
	var errs []error
	for i := range files {
		f := &files[i]
		tmp, err := os.CreateTemp(dir, "."+f.name+".*.tmp")
		if err == nil {
			tmp.Close()
			if err = f.write(tmp.Name()); err == nil {
				err = os.Chmod(tmp.Name(), 0o644)
			}
			if err != nil {
				os.Remove(tmp.Name())
			} else {
				f.tmp = tmp.Name()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reports: %s: %w", filepath.Join(dir, f.name), err))
		}
	}
	return errs
}

// commit renames every staged file into dir; a file that was not staged, or
// fails to rename, removes an older file of its name so that the set never
// mixes two runs.
func commit(dir string, files []reportFile) []error {
	var errs []error
	for i := range files {
		f := &files[i]
		dst := filepath.Join(dir, f.name)
		if f.tmp != "" {
			err := os.Rename(f.tmp, dst)
			if err == nil {
				*f.path = dst
				continue
			}
			os.Remove(f.tmp)
			errs = append(errs, fmt.Errorf("reports: %s: %w", dst, err))
		}
		if st, err := os.Lstat(dst); err == nil && st.Mode().IsRegular() {
			if err := os.Remove(dst); err != nil {
				errs = append(errs, fmt.Errorf("reports: %s is from an earlier run and could not be removed: %w", dst, err))
			}
		}
	}
	return errs
}

func discard(files []reportFile) {
	for _, f := range files {
		if f.tmp != "" {
			os.Remove(f.tmp)
		}
	}
}

// runStamp is the content of RunFile.
type runStamp struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"-"`
	Written time.Time `json:"-"`
	// The times as Unix nanoseconds: any time.Time fits (JSON's time
	// format stops at year 9999).
	StartedNS int64 `json:"started_unix_ns"`
	WrittenNS int64 `json:"written_unix_ns"`
}

func (s runStamp) same(o runStamp) bool {
	return s.PID == o.PID && s.Host == o.Host && s.Started.Equal(o.Started)
}

func (s runStamp) String() string {
	return fmt.Sprintf("pid %d on %s, started %s, wrote at %s", s.PID, s.Host,
		s.Started.UTC().Format("15:04:05.000"), s.Written.UTC().Format("15:04:05.000 UTC"))
}

func readStamp(dir string) (runStamp, bool) {
	var s runStamp
	b, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil || json.Unmarshal(b, &s) != nil || s.WrittenNS == 0 {
		return runStamp{}, false
	}
	s.Started, s.Written = time.Unix(0, s.StartedNS), time.Unix(0, s.WrittenNS)
	return s, true
}

func writeStamp(dir string, s runStamp) error {
	s.StartedNS, s.WrittenNS = s.Started.UnixNano(), s.Written.UnixNano()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, RunFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// writeAtomic writes path through a temporary file in the same directory and
// a rename; on any failure it removes the temporary file and leaves path as
// it was.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
