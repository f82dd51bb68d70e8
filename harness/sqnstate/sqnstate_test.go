package sqnstate

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var now = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGetPutNeverGoesBack(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), "sub", "sqn.json"))
	if _, ok, err := s.Get("lab", "user@home1.net"); ok || err != nil {
		t.Fatalf("empty store: ok %v err %v", ok, err)
	}
	if err := s.Put("lab", "user@home1.net", 0x40, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("other lab", "user@home1.net", 0x99, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("lab", "user@home1.net", 0x20, now); err != nil { // lower: kept as is
		t.Fatal(err)
	}
	if v, ok, err := s.Get("lab", "user@home1.net"); !ok || err != nil || v != 0x40 {
		t.Errorf("got %#x %v %v, want 0x40", v, ok, err)
	}
	if v, _, _ := s.Get("other lab", "user@home1.net"); v != 0x99 {
		t.Errorf("labs are kept apart: got %#x", v)
	}
	if err := s.Put("lab", "user@home1.net", MaxSQN+1, now); err == nil {
		t.Errorf("a 49-bit SQN was accepted")
	}
	data, _ := os.ReadFile(s.Path())
	if !strings.Contains(string(data), `"sqn_ms": "000000000040"`) {
		t.Errorf("file: %s", data)
	}
}

func TestConcurrentRunsLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sqn.json")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, _ := Open(path)
			if err := s.Put("lab", "impi"+string(rune('a'+i)), uint64(i+1), now); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	s, _ := Open(path)
	for i := 0; i < 20; i++ {
		if v, ok, err := s.Get("lab", "impi"+string(rune('a'+i))); !ok || err != nil || v != uint64(i+1) {
			t.Errorf("entry %d: %d %v %v", i, v, ok, err)
		}
	}
}

func TestBrokenFileIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sqn.json")
	for _, c := range []struct{ body, want string }{
		{"{", "expected the SQN state file (JSON)"},
		{`{"version": 9, "entries": []}`, "expected version 1, saw 9"},
		{`{"version": 1, "entries": [{"lab": "l", "impi": "i", "sqn_ms": "zz"}]}`, `expected sqn_ms of 12 hex digits for i in lab "l", saw "zz"`},
	} {
		os.WriteFile(path, []byte(c.body), 0o600)
		s, _ := Open(path)
		if _, _, err := s.Get("l", "i"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	if p, _ := DefaultPath(); p != "/xdg/state/imsconform/sqn.json" {
		t.Errorf("XDG_STATE_HOME: %s", p)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/qa")
	if p, _ := DefaultPath(); p != "/home/qa/.local/state/imsconform/sqn.json" {
		t.Errorf("HOME: %s", p)
	}
}
