package tooltest

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consoleLine matches what Chromium logs for a console message or an
// uncaught exception (a CSP violation is logged as a console error too).
var consoleLine = regexp.MustCompile(`:CONSOLE|Uncaught|Refused to`)

// Chromium returns a headless-capable Chromium, or skips the test (fails it
// under Required).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium not installed (apt-get install chromium)")
	return ""
}

// LoadInChromium loads file in headless Chromium (bin) within limit, with
// no network and a profile of its own, and returns the DOM it dumps and the
// console lines it logged (console messages, uncaught exceptions, refused
// loads). Not rendering within limit fails the test.
func LoadInChromium(t testing.TB, bin, file string, limit time.Duration) (dom string, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("Chromium did not render %s within %s", file, limit)
	}
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", file, err, stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if consoleLine.MatchString(l) {
			console = append(console, l)
		}
	}
	return stdout.String(), console
}
