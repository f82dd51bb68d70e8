package refcore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/sipmsg"
)

func TestHeaderEditDeviations(t *testing.T) {
	ds := []deviation.Deviation{
		{Step: "5", Action: deviation.DropHeader, Header: "Security-Server"},
		{Step: "5", Action: deviation.SetParam, Header: "WWW-Authenticate", Param: "algorithm", Value: "MD5"},
		{Step: "14", Action: deviation.SetHeader, Header: "Service-Route", Value: "<sip:wrong@example.net;lr>"},
		{Step: "11", Action: deviation.DropHeader, Header: "Path"},
		{Step: "11", Action: deviation.StartLine, Value: "REGISTER sip:elsewhere.net SIP/2.0"},
	}
	e := setup(t, "udp", "127.0.0.1", ds, nil)
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	if r401.Has("Security-Server") {
		t.Errorf("step 5: expected no Security-Server, got %q", r401.Get("Security-Server"))
	}
	w := r401.Get("WWW-Authenticate")
	if d, _ := digestParams(w); d["algorithm"] != "MD5" {
		t.Errorf("step 5: expected algorithm=MD5, got %q", w)
	}
	auth, err := e.ue.answer(w, "")
	if err != nil {
		t.Fatal(err)
	}
	e.ue.send(e.ue.register(true, auth, 600000), true)
	r := e.ue.mustRecv(true)
	if r.StatusCode != 200 || r.Get("Service-Route") != "<sip:wrong@example.net;lr>" {
		t.Errorf("step 10: expected 200 with the edited Service-Route, got %q %q", r.StartLine, r.Get("Service-Route"))
	}
	got := e.vcc.wait(t, 1, 3*time.Second)
	if len(got) == 0 {
		t.Fatal("step 11: expected a REGISTER, got none")
	}
	m, err := sipmsg.Parse(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.Has("Path") || m.StartLine != "REGISTER sip:elsewhere.net SIP/2.0" {
		t.Errorf("step 11: expected no Path and the edited start line, got %q Path %q", m.StartLine, m.Get("Path"))
	}
}

func TestBadMAC(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "5", Action: deviation.BadMAC}}, nil)
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	_, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
	if !errors.Is(err, aka.ErrMACFailure) {
		t.Fatalf("expected the UE to see a MAC failure, got %v", err)
	}
	// TS 24.229 5.1.1.5.3: the UE answers with an empty response; the core forbids.
	d, _ := digestParams(r401.Get("WWW-Authenticate"))
	e.ue.send(e.ue.register(true, `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="`+d["nonce"]+`", algorithm=AKAv1-MD5, uri="sip:registrar.home1.net", response=""`, 600000), true)
	if r := e.ue.mustRecv(true); r.StatusCode != 403 {
		t.Errorf("expected 403 after a MAC failure, got %q", r.StartLine)
	}
}

func TestStaleSQN(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "5", Action: deviation.StaleSQN}}, nil)
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	_, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("expected a synchronisation failure at the UE, got %v", err)
	}
	d, _ := digestParams(r401.Get("WWW-Authenticate"))
	auts := base64Std(sf.AUTS[:])
	e.ue.send(e.ue.register(true, `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="`+d["nonce"]+`", algorithm=AKAv1-MD5, uri="sip:registrar.home1.net", response="", auts="`+auts+`"`, 600000), true)
	r2 := e.ue.mustRecv(true)
	if r2.StatusCode != 401 {
		t.Fatalf("expected a new 401 after AUTS, got %q", r2.StartLine)
	}
	auth, err := e.ue.answer(r2.Get("WWW-Authenticate"), "")
	if err != nil {
		t.Fatalf("expected the re-challenge to be fresh, got %v", err)
	}
	e.ue.send(e.ue.register(true, auth, 600000), true)
	if r := e.ue.mustRecv(true); r.StatusCode != 200 {
		t.Errorf("expected 200 after re-synchronisation, got %q", r.StartLine)
	}
}

func TestNoAnswer(t *testing.T) {
	t.Run("step 5", func(t *testing.T) {
		e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "5", Action: deviation.NoAnswer}}, nil)
		e.ue.send(e.ue.register(false, initialAuth, 600000), false)
		if raw, err := e.ue.recv(false, time.Second); err == nil {
			t.Errorf("expected nothing, got %q", raw)
		}
	})
	t.Run("step 10", func(t *testing.T) {
		e := setup(t, "tcp", "127.0.0.1", []deviation.Deviation{{Step: "10", Action: deviation.NoAnswer}}, nil)
		e.ue.send(e.ue.register(false, initialAuth, 600000), false)
		r401 := e.ue.mustRecv(false)
		auth, _ := e.ue.answer(r401.Get("WWW-Authenticate"), "")
		e.ue.send(e.ue.register(true, auth, 600000), true)
		if raw, err := e.ue.recv(true, time.Second); err == nil {
			t.Errorf("expected nothing, got %q", raw)
		}
		if got := e.vcc.wait(t, 1, 2*time.Second); len(got) != 1 {
			t.Errorf("expected step 11 all the same, got %d", len(got))
		}
	})
	t.Run("step 11", func(t *testing.T) {
		e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "11", Action: deviation.NoAnswer}}, nil)
		if _, r := e.flow(t, ""); r.StatusCode != 200 {
			t.Errorf("expected 200, got %q", r.StartLine)
		}
		if got := e.vcc.wait(t, 1, time.Second); len(got) != 0 {
			t.Errorf("expected no REGISTER at the VCC App, got %d", len(got))
		}
	})
}

