package esp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// A bad ICV, a wrong SPI and a replayed sequence number are refused by the
// receiving stack, which reports why; the datagram never reaches the
// protected port (the next one, sent right after, is the one read), and the
// sending stack, which sees its own packet on loopback, reports nothing.
func TestRefusals(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		for _, tc := range []struct {
			fault Fault
			want  error
		}{
			{FaultBadICV, ErrICV},
			{FaultWrongSPI, ErrNoSA},
			{FaultReplay, ErrReplay},
		} {
			t.Run(addr+"/"+tc.fault.String(), func(t *testing.T) {
				p := newPair(t, addr, HMACSHA196, AESCBC)
				ctx := context.Background()
				u, c := p.ueSide, p.pcscfSide
				srv, err := p.pcscf.ListenPacket(ctx, ap(p.pcscf.Addr(), c.PortS))
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				cl, err := p.ue.ListenPacket(ctx, ap(p.ue.Addr(), u.PortC))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				sa := p.ueB.Outbound(u.PortC)
				if err := sa.Inject(tc.fault); err != nil {
					t.Fatal(err)
				}
				to := net.UDPAddrFromAddrPort(ap(p.pcscf.Addr(), c.PortS))
				cl.WriteTo([]byte("deviant"), to)
				cl.WriteTo([]byte("second"), to)
				srv.SetReadDeadline(time.Now().Add(10 * time.Second))
				b := make([]byte, 100)
				n, _, err := srv.ReadFrom(b)
				if err != nil {
					t.Fatal(err)
				}
				wantFirst := "second"
				if tc.fault == FaultReplay {
					wantFirst = "deviant" // the first copy is genuine
				}
				if string(b[:n]) != wantFirst {
					t.Fatalf("the protected port read %q first, want %q", b[:n], wantFirst)
				}
				if tc.fault == FaultReplay {
					if n, _, err = srv.ReadFrom(b); err != nil || string(b[:n]) != "second" {
						t.Fatalf("after the genuine copy the port read %q (%v), want \"second\": the replay got through", b[:n], err)
					}
				}
				refused := p.pcscfRec.waitFor(t, "the refusal at the P-CSCF", func(pk Packet) bool { return pk.Dir == Received && pk.Err != nil })
				if !errors.Is(refused.Err, tc.want) {
					t.Errorf("refused with %v, want %v", refused.Err, tc.want)
				}
				if refused.Inner != nil {
					t.Errorf("the refused packet was decrypted: %x", refused.Inner)
				}
				sent := p.ueRec.waitFor(t, "the deviant packet at the UE", func(pk Packet) bool { return pk.Fault == tc.fault })
				if sent.SPI != refused.SPI || sent.Seq != refused.Seq {
					t.Errorf("sent SPI 0x%x seq %d, refused SPI 0x%x seq %d", sent.SPI, sent.Seq, refused.SPI, refused.Seq)
				}
				for _, pk := range p.ueRec.packets() {
					if pk.Dir == Received {
						t.Errorf("the UE reported a packet it received: %s", pk)
					}
				}
			})
		}
	}
}

// A TCP segment with a bad ICV is refused and TCP sends it again: the
// connection carries the message all the same.
func TestBadICVOverTCPIsRetransmitted(t *testing.T) {
	p := newPair(t, "::1", HMACMD596, DESEDE3CBC)
	u, c := p.ueSide, p.pcscfSide
	p.ueB.Outbound(u.PortC).Inject(FaultBadICV) // the SYN
	tcpEcho(t, p.ue, p.pcscf, u.PortC, c.PortS, sipMessage(5000))
	refused := p.pcscfRec.waitFor(t, "the refused SYN", func(pk Packet) bool { return pk.Err != nil })
	if !errors.Is(refused.Err, ErrICV) || refused.Seq != 1 {
		t.Errorf("refused %s, want the first packet with a bad ICV", refused)
	}
}

// A packet sent in clear (FaultClear) never reaches the protected port.
func TestClearPacketNotDelivered(t *testing.T) {
	p := newPair(t, "127.0.0.1", HMACSHA196, Null)
	ctx := context.Background()
	u, c := p.ueSide, p.pcscfSide
	srv, _ := p.pcscf.ListenPacket(ctx, ap(p.pcscf.Addr(), c.PortS))
	defer srv.Close()
	cl, _ := p.ue.ListenPacket(ctx, ap(p.ue.Addr(), u.PortC))
	defer cl.Close()
	p.ueB.Outbound(u.PortC).Inject(FaultClear)
	to := net.UDPAddrFromAddrPort(ap(p.pcscf.Addr(), c.PortS))
	cl.WriteTo([]byte("in clear"), to)
	cl.WriteTo([]byte("protected"), to)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 100)
	n, _, err := srv.ReadFrom(b)
	if err != nil || string(b[:n]) != "protected" {
		t.Fatalf("read %q, %v; want \"protected\"", b[:n], err)
	}
	sent := p.ueRec.waitFor(t, "the clear packet", func(pk Packet) bool { return pk.Fault == FaultClear })
	if sent.Err != nil || sent.ESP != nil || string(sent.Payload()) != "in clear" {
		t.Errorf("clear packet reported as %s, payload %q", sent, sent.Payload())
	}
}

// A protected port that sends where no SA covers drops the packet and says
// so; nothing leaves in clear.
func TestNoOutboundSA(t *testing.T) {
	p := newPair(t, "127.0.0.1", HMACSHA196, AESCBC)
	cl, _ := p.ue.ListenPacket(context.Background(), ap(p.ue.Addr(), p.ueSide.PortC))
	defer cl.Close()
	cl.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(ap(p.pcscf.Addr(), p.pcscfSide.PortC))) // port-c → port-c: no SA
	pk := p.ueRec.waitFor(t, "the dropped packet", func(pk Packet) bool { return pk.Err != nil })
	if !errors.Is(pk.Err, ErrNoOutboundSA) || pk.ESP != nil {
		t.Errorf("got %s", pk)
	}
}

// Removed SAs refuse: after Close, the peer's packets find no SA.
func TestBundleCloseRemovesSAs(t *testing.T) {
	p := newPair(t, "127.0.0.1", HMACMD596, Null)
	if n := len(p.pcscf.SAs()); n != 4 {
		t.Fatalf("P-CSCF has %d SAs, want 4", n)
	}
	p.pcscfB.Close()
	p.pcscfB.Close()
	if n := len(p.pcscf.SAs()); n != 0 {
		t.Fatalf("P-CSCF has %d SAs after Close, want 0", n)
	}
	if n := len(p.ue.SAs()); n != 4 {
		t.Fatalf("the UE's SAs were touched: %d left, want 4", n)
	}
	cl, _ := p.ue.ListenPacket(context.Background(), ap(p.ue.Addr(), p.ueSide.PortC))
	defer cl.Close()
	cl.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(ap(p.pcscf.Addr(), p.pcscfSide.PortS)))
	pk := p.pcscfRec.waitFor(t, "the refusal", func(pk Packet) bool { return pk.Err != nil })
	if !errors.Is(pk.Err, ErrNoSA) {
		t.Errorf("got %s", pk)
	}
	p.ue.Close()
	if n := len(p.ue.SAs()); n != 0 {
		t.Errorf("the UE has %d SAs after Close", n)
	}
	if sa := lookupInbound(p.ueSide.SPIC, p.ue.Addr()); sa != nil {
		t.Errorf("the process index still has %s", sa.info)
	}
}
