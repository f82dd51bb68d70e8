package kamailio

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imsconform/harness/diameter"
	"imsconform/harness/flow"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
	"imsconform/internal/tooltest"
)

// requireKamailio skips the test when Kamailio is not installed, unless
// IMSCONFORM_REQUIRE_TOOLS=1, when it fails.
func requireKamailio(t *testing.T) {
	t.Helper()
	if Installed() {
		return
	}
	tooltest.Missing(t, "kamailio not installed (apt-get install kamailio kamailio-ims-modules kamailio-presence-modules)")
}

// processesIn lists the ids of live processes whose command line names dir
// (every Kamailio the lab starts has "-w dir").
func processesIn(t *testing.T, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil {
			// Field 3, after the parenthesised command name, is the state.
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
				continue // a zombie: ended, only not yet reaped by its new parent
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

func TestWriteConfigsHoldNoKeyMaterial(t *testing.T) {
	dir := t.TempDir()
	p := lab.DefaultFor("127.0.0.1")
	files, err := WriteConfigs(Config{Lab: p}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 8 {
		t.Errorf("expected 8 files (3 cfg, 2 xml, 3 tables), got %d: %v", len(files), files)
	}
	secrets := []string{p.Subscriber.K.Reveal(), p.Subscriber.OP.Reveal()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(strings.ToLower(string(b)), strings.ToLower(s)) {
				t.Errorf("%s: expected no key material, found a subscriber key", f)
			}
		}
	}
	want := map[string][]string{
		"pcscf.cfg": {"listen=udp:127.0.0.2:5060", "listen=tcp:127.0.0.2:5060", "Path: <sip:term@127.0.0.2;lr>", `$du = "sip:127.0.0.3:5060"`},
		"icscf.cfg": {"listen=udp:127.0.0.3:5060", "text://" + dir + "/db", `$du = "sip:127.0.0.4:5060"`},
		"scscf.cfg": {"listen=udp:127.0.0.4:5060", `"scscf_name", "sip:127.0.0.4:5060"`, `save("PRE_REG_SAR_REPLY", "location", "0", "1")`, `isc_match_filter_reg("0", "location")`},
		"icscf.xml": {`<Peer FQDN="127.0.0.5" Realm="home1.net" port="3868" src_addr="127.0.0.3"/>`, `Tc="2"`},
		"scscf.xml": {`FQDN="` + SCSCFName + `"`, `src_addr="127.0.0.4"`},
		"db/s_cscf": {`1:` + SCSCFName + `:sip\:127.0.0.4\:5060`},
	}
	expectContents(t, dir, want)
}

func TestConfigRejectsMixedFamiliesAndSharedAddresses(t *testing.T) {
	for name, c := range map[string]Config{
		"mixed families": {Addrs: Addrs{ICSCF: netip.MustParseAddr("::1")}},
		"shared":         {Addrs: Addrs{SCSCF: DefaultPCSCF}},
		"vcc app shared": {Addrs: Addrs{VCCApp: DefaultSCSCF}},
		"unspecified":    {Addrs: Addrs{PCSCF: netip.IPv4Unspecified()}},
		"badport":        {SIPPort: 70000},
	} {
		if _, err := WriteConfigs(c, t.TempDir()); err == nil {
			t.Errorf("%s: expected an error, got none", name)
		}
	}
}

// expectContents requires each file under dir to contain its substrings.
func expectContents(t *testing.T, dir string, want map[string][]string) {
	t.Helper()
	for f, subs := range want {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if !strings.Contains(string(b), s) {
				t.Errorf("%s: expected it to contain %q, it does not", f, s)
			}
		}
	}
}

// TestWriteConfigsOnIPv6 writes the configurations of a lab on documentation
// addresses (as in a network namespace): IPv6 in brackets wherever SIP has
// it, bare where cdp resolves it.
func TestWriteConfigsOnIPv6(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	c := Config{Addrs: Addrs{PCSCF: a("2001:db8:c::2"), ICSCF: a("2001:db8:c::3"), SCSCF: a("2001:db8:c::4"),
		HSS: a("2001:db8:c::100"), VCCApp: a("2001:db8:c::100"), UE: a("2001:db8:c::100")}}
	dir := t.TempDir()
	if _, err := WriteConfigs(c, dir); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pcscf.cfg": {"listen=udp:[2001:db8:c::2]:5060", "listen=tcp:[2001:db8:c::2]:5060", "Path: <sip:term@[2001:db8:c::2];lr>", `$du = "sip:[2001:db8:c::3]:5060"`, `"pcscf_uri", "sip:[2001:db8:c::2]:5060"`},
		"scscf.cfg": {`"scscf_name", "sip:[2001:db8:c::4]:5060"`, `"cxdx_forced_peer", "2001:db8:c::100"`, `"my_uri", "[2001:db8:c::4]:5060"`},
		"icscf.xml": {`<Peer FQDN="2001:db8:c::100" Realm="home1.net" port="3868" src_addr="2001:db8:c::3"/>`},
		"db/s_cscf": {`1:` + SCSCFName + `:sip\:[2001\:db8\:c\:\:4]\:5060`},
	}
	expectContents(t, dir, want)
	l := &Lab{cfg: c.withDefaults()}
	o := l.Overrides()
	for k, v := range map[string]string{"sut.pcscf": "[2001:db8:c::2]:5060", "core.scscf_name": "[2001:db8:c::4]",
		"hss.listen": "[2001:db8:c::100]:3868", "vcc_app.listen": "[2001:db8:c::100]:5060", "vcc_app.uri": "sip:[2001:db8:c::100]:5060",
		"hss.server_name": "sip:[2001:db8:c::4]:5060", "ue.address": "2001:db8:c::100"} {
		if o[k] != v {
			t.Errorf("Overrides()[%s] = %q, want %q", k, o[k], v)
		}
	}
	if err := lab.DefaultFor("::1").Override(o); err != nil {
		t.Errorf("the overrides do not make a valid profile: %v", err)
	}
}

