package diameter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds of the server and the client, and the Link's reconnection: what a
// half-sent, oversized, silent or dead peer costs, and for how long.

// declared is a header of a request that declares length bytes.
func declared(length uint32) []byte {
	h := make([]byte, HeaderLen)
	binary.BigEndian.PutUint32(h[0:], length)
	h[0] = Version
	binary.BigEndian.PutUint32(h[4:], uint32(FlagRequest)<<24|CmdUserAuthorization)
	binary.BigEndian.PutUint32(h[8:], AppCx)
	return h
}

// TestReadMessageAllocatesWhatCame: a header declaring 1 MiB followed by
// 100 bytes and the end of the stream costs far less than 1 MiB.
func TestReadMessageAllocatesWhatCame(t *testing.T) {
	in := append(declared(1<<20), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadMessage(bytes.NewReader(in), 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("expected io.ErrUnexpectedEOF, got %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("expected at most 64 KiB allocated for 120 bytes received, got %d bytes", got)
	}
	// A whole message of more than one chunk still reads back as sent.
	m := NewRequest(CmdUserAuthorization, AppCx, 1, 1, OctetString(AVPUserData, Vendor3GPP, AVPFlagMandatory, bytes.Repeat([]byte("x"), 3*readChunk+5)))
	b, _ := m.Marshal()
	got, err := ReadMessage(bytes.NewReader(b), 0)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("expected the %d bytes back, got %d bytes, %v", len(b), len(got), err)
	}
}

// TestServerClosesWhatPeersLeaveHanging: with Tw 300 ms and a message
// timeout of 200 ms, a connection that sends no CER is closed after Tw, one
// that leaves a message half-sent after the message timeout, and one that
// declares a message above MaxMessageLen is answered 5015 and closed at once.
func TestServerClosesWhatPeersLeaveHanging(t *testing.T) {
	ts := startServerWith(t, func(s *Server) {
		s.Watchdog, s.MessageTimeout, s.MaxMessageLen = 300*time.Millisecond, 200*time.Millisecond, 64<<10
	})
	for _, tc := range []struct {
		name          string
		send          []byte
		after, within time.Duration
	}{
		{"no CER", nil, 300 * time.Millisecond, 2 * time.Second},
		{"half-sent", append(declared(4096), make([]byte, 100)...), 200 * time.Millisecond, 2 * time.Second},
		{"above MaxMessageLen", declared(1 << 20), 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			start := time.Now()
			if tc.send != nil {
				c.write(tc.send)
			}
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c.c)
			took := time.Since(start)
			if took < tc.after || took > tc.within {
				t.Errorf("expected the connection closed after %s and within %s, closed after %s", tc.after, tc.within, took)
			}
			if tc.name == "above MaxMessageLen" {
				a, err := Unmarshal(b)
				if err != nil || resultCode(t, a) != ResultInvalidMessageLength {
					t.Errorf("expected a 5015 answer before the close, got %x (%v)", b, err)
				}
			}
		})
	}
}

// TestServerWatchdog: an open connection idle for Tw gets a DWR; a peer that
// answers it keeps its connection; one that stays silent is dropped after
// 3·Tw, and PeerState says so.
func TestServerWatchdog(t *testing.T) {
	var mu sync.Mutex
	var states []bool
	ts := startServerWith(t, func(s *Server) {
		s.Watchdog = 200 * time.Millisecond
		s.PeerState = func(_ Peer, open bool) {
			mu.Lock()
			states = append(states, open)
			mu.Unlock()
		}
	})
	// A peer that answers the DWRs keeps its connection while a silent one
	// is dropped: its DWR comes after Tw, the close after 3·Tw.
	alive := dial(t, ts.addr)
	alive.open()
	dead := dial(t, ts.addr)
	dead.open()
	start := time.Now()
	var took time.Duration
	deadDone := make(chan struct{})
	go func() {
		defer close(deadDone)
		dead.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, dead.c)
		took = time.Since(start)
	}()
	dwrs := 0
	for {
		select {
		case <-deadDone:
		default:
			dwr := alive.read()
			if !dwr.IsRequest() || dwr.Code != CmdDeviceWatchdog {
				t.Fatalf("expected a DWR after Tw idle, got command %d (request %v)", dwr.Code, dwr.IsRequest())
			}
			if oh, _ := dwr.Find(AVPOriginHost, 0); string(oh.Data) != "hss.home1.net" {
				t.Errorf("DWR Origin-Host: expected hss.home1.net, got %q", oh.Data)
			}
			dwrs++
			alive.send(dwr.Answer(append([]AVP{Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess)}, origin("scscf.home1.net")...)...))
			continue
		}
		break
	}
	if took < 3*200*time.Millisecond-50*time.Millisecond || took > 2*time.Second {
		t.Errorf("expected the silent peer dropped after 3·Tw (600 ms), took %s", took)
	}
	if dwrs < 2 {
		t.Errorf("expected the answering peer to get a DWR every Tw meanwhile, got %d", dwrs)
	}
	alive.send(alive.request(CmdDeviceWatchdog, 0, origin("scscf.home1.net")...))
	for {
		m := alive.read()
		if !m.IsRequest() && m.Code == CmdDeviceWatchdog {
			break // the answer to our DWR: the connection is still there
		}
		alive.send(m.Answer(append([]AVP{Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess)}, origin("scscf.home1.net")...)...))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 3 || !states[0] || !states[1] || states[2] {
		t.Errorf("expected PeerState open, open, closed, got %v", states)
	}
}

