// Package sipstack is the one place that configures github.com/emiago/sipgo for
// every SIP role of the harness (UE emulator, mock VCC Application, reference
// core tests): it sets sipgo's process-wide knobs once (transaction timers
// suited to loopback, the UDP size limit, a quiet default logger) and builds
// user agents, servers and clients bound to a given loopback address and
// transport, with an optional transport read filter for trace capture.
//
// It is not a SIP stack of its own and knows nothing of the registration flow.
package sipstack

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Timers applied once to sipgo (process-wide): short enough that a missing
// answer on loopback is noticed within seconds (Timer B/F = 64*T1 = 3.2 s).
const (
	T1 = 50 * time.Millisecond
	T2 = 400 * time.Millisecond
	T4 = 500 * time.Millisecond
)

// UDPMTUSize is the value sip.UDPMTUSize is raised to: sipgo refuses to send
// a UDP request larger than UDPMTUSize-200 bytes. The harness talks over
// loopback (MTU 65536) and must be able to send what a table asks for over the
// transport the lab names, so it does not switch to TCP (RFC 3261 18.1.1).
const UDPMTUSize = 65000

var once sync.Once

// Init sets sipgo's process-wide knobs. It runs once per process; later calls
// do nothing. logger is the default logger for sipgo; nil means a logger that
// discards everything (sipgo logs every unparseable datagram). Every helper of
// this package calls Init(nil) first, so call Init yourself before them only
// to see sipgo's logs.
func Init(logger *slog.Logger) {
	once.Do(func() {
		sip.SetTimers(T1, T2, T4)
		sip.UDPMTUSize = UDPMTUSize
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		sip.SetDefaultLogger(logger)
	})
}

// Options configure a user agent built by NewUA.
type Options struct {
	// Name is the User-Agent name (default "imsconform").
	Name string
	// Hostname is the UA's hostname, used by sipgo in From headers it builds.
	Hostname string
	// ReadFilter sees every datagram or stream chunk before it is parsed,
	// including those that do not parse (for trace capture). Optional.
	ReadFilter sip.TransportReadFilter
	// Logger for this UA's transport and transaction layers; nil = Init's.
	Logger *slog.Logger
}

// NewUA builds a sipgo user agent with the harness defaults.
func NewUA(o Options) (*sipgo.UserAgent, error) {
	Init(nil)
	name := o.Name
	if name == "" {
		name = "imsconform"
	}
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent(name)}
	if o.Hostname != "" {
		opts = append(opts, sipgo.WithUserAgentHostname(o.Hostname))
	}
	var tp []sip.TransportLayerOption
	if o.ReadFilter != nil {
		tp = append(tp, sip.WithTransportLayerReadFilter(o.ReadFilter))
	}
	if o.Logger != nil {
		tp = append(tp, sip.WithTransportLayerLogger(o.Logger))
		opts = append(opts, sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(o.Logger)))
	}
	if len(tp) > 0 {
		opts = append(opts, sipgo.WithUserAgentTransportLayerOptions(tp...))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		return nil, fmt.Errorf("sipstack: new user agent: %w", err)
	}
	return ua, nil
}

// Network normalises a transport name: "udp" or "tcp" (case-insensitive).
func Network(transport string) (string, error) {
	switch strings.ToLower(transport) {
	case "udp", "":
		return "udp", nil
	case "tcp":
		return "tcp", nil
	}
	return "", fmt.Errorf("sipstack: transport: expected \"udp\" or \"tcp\", got %q", transport)
}

// CheckLoopback returns an error unless hostport ("host:port", host an IP
// literal, IPv6 in brackets) names a loopback address.
func CheckLoopback(hostport string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sipstack: bind address: expected host:port with an IP literal, got %q: %v", hostport, err)
	}
	if !ap.Addr().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("sipstack: bind address: expected a loopback address (127.0.0.0/8 or ::1), got %s", ap.Addr())
	}
	return ap, nil
}

// Listener is a bound socket: a *net.UDPConn for "udp" or a *net.TCPListener
// for "tcp".
type Listener struct {
	Network string
	Addr    netip.AddrPort // the address actually bound (port 0 resolved)
	Packet  net.PacketConn // set for udp
	Stream  net.Listener   // set for tcp
}

// Close closes the socket.
func (l *Listener) Close() error {
	if l.Packet != nil {
		return l.Packet.Close()
	}
	if l.Stream != nil {
		return l.Stream.Close()
	}
	return nil
}

// Listen binds hostport (loopback only; port 0 = ephemeral) for transport.
func Listen(transport, hostport string) (*Listener, error) {
	network, err := Network(transport)
	if err != nil {
		return nil, err
	}
	ap, err := CheckLoopback(hostport)
	if err != nil {
		return nil, err
	}
	l := &Listener{Network: network}
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("sipstack: listen udp %s: %w", ap, err)
		}
		l.Packet = c
		l.Addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
	default:
		c, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return nil, fmt.Errorf("sipstack: listen tcp %s: %w", ap, err)
		}
		l.Stream = c
		l.Addr = c.Addr().(*net.TCPAddr).AddrPort()
	}
	l.Addr = netip.AddrPortFrom(l.Addr.Addr().Unmap(), l.Addr.Port())
	return l, nil
}

// Serve binds hostport (loopback only) for transport and serves srv on it in
// the background until ctx ends or the socket is closed. It returns the bound
// socket at once: its Addr is the address to give peers.
func Serve(ctx context.Context, srv *sipgo.Server, transport, hostport string) (*Listener, error) {
	l, err := Listen(transport, hostport)
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	if l.Packet != nil {
		go srv.ServeUDP(l.Packet)
	} else {
		go srv.ServeTCP(l.Stream)
	}
	return l, nil
}

// NewServer builds a sipgo server on ua.
func NewServer(ua *sipgo.UserAgent) (*sipgo.Server, error) {
	Init(nil)
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return nil, fmt.Errorf("sipstack: new server: %w", err)
	}
	return srv, nil
}

// NewClient builds a sipgo client on ua whose requests leave from local
// (host:port, loopback): when a server of the same ua serves that address, the
// client sends from that very socket (UDP) so that responses and requests
// share it, and its Via sent-by is that address.
func NewClient(ua *sipgo.UserAgent, local netip.AddrPort) (*sipgo.Client, error) {
	Init(nil)
	if !local.Addr().IsLoopback() {
		return nil, fmt.Errorf("sipstack: client address: expected a loopback address, got %s", local.Addr())
	}
	c, err := sipgo.NewClient(ua,
		sipgo.WithClientHostname(local.Addr().String()),
		sipgo.WithClientPort(int(local.Port())),
		sipgo.WithClientConnectionAddr(local.String()),
	)
	if err != nil {
		return nil, fmt.Errorf("sipstack: new client: %w", err)
	}
	return c, nil
}
