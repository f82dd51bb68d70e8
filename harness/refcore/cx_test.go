package refcore

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/diameter"
	hemu "imsconform/harness/hss"
	"imsconform/harness/lab"
)

type cxEnv struct {
	*env
	hss *hemu.HSS
	mu  sync.Mutex
	got []diameter.Capture
}

// requests returns the command codes of the requests the HSS received.
func (e *cxEnv) requests() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []uint32
	for _, c := range e.got {
		h, err := diameter.ParseHeader(c.Raw)
		if err == nil && c.Received && h.Flags&diameter.FlagRequest != 0 && h.ApplicationID == diameter.AppCx {
			out = append(out, h.Code)
		}
	}
	return out
}

func (e *cxEnv) request(code uint32, n int) *diameter.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.got {
		h, err := diameter.ParseHeader(c.Raw)
		if err == nil && c.Received && h.Code == code && h.Flags&diameter.FlagRequest != 0 {
			if n == 0 {
				m, _ := diameter.Unmarshal(c.Raw)
				return m
			}
			n--
		}
	}
	return nil
}

// setupCx starts the HSS emulator and a core that queries it over Cx.
// mod edits the HSS's config.
func setupCx(t *testing.T, network, host string, ds []deviation.Deviation, mod func(*hemu.Config)) *cxEnv {
	t.Helper()
	p := lab.DefaultFor(host)
	e := &cxEnv{}
	cfg, err := hemu.ConfigFromProfile(p, "hss.home1.net", "home1.net")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Observer = func(c diameter.Capture) {
		e.mu.Lock()
		e.got = append(e.got, c)
		e.mu.Unlock()
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := hemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve(ln)
	t.Cleanup(func() { h.Close() })
	e.hss = h
	vcc := startVCC(t, network, host)
	core, err := Start(context.Background(), Config{Lab: p, Host: host, Transport: network, VCCApp: vcc.addr, Deviations: ds,
		HSS: ln.Addr().(*net.TCPAddr).AddrPort()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	e.env = &env{core: core, vcc: vcc, ue: newUE(t, network, host, core.PCSCF(), p), lab: p}
	return e
}

func TestCxCleanFlow(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		for _, host := range hosts(t) {
			t.Run(network+"/"+host, func(t *testing.T) {
				e := setupCx(t, network, host, nil, nil)
				_, r := e.flow(t, "")
				if r.StatusCode != 200 {
					t.Fatalf("expected 200, got %q", r.StartLine)
				}
				want := []uint32{diameter.CmdUserAuthorization, diameter.CmdMultimediaAuth, diameter.CmdUserAuthorization, diameter.CmdServerAssignment}
				if got := e.requests(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
					t.Errorf("expected UAR, MAR, UAR, SAR at the HSS, got %v", got)
				}
				if got := e.hss.AssignedServer(); got != "sip:scscf1.home1.net" {
					t.Errorf("expected the SAR to store sip:scscf1.home1.net, got %q", got)
				}
				if i, s := e.core.DiameterHosts(); i != "icscf1_p.home1.net" || s != "scscf1.home1.net" {
					t.Errorf("DiameterHosts: got %q %q", i, s)
				}
				if got := r.Get("P-Associated-URI"); got != "<sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>, <sip:user1_public3@home1.net>, <tel:+1-212-555-1111>" {
					t.Errorf("P-Associated-URI: expected the SAA profile's IMPUs, got %q", got)
				}
				if got := e.vcc.wait(t, 1, 3*time.Second); len(got) != 1 {
					t.Errorf("step 11: expected one REGISTER at the VCC App, got %d", len(got))
				}
				uar := e.request(diameter.CmdUserAuthorization, 0)
				if a, ok := uar.Find(diameter.AVPVisitedNetworkIdentifier, diameter.Vendor3GPP); !ok || string(a.Data) != "visited1.net" {
					t.Error("UAR: expected Visited-Network-Identifier visited1.net")
				}
			})
		}
	}
}

func TestCxStaleSQN(t *testing.T) {
	e := setupCx(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "5", Action: deviation.StaleSQN}}, func(c *hemu.Config) {
		vs, err := hemu.StaleFirst(lab.Default().Subscriber, c.Vectors)
		if err != nil {
			t.Fatal(err)
		}
		c.Vectors = vs
	})
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	_, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("expected a synchronisation failure at the UE, got %v", err)
	}
	d, _ := digestParams(r401.Get("WWW-Authenticate"))
	e.ue.send(e.ue.register(true, `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="`+d["nonce"]+`", algorithm=AKAv1-MD5, uri="sip:registrar.home1.net", response="", auts="`+base64Std(sf.AUTS[:])+`"`, 600000), true)
	r2 := e.ue.mustRecv(true)
	if r2.StatusCode != 401 {
		t.Fatalf("expected a new 401 after AUTS, got %q", r2.StartLine)
	}
	auth, err := e.ue.answer(r2.Get("WWW-Authenticate"), "")
	if err != nil {
		t.Fatalf("expected the re-challenge to be fresh, got %v", err)
	}
	e.ue.send(e.ue.register(true, auth, 600000), true)
	if r := e.ue.mustRecv(true); r.StatusCode != 200 {
		t.Errorf("expected 200 after re-synchronisation, got %q", r.StartLine)
	}
	resync := e.request(diameter.CmdMultimediaAuth, 1)
	if resync == nil {
		t.Fatal("expected a second MAR")
	}
	item, _ := resync.Find(diameter.AVPSIPAuthDataItem, diameter.Vendor3GPP)
	ms, _ := item.Group()
	n, _ := aka.ParseNonce(d["nonce"])
	want := append(append([]byte{}, n.RAND[:]...), sf.AUTS[:]...)
	if a, ok := diameter.FindAVP(ms, diameter.AVPSIPAuthorization, diameter.Vendor3GPP); !ok || string(a.Data) != string(want) {
		t.Error("resync MAR: expected SIP-Authorization = RAND ‖ AUTS")
	}
}