// TestRegistrationAgainstKamailio brings the lab up, runs the registration
// flow against its P-CSCF with the harness playing the HSS from the
// profile's hss section, and checks that every step was captured, that the
// third-party REGISTER came from the S-CSCF, that the HSS saw UAR, MAR and
// SAR, that the run de-registered, and that nothing the lab started is left
// afterwards.
func TestRegistrationAgainstKamailio(t *testing.T) {
	requireKamailio(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := Start(ctx, Config{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			l.Stop()
		}
	}()
	if len(l.PIDs()) != 3 {
		t.Fatalf("expected 3 Kamailio processes, got %v", l.PIDs())
	}

	p := l.Profile()
	res := flow.Run(ctx, flow.Options{Lab: p})
	if res.Err != nil {
		t.Fatalf("flow: %v", res.Err)
	}
	for _, s := range flow.Steps {
		if _, ok := res.Messages[s]; !ok {
			t.Errorf("step %s: expected it captured, it is missing: %s", s, res.Missing[s])
		}
	}
	if m, ok := res.Messages["11"]; ok {
		want := netip.AddrPortFrom(DefaultSCSCF, DefaultSIPPort)
		if m.Src != want {
			t.Errorf("step 11: expected the REGISTER from the S-CSCF %s, got it from %s", want, m.Src)
		}
		if !strings.HasPrefix(string(m.Raw), "REGISTER ") {
			t.Errorf("step 11: expected a REGISTER, got %q", firstLine(m.Raw))
		}
	}
	if m, ok := res.Messages["10"]; ok && !strings.HasPrefix(string(m.Raw), "SIP/2.0 200") {
		t.Errorf("step 10: expected a 200 OK, got %q", firstLine(m.Raw))
	}
	if got := res.Facts["12.accepted"]; got != "true" {
		t.Errorf("step 12: expected the VCC Application to accept the REGISTER, got %q", got)
	}
	cx := map[uint32]int{}
	for _, m := range res.Trace.Messages() {
		if h, err := diameter.ParseHeader(m.Raw); m.Proto == trace.Diameter && err == nil && m.Dir == trace.Received && h.Flags&diameter.FlagRequest != 0 {
			cx[h.Code]++
		}
	}
	for code, name := range map[uint32]string{diameter.CmdUserAuthorization: "UAR", diameter.CmdMultimediaAuth: "MAR", diameter.CmdServerAssignment: "SAR"} {
		if cx[code] == 0 {
			t.Errorf("Cx: expected the HSS to receive a %s, saw none (commands seen: %v)", name, cx)
		}
	}
	for _, s := range flow.CxSteps {
		if _, ok := res.Messages[s]; !ok {
			t.Errorf("Cx step %s: expected it captured, it is missing: %s", s, res.Missing[s])
		}
	}
	if d := res.Deregistration; d == nil || d.Status != 200 {
		t.Errorf("de-registration: expected a 200 OK, got %+v", d)
	}
	if len(res.Diagnostics) > 0 {
		t.Errorf("expected no diagnostic, got %v", res.Diagnostics)
	}
	if t.Failed() {
		for role, path := range l.Logs() {
			t.Logf("%s log tail:\n%s", role, logTail(path, 15))
		}
	}

	pids := l.PIDs()
	if err := l.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	stopped = true
	if err := l.Stop(); err != nil {
		t.Errorf("second stop: expected it to do nothing, got %v", err)
	}
	if left := processesIn(t, dir); len(left) > 0 {
		t.Errorf("expected no process of the lab left after Stop, found pids %v", left)
	}
	for role, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
			if stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); !strings.Contains(string(stat), ") Z") {
				t.Errorf("%s: expected pid %d gone after Stop, it is still there", role, pid)
			}
		}
	}
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
