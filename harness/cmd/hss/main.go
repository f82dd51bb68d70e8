// Command hss runs the HSS emulator (harness/hss) alone, speaking Diameter Cx
// over TCP for the lab's subscriber, so that a real IMS core (Kamailio's
// I-CSCF and S-CSCF) can use it:
//
//	hss [-lab lab.yaml] [-listen 127.0.0.1:3868] [-origin-host hss.home1.net] [-realm home1.net] [-server-name sip:scscf...] [-v]
//
// It prints where it listens and stops on SIGINT or SIGTERM. It binds
// loopback addresses only. It never prints K, OP, OPc, XRES, CK or IK.
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
	"syscall"

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
	labFile := fs.String("lab", "", "lab profile YAML file (default: the built-in reference lab)")
	listen := fs.String("listen", "127.0.0.1:3868", "Diameter TCP address host:port on loopback")
	originHost := fs.String("origin-host", "hss.home1.net", "Origin-Host (DiameterIdentity) of the HSS")
	realm := fs.String("realm", "", "Origin-Realm of the HSS (default: the lab's home_domain)")
	serverName := fs.String("server-name", "", "S-CSCF SIP URI returned in UAA and LIA (default: sip: + the lab's core.scscf_name)")
	verbose := fs.Bool("v", false, "log every Cx request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("expected only flags, got %q", fs.Args())
	}
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen: expected an IP literal and port such as 127.0.0.1:3868, got %q", *listen)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("-listen: expected a loopback address (127.0.0.0/8 or ::1), got %s", ap.Addr())
	}
	var p *lab.Profile
	if *labFile != "" {
		if p, err = lab.Load(*labFile); err != nil {
			return err
		}
	} else {
		p = lab.Default()
	}
	r := *realm
	if r == "" {
		r = p.HomeDomain
	}
	cfg, err := hss.ConfigFromProfile(p, *originHost, r)
	if err != nil {
		return err
	}
	if *serverName != "" {
		cfg.ServerName = *serverName
	}
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
		return err
	}
	fmt.Fprintf(stdout, "HSS %s (realm %s) listening on %s/tcp, Cx for %s, S-CSCF %s\n", cfg.OriginHost, cfg.OriginRealm, l.Addr(), cfg.Subscriber.IMPI, cfg.ServerName)
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
