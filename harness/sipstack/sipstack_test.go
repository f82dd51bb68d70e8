package sipstack

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
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

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ transport, host string }{{"udp", "127.0.0.1"}, {"tcp", "127.0.0.1"}, {"udp", "::1"}} {
		t.Run(tc.transport+"/"+tc.host, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var seen []string
			filter := func(info sip.TransportReadProps, data []byte) ([]byte, error) {
				mu.Lock()
				seen = append(seen, string(data))
				mu.Unlock()
				return data, nil
			}
			sua, err := NewUA(Options{Name: "server", ReadFilter: filter})
			if err != nil {
				t.Fatal(err)
			}
			defer sua.Close()
			srv, err := NewServer(sua)
			if err != nil {
				t.Fatal(err)
			}
			srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
				tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			})
			l, err := Serve(ctx, srv, tc.transport, netip.AddrPortFrom(netip.MustParseAddr(tc.host), 0).String())
			if err != nil {
				t.Fatal(err)
			}
			cua, err := NewUA(Options{Name: "client"})
			if err != nil {
				t.Fatal(err)
			}
			defer cua.Close()
			cl, err := NewClient(cua, netip.AddrPortFrom(netip.MustParseAddr(tc.host), 0))
			if err != nil {
				t.Fatal(err)
			}
			uriHost := tc.host
			if strings.Contains(uriHost, ":") {
				uriHost = "[" + uriHost + "]"
			}
			req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: uriHost, Port: int(l.Addr.Port())})
			req.SetTransport(strings.ToUpper(tc.transport))
			// A header long enough that sipgo's default UDP limit would refuse it.
			req.AppendHeader(sip.NewHeader("X-Long", strings.Repeat("a", 2000)))
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			defer rcancel()
			res, err := cl.Do(rctx, req, sipgo.ClientRequestBuild)
			if err != nil {
				t.Fatalf("expected a 200, got error %v", err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("expected 200, got %d", res.StatusCode)
			}
			if tc.transport == "udp" {
				c, err := net.Dial("udp", l.Addr.String())
				if err != nil {
					t.Fatal(err)
				}
				c.Write([]byte("\x00\x01 not sip"))
				c.Close()
				deadline := time.Now().Add(2 * time.Second)
				for {
					mu.Lock()
					found := false
					for _, s := range seen {
						found = found || strings.Contains(s, "not sip")
					}
					mu.Unlock()
					if found {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("expected the read filter to see the garbage datagram, it did not")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}
