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

// TestCoreNameSets: a node's further names are optional (the one name is
// the default), checked like the name, and come after it, each once.
func TestCoreNameSets(t *testing.T) {
	p := Default()
	pc, ic, sc := p.Core.NameSets()
	if len(pc) != 1 || pc[0] != "pcscf1.visited1.net" || len(ic) != 1 || len(sc) != 1 || sc[0] != "scscf1.home1.net" {
		t.Fatalf("default name sets %v %v %v, want the one names", pc, ic, sc)
	}
	p.Core.SCSCFNames = []string{"127.0.0.4", "SCSCF1.home1.net", "[::1]"}
	if _, _, sc := p.Core.NameSets(); len(sc) != 3 || sc[0] != "scscf1.home1.net" || sc[1] != "127.0.0.4" || sc[2] != "[::1]" {
		t.Fatalf("name set %v, want the name, then the others once", sc)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("valid names refused: %v", err)
	}
	p.Core.PCSCFNames = []string{"pcscf.visited1.net", "a..b"}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "core.pcscf_names[1]") || !strings.Contains(err.Error(), "a further name of the P-CSCF") {
		t.Fatalf("bad name: %v", err)
	}
	c := p.Redacted()
	c.Core.PCSCFNames[0] = "changed"
	if p.Core.PCSCFNames[0] != "pcscf.visited1.net" {
		t.Fatal("Redacted shares the name list")
	}
}
