package esp

import (
	"context"
	"errors"
	"fmt"
	"imsconform/internal/tooltest"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// poolUEs is how many UEs TestPoolThousandsOfUEs runs at once:
// IMSCONFORM_ESP_UES overrides the default.
func poolUEs(t *testing.T) int { return tooltest.Count(t, "IMSCONFORM_ESP_UES", 3000) }

// Thousands of UEs at once, each with its own lease (two protected ports
// and two SPIs) at the UE and at the P-CSCF, drawn concurrently from one
// process's pool by two stacks on one address: no port and no SPI is handed
// out twice, all the SAs are up at the same time, and every UE exchanges a
// datagram with the P-CSCF over its own SAs, every ESP packet accepted.
func TestPoolThousandsOfUEs(t *testing.T) {
	n := poolUEs(t)
	ue := newTestStack(t, "127.0.0.1", nil)
	var refused atomic.Int64
	var accepted atomic.Int64
	var firstRefusal atomic.Value
	pc := newTestStack(t, "127.0.0.1", nil)
	count := func(p Packet) {
		if p.Err != nil {
			if refused.Add(1) == 1 {
				firstRefusal.Store(p.String())
			}
		} else if p.Dir == Received {
			accepted.Add(1)
		}
	}
	ue.cfg.OnPacket, pc.cfg.OnPacket = count, count

	type ueSAs struct {
		u, p   Side
		ub, pb *Bundle
	}
	ues := make([]ueSAs, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				ul, err := ue.Allocate()
				if err != nil {
					errs <- err
					return
				}
				pl, err := pc.Allocate()
				if err != nil {
					errs <- err
					return
				}
				ues[i].u, ues[i].p = ul.Side(), pl.Side()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	allocated := time.Since(start)
	ports := map[uint16]int{}
	spis := map[uint32]int{}
	for i, x := range ues {
		for _, d := range []Side{x.u, x.p} {
			for _, p := range []uint16{d.PortC, d.PortS} {
				if j, dup := ports[p]; dup {
					t.Fatalf("port %d leased to UE %d and UE %d", p, j, i)
				}
				ports[p] = i
			}
			for _, s := range []uint32{d.SPIC, d.SPIS} {
				if j, dup := spis[s]; dup {
					t.Fatalf("SPI 0x%08x leased to UE %d and UE %d", s, j, i)
				}
				if s < 256 {
					t.Fatalf("reserved SPI %d leased", s)
				}
				spis[s] = i
			}
		}
	}
	var ik, ck [16]byte
	for i := range ues {
		a := Agreement{Local: ues[i].u, Remote: ues[i].p, Integrity: HMACSHA196, Encryption: AESCBC, IK: ik, CK: ck}
		var err error
		if ues[i].ub, err = ue.Establish(a); err != nil {
			t.Fatal(err)
		}
		a.Local, a.Remote = ues[i].p, ues[i].u
		if ues[i].pb, err = pc.Establish(a); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(ue.SAs()) + len(pc.SAs()); got != 8*n {
		t.Fatalf("%d SAs up, want %d", got, 8*n)
	}
	// Every UE at once: port-c → the P-CSCF's port-s and back.
	ctx := context.Background()
	failures := make(chan error, n)
	ready := make(chan struct{})
	for i := range ues {
		wg.Add(1)
		go func(x ueSAs) {
			defer wg.Done()
			srv, err := pc.ListenPacket(ctx, ap(pc.Addr(), x.p.PortS))
			if err != nil {
				failures <- err
				return
			}
			defer srv.Close()
			cl, err := ue.ListenPacket(ctx, ap(ue.Addr(), x.u.PortC))
			if err != nil {
				failures <- err
				return
			}
			defer cl.Close()
			<-ready
			deadline := time.Now().Add(60 * time.Second)
			srv.SetDeadline(deadline)
			cl.SetDeadline(deadline)
			msg := []byte(fmt.Sprintf("REGISTER from UE port %d", x.u.PortC))
			if _, err := cl.WriteTo(msg, net.UDPAddrFromAddrPort(ap(pc.Addr(), x.p.PortS))); err != nil {
				failures <- err
				return
			}
			b := make([]byte, 100)
			k, from, err := srv.ReadFrom(b)
			if err != nil {
				failures <- fmt.Errorf("P-CSCF port %d: %w", x.p.PortS, err)
				return
			}
			if _, err := srv.WriteTo(b[:k], from); err != nil {
				failures <- err
				return
			}
			if k, _, err = cl.ReadFrom(b); err != nil || string(b[:k]) != string(msg) {
				failures <- fmt.Errorf("UE port %d: echo %q, %v", x.u.PortC, b[:k], err)
			}
		}(ues[i])
	}
	close(ready)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if r := refused.Load(); r != 0 {
		t.Errorf("%d packets refused or dropped; the first: %v", r, firstRefusal.Load())
	}
	if got := accepted.Load(); got != int64(2*n) {
		t.Errorf("%d ESP packets accepted, want %d", got, 2*n)
	}
	for _, x := range ues {
		x.ub.Close()
		x.pb.Close()
	}
	if len(ue.SAs())+len(pc.SAs()) != 0 {
		t.Errorf("SAs left after closing every bundle")
	}
	t.Logf("%d concurrent UEs: %d leases, %d SAs, %d protected ports, %d SPIs without a collision; leased in %v; %d ESP packets accepted",
		n, 2*n, 8*n, len(ports), len(spis), allocated.Round(time.Millisecond), accepted.Load())
}

// The pool says when its range is exhausted, and a released lease's ports
// can be leased again.
func TestPoolExhaustion(t *testing.T) {
	s := newTestStack(t, "::1", nil)
	s.cfg.PortMin, s.cfg.PortMax = 29990, 29995 // below the kernel's ephemeral range, so no other program holds them
	var leases []*Lease
	for {
		l, err := s.Allocate()
		if err != nil {
			if len(leases) != 3 {
				t.Fatalf("the pool of 6 ports gave %d leases, then %v", len(leases), err)
			}
			want := "no two free protected ports left in 29990–29995 on ::1"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to say %q", err, want)
			}
			break
		}
		leases = append(leases, l)
	}
	leases[1].Release()
	leases[1].Release()
	l, err := s.Allocate()
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if got, old := l.Side(), leases[1].Side(); !(got.PortC == old.PortC && got.PortS == old.PortS || got.PortC == old.PortS && got.PortS == old.PortC) {
		t.Errorf("leased %s, want the released ports %d and %d", got, old.PortC, old.PortS)
	}
	s.Close()
	if _, err := s.Allocate(); !errors.Is(err, errClosed) {
		t.Errorf("Allocate on a closed stack: %v", err)
	}
}

// A port a kernel socket holds is not leased.
func TestPoolSkipsKernelPorts(t *testing.T) {
	s := newTestStack(t, "127.0.0.1", nil)
	k, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	p := uint16(k.LocalAddr().(*net.UDPAddr).Port)
	s.cfg.PortMin, s.cfg.PortMax = p, p+2
	l, err := s.Allocate()
	if err != nil {
		t.Skipf("ports %d–%d busy: %v", p+1, p+2, err)
	}
	if d := l.Side(); d.PortC == p || d.PortS == p {
		t.Errorf("leased %s, with the kernel's UDP port %d", d, p)
	}
}

// Claim leases the ports and SPIs a lab fixes, refuses them while they are
// leased, draws the fields left zero, and frees them on Release.
func TestClaimFixedSide(t *testing.T) {
	s := newTestStack(t, "127.0.0.1", nil)
	want := Side{PortC: 40001, PortS: 40003, SPIC: 0x10002, SPIS: 0}
	l, err := s.Claim(want)
	if err != nil {
		t.Fatal(err)
	}
	got := l.Side()
	if got.PortC != 40001 || got.PortS != 40003 || got.SPIC != 0x10002 || got.SPIS < 256 || got.SPIS == got.SPIC {
		t.Fatalf("Claim(%s) = %s", want, got)
	}
	for _, again := range []Side{{PortC: 40001}, {PortS: 40001}, {SPIC: 0x10002}, {SPIS: got.SPIS}} {
		if _, err := s.Claim(again); err == nil {
			t.Errorf("Claim(%s) while %s is leased: no error", again, got)
		}
	}
	for _, bad := range []Side{{PortC: 40005, PortS: 40005}, {SPIC: 7}, {SPIC: 300, SPIS: 300}, {Addr: netip.MustParseAddr("127.0.0.2")}} {
		if _, err := s.Claim(bad); err == nil {
			t.Errorf("Claim(%s): no error", bad)
		}
	}
	l.Release()
	l2, err := s.Claim(want)
	if err != nil {
		t.Fatalf("Claim after Release: %v", err)
	}
	l2.Release()
}
