package lab

import (
	"strings"
	"testing"
)

func TestCoreNamesMayBeAddresses(t *testing.T) {
	for _, ok := range []string{"scscf1.home1.net", "127.0.0.4", "[::1]", "icscf1_p.home1.net"} {
		if p := checkNodeHost(ok, "a node host"); p != "" {
			t.Errorf("checkNodeHost(%q) = %q, want accepted", ok, p)
		}
	}
	for _, bad := range []string{"", "[127.0.0.1]", "::1", "[nothost]", "a..b", "10.0.0"} {
		if p := checkNodeHost(bad, "a node host"); p == "" || !strings.Contains(p, "expected a node host") {
			t.Errorf("checkNodeHost(%q) = %q, want refused", bad, p)
		}
	}
}
