package flow

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/internal/tooltest"
)

func ipsecLab(t *testing.T) *lab.Profile {
	t.Helper()
	l := testLab(lab.Loopback(), "udp")
	tooltest.NeedRawESP(t, lab.RawESP(netip.MustParseAddr(lab.Loopback())))
	l.SUT.IPsec = true
	return l
}

// Under sut.ipsec the run links step 7 and the 200 OK to the ESP packets
// that carried them, names the agreement in its vars (the P-CSCF's ports
// and SPIs as its Security-Server announced them) and keeps the four SAs'
// esp_sa rows; without it, none of that.
func TestIPsecRun(t *testing.T) {
	r := Run(context.Background(), Options{Lab: ipsecLab(t)})
	if r.Err != nil || len(r.Missing) != 0 {
		t.Fatalf("err %v, missing %v", r.Err, r.Missing)
	}
	for _, s := range []string{"7", "10", "14"} {
		if r.Messages[s].ESP == nil {
			t.Errorf("step %s: not linked to its ESP packet", s)
		}
	}
	for _, s := range []string{"2", "5"} {
		if r.Messages[s].ESP != nil {
			t.Errorf("step %s: linked to ESP, but it went in clear", s)
		}
	}
	ss := mustParse(t, r, "5").Get("Security-Server")
	for _, k := range []string{"pcscf_port_c", "pcscf_port_s", "pcscf_spi_c", "pcscf_spi_s"} {
		name := strings.ReplaceAll(strings.TrimPrefix(k, "pcscf_"), "_", "-")
		if r.Vars[k] == "" || !strings.Contains(ss, name+"="+r.Vars[k]) {
			t.Errorf("var %s = %q, not the %s of %q", k, r.Vars[k], name, ss)
		}
	}
	if r.Messages["7"].ESP.SPI != uint32(atoi(r.Vars["pcscf_spi_s"])) {
		t.Errorf("step 7 went on SPI %d, the P-CSCF's spi-s is %s", r.Messages["7"].ESP.SPI, r.Vars["pcscf_spi_s"])
	}
	if len(r.ESPSA) != 4 || len(r.Diagnostics) != 0 {
		t.Errorf("%d esp_sa rows (want 4), diagnostics %v", len(r.ESPSA), r.Diagnostics)
	}

	clean := Run(context.Background(), Options{Lab: testLab(lab.Loopback(), "udp")})
	if len(clean.Trace.Packets()) != 0 || len(clean.ESPSA) != 0 || clean.Vars["pcscf_port_s"] != "" || clean.Messages["7"].ESP != nil {
		t.Errorf("without sut.ipsec: %d packets, %d esp_sa rows, pcscf_port_s %q", len(clean.Trace.Packets()), len(clean.ESPSA), clean.Vars["pcscf_port_s"])
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// A lab engineer is told, in one line each, why no SAs were set up (the
// P-CSCF offered nothing the UE did) and that the UE refused ESP packets.
func TestIPsecDiagnostics(t *testing.T) {
	for _, c := range []struct {
		dev  deviation.Deviation
		code string
		says string
	}{
		{deviation.Deviation{Step: "5", Action: deviation.SetParam, Header: "Security-Server", Param: "alg", Value: "hmac-md5-96"}, DiagSecAgree, "abandons the registration"},
		{deviation.Deviation{Step: "10", Action: deviation.BadICV}, DiagESPRefused, "icv"},
	} {
		r := Run(context.Background(), Options{Lab: ipsecLab(t), Deviations: []deviation.Deviation{c.dev}})
		found := false
		for _, d := range r.Diagnostics {
			found = found || (d.Code == c.code && strings.Contains(d.Message, c.says))
		}
		if !found {
			t.Errorf("%s: diagnostics %v, want %s saying %q", c.dev, r.Diagnostics, c.code, c.says)
		}
	}
}
