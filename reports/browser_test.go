package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imsconform/internal/tooltest"
)

func chromium(t *testing.T) string { return tooltest.Chromium(t) }

func loadInChromium(t *testing.T, bin, file string) (dom string, console []string) {
	return tooltest.LoadInChromium(t, bin, file, 90*time.Second)
}

func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()

	// The detector itself: a page that throws must be caught.
	ctl := filepath.Join(dir, "control.html")
	os.WriteFile(ctl, []byte(`<!DOCTYPE html><p>x</p><script>throw new Error("control")</script>`), 0o644)
	if _, console := loadInChromium(t, bin, ctl); len(console) == 0 {
		t.Fatal("control page: expected Chromium to log the uncaught error, saw no console line (the check below would be blind)")
	}

	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, sampleRun()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console := loadInChromium(t, bin, page)
	if len(console) > 0 {
		t.Errorf("report.html: expected no console messages, got:\n%s", strings.Join(console, "\n"))
	}
	if !strings.Contains(dom, `id="overall"`) || !strings.Contains(dom, "<svg") {
		t.Fatalf("dumped DOM: expected the rendered report (overall verdict and ladder), got %d bytes:\n%.500s", len(dom), dom)
	}
	if !strings.Contains(dom, "Security-Server: &lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("dumped DOM: expected the hostile header value as text (&lt;script&gt;), not found")
	}
	if !strings.Contains(dom, `"&gt;&lt;img src=x onerror=alert(1)&gt;`) {
		t.Error("dumped DOM: expected the attribute breakout attempt as text, not found")
	}
	if n := strings.Count(strings.ToLower(dom), "<script"); n != 0 {
		t.Errorf("dumped DOM: expected no script element, found %d", n)
	}
	assertNoActiveContent(t, dom)
}

// The heaviest page a run can give (worstRun: a hostile SUT past every
// limit) still loads in Chromium: before the bounds, a flood gave a 111 MB
// page that Chromium had not rendered after 180 s. The 90 s of
// loadInChromium is the safety net; the size bound is the real check
// (TestHTMLIsBoundedWhateverTheSUTSends).
func TestWorstHTMLLoadsInChromium(t *testing.T) {
	bin := chromium(t)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, worstRun()); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	dom, console := loadInChromium(t, bin, page)
	t.Logf("report.html of %d bytes loaded in %s", buf.Len(), time.Since(began).Round(time.Millisecond))
	if len(console) > 0 {
		t.Errorf("expected no console messages, got:\n%s", strings.Join(console, "\n"))
	}
	if !strings.Contains(dom, `id="overall"`) || !strings.Contains(dom, `id="unrelated"`) {
		t.Errorf("dumped DOM: expected the whole report (overall verdict … unrelated traffic), got %d bytes", len(dom))
	}
}
