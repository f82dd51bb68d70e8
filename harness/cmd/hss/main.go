// Command hss runs the HSS emulator (harness/hss) alone, speaking Diameter Cx
// over TCP for the lab's subscriber, so that a real IMS core (Kamailio's
// I-CSCF and S-CSCF) can use it:
//
//	hss [-lab lab.yaml] [-listen 192.0.2.1:3868] [-origin-host hss.home1.net] [-realm home1.net] [-server-name sip:scscf...] [-peers icscf.x,scscf.x]
//	    [-watchdog 30s] [-message-timeout 10s] [-debug 127.0.0.1:port] [-v]
//
// The defaults come from the lab's hss section (listen, origin_host,
// origin_realm, server_name, icscf_peer and scscf_peer), then from the
// built-in values shown by -h; IMSCONFORM_<PATH> environment variables
// override the lab file as for the suite. Besides the lab's subscriber it
// serves the lab's population (subscribers), for a load run. It binds any
// address of this host. Whatever a peer does, its connection costs one
// goroutine and at most 64 KiB of message buffer, for a bounded time: the
// watchdog (RFC 3539) drops a peer silent for 3·Tw, a connection that sends
// no CER within Tw is closed, and so is one that leaves a message half-sent
// past -message-timeout. It prints
// where it listens and stops on SIGINT or SIGTERM. It never prints K, OP,
// OPc, XRES, CK or IK.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"imsconform/harness/cmd/internal/stats"
	"imsconform/harness/diameter"
	"imsconform/harness/hss"
	"imsconform/harness/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hss:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hss", flag.ContinueOnError)
	fs.SetOutput(stderr)
	labFile := fs.String("lab", "", "lab profile YAML file; its hss section gives the defaults of the flags below (default: the built-in reference lab)")
	listen := fs.String("listen", "", "Diameter TCP address IP:port, an address of this host (default: the lab's hss.listen, else 127.0.0.1:3868)")
	originHost := fs.String("origin-host", "", "Origin-Host (DiameterIdentity) of the HSS (default: the lab's hss.origin_host)")
	realm := fs.String("realm", "", "Origin-Realm of the HSS (default: the lab's hss.origin_realm, else its home_domain)")
	serverName := fs.String("server-name", "", "S-CSCF SIP URI returned in UAA and LIA (default: the lab's hss.server_name, else sip: + core.scscf_name)")
	peers := fs.String("peers", "", "comma-separated Origin-Hosts whose CER is accepted; others get DIAMETER_UNKNOWN_PEER (default: the lab's hss.icscf_peer and hss.scscf_peer, else any)")
	tw := fs.Duration("watchdog", diameter.DefaultWatchdog, "Tw, the watchdog interval (RFC 3539; at least 6s): DWR after Tw idle, a peer silent for 3·Tw dropped, a connection without CER closed after Tw")
	msgTimeout := fs.Duration("message-timeout", diameter.DefaultMessageTimeout, "close a connection whose message is not complete so long after its first byte")
	verbose := fs.Bool("v", false, "log every Cx request to stderr")
	debug := fs.String("debug", "", "serve expvar (/debug/vars: memstats, goroutines) and pprof (/debug/pprof/) on this loopback host:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("expected only flags, got %q", fs.Args())
	}
	// The environment overrides the file as for the suite
	// (IMSCONFORM_SUBSCRIBER_K, IMSCONFORM_SUBSCRIBERS_COUNT, ...).
	p, err := lab.Resolve(*labFile, os.Environ(), nil)
	if err != nil {
		return err
	}
	addr := *listen
	if addr == "" {
		addr = p.HSS.Listen
	}
	if addr == "" {
		addr = "127.0.0.1:3868"
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("-listen: expected an IP literal and port such as 192.0.2.1:3868 or [2001:db8::1]:3868, got %q", addr)
	}
	if a := ap.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("-listen: expected one address of this host, got %s", a)
	}
	cfg, err := hss.ConfigForLab(p)
	if err != nil {
		return err
	}
	if *originHost != "" {
		cfg.OriginHost = *originHost
	}
	if *realm != "" {
		cfg.OriginRealm = *realm
	}
	if *serverName != "" {
		cfg.ServerName = *serverName
	}
	if *peers != "" {
		cfg.Peers = nil
		for _, peer := range strings.Split(*peers, ",") {
			if peer = strings.TrimSpace(peer); peer != "" {
				cfg.Peers = append(cfg.Peers, peer)
			}
		}
	}
	if *tw < 6*time.Second {
		return fmt.Errorf("-watchdog: expected at least 6s (RFC 3539 3.4.1), got %s", *tw)
	}
	if *msgTimeout <= 0 {
		return fmt.Errorf("-message-timeout: expected a duration above 0, got %s", *msgTimeout)
	}
	cfg.Watchdog, cfg.MessageTimeout = *tw, *msgTimeout
	logger := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
	cfg.Logf = func(format string, args ...any) {
		if *verbose {
			logger.Printf(format, args...)
		}
	}
	h, err := hss.New(cfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", ap.String())
	if err != nil {
		return fmt.Errorf("-listen: expected to listen on TCP %s, got: %w", ap, err)
	}
	accepts := "any peer"
	if len(cfg.Peers) > 0 {
		accepts = "peers " + strings.Join(cfg.Peers, ", ")
	}
	fmt.Fprintf(stdout, "HSS %s (realm %s) listening on %s/tcp, Cx for %s, S-CSCF %s, accepting %s\n", cfg.OriginHost, cfg.OriginRealm, l.Addr(), cfg.Subscriber.IMPI, cfg.ServerName, accepts)
	if *debug != "" {
		at, err := stats.Serve(ctx, *debug)
		if err != nil {
			l.Close()
			return err
		}
		fmt.Fprintf(stdout, "debug endpoint on http://%s/debug/vars\n", at)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(l) }()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping")
		h.Close()
		<-done
		return nil
	case err := <-done:
		h.Close()
		if errors.Is(err, diameter.ErrServerClosed) {
			return nil
		}
		return err
	}
}
