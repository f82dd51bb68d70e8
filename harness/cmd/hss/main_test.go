package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
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
	// An address of no interface of this host: the bind fails and says so.
	err := run(context.Background(), []string{"-listen", "198.51.100.250:3868"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "expected to listen on TCP 198.51.100.250:3868") {
		t.Errorf("expected an error naming the address it could not listen on, got %v", err)
	}
}

func TestDefaultsFromTheLabSection(t *testing.T) {
	// hss.listen takes a fixed port, as a lab's CSCFs are configured with
	// one: take a free one.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	lab := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(lab, []byte("sut:\n  pcscf: 127.0.0.2:5060\nhss:\n  listen: "+addr+"\n  origin_host: hss.lab.test\n  origin_realm: lab.test\n  icscf_peer: icscf.lab.test\n  scscf_peer: scscf.lab.test\n  server_name: sip:scscf.lab.test:6060\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-lab", lab}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("expected a line saying where it listens, got none (run: %v)", <-done)
	}
	want := regexp.MustCompile(`^HSS hss\.lab\.test \(realm lab\.test\) listening on 127\.0\.0\.1:\d+/tcp, Cx for user1_private@home1\.net, S-CSCF sip:scscf\.lab\.test:6060, accepting peers icscf\.lab\.test, scscf\.lab\.test$`)
	if !want.MatchString(lines.Text()) {
		t.Errorf("got %q, want it to match %s", lines.Text(), want)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
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
