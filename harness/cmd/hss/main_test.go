package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"imsconform/harness/diameter"
)

func TestRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:3868"},
		{"-listen", "[::]:0"},
		{"-listen", "localhost:3868"},
		{"-lab", "/nonexistent/lab.yaml"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: expected an error, got none", args)
		}
	}
	err := run(context.Background(), []string{"-listen", "192.0.2.1:3868"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("expected an error naming loopback, got %v", err)
	}
}

func TestRunsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-origin-host", "hss.test", "-realm", "test"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("expected a line saying where it listens, got none")
	}
	m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)/tcp`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("expected \"listening on 127.0.0.1:PORT/tcp\", got %q", lines.Text())
	}
	c, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatalf("dial %s: %v", m[1], err)
	}
	defer c.Close()
	cer := diameter.NewRequest(diameter.CmdCapabilitiesExchange, 0, 1, 1,
		diameter.DiameterIdentity(diameter.AVPOriginHost, 0, diameter.AVPFlagMandatory, "scscf.test"),
		diameter.DiameterIdentity(diameter.AVPOriginRealm, 0, diameter.AVPFlagMandatory, "test"),
		diameter.Unsigned32(diameter.AVPAuthApplicationID, 0, diameter.AVPFlagMandatory, diameter.AppCx))
	b, _ := cer.Marshal()
	c.Write(b)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := diameter.ReadMessage(c, 0)
	if err != nil {
		t.Fatalf("read CEA: %v", err)
	}
	cea, err := diameter.Unmarshal(raw)
	if err != nil {
		t.Fatalf("decode CEA: %v", err)
	}
	oh, _ := cea.Find(diameter.AVPOriginHost, 0)
	if string(oh.Data) != "hss.test" {
		t.Errorf("CEA Origin-Host: expected hss.test, got %q", oh.Data)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: expected nil, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not stop within 5 s of cancel")
	}
}
