package transport

import (
	"net/netip"
	"strings"
	"testing"

	"imsconform/harness/sipmsg"
)

// TestResponseRoute is RFC 3261 18.2.2 and RFC 3581 4 as a table: each row a
// top Via, the transport and source of the request, and where the response
// must go.
func TestResponseRoute(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.7:40123")
	for _, c := range []struct {
		name, via, transport string
		want                 string // "addr", "host:port" for a maddr name, or "error: ..."
		sameConn             bool
	}{
		{"UDP, sent-by is the source IP: to sent-by", "SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1", UDP, "192.0.2.7:5062", false},
		{"UDP, sent-by another IP: received (the source) with the sent-by port", "SIP/2.0/UDP 198.51.100.1:5062;branch=z9hG4bK1", UDP, "192.0.2.7:5062", false},
		{"UDP, sent-by a name, no port: the source IP and 5060", "SIP/2.0/UDP icscf1_p.home1.net;branch=z9hG4bK1", UDP, "192.0.2.7:5060", false},
		{"UDP, received written: that address, sent-by port", "SIP/2.0/UDP pcscf.net:5070;received=198.51.100.9;branch=z9hG4bK1", UDP, "198.51.100.9:5070", false},
		{"UDP, rport flag: the source address and port", "SIP/2.0/UDP icscf1_p.home1.net;rport;branch=z9hG4bK1", UDP, "192.0.2.7:40123", false},
		{"UDP, rport with a value and received: still the source", "SIP/2.0/UDP 10.1.1.1:5060;received=192.0.2.7;rport=40123;branch=z9hG4bK1", UDP, "192.0.2.7:40123", false},
		{"UDP, rport and sent-by port: the source port wins", "SIP/2.0/UDP 192.0.2.7:5062;rport;branch=z9hG4bK1", UDP, "192.0.2.7:40123", false},
		{"UDP, maddr IP: there with the sent-by port", "SIP/2.0/UDP 192.0.2.7:5064;maddr=198.51.100.20;branch=z9hG4bK1", UDP, "198.51.100.20:5064", false},
		{"UDP, maddr name: resolve it, sent-by port default", "SIP/2.0/UDP 192.0.2.7;maddr=proxy.example.net;rport;branch=z9hG4bK1", UDP, "proxy.example.net:5060", false},
		{"UDP, IPv6 sent-by equal to the source", "SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bK1", UDP, "[2001:db8::1]:5062", false},
		{"TCP: the request's connection, else received and sent-by port", "SIP/2.0/TCP 198.51.100.1:5062;branch=z9hG4bK1", TCP, "192.0.2.7:5062", true},
		{"TCP, sent-by without port: fallback to 5060", "SIP/2.0/TCP 192.0.2.7;branch=z9hG4bK1", TCP, "192.0.2.7:5060", true},
		{"a port that is no port", "SIP/2.0/UDP 192.0.2.7:0;branch=z9hG4bK1", UDP, "error: sent-by port", false},
		{"received that is no IP", "SIP/2.0/UDP h.net;received=nowhere;branch=z9hG4bK1", UDP, "error: received parameter", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := sipmsg.ParseVia(c.via)
			if err != nil {
				t.Fatal(err)
			}
			s := src
			if strings.Contains(c.via, "2001:db8") {
				s = netip.MustParseAddrPort("[2001:db8::1]:40000")
			}
			r, err := ResponseRoute(v, c.transport, s)
			if strings.HasPrefix(c.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
					t.Fatalf("expected an error about %q, got %v (%+v)", c.want, err, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := r.Addr.String()
			if !r.Addr.IsValid() {
				got = r.Host + ":" + itoa16(r.Port)
			}
			if got != c.want || r.SameConn != c.sameConn || r.Transport != c.transport {
				t.Errorf("route = %s sameConn %v %s (%s), want %s sameConn %v %s", got, r.SameConn, r.Transport, r.Rule, c.want, c.sameConn, c.transport)
			}
		})
	}
	if _, err := ResponseRoute(nil, UDP, src); err == nil {
		t.Error("expected an error without a Via")
	}
}

func itoa16(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func TestSizeLimit(t *testing.T) {
	for mtu, want := range map[int]int{0: 1300, 1500: 1300, 9000: 8800, 1280: 1080, 100: 0} {
		if got := SizeLimit(mtu); got != want {
			t.Errorf("SizeLimit(%d) = %d, want %d", mtu, got, want)
		}
	}
}
