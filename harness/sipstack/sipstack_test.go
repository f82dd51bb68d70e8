package sipstack

import (
	"net"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:0", "[::1]:5060", "127.0.0.2:1"} {
		if _, err := CheckLoopback(ok); err != nil {
			t.Errorf("%s: expected ok, got %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:5060", "localhost:5060", "127.0.0.1"} {
		if _, err := CheckLoopback(bad); err == nil {
			t.Errorf("%s: expected an error, got none", bad)
		}
	}
	if _, err := Listen("sctp", "127.0.0.1:0"); err == nil {
		t.Errorf("expected an error for transport sctp")
	}
}

func TestListenBindsLoopbackEphemeral(t *testing.T) {
	for _, c := range []struct{ transport, addr string }{{"udp", "127.0.0.1:0"}, {"tcp", "127.0.0.1:0"}, {"UDP", "[::1]:0"}} {
		l, err := Listen(c.transport, c.addr)
		if err != nil {
			if c.addr == "[::1]:0" {
				if _, e := net.ListenPacket("udp", "[::1]:0"); e != nil {
					continue // no IPv6 loopback on this machine: Listen's error is the kernel's
				}
			}
			t.Fatalf("Listen(%s, %s): %v", c.transport, c.addr, err)
		}
		if l.Addr.Port() == 0 || !l.Addr.Addr().IsLoopback() {
			t.Errorf("Listen(%s, %s): bound %s, want a loopback address with a real port", c.transport, c.addr, l.Addr)
		}
		if (l.Network == "udp") != (l.Packet != nil) || (l.Network == "tcp") != (l.Stream != nil) {
			t.Errorf("Listen(%s): network %q with packet %v stream %v", c.transport, l.Network, l.Packet != nil, l.Stream != nil)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
