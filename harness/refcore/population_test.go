package refcore

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/ue"
)

// The in-memory HSS provisions the lab's population: each member registers
// with its own (derived) keys and gets its own implicit set; an identity
// past the population is forbidden; the lab's subscriber still registers.
func TestPopulationRegistersThroughTheCore(t *testing.T) {
	l := lab.DefaultFor("127.0.0.1")
	l.Subscribers.Count = 30
	l.Subscribers.Keys = "derived"
	l.Timeouts.Step = 5 * time.Second
	vcc := startVCC(t, "udp", "127.0.0.1")
	core, err := Start(context.Background(), Config{Lab: l, Host: "127.0.0.1", Transport: "udp", VCCApp: vcc.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	set, err := l.Population(0)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := ue.NewPorts(ue.Options{Lab: l, PCSCF: core.PCSCF(), Untraced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ports.Close()
	ctx := context.Background()
	for _, i := range []int{0, 1, 29} {
		u, err := ports.UE(ue.Member{IMPI: set.IMPI(i), IMPU: set.IMPU(i), Milenage: set.Milenage(i), ContactUser: "u" + set.IMPI(i)[4:10]})
		if err != nil {
			t.Fatal(err)
		}
		reg, err := u.Register(ctx)
		if err != nil {
			t.Fatalf("member %d: %v (%v)", i, err, reg)
		}
		m, err := sipmsg.Parse(reg.Final.Raw)
		if err != nil {
			t.Fatal(err)
		}
		pau := m.Get("P-Associated-URI")
		for _, impu := range set.IMPUs(i) {
			if !strings.Contains(pau, "<"+impu+">") {
				t.Errorf("member %d: P-Associated-URI %q lacks %s", i, pau, impu)
			}
		}
		if c := m.Get("Contact"); !strings.Contains(c, "sip:u"+set.IMPI(i)[4:10]+"@") {
			t.Errorf("member %d: the 200 OK's Contact %q is not its own binding", i, c)
		}
		if _, err := u.Reregister(ctx, reg); err != nil {
			t.Errorf("member %d: re-registration: %v", i, err)
		}
	}
	// Past the population, and a member with another's keys.
	past, err := ports.UE(ue.Member{IMPI: "user000031_private@home1.net", IMPU: "sip:user000031_public1@home1.net", Milenage: set.Milenage(0)})
	if err != nil {
		t.Fatal(err)
	}
	if reg, err := past.Register(ctx); err == nil || reg.Status != 403 {
		t.Errorf("an identity past the population: %v, status %d; want 403 Forbidden", err, reg.Status)
	}
	wrong, err := ports.UE(ue.Member{IMPI: set.IMPI(2), IMPU: set.IMPU(2), Milenage: set.Milenage(3)})
	if err != nil {
		t.Fatal(err)
	}
	if reg, err := wrong.Register(ctx); err == nil || reg.AUTN != ue.AUTNBadMAC {
		t.Errorf("member 2 with member 3's keys: %v, AUTN %q; want the UE to refuse the 401's AUTN", err, reg.AUTN)
	}
	// The lab's own subscriber is still served.
	own, err := ue.New(ue.Options{Lab: l, PCSCF: core.PCSCF(), Host: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if _, err := own.Register(ctx); err != nil {
		t.Errorf("the lab subscriber: %v", err)
	}
}

// A core whose HSS serves a population keeps a registration for each of
// its subscribers at once (a load run holds them all registered); without
// one, and with a limit set, the limits stay as given.
func TestPopulationSizesTheRegistrations(t *testing.T) {
	for _, c := range []struct {
		count, limit, want int
	}{{0, 0, DefaultMaxRegistrations}, {10000, 0, 10001}, {10000, 500, 500}, {100, 0, DefaultMaxRegistrations}} {
		l := lab.DefaultFor("127.0.0.1")
		l.Subscribers.Count = c.count
		core, err := Start(context.Background(), Config{Lab: l, Host: "127.0.0.1", Transport: "udp", Limits: Limits{MaxRegistrations: c.limit}})
		if err != nil {
			t.Fatal(err)
		}
		got := []int{core.regs.max, core.routes.max, core.impus.max}
		core.Close()
		for _, g := range got {
			if g != c.want {
				t.Errorf("population %d, MaxRegistrations %d: expected tables of %d registrations, got %v", c.count, c.limit, c.want, got)
				break
			}
		}
	}
}
