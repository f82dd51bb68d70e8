// Command refcore runs the embedded reference IMS core (P-CSCF, I-CSCF,
// S-CSCF and HSS on loopback) alone, so that a UE or SIPp can register
// against it:
//
//	refcore -lab lab.yaml [-transport udp|tcp] [-listen host:port] [-vcc host:port[,host:port...]] [-subscribers N] [-hss host:port]
//	        [-tc 2s] [-watchdog 30s] [-idle-timeout 2m] [-header-timeout 32s]
//	        [-max-connections 1024] [-max-transactions 4096] [-debug host:port] [-v]
//
// Its in-memory HSS serves the lab's subscriber and the lab's population
// (the subscribers section; -subscribers N sets its count), so that a load
// run (harness/cmd/imsload) or SIPp can register N UEs.
//
// It prints where the P-CSCF listens and where the S-CSCF sends the REGISTER
// of step 11, and stops on SIGINT or SIGTERM. With -hss the I-CSCF and the
// S-CSCF query that HSS over Diameter Cx (e.g. the hss command), connecting
// at once and again every -tc while they have no connection; until then the
// I-CSCF answers 480. The limits (see refcore.Limits) bound what a flood or
// a slow peer can make it hold. It binds loopback addresses only. It is not
// the conformance suite.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"imsconform/harness/cmd/internal/stats"
	"imsconform/harness/diameter"
	"imsconform/harness/lab"
	"imsconform/harness/refcore"
	siptransport "imsconform/harness/transport"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "refcore:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refcore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	labFile := fs.String("lab", "", "lab profile YAML file (default: the built-in reference lab)")
	transport := fs.String("transport", "", "UE-facing transport: udp or tcp (default: the lab's sut.transport, else udp)")
	listen := fs.String("listen", "", "P-CSCF address host:port on loopback (default: the lab's sut.pcscf, else port 0 on the lab's loopback)")
	vcc := fs.String("vcc", "", "VCC Application address host:port for step 11 (default: the lab's vcc_app.listen when its port is not 0); several, comma-separated, send the step 11 of the i-th slice of the population to the i-th (a load run in shards)")
	hssAddr := fs.String("hss", "", "Diameter Cx address host:port on loopback of the HSS the I-CSCF and the S-CSCF query (default: the in-memory HSS)")
	tc := fs.Duration("tc", refcore.DefaultTc, "with -hss: interval between attempts to connect to the HSS (RFC 6733 Tc)")
	tw := fs.Duration("watchdog", diameter.DefaultWatchdog, "with -hss: Tw, the Diameter watchdog interval (RFC 3539; at least 6s)")
	idle := fs.Duration("idle-timeout", refcore.DefaultIdleTimeout, "close a TCP connection idle for so long")
	header := fs.Duration("header-timeout", 0, "close a TCP connection whose message is not complete so long after its first byte (default 64·T1, 32s)")
	maxConns := fs.Int("max-connections", refcore.DefaultMaxConnections, "TCP connections each hop keeps accepted; more are closed at once")
	maxTx := fs.Int("max-transactions", refcore.DefaultMaxTransactions, "server transactions of each hop; a request beyond them is answered 503")
	debug := fs.String("debug", "", "serve expvar (/debug/vars: memstats, goroutines) and pprof (/debug/pprof/) on this loopback host:port")
	verbose := fs.Bool("v", false, "log every step of the core to stderr")
	population := fs.Int("subscribers", -1, "the number of subscribers of the lab's population (subscribers section) the HSS serves besides the lab's subscriber (default: the lab's subscribers.count)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("expected only flags, got %q", fs.Args())
	}
	var p *lab.Profile
	if *labFile != "" {
		var err error
		if p, err = lab.Load(*labFile); err != nil {
			return err
		}
	} else {
		p = lab.DefaultFor(lab.Loopback())
	}
	if *population >= 0 {
		p.Subscribers.Count = *population
	}
	pop, err := p.Population(0)
	if err != nil {
		return err
	}
	tr := *transport
	if tr == "" {
		tr = p.SUT.Transport
	}
	if _, err := siptransport.Network(tr); err != nil {
		return err
	}
	entry := *listen
	if entry == "" {
		entry = p.SUT.PCSCF
	}
	host := ""
	if entry != "" {
		ap, err := refcore.LoopbackAddr(entry)
		if err != nil {
			return fmt.Errorf("-listen: %w", err)
		}
		host = ap.Addr().String()
	} else {
		host = p.UE.Address
		if a, err := netip.ParseAddr(host); err != nil || !a.IsLoopback() {
			host = lab.Loopback()
		}
	}
	var vccAddr netip.AddrPort
	v := *vcc
	if v == "" {
		if ap, err := netip.ParseAddrPort(p.VCCApp.Listen); err == nil && ap.Port() != 0 {
			v = p.VCCApp.Listen
		}
	}
	var shardVCC []netip.AddrPort
	if v != "" {
		for _, one := range strings.Split(v, ",") {
			ap, err := refcore.LoopbackAddr(strings.TrimSpace(one))
			if err != nil {
				return fmt.Errorf("-vcc: %w", err)
			}
			shardVCC = append(shardVCC, ap)
		}
		vccAddr = shardVCC[0]
		if len(shardVCC) == 1 {
			shardVCC = nil
		} else if pop == nil {
			return fmt.Errorf("-vcc: %d addresses, one per shard of the population, but the lab has no population (subscribers.count, -subscribers)", len(shardVCC))
		}
	}
	var hssAP netip.AddrPort
	if *hssAddr != "" {
		ap, err := refcore.LoopbackAddr(*hssAddr)
		if err != nil {
			return fmt.Errorf("-hss: %w", err)
		}
		hssAP = ap
	}
	if *tw < 6*time.Second {
		return fmt.Errorf("-watchdog: expected at least 6s (RFC 3539 3.4.1), got %s", *tw)
	}
	if *tc <= 0 || *idle <= 0 || *header < 0 || *maxConns <= 0 || *maxTx <= 0 {
		return fmt.Errorf("expected -tc, -idle-timeout, -max-connections and -max-transactions above 0 and -header-timeout not below 0")
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *debug != "" {
		at, err := stats.Serve(ctx, *debug)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "debug endpoint on http://%s/debug/vars\n", at)
	}
	core, err := refcore.Start(ctx, refcore.Config{Lab: p, Host: host, Transport: tr, EntryAddr: entry, VCCApp: vccAddr, ShardVCCApps: shardVCC, Population: pop, Logger: logger,
		HSS: hssAP, Tc: *tc, Watchdog: *tw, CxWait: -1,
		Limits: refcore.Limits{IdleTimeout: *idle, HeaderTimeout: *header, MaxConnections: *maxConns, MaxTransactions: *maxTx}})
	if err != nil {
		return err
	}
	defer core.Close()
	profile := p.Profile
	if profile == "" {
		profile = "a322"
	}
	fmt.Fprintf(stdout, "P-CSCF listening on %s/%s (profile %s)\n", core.PCSCF(), tr, profile)
	if pop != nil {
		fmt.Fprintf(stdout, "HSS serves %s and %d subscribers %s to %s\n", p.Subscriber.IMPI, pop.Len(), pop.IMPI(0), pop.IMPI(pop.Len()-1))
	}
	if hssAP.IsValid() {
		fmt.Fprintf(stdout, "I-CSCF and S-CSCF query the HSS at %s/tcp (Diameter Cx), connecting every %s until connected\n", hssAP, *tc)
	}
	switch {
	case len(shardVCC) > 1:
		for i, a := range shardVCC {
			fmt.Fprintf(stdout, "step 11 REGISTER of shard %d/%d goes to %s/%s from the S-CSCF at %s\n", i, len(shardVCC), a, tr, core.SCSCF())
		}
	case vccAddr.IsValid():
		fmt.Fprintf(stdout, "step 11 REGISTER goes to %s/%s from the S-CSCF at %s\n", vccAddr, tr, core.SCSCF())
	default:
		fmt.Fprintln(stdout, "step 11 REGISTER is not sent: no VCC Application address (-vcc or vcc_app.listen with a port)")
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	if err := core.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