// TestClientWatchdog: a client whose peer stops answering closes its
// connection after 3·Tw; one whose peer answers DWR keeps it.
func TestClientWatchdog(t *testing.T) {
	for _, answers := range []bool{true, false} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var dwrs atomic.Int32
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			for {
				raw, err := ReadMessage(c, 0)
				if err != nil {
					return
				}
				m, _ := Unmarshal(raw)
				if m.Code == CmdDeviceWatchdog {
					dwrs.Add(1)
					if !answers {
						continue
					}
				}
				a := m.Answer(append([]AVP{Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess)}, origin("hss.home1.net")...)...)
				b, _ := a.Marshal()
				c.Write(b)
			}
		}()
		cfg := clConfig()
		cfg.Watchdog = 100 * time.Millisecond
		c, err := Dial(context.Background(), netip.MustParseAddrPort(l.Addr().String()), cfg)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
			if answers {
				t.Errorf("a peer that answers DWR: expected the connection kept, it ended: %v", c.Err())
			} else if !strings.Contains(c.Err().Error(), "RFC 3539") {
				t.Errorf("expected the watchdog named as the reason, got %v", c.Err())
			}
		case <-time.After(time.Second):
			if !answers {
				t.Errorf("a peer that does not answer DWR: expected the connection closed after 3·Tw (300 ms), still open after 1 s")
			}
		}
		if dwrs.Load() == 0 {
			t.Errorf("answers %v: expected DWRs after Tw idle, got none", answers)
		}
		c.Close()
	}
}

// TestLinkConnectsRetriesAndReconnects: a Link started before its peer
// listens connects once the peer is up (after retries every Tc); when the
// peer's connection ends it connects again; requests without a connection
// fail at once with ErrNotConnected; Session-Ids stay unique across
// connections.
func TestLinkConnectsRetriesAndReconnects(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(free.Addr().String())
	free.Close() // nothing listens there yet
	cfg := clConfig()
	cfg.LocalAddr = netip.Addr{}
	lk, err := NewLink(addr, LinkConfig{Client: cfg, Tc: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	if _, err := lk.Do(context.Background(), NewRequest(CmdUserAuthorization, AppCx, 0, 0)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("before the peer listens: expected ErrNotConnected, got %v", err)
	}
	s1 := lk.NewSessionID()
	time.Sleep(300 * time.Millisecond) // a few refused attempts, Tc apart
	var opened atomic.Int32
	srv := &Server{OriginHost: "hss.home1.net", OriginRealm: "home1.net", Applications: []Application{CxApplication},
		PeerState: func(_ Peer, open bool) {
			if open {
				opened.Add(1)
			}
		},
		Handler: HandlerFunc(func(req *Message, _ Peer) *Message {
			return req.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultSuccess))
		})}
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := lk.WaitOpen(ctx)
	if err != nil {
		t.Fatalf("expected the link open once the peer listens, got %v", err)
	}
	if _, err := lk.Do(ctx, NewRequest(CmdUserAuthorization, AppCx, 0, 0, UTF8String(AVPSessionID, 0, AVPFlagMandatory, lk.NewSessionID()))); err != nil {
		t.Fatalf("request on the open link: %v", err)
	}
	// The connection ends: the link connects again.
	c.c.Close()
	<-c.Done()
	for opened.Load() < 2 {
		if ctx.Err() != nil {
			t.Fatalf("expected a second connection after the first ended, got %d", opened.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c2, err := lk.WaitOpen(ctx)
	if err != nil || c2 == c {
		t.Fatalf("expected a new open connection, got %v (same: %v)", err, c2 == c)
	}
	if s2 := lk.NewSessionID(); s2 == s1 {
		t.Errorf("expected Session-Ids unique across connections, got %q twice", s1)
	}
}

// TestLinkWaitOpenSaysWhy: a Link to where nothing listens gives up its wait
// with the last attempt's error and the number of attempts.
func TestLinkWaitOpenSaysWhy(t *testing.T) {
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := netip.MustParseAddrPort(free.Addr().String())
	free.Close()
	cfg := clConfig()
	cfg.LocalAddr = netip.Addr{}
	lk, err := NewLink(addr, LinkConfig{Client: cfg, Tc: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = lk.WaitOpen(ctx)
	if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "attempt(s), every 50ms") {
		t.Errorf("expected ErrNotConnected naming the refused connection and the attempts, got %v", err)
	}
}
