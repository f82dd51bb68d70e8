package esp

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// The cost of ESP per message: sealing (padding, encryption with a fresh
// IV, ICV) and opening (window check, ICV, decryption, padding check) of a
// UDP segment the size of a REGISTER (1000 bytes) and of a large TCP
// segment (16000 bytes), per algorithm combination.
func BenchmarkESP(b *testing.B) {
	var ik, ck [16]byte
	for _, size := range []int{1000, 16000} {
		for _, integ := range Integrities {
			for _, enc := range Encryptions {
				k, _ := ExpandKeys(integ, enc, ik, ck)
				tr, _ := newTransform(k)
				seg := make([]byte, size)
				name := fmt.Sprintf("%s/%s/%dB", integ, enc, size)
				b.Run("seal/"+name, func(b *testing.B) {
					buf := make([]byte, 0, bufSize)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						buf = tr.seal(buf[:0], 0x1000, uint32(i+1), nil, seg, ProtoUDP)
					}
				})
				b.Run("open/"+name, func(b *testing.B) {
					pkt := tr.seal(nil, 0x1000, 1, nil, seg, ProtoUDP)
					out := make([]byte, bufSize)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						var w replayWindow
						if err := w.check(1); err != nil {
							b.Fatal(err)
						}
						if err := tr.checkLen(pkt); err != nil {
							b.Fatal(err)
						}
						if err := tr.verify(pkt); err != nil {
							b.Fatal(err)
						}
						if _, _, err := tr.decrypt(out, pkt); err != nil {
							b.Fatal(err)
						}
						if err := w.accept(1); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// A UDP request and its answer between two stacks over real ESP on
// loopback: two seals, two opens, two trips through gVisor and the kernel.
func BenchmarkUDPRoundTripOverESP(b *testing.B) {
	for _, enc := range []Encryption{Null, AESCBC} {
		b.Run(string(enc), func(b *testing.B) {
			ue := newTestStack(b, "127.0.0.1", nil)
			pc := newTestStack(b, "127.0.0.1", nil)
			ul, _ := ue.Allocate()
			pl, _ := pc.Allocate()
			a := Agreement{Local: ul.Side(), Remote: pl.Side(), Integrity: HMACSHA196, Encryption: enc}
			if _, err := ue.Establish(a); err != nil {
				b.Fatal(err)
			}
			a.Local, a.Remote = pl.Side(), ul.Side()
			if _, err := pc.Establish(a); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			srv, _ := pc.ListenPacket(ctx, ap(pc.Addr(), pl.Side().PortS))
			defer srv.Close()
			cl, _ := ue.ListenPacket(ctx, ap(ue.Addr(), ul.Side().PortC))
			defer cl.Close()
			go echoDatagrams(srv)
			msg := sipMessage(1000)
			to := net.UDPAddrFromAddrPort(ap(pc.Addr(), pl.Side().PortS))
			buf := make([]byte, 2000)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cl.SetReadDeadline(time.Now().Add(10 * time.Second))
				cl.WriteTo(msg, to)
				if _, _, err := cl.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The same round trip between two kernel UDP sockets on loopback, in clear:
// the baseline for the cost of ESP and the user-space stack.
func BenchmarkUDPRoundTripKernel(b *testing.B) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cl, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	go echoDatagrams(srv)
	msg := sipMessage(1000)
	buf := make([]byte, 2000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl.SetReadDeadline(time.Now().Add(10 * time.Second))
		cl.WriteTo(msg, srv.LocalAddr())
		if _, _, err := cl.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// echoDatagrams sends every datagram back until the socket closes.
func echoDatagrams(srv net.PacketConn) {
	buf := make([]byte, 70000)
	for {
		n, from, err := srv.ReadFrom(buf)
		if err != nil {
			return
		}
		srv.WriteTo(buf[:n], from)
	}
}
