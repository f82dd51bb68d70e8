package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names WriteAll uses inside its directory.
const (
	JSONFile = "report.json"
	HTMLFile = "report.html"
	PcapFile = "trace.pcap"
)

// WriteAll writes report.json, report.html and trace.pcap into dir, creating
// it. Each file is written to a temporary file in dir and renamed into place,
// so an interrupted run never leaves a half-written report. It writes every
// file it can even when one fails; the error joins every failure. The
// returned Paths (also stored in r.Reports, for Summary) name the files that
// were written; a path is empty when its file failed.
func WriteAll(dir string, r *Run) (Paths, error) {
	p := Paths{Dir: dir}
	if r == nil {
		return p, errNilRun
	}
	if dir == "" {
		return p, errors.New("reports: WriteAll: expected a report directory, got an empty path")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, fmt.Errorf("reports: creating report directory: %w", err)
	}
	var errs []error
	for _, f := range []struct {
		name  string
		write func(io.Writer, *Run) error
		path  *string
	}{
		{JSONFile, WriteJSON, &p.JSON},
		{HTMLFile, WriteHTML, &p.HTML},
		{PcapFile, WritePcap, &p.Pcap},
	} {
		path := filepath.Join(dir, f.name)
		if err := writeAtomic(path, func(w io.Writer) error { return f.write(w, r) }); err != nil {
			errs = append(errs, fmt.Errorf("reports: %s: %w", path, err))
			continue
		}
		*f.path = path
	}
	r.Reports = p
	return p, errors.Join(errs...)
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
