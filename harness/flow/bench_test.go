package flow

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	"imsconform/harness/trace"
	"imsconform/harness/ue"
	"imsconform/harness/vccapp"
)

// BenchmarkRegistration measures complete AKA registrations (steps 2 to 14,
// step 11/13 included) per second: UE, reference core and VCC Application in
// this process on loopback over UDP. The core and the VCC Application are
// reused; each iteration is a new registration (new Call-ID) by the UE. With
// hss=cx the core queries the HSS emulator over Diameter Cx (UAR, MAR, UAR,
// SAR per registration, recorded into a trace as the flow does); with
// hss=mem it uses its in-memory HSS.
//
// With ipsec=true (root or CAP_NET_RAW) the UE and the core's P-CSCF run the
// security agreement over user-space ESP: the REGISTER of step 7 and the
// 200 OK travel inside ESP, and each registration makes four new SAs at
// either end. Against ipsec=false it gives the cost of ESP per
// registration; divided by the four ESP packets of one (step 7, the 200 OK
// over UDP, sealed at one end and opened at the other), per message.
func BenchmarkRegistration(b *testing.B) {
	for _, hssMode := range []string{"mem", "cx"} {
		for _, ues := range []int{1, 4} {
			b.Run(fmt.Sprintf("hss=%s/ues=%d", hssMode, ues), func(b *testing.B) { benchRegistration(b, ues, hssMode == "cx", false) })
		}
	}
	if lab.RawESP(netip.IPv6Loopback()) == nil {
		for _, ipsec := range []bool{false, true} {
			b.Run(fmt.Sprintf("hss=mem/ues=1/ipsec=%v", ipsec), func(b *testing.B) { benchRegistration(b, 1, false, ipsec) })
		}
	}
}

func benchRegistration(b *testing.B, ues int, cx, ipsec bool) {
	l := testLab("::1", "udp")
	l.Timeouts.Step = 5 * time.Second
	l.SUT.IPsec = ipsec
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := 0
	app, err := vccapp.Start(ctx, vccapp.Options{Lab: l, Trace: trace.New(), OnRegister: func(vccapp.Exchange) {
		mu.Lock()
		got++
		mu.Unlock()
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	cfg := refcore.Config{Lab: l, Host: "::1", Transport: "udp", VCCApp: app.Addr()}
	if cx {
		res := &Result{Vars: map[string]string{}, Trace: trace.New()}
		h, err := startHSS(l, netip.AddrPortFrom(netip.IPv6Loopback(), 0), false, res, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		defer h.h.Close()
		cfg.HSS = h.addr
	}
	core, err := refcore.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer core.Close()
	var us []*ue.UE
	for i := 0; i < ues; i++ {
		u, err := ue.New(ue.Options{Lab: l, PCSCF: core.PCSCF()})
		if err != nil {
			b.Fatal(err)
		}
		defer u.Close()
		us = append(us, u)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N / ues
	for i, u := range us {
		n := per
		if i == 0 {
			n += b.N - per*ues
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if reg, err := u.Register(ctx); err != nil {
					b.Errorf("registration %d: %v (%v)", j, err, reg)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "regs/s")
	// Step 11/13 of the last registrations may still be on the wire.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := got
		mu.Unlock()
		if n >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got < b.N {
		b.Errorf("expected %d REGISTERs at the VCC Application, got %d", b.N, got)
	}
}
