package esp

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// The protected sockets behave as the kernel's where the SIP transport
// tells cases apart (the transport.Stack contract): a blocked ReadFrom and
// a blocked Accept return an error wrapping net.ErrClosed once closed; a
// listening port takes a Dial from the same port (SO_REUSEPORT); a Dial to
// a port where nothing listens is ECONNREFUSED; a second Dial from one port
// to one destination, while the first connection holds the 4-tuple, is
// EADDRNOTAVAIL, as the kernel's connect says.
func TestProtectedSocketsAsTheKernels(t *testing.T) {
	p := newPair(t, "127.0.0.1", HMACSHA196, Null)
	ctx := context.Background()
	u, c := p.ueSide, p.pcscfSide
	pc, err := p.ue.ListenPacket(ctx, ap(p.ue.Addr(), u.PortC))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := p.ue.Listen(ctx, ap(p.ue.Addr(), u.PortC))
	if err != nil {
		t.Fatal(err)
	}
	readErr, acceptErr := make(chan error, 1), make(chan error, 1)
	go func() { _, _, err := pc.ReadFrom(make([]byte, 10)); readErr <- err }()
	go func() { _, err := ln.Accept(); acceptErr <- err }()

	// Nothing listens at the P-CSCF's port-s yet: refused.
	if _, err := p.ue.Dial(ctx, ap(p.ue.Addr(), u.PortC), ap(p.pcscf.Addr(), c.PortS)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a port where nothing listens: %v, want ECONNREFUSED", err)
	}
	srv, err := p.pcscf.Listen(ctx, ap(p.pcscf.Addr(), c.PortS))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := p.ue.Dial(ctx, ap(p.ue.Addr(), u.PortC), ap(p.pcscf.Addr(), c.PortS))
	if err != nil {
		t.Fatalf("Dial from the listening port-c: %v", err)
	}
	defer conn.Close()
	if _, err := p.ue.Dial(ctx, ap(p.ue.Addr(), u.PortC), ap(p.pcscf.Addr(), c.PortS)); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("a second Dial on the same 4-tuple: %v, want EADDRNOTAVAIL", err)
	}

	pc.Close()
	ln.Close()
	for what, ch := range map[string]chan error{"ReadFrom": readErr, "Accept": acceptErr} {
		select {
		case err := <-ch:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s after Close: %v, want net.ErrClosed", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s still blocked after Close", what)
		}
	}
}