func TestCxBadMAC(t *testing.T) {
	e := setupCx(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "5", Action: deviation.BadMAC}}, nil)
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	if _, err := e.ue.answer(r401.Get("WWW-Authenticate"), ""); !errors.Is(err, aka.ErrMACFailure) {
		t.Fatalf("expected the UE to see a MAC failure, got %v", err)
	}
}

func TestCxFailures(t *testing.T) {
	t.Run("user unknown to the HSS", func(t *testing.T) {
		e := setupCx(t, "udp", "127.0.0.1", nil, func(c *hemu.Config) { c.Subscriber.IMPI = "someone_else@home1.net" })
		e.ue.send(e.ue.register(false, initialAuth, 600000), false)
		if r := e.ue.mustRecv(false); r.StatusCode != 403 {
			t.Errorf("expected 403 after DIAMETER_ERROR_USER_UNKNOWN, got %q", r.StartLine)
		}
	})
	t.Run("S-CSCF the core does not have", func(t *testing.T) {
		e := setupCx(t, "udp", "127.0.0.1", nil, func(c *hemu.Config) { c.ServerName = "sip:scscf9.elsewhere.net" })
		e.ue.send(e.ue.register(false, initialAuth, 600000), false)
		if r := e.ue.mustRecv(false); r.StatusCode != 500 {
			t.Errorf("expected 500, got %q", r.StartLine)
		}
	})
	for _, step := range []string{"3.UAR", "3.MAR", "8.UAR", "9.SAR"} {
		t.Run(step+" no-answer", func(t *testing.T) {
			e := setupCx(t, "tcp", "127.0.0.1", []deviation.Deviation{{Step: step, Action: deviation.NoAnswer}}, nil)
			e.ue.send(e.ue.register(false, initialAuth, 600000), false)
			r := e.ue.mustRecv(false)
			if strings.HasPrefix(step, "3.") {
				if r.StatusCode != 480 {
					t.Errorf("expected 480 to the REGISTER of step 2, got %q", r.StartLine)
				}
				return
			}
			auth, _ := e.ue.answer(r.Get("WWW-Authenticate"), "")
			e.ue.send(e.ue.register(true, auth, 600000), true)
			if r := e.ue.mustRecv(true); r.StatusCode != 480 {
				t.Errorf("expected 480 to the REGISTER of step 7, got %q", r.StartLine)
			}
		})
	}
}

func TestCxStart(t *testing.T) {
	p := lab.DefaultFor("127.0.0.1")
	if _, err := Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", HSS: netip.MustParseAddrPort("192.0.2.1:3868")}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("expected a loopback error, got %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close() // nothing listens there now
	_, err = Start(context.Background(), Config{Lab: p, Host: "127.0.0.1", Transport: "udp", HSS: addr, CxWait: 500 * time.Millisecond, Tc: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "I-CSCF") || !strings.Contains(err.Error(), "S-CSCF") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("expected a connection error naming the I-CSCF, the S-CSCF and the refused connection, got %v", err)
	}
}

// TestCxLate: with 3.MAR/late the 401 goes out before any MAR (its vector
// is the core's own) and the MAR follows the UE's answer; with 9.SAR/late
// the 200 OK goes out before the SAR, which still comes before step 11.
// Either way the registration succeeds.
func TestCxLate(t *testing.T) {
	count := func(e *cxEnv, code uint32) int {
		n := 0
		for _, c := range e.requests() {
			if c == code {
				n++
			}
		}
		return n
	}
	t.Run("3.MAR", func(t *testing.T) {
		e := setupCx(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: deviation.StepMAR3, Action: deviation.Late}}, nil)
		e.ue.send(e.ue.register(false, initialAuth, 600000), false)
		r401 := e.ue.mustRecv(false)
		if n := count(e, diameter.CmdMultimediaAuth); r401.StatusCode != 401 || n != 0 {
			t.Fatalf("expected a 401 before any MAR, got %q after %d MARs", r401.StartLine, n)
		}
		auth, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
		if err != nil {
			t.Fatalf("the core's own vector: %v", err)
		}
		e.ue.send(e.ue.register(true, auth, 600000), true)
		if r := e.ue.mustRecv(true); r.StatusCode != 200 {
			t.Fatalf("expected 200, got %q", r.StartLine)
		}
		if n := count(e, diameter.CmdMultimediaAuth); n != 1 {
			t.Errorf("expected the MAR after the UE's answer, got %d MARs", n)
		}
	})
	t.Run("9.SAR", func(t *testing.T) {
		e := setupCx(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: deviation.StepSAR9, Action: deviation.Late}}, nil)
		_, r := e.flow(t, "")
		if r.StatusCode != 200 {
			t.Fatalf("expected 200, got %q", r.StartLine)
		}
		if got := e.vcc.wait(t, 1, 3*time.Second); len(got) != 1 {
			t.Fatalf("step 11: expected one REGISTER at the VCC App, got %d", len(got))
		}
		if n := count(e, diameter.CmdServerAssignment); n != 1 {
			t.Errorf("expected the SAR before step 11, got %d SARs", n)
		}
	})
}
