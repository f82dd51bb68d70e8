// Package sqnstate keeps the UE's SQN_MS — the highest sequence number its
// USIM has accepted (TS 33.102 6.3.3, annex C) — between runs, per lab and
// IMPI, as a real USIM keeps it between power cycles. With it, a core that
// replays an old authentication vector is caught (the UE refuses an SQN it has
// already seen), and a lab HSS whose SQN is far ahead goes through one
// re-synchronisation (RFC 3310 3.4) and is then in step for the next run.
//
// The state is one small JSON file, by default under the user's state
// directory ($XDG_STATE_HOME/imsconform/sqn.json, else
// ~/.local/state/imsconform/sqn.json). Runs that share it serialise their
// updates with a lock file beside it and replace it by rename, so two runs at
// once lose nothing. It holds SQNs only — no key material.
//
// It does not decide when state is kept: the flow does (not for the embedded
// reference core, whose HSS starts afresh every run).
package sqnstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Version is the file format's version.
const Version = 1

// MaxSQN is the largest 48-bit sequence number.
const MaxSQN = 1<<48 - 1

// DefaultPath is where the state is kept when the lab names no file: under
// $XDG_STATE_HOME, else ~/.local/state, else the user cache directory.
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "imsconform", "sqn.json"), nil
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "imsconform", "sqn.json"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("sqnstate: expected a state or cache directory for the SQN file, saw none: %v", err)
	}
	return filepath.Join(d, "imsconform", "sqn.json"), nil
}

// Store is the state file at one path.
type Store struct{ path string }

// Open returns the store at path ("" = DefaultPath). Nothing is read or
// created until Get or Put.
func Open(path string) (*Store, error) {
	if path == "" {
		p, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return &Store{path: path}, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

type fileDoc struct {
	Version int              `json:"version"`
	Entries map[string]entry `json:"entries"`
}

type entry struct {
	Lab     string `json:"lab"`
	IMPI    string `json:"impi"`
	SQNMS   string `json:"sqn_ms"` // 12 hex digits
	Updated string `json:"updated"`
}

func key(lab, impi string) string { return lab + "\x00" + impi }

// Get returns the SQN_MS kept for the IMPI in the lab; ok is false when none
// is kept (a first run: the USIM starts from the lab's value).
func (s *Store) Get(lab, impi string) (sqn uint64, ok bool, err error) {
	d, err := s.read()
	if err != nil {
		return 0, false, err
	}
	e, ok := d.Entries[key(lab, impi)]
	if !ok {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(e.SQNMS, 16, 64)
	if err != nil || len(e.SQNMS) != 12 || v > MaxSQN {
		return 0, false, fmt.Errorf("sqnstate: %s: expected sqn_ms of 12 hex digits for %s in lab %q, saw %q", s.path, impi, lab, e.SQNMS)
	}
	return v, true, nil
}

// Put keeps sqn as the IMPI's SQN_MS in the lab, unless a higher one is
// already kept (a USIM never goes back: a run that accepted less than
// another run at once must not undo it).
func (s *Store) Put(lab, impi string, sqn uint64, now time.Time) error {
	if sqn > MaxSQN {
		return fmt.Errorf("sqnstate: expected a 48-bit SQN, saw %d", sqn)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("sqnstate: expected a directory for %s: %v", s.path, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	d, err := s.read()
	if err != nil {
		return err
	}
	k := key(lab, impi)
	if old, ok := d.Entries[k]; ok {
		if v, err := strconv.ParseUint(old.SQNMS, 16, 64); err == nil && v >= sqn {
			return nil
		}
	}
	d.Entries[k] = entry{Lab: lab, IMPI: impi, SQNMS: fmt.Sprintf("%012x", sqn), Updated: now.UTC().Format(time.RFC3339)}
	return s.write(d)
}

func (s *Store) read() (*fileDoc, error) {
	d := &fileDoc{Version: Version, Entries: map[string]entry{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqnstate: expected a readable state file %s, saw %v", s.path, err)
	}
	var raw struct {
		Version int     `json:"version"`
		Entries []entry `json:"entries"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("sqnstate: %s: expected the SQN state file (JSON), saw %v; move it away to start afresh", s.path, err)
	}
	if raw.Version != Version {
		return nil, fmt.Errorf("sqnstate: %s: expected version %d, saw %d", s.path, Version, raw.Version)
	}
	for _, e := range raw.Entries {
		d.Entries[key(e.Lab, e.IMPI)] = e
	}
	return d, nil
}

func (s *Store) write(d *fileDoc) error {
	list := make([]entry, 0, len(d.Entries))
	for _, e := range d.Entries {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Lab != list[j].Lab {
			return list[i].Lab < list[j].Lab
		}
		return list[i].IMPI < list[j].IMPI
	})
	data, err := json.MarshalIndent(struct {
		Version int     `json:"version"`
		Entries []entry `json:"entries"`
	}{Version, list}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".sqn.*")
	if err != nil {
		return fmt.Errorf("sqnstate: writing %s: %v", s.path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("sqnstate: writing %s: %v", s.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sqnstate: writing %s: %v", s.path, err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("sqnstate: writing %s: %v", s.path, err)
	}
	return nil
}

// lock takes an exclusive lock on a file beside the state, so that runs
// updating it at once take turns.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(s.path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqnstate: expected to lock %s: %v", s.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("sqnstate: expected to lock %s: %v", s.path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
