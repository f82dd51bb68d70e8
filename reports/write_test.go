package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	want := Paths{Dir: dir, JSON: filepath.Join(dir, "report.json"), HTML: filepath.Join(dir, "report.html"), Pcap: filepath.Join(dir, "trace.pcap")}
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
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := WriteAll(filepath.Join(file, "sub"), sampleRun()); err == nil {
		t.Error("WriteAll under a regular file: expected an error creating the directory, got nil")
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
