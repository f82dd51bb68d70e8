package lab

import (
	"fmt"
	"imsconform/internal/tooltest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary, run again as a child, load a lab and
// print the outcome (TestIPsecWithoutRawSocketsIsOneLoadError).
const helperEnv = "IMSCONFORM_LAB_IPSEC_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		_, err := Resolve("", nil, map[string]string{"sut.ipsec": "true"})
		if err != nil {
			fmt.Print(err.Error())
			os.Exit(3)
		}
		fmt.Print("loaded")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Without CAP_NET_RAW (a root shell whose capability bounding set drops it,
// as setpriv makes one) sut.ipsec true fails when the lab loads, with one
// line naming the field, what is missing and why; with it the same lab
// loads.
func TestIPsecWithoutRawSocketsIsOneLoadError(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to drop CAP_NET_RAW for a child process")
	}
	setpriv := tooltest.Need(t, "setpriv", "util-linux")
	run := func(drop bool) (string, int) {
		args := []string{os.Args[0], "-test.run=^$"}
		cmd := exec.Command(args[0], args[1:]...)
		if drop {
			cmd = exec.Command(setpriv, append([]string{"--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"}, args...)...)
		}
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run(true)
	if code != 3 {
		t.Fatalf("without CAP_NET_RAW: exit %d, output %q; want the load error (exit 3)", code, out)
	}
	for _, want := range []string{"flag -set sut.ipsec: sut.ipsec:", "raw IP socket for ESP", "CAP_NET_RAW", "operation not permitted"} {
		if !strings.Contains(out, want) {
			t.Errorf("the load error %q does not say %q", out, want)
		}
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("the load error is more than one line:\n%s", out)
	}
	if out, code := run(false); code != 0 {
		t.Errorf("with CAP_NET_RAW: exit %d, %q; want the lab loaded", code, out)
	}
}

// sut.ipsec true needs the security agreement it comes from.
func TestIPsecNeedsSecAgree(t *testing.T) {
	_, err := Resolve("", nil, map[string]string{"sut.ipsec": "true", "sut.sec_agree": "false"})
	if err == nil || !strings.Contains(err.Error(), "expected sut.sec_agree true with sut.ipsec true") {
		t.Fatalf("Resolve = %v", err)
	}
}
