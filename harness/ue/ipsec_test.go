package ue_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/secagree"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
	"imsconform/harness/ue"
	"imsconform/internal/tooltest"
)

// ipsecLab is a lab with real IPsec on host, or skips without raw sockets
// (fails under IMSCONFORM_REQUIRE_TOOLS=1).
func ipsecLab(t testing.TB, host, transport string) *lab.Profile {
	t.Helper()
	tooltest.NeedRawESP(t, lab.RawESP(netip.MustParseAddr(host)))
	l := lab.DefaultFor(host)
	l.SUT.IPsec, l.SUT.Transport = true, transport
	l.Timeouts.Step = 5 * time.Second
	return l
}

func startCore(t testing.TB, l *lab.Profile, host string, devs ...deviation.Deviation) *refcore.Core {
	t.Helper()
	c, err := refcore.Start(context.Background(), refcore.Config{Lab: l, Host: host, Transport: l.SUT.Transport, Deviations: devs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newIPsecUE(t testing.TB, l *lab.Profile, c *refcore.Core, o ue.Options) *ue.UE {
	t.Helper()
	o.Lab, o.PCSCF = l, c.PCSCF()
	u, err := ue.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func parseMsg(t *testing.T, m *trace.Message) *sipmsg.Message {
	t.Helper()
	if m == nil {
		t.Fatal("expected a message, got none")
	}
	p, err := sipmsg.Parse(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Against the reference core's P-CSCF, over UDP and TCP, IPv4 and IPv6:
// the UE announces its lease in Security-Client, takes the P-CSCF's
// Security-Server, makes the four SAs with its ports and SPIs, sends step 7
// from port-c to the P-CSCF's port-s inside ESP, and gets the 200 OK on
// the SA at port-c; a re-registration and the de-registration run over the
// same SAs. Once closed, it holds no SA.
func TestIPsecRegistration(t *testing.T) {
	for _, host := range []string{"::1", "127.0.0.1"} {
		for _, tp := range []string{"udp", "tcp"} {
			t.Run(tp+"/"+host, func(t *testing.T) {
				l := ipsecLab(t, host, tp)
				c := startCore(t, l, host)
				u := newIPsecUE(t, l, c, ue.Options{})
				reg, err := u.Register(context.Background())
				if err != nil {
					t.Fatalf("Register: %v (%s)", err, reg.Why)
				}
				a := u.Addrs()
				p2 := parseMsg(t, reg.Initial)
				client, err := secagree.ParseValues([]string{p2.Get("Security-Client")})
				if err != nil || len(client) != 1 || client[0].PortC != a.PortC || client[0].PortS != a.PortS || client[0].SPIC != a.SPIC || client[0].SPIS != a.SPIS {
					t.Fatalf("Security-Client %q (%v) does not announce the UE's lease %+v", p2.Get("Security-Client"), err, a)
				}
				server, _ := secagree.ParseValues(reg.SecurityServer)
				if reg.SA == nil || len(server) != 1 || reg.SA.Remote != server[0].Side(c.PCSCF().Addr()) || reg.SA.Local.SPIC != a.SPIC {
					t.Fatalf("agreement %+v, Security-Server %v", reg.SA, reg.SecurityServer)
				}
				if reg.Authorized.Src.Port() != a.PortC || reg.Authorized.Dst.Port() != reg.SA.Remote.PortS || reg.Final.Dst.Port() != a.PortC || reg.Final.Src.Port() != reg.SA.Remote.PortS {
					t.Errorf("step 7 %s→%s, 200 OK %s→%s; want port-c %d ↔ the P-CSCF's port-s %d", reg.Authorized.Src, reg.Authorized.Dst, reg.Final.Src, reg.Final.Dst, a.PortC, reg.SA.Remote.PortS)
				}
				if p7 := parseMsg(t, reg.Authorized); p7.Get("Security-Verify") != reg.SecurityServer[0] {
					t.Errorf("Security-Verify %q, want the Security-Server %q", p7.Get("Security-Verify"), reg.SecurityServer[0])
				}
				if n := len(u.SAs()); n != 4 {
					t.Errorf("%d SAs, want 4", n)
				}
				if _, err := u.Reregister(context.Background(), reg); err != nil {
					t.Fatalf("Reregister: %v", err)
				}
				if _, err := u.Deregister(context.Background(), reg); err != nil {
					t.Fatalf("Deregister: %v", err)
				}
				u.Close()
				tr := u.Trace()
				tr.LinkESP()
				var protected []trace.Message
				for _, m := range tr.Messages() {
					if m.Role == ue.Role && m.ESP != nil {
						protected = append(protected, m)
					}
					if m.Role == ue.Role && m.ESP == nil && (m.Src.Port() == a.PortC || m.Dst.Port() == a.PortC) {
						t.Errorf("message %d %s→%s went in clear over port-c", m.Seq, m.Src, m.Dst)
					}
				}
				if len(protected) < 6 {
					t.Errorf("%d messages inside ESP, want step 7, the 200 OK, and the re- and de-registrations", len(protected))
				}
				for _, p := range tr.Packets() {
					if p.Refusal != "" {
						t.Errorf("ESP packet %d refused: %s", p.Seq, p.Err)
					}
				}
				if n := len(u.SAs()); n != 0 {
					t.Errorf("%d SAs after Close", n)
				}
				if n := len(u.ESPSA()); n != 4 {
					t.Errorf("%d esp_sa rows, want the 4 SAs made", n)
				}
			})
		}
	}
}

// On every way out — the P-CSCF's 403, a bad AUTN (no SAs made), the
// REGISTER of step 7 refused in clear, a success — Close removes every SA
// the UE made and gives its ports and SPIs back: the shared stack holds
// none of them after, and the same ports and SPIs can be claimed again.
func TestIPsecEveryExitRemovesTheSAs(t *testing.T) {
	host := lab.Loopback()
	for _, tc := range []struct {
		name string
		devs []deviation.Deviation
		ok   bool
	}{
		{"registered", nil, true},
		{"403", []deviation.Deviation{{Step: "10", Action: deviation.Reject403}}, false},
		{"bad MAC", []deviation.Deviation{{Step: "5", Action: deviation.BadMAC}}, false},
		{"step 7 in clear", []deviation.Deviation{{Step: "7", Action: deviation.InClear}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ipsecLab(t, host, "udp")
			l.Timeouts.Step = time.Second
			c := startCore(t, l, host, tc.devs...)
			st, err := esp.NewStack(esp.Config{Addr: netip.MustParseAddr(host)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u := newIPsecUE(t, l, c, ue.Options{ESP: st, Deviations: tc.devs})
			reg, err := u.Register(context.Background())
			if (err == nil) != tc.ok {
				t.Fatalf("Register: %v (%s), want success %v", err, reg.Why, tc.ok)
			}
			a := u.Addrs()
			u.Close()
			if n := len(st.SAs()); n != 0 {
				t.Errorf("%d SAs left on the stack: %v", n, st.SAs())
			}
			l2, err := st.Claim(esp.Side{PortC: a.PortC, PortS: a.PortS, SPIC: a.SPIC, SPIS: a.SPIS})
			if err != nil {
				t.Errorf("the UE's ports and SPIs are still held: %v", err)
			} else {
				l2.Release()
			}
		})
	}
}

// A REGISTER sent in clear to the P-CSCF's protected server port is
// refused, as a P-CSCF under IPsec refuses it: over UDP the kernel, which
// has no socket there, answers with ICMP port unreachable, over TCP with a
// reset, and the UE's exchange ends at once.
func TestIPsecClearRegisterToPortSIsRefused(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			host := lab.Loopback()
			l := ipsecLab(t, host, tp)
			c := startCore(t, l, host)
			dev := deviation.Deviation{Step: "7", Action: deviation.InClear}
			u := newIPsecUE(t, l, c, ue.Options{Deviations: []deviation.Deviation{dev}})
			start := time.Now()
			reg, err := u.Register(context.Background())
			var ue *transport.UnreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("Register: %v (%s); want the clear REGISTER refused (unreachable)", err, reg.Why)
			}
			if ue.Addr.Port() != reg.SA.Remote.PortS || reg.Final != nil {
				t.Fatalf("refused at %s, final %v: want port-s %d refusing and no answer", ue.Addr, reg.Final, reg.SA.Remote.PortS)
			}
			// Over UDP the datagram left; over TCP the connection was
			// refused before a byte of it.
			if sent := reg.Authorized != nil; sent != (tp == "udp") {
				t.Errorf("step 7 recorded as sent: %v, over %s", sent, tp)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the refusal took %s, want it at once", d)
			}
		})
	}
}

// A REGISTER with Security-Verify that comes in clear to the unprotected
// port is answered 403, with a Warning saying it did not come over the SAs.
func TestIPsecSecurityVerifyInClearIsForbidden(t *testing.T) {
	host := lab.Loopback()
	l := ipsecLab(t, host, "udp")
	c := startCore(t, l, host)
	tl := transport.New(transport.Options{})
	defer tl.Close()
	e, err := tl.Listen(context.Background(), netip.AddrPortFrom(netip.MustParseAddr(host), 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := e.Addr().Addr().String()
	if strings.Contains(hs, ":") {
		hs = "[" + hs + "]"
	}
	m := sipmsg.NewRequest("REGISTER", l.Registrar)
	m.Append("Via", "SIP/2.0/UDP "+hs+":"+strconv.Itoa(int(e.Addr().Port()))+";branch=z9hG4bK"+strconv.FormatInt(time.Now().UnixNano(), 36))
	m.Append("Max-Forwards", "70")
	m.Append("From", "<"+l.Subscriber.IMPUs[0]+">;tag=1")
	m.Append("To", "<"+l.Subscriber.IMPUs[0]+">")
	m.Append("Call-ID", "sv-in-clear")
	m.Append("CSeq", "2 REGISTER")
	m.Append("Security-Verify", refcore.DefaultSecurityServer)
	m.Append("Content-Length", "0")
	tx, err := e.Request(context.Background(), transport.Dest{Transport: "UDP", Addr: c.PCSCF()}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := tx.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Parsed.StatusCode != 403 || !strings.Contains(res.Parsed.Get("Warning"), "security associations") {
		t.Fatalf("got %d %s, Warning %q; want 403 with a Warning", res.Parsed.StatusCode, res.Parsed.Reason, res.Parsed.Get("Warning"))
	}
}

// Two UEs on one stack: closing one removes its SAs only; the other's four
// stay and carry its re-registration.
func TestIPsecNeverTouchesAnotherUEsSAs(t *testing.T) {
	host := lab.Loopback()
	l := ipsecLab(t, host, "udp")
	c := startCore(t, l, host)
	st, err := esp.NewStack(esp.Config{Addr: netip.MustParseAddr(host)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newIPsecUE(t, l, c, ue.Options{ESP: st})
	b := newIPsecUE(t, l, c, ue.Options{ESP: st})
	if _, err := a.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	rb, err := b.Register(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before := b.SAs()
	a.Close()
	if got := b.SAs(); len(got) != 4 || len(before) != 4 {
		t.Fatalf("B's SAs: %d before A closed, %d after; want 4 and 4", len(before), len(got))
	}
	if n := len(st.SAs()); n != 4 {
		t.Errorf("the stack holds %d SAs after A closed, want B's 4", n)
	}
	if _, err := b.Reregister(context.Background(), rb); err != nil {
		t.Errorf("B's re-registration over its SAs: %v", err)
	}
}

// The UE picks among what it offered: with a mechanism of an algorithm it
// did not offer listed first at a higher q (5/alg-not-offered) it takes the
// P-CSCF's own and registers; with only one it did not offer it abandons
// the registration before step 7 (TS 33.203 7.2).
func TestIPsecChoosesAmongWhatItOffered(t *testing.T) {
	host := lab.Loopback()
	l := ipsecLab(t, host, "udp")
	c := startCore(t, l, host, deviation.Deviation{Step: "5", Action: deviation.AlgNotOffered})
	u := newIPsecUE(t, l, c, ue.Options{})
	reg, err := u.Register(context.Background())
	if err != nil {
		t.Fatalf("Register: %v (%s)", err, reg.Why)
	}
	if ms, _ := secagree.ParseValues(reg.SecurityServer); len(ms) != 2 || ms[0].Integrity == esp.HMACSHA196 || reg.SA.Mechanism != ms[1] {
		t.Fatalf("Security-Server %v, chosen %+v: want the second, the one offered", reg.SecurityServer, reg.SA)
	}

	set := deviation.Deviation{Step: "5", Action: deviation.SetParam, Header: "Security-Server", Param: "alg", Value: "hmac-md5-96"}
	c2 := startCore(t, l, host, set)
	u2 := newIPsecUE(t, l, c2, ue.Options{})
	reg, err = u2.Register(context.Background())
	if err == nil || reg.Authorized != nil || !strings.Contains(reg.Why, "abandons the registration") || reg.SA != nil {
		t.Fatalf("Register = %v, step 7 %v, why %q: want the registration abandoned before step 7", err, reg.Authorized, reg.Why)
	}
}

// ipsecUEs is how many UEs TestIPsecConcurrentUEs registers at once;
// IMSCONFORM_IPSEC_UES overrides it.
func ipsecUEs(t *testing.T) int { return tooltest.Count(t, "IMSCONFORM_IPSEC_UES", 200) }

// Many UEs at once, each with its own lease of protected ports and SPIs
// from the process's pool, all on one stack, register against one P-CSCF,
// which leases its own per agreement from the same pool: every
// registration succeeds over its own four SAs, no port or SPI is handed out
// twice, and once all are closed the stack holds no SA.
func TestIPsecConcurrentUEs(t *testing.T) {
	n := ipsecUEs(t)
	host := lab.Loopback()
	l := ipsecLab(t, host, "udp")
	l.Timeouts.Step = 30 * time.Second
	c := startCore(t, l, host)
	var refused atomic.Int64
	st, err := esp.NewStack(esp.Config{Addr: netip.MustParseAddr(host), OnPacket: func(p esp.Packet) {
		if p.Err != nil {
			refused.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ues := make([]*ue.UE, n)
	for i := range ues {
		if ues[i], err = ue.New(ue.Options{Lab: l, PCSCF: c.PCSCF(), ESP: st}); err != nil {
			t.Fatalf("UE %d: %v", i, err)
		}
	}
	defer func() {
		for _, u := range ues {
			u.Close()
		}
	}()
	seen := map[string]int{}
	for i, u := range ues {
		a := u.Addrs()
		for _, k := range []string{fmt.Sprint("port ", a.PortC), fmt.Sprint("port ", a.PortS), fmt.Sprint("spi ", a.SPIC), fmt.Sprint("spi ", a.SPIS)} {
			if j, dup := seen[k]; dup {
				t.Fatalf("UEs %d and %d share %s", j, i, k)
			}
			seen[k] = i
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for _, u := range ues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if reg, err := u.Register(context.Background()); err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(fmt.Sprintf("%v (%s)", err, reg.Why))
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d registrations failed; the first: %v", f, n, firstErr.Load())
	}
	if got := len(st.SAs()); got != 4*n {
		t.Errorf("%d SAs on the UEs' stack, want %d", got, 4*n)
	}
	if r := refused.Load(); r > 0 {
		t.Errorf("%d ESP packets refused", r)
	}
	for _, u := range ues {
		u.Close()
	}
	if got := len(st.SAs()); got != 0 {
		t.Errorf("%d SAs left after every UE closed", got)
	}
	t.Logf("%d UEs registered at once over their own SAs (%d SAs at the UEs, as many at the P-CSCF) in %s", n, 4*n, took.Round(time.Millisecond))
}

// Members of shared Ports under IPsec: each leases its own protected ports
// and SPIs from the shared stack, registers over SAs of its own (step 7
// and the 200 OK inside ESP, from and to its own port-c), re-registers and
// de-registers over them; its initial REGISTER leaves from the shared
// unprotected port. Closing a member removes its SAs and gives back its
// lease alone; once all are closed the stack, still open, holds none.
func TestIPsecPortsMembers(t *testing.T) {
	host := lab.Loopback()
	l := ipsecLab(t, host, "udp")
	l.Subscribers.Count = 3
	c := startCore(t, l, host)
	set, err := l.Population(0)
	if err != nil || set == nil {
		t.Fatalf("population: %v", err)
	}
	st, err := esp.NewStack(esp.Config{Addr: netip.MustParseAddr(host)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ports, err := ue.NewPorts(ue.Options{Lab: l, PCSCF: c.PCSCF(), Untraced: true, ESP: st})
	if err != nil {
		t.Fatal(err)
	}
	defer ports.Close()
	if n := st.Leases(); n != 0 {
		t.Fatalf("the ports hold %d leases, want none: each member leases its own", n)
	}
	ctx := context.Background()
	var members []*ue.UE
	var regs []*ue.Registration
	seen := map[string]bool{}
	for i := range set.Len() {
		u, err := ports.UE(ue.Member{IMPI: set.IMPI(i), IMPU: set.IMPU(i), Milenage: set.Milenage(i), ContactUser: fmt.Sprint("u", i)})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, u)
		a := u.Addrs()
		if a.Port != ports.Addrs().Port {
			t.Errorf("member %d: unprotected port %d, want the shared %d", i, a.Port, ports.Addrs().Port)
		}
		for _, k := range []string{fmt.Sprint("port ", a.PortC), fmt.Sprint("port ", a.PortS), fmt.Sprint("spi ", a.SPIC), fmt.Sprint("spi ", a.SPIS)} {
			if seen[k] {
				t.Fatalf("member %d shares %s with another", i, k)
			}
			seen[k] = true
		}
		reg, err := u.Register(ctx)
		if err != nil {
			t.Fatalf("member %d: %v (%s)", i, err, reg.Why)
		}
		if reg.Initial.Src.Port() != a.Port || reg.Authorized.Src.Port() != a.PortC || reg.Final.Dst.Port() != a.PortC || reg.SA == nil || reg.SA.Local.SPIC != a.SPIC {
			t.Errorf("member %d: step 2 from %s, step 7 from %s, 200 OK to %s, agreement %+v; want the shared port, then its own port-c %d and SPIs", i, reg.Initial.Src, reg.Authorized.Src, reg.Final.Dst, reg.SA, a.PortC)
		}
		reg.Forget()
		if _, err := u.Reregister(ctx, reg); err != nil {
			t.Errorf("member %d: re-registration over its SAs: %v", i, err)
		}
		if got := len(u.SAs()); got != 4 {
			t.Errorf("member %d: %d SAs, want 4", i, got)
		}
		regs = append(regs, reg)
	}
	if reg, err := members[0].Deregister(ctx, regs[0]); err != nil || reg.Final == nil || reg.Final.Dst.Port() != members[0].Addrs().PortC {
		t.Errorf("de-registration over the SAs: %v, %+v", err, reg)
	}
	members[0].Close()
	if got, want := len(st.SAs()), 4*(len(members)-1); got != want || st.Leases() != len(members)-1 {
		t.Errorf("after one member closed: %d SAs and %d leases, want %d and %d", got, st.Leases(), want, len(members)-1)
	}
	if got := len(members[1].SAs()); got != 4 {
		t.Errorf("closing member 0 touched member 1's SAs: %d left", got)
	}
	for _, u := range members[1:] {
		u.Close()
	}
	if n, sas := st.Leases(), len(st.SAs()); n != 0 || sas != 0 {
		t.Errorf("after every member closed: %d leases and %d SAs on the stack, want none", n, sas)
	}
}
