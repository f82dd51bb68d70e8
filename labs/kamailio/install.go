package kamailio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Modules are the Kamailio modules the lab's configurations load that come
// from the IMS and presence packages.
var Modules = []string{"cdp", "cdp_avp", "ims_icscf", "ims_auth", "ims_isc", "ims_dialog",
	"ims_usrloc_scscf", "ims_registrar_scscf", "ims_usrloc_pcscf", "ims_registrar_pcscf",
	"ims_ipsec_pcscf", "presence", "db_text", "debugger"}

// ErrNotInstalled is returned (wrapped) when kamailio or one of Modules is
// missing and Config.Install is not set.
var ErrNotInstalled = errors.New("kamailio is not installed: apt-get install " + strings.Join(Packages, " "))

// moduleDirs are where Debian and source builds put Kamailio's modules.
func moduleDirs() []string {
	var dirs []string
	for _, g := range []string{"/usr/lib/*/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/lib64/kamailio/modules", "/usr/local/lib*/kamailio/modules"} {
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	return dirs
}

// missing returns the kamailio binary's path ("" when not found) and the
// modules not found.
func missing() (string, []string) {
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		for _, p := range []string{"/usr/sbin/kamailio", "/usr/local/sbin/kamailio"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
				break
			}
		}
	}
	dirs := moduleDirs()
	var absent []string
	for _, m := range Modules {
		found := false
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, m+".so")); err == nil {
				found = true
				break
			}
		}
		if !found {
			absent = append(absent, m)
		}
	}
	return bin, absent
}

// Installed reports whether kamailio and every module the lab loads are
// present.
func Installed() bool {
	bin, absent := missing()
	return bin != "" && len(absent) == 0
}

// Find returns the kamailio binary, installing Packages with apt-get first
// when something is missing and install is set.
func Find(ctx context.Context, install bool, logf func(string, ...any)) (string, error) {
	bin, absent := missing()
	if bin != "" && len(absent) == 0 {
		return bin, nil
	}
	what := "kamailio"
	if bin != "" {
		what = "Kamailio modules " + strings.Join(absent, ", ")
	}
	if !install {
		return "", fmt.Errorf("kamailio: expected %s, found none: %w", what, ErrNotInstalled)
	}
	logf("kamailio: %s missing: installing %s with apt-get", what, strings.Join(Packages, " "))
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kamailio: apt-get %s: expected success, got %v; its output ends:\n%s", strings.Join(args, " "), err, tail(out.String(), 15))
		}
		return nil
	}
	if err := run("update"); err != nil {
		return "", err
	}
	if err := run(append([]string{"install", "-y"}, Packages...)...); err != nil {
		return "", err
	}
	bin, absent = missing()
	if bin == "" || len(absent) > 0 {
		return "", fmt.Errorf("kamailio: after apt-get install, expected kamailio and modules %s, still missing: binary found %v, modules %v", strings.Join(Modules, ", "), bin != "", absent)
	}
	return bin, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var reVersion = regexp.MustCompile(`kamailio ([0-9]+\.[0-9]+\.[0-9]+)`)

// Version returns the version the kamailio binary at bin reports ("5.6.3"),
// or "" when it says none.
func Version(bin string) string {
	out, err := exec.Command(bin, "-v").Output()
	if err != nil {
		return ""
	}
	if m := reVersion.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