func TestReject403(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "10", Action: deviation.Reject403}}, nil)
	if _, r := e.flow(t, ""); r.StatusCode != 403 || r.StartLine != "SIP/2.0 403 Forbidden" {
		t.Errorf("expected 403 Forbidden, got %q", r.StartLine)
	}
	if got := e.vcc.wait(t, 1, time.Second); len(got) != 0 {
		t.Errorf("expected no REGISTER at the VCC App, got %d", len(got))
	}
}

func TestMalformedDeviation(t *testing.T) {
	for _, step := range []string{"5", "10", "11"} {
		for _, value := range []string{"", "SIP/2.0 200 OK but not really\r\n"} {
			t.Run(step+"/"+strings.TrimSpace(value), func(t *testing.T) {
				e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: step, Action: deviation.Malformed, Value: value}}, nil)
				want := value
				if want == "" {
					want = Garbage
				}
				check := func(raw []byte) {
					t.Helper()
					if _, err := sipmsg.Parse(raw); err == nil && value == "" {
						t.Errorf("step %s: expected bytes that do not parse, got %q", step, raw)
					}
					if string(raw) != want {
						t.Errorf("step %s: expected %q, got %q", step, want, raw)
					}
				}
				e.ue.send(e.ue.register(false, initialAuth, 600000), false)
				if step == "5" {
					raw, err := e.ue.recv(false, 3*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					check(raw)
					return
				}
				r401 := e.ue.mustRecv(false)
				auth, _ := e.ue.answer(r401.Get("WWW-Authenticate"), "")
				e.ue.send(e.ue.register(true, auth, 600000), true)
				raw, err := e.ue.recv(true, 3*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if step == "10" {
					check(raw)
					return
				}
				got := e.vcc.wait(t, 1, 3*time.Second)
				if len(got) == 0 {
					t.Fatal("step 11: expected a datagram at the VCC App, got none")
				}
				check(got[0])
				if e.vcc.from[0] != e.core.SCSCF() {
					t.Errorf("expected it from the S-CSCF socket %s, got %s", e.core.SCSCF(), e.vcc.from[0])
				}
			})
		}
	}
}

func TestMalformedInputDoesNotCrash(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			e := setup(t, network, "127.0.0.1", nil, nil)
			bad := [][]byte{
				[]byte("\x00\x01\x02garbage"),
				[]byte("REGISTER sip:registrar.home1.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n"),
				[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP nowhere;branch=z9hG4bKnone\r\nContent-Length: 0\r\n\r\n"),
				[]byte("REGISTER sip:x SIP/2.0\r\nVia: broken\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"),
				[]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: one REGISTER\r\nContent-Length: 0\r\n\r\n"),
				[]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK2\r\nFrom: <sip:a@b>\r\nTo: <sip:nobody@b>\r\nCall-ID: 2\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 0\r\nContent-Length: 0\r\n\r\n"),
				[]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK3\r\nFrom: <sip:a@b>\r\nTo: <sip:nobody@b>\r\nCall-ID: 3\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest nonce=\"!!!\", auts=\"***\"\r\nContent-Length: 0\r\n\r\n"),
				[]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK4\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: 4\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
				[]byte("REGISTER sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"),
			}
			if network == "udp" {
				bad = append(bad, []byte(strings.Repeat("A", 65000)))
				for _, b := range bad {
					e.ue.send(b, false)
				}
			} else {
				for _, b := range bad {
					c, err := dialTCP(e.core.PCSCF().String())
					if err != nil {
						t.Fatal(err)
					}
					c.Write(b)
					c.Close()
				}
			}
			time.Sleep(200 * time.Millisecond)
			// Drain what the core answered (400, 405, 483, 403...).
			for {
				if _, err := e.ue.recv(false, 100*time.Millisecond); err != nil {
					break
				}
				if network == "tcp" {
					break
				}
			}
			ue := newUE(t, network, "127.0.0.1", e.core.PCSCF(), e.lab)
			e.ue = ue
			if _, r := e.flow(t, ""); r.StatusCode != 200 {
				t.Errorf("expected the core to still register, got %q", r.StartLine)
			}
		})
	}
}
