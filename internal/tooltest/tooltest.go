// Package tooltest finds the external programs the project's tests drive
// (tshark, chromium, sipp, xmllint, python3 modules, ...) and raw ESP
// sockets, and keeps the tests that put ESP on the wire apart. Locally a missing
// tool skips its test with a message naming the Debian package to install;
// with IMSCONFORM_REQUIRE_TOOLS=1 (as .ci/run sets it) it fails the test, so
// that CI never passes by skipping.
//
// Count reads the sizes that long tests take from the environment (how
// many UEs, how many runs), so that a script can run them at full size.
//
// It is for tests only; the harness itself needs none of these tools.
package tooltest

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Required reports whether missing tools fail tests instead of skipping them.
func Required() bool { return os.Getenv("IMSCONFORM_REQUIRE_TOOLS") == "1" }

// Need returns the path of command, or skips (fails under Required) saying
// which Debian package provides it.
func Need(t testing.TB, command, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(command)
	if err != nil {
		Missing(t, command+" not installed (apt-get install "+debianPackage+")")
	}
	return p
}

// Missing skips the test saying what is missing, or fails it under Required.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and IMSCONFORM_REQUIRE_TOOLS=1", what)
	}
	t.Skipf("%s; IMSCONFORM_REQUIRE_TOOLS=1 makes this a failure", what)
}

// Python returns the Python that has module installed (Debian's own,
// /usr/bin/python3, which Debian's python3-* packages install into, else
// the first on PATH), or skips (fails under Required) naming the package.
func Python(t testing.TB, module, debianPackage string) string {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = Need(t, "python3", "python3")
	}
	if err := exec.Command(python, "-c", "import "+module).Run(); err != nil {
		Missing(t, "python3's "+module+" is not installed (apt-get install "+debianPackage+")")
	}
	return python
}

// Count returns the count the environment variable name gives, or def when
// it is not set; a value that is not a count above 0 fails the test.
func Count(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s: expected a count above 0, got %q", name, v)
	}
	return n
}

// NeedRawESP skips the test (fails it under Required) when err, what
// lab.RawESP said of the address the test needs, is not nil: sut.ipsec
// opens raw ESP sockets, which need root or CAP_NET_RAW. Otherwise the test
// holds the ESP tests' lock (ESPAlone) until it ends.
func NeedRawESP(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		Missing(t, "sut.ipsec needs raw sockets (root or CAP_NET_RAW): "+err.Error())
	}
	ESPAlone(t)
}
