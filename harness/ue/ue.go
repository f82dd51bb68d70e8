// Package ue is the VCC UE emulator of the registration flow of TS 24.206
// annex A.3.2.2: it sends the REGISTER of table A.3.2.2-2 to the P-CSCF (the
// entry point of the system under test, used as outbound proxy), verifies the
// AUTN of the 401 challenge with Milenage (answering an SQN out of range with
// an AUTS, RFC 3310 3.4), and sends the REGISTER of table A.3.2.2-7 with the
// AKAv1-MD5 digest response from its protected client port (port-c), Via and
// Contact naming its protected server port (port-s). It receives the 200 OK
// on port-s (the Via sent-by, RFC 3261 18.2.2, without security associations)
// or on port-c (over security associations, TS 33.203 7.1): it listens on
// both. It also re-registers and de-registers.
//
// It owns its sockets (UDP or TCP, 127.0.0.1 or [::1]) so that every byte and
// every port is what the lab says, records every message it sends or receives
// into a trace (role "UE"), including datagrams that do not parse, and applies
// the deviations of the steps it sends (2 and 7). There is no real IPsec: the
// protected REGISTER goes to the same P-CSCF address as the first one.
//
// It knows nothing of checks: it reports what it sent and what came back, and
// how the AUTN verified. Key material (K, OP, OPc, RES, CK, IK) never appears
// in its logs or errors.
package ue

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipstack"
	"imsconform/harness/trace"
	"imsconform/harness/ue/sipwire"
)

// Role is the trace role of the UE emulator.
const Role = "UE"

// Retransmission timers for requests over UDP (RFC 3261 17.1.2.2).
const (
	T1 = 500 * time.Millisecond
	T2 = 4 * time.Second
)

// DefaultExpires is the expiry requested when the lab gives none (the value
// of table A.3.2.2-2).
const DefaultExpires = 600000

// DefaultTimeout bounds the wait for each response when neither Options nor
// the lab give one.
const DefaultTimeout = 5 * time.Second

// Options configure a UE.
type Options struct {
	// Lab gives the identities, the subscriber keys, the UE's address, ports,
	// SPIs, sigcomp, P-Access-Network-Info, expiry and the registrar. Required.
	Lab *lab.Profile
	// PCSCF is the SUT's entry point, where every REGISTER goes. Required.
	PCSCF netip.AddrPort
	// Transport is "UDP" or "TCP" (any case); "" means Lab.SUT.Transport,
	// then UDP.
	Transport string
	// Host is the UE's address (loopback only); the zero value means
	// Lab.UE.Address, then ::1.
	Host netip.Addr
	// Trace receives every message; nil means a new trace (see UE.Trace).
	Trace *trace.Trace
	// Deviations of the steps the UE sends: "2" and "7" (header edits,
	// wrong-res, no-answer, malformed). Those of other steps are ignored.
	// They apply to the first registration (Register) only.
	Deviations []deviation.Deviation
	// Timeout bounds the wait for each response; 0 means Lab.Timeouts.Step,
	// then DefaultTimeout.
	Timeout time.Duration
	// SQNMS is the highest SQN the USIM has accepted at start (48 bits).
	SQNMS uint64
	// Logger receives one debug line per message (start lines only); nil
	// discards.
	Logger *slog.Logger
}

// Addrs are the UE's addresses and security-agreement parameters as bound.
type Addrs struct {
	Transport string     // "UDP" or "TCP"
	Host      netip.Addr // the UE's IP
	Port      uint16     // unprotected port: initial REGISTER, its 401
	PortC     uint16     // protected client port: the protected REGISTER leaves from it
	PortS     uint16     // protected server port: Via/Contact of the protected REGISTER; without SAs the 200 OK comes here over UDP
	SPIC      uint32
	SPIS      uint32
}

// HostString is the host as it appears in a SIP URI or Via: "[::1]" or
// "127.0.0.1".
func (a Addrs) HostString() string { return hostString(a.Host) }

func hostString(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.Unmap().String()
}

// UE is one emulated VCC UE. Its methods are safe for concurrent use, but one
// registration (Call-ID) must not be driven from two goroutines at once.
type UE struct {
	lab       *lab.Profile
	pcscf     netip.AddrPort
	transport string // "UDP" or "TCP"
	addrs     Addrs
	tr        *trace.Trace
	devs      []deviation.Deviation
	timeout   time.Duration
	log       *slog.Logger
	usim      *aka.USIM
	expires   int

	// UDP sockets.
	udpPlain, udpC, udpS *net.UDPConn
	// TCP: connections to the P-CSCF from the unprotected port and from
	// port-c, and a listener on port-s.
	tcpMu             sync.Mutex
	tcpPlain, tcpC    net.Conn
	tcpS              net.Listener
	tcpAccepted       []net.Conn
	closed            bool
	closeOnce         sync.Once
	wg                sync.WaitGroup
	pendingMu         sync.Mutex
	pending           map[string]*txn
	registrar         string
	impi, impu, realm string
}

type txn struct {
	callID string
	cseq   uint32
	ch     chan sipwire.Inbound
}

// New checks the options, binds the UE's sockets and starts receiving.
func New(o Options) (*UE, error) {
	if o.Lab == nil {
		return nil, errors.New("ue: options: expected a lab profile, got nil")
	}
	if !o.PCSCF.IsValid() {
		return nil, errors.New("ue: options: expected the P-CSCF address (host:port), got none")
	}
	l := o.Lab
	if len(l.Subscriber.IMPUs) == 0 || l.Subscriber.IMPI == "" {
		return nil, fmt.Errorf("ue: lab: expected an IMPI and at least one IMPU, got IMPI %q and %d IMPUs", l.Subscriber.IMPI, len(l.Subscriber.IMPUs))
	}
	if l.Registrar == "" {
		return nil, errors.New("ue: lab: expected a registrar URI, got none")
	}
	tp := o.Transport
	if tp == "" {
		tp = l.SUT.Transport
	}
	network, err := sipstack.Network(tp)
	if err != nil {
		return nil, fmt.Errorf("ue: %w", err)
	}
	host := o.Host
	if !host.IsValid() {
		if l.UE.Address != "" {
			host, err = netip.ParseAddr(strings.Trim(l.UE.Address, "[]"))
			if err != nil {
				return nil, fmt.Errorf("ue: lab ue.address: expected an IP literal, got %q", l.UE.Address)
			}
		} else {
			host = netip.IPv6Loopback()
		}
	}
	host = host.Unmap()
	if !host.IsLoopback() {
		return nil, fmt.Errorf("ue: address: expected a loopback address (127.0.0.0/8 or ::1), got %s", host)
	}
	if pc := o.PCSCF.Addr().Unmap(); !pc.IsLoopback() {
		return nil, fmt.Errorf("ue: P-CSCF: expected a loopback address (127.0.0.0/8 or ::1), got %s: the harness talks to loopback only", o.PCSCF)
	}
	mil, err := milenage(l.Subscriber)
	if err != nil {
		return nil, err
	}
	u := &UE{
		lab:       l,
		pcscf:     netip.AddrPortFrom(o.PCSCF.Addr().Unmap(), o.PCSCF.Port()),
		transport: strings.ToUpper(network),
		tr:        o.Trace,
		devs:      o.Deviations,
		timeout:   o.Timeout,
		log:       o.Logger,
		usim:      aka.NewUSIM(mil, aka.SQNFromUint64(o.SQNMS), 0),
		expires:   l.UE.Expires,
		pending:   map[string]*txn{},
		registrar: l.Registrar,
		impi:      l.Subscriber.IMPI,
		impu:      l.Subscriber.IMPUs[0],
		realm:     l.Realm,
	}
	if u.tr == nil {
		u.tr = trace.New()
	}
	if u.timeout <= 0 {
		u.timeout = l.Timeouts.Step
	}
	if u.timeout <= 0 {
		u.timeout = DefaultTimeout
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.expires <= 0 {
		u.expires = DefaultExpires
	}
	if u.realm == "" {
		u.realm = strings.TrimPrefix(strings.TrimPrefix(l.Registrar, "sips:"), "sip:")
	}
	u.addrs = Addrs{Transport: u.transport, Host: host, SPIC: l.UE.SPIC, SPIS: l.UE.SPIS}
	if u.addrs.SPIC == 0 {
		u.addrs.SPIC = rand.Uint32N(1<<31) + 256
	}
	if u.addrs.SPIS == 0 {
		u.addrs.SPIS = rand.Uint32N(1<<31) + 256
	}
	if err := u.bind(host, l.UE); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

func milenage(s lab.Subscriber) (*aka.Milenage, error) {
	k, err := hex.DecodeString(s.K.Reveal())
	if err != nil || len(k) != aka.KeyLen {
		return nil, fmt.Errorf("ue: lab subscriber.k: expected %d bytes as hex, got a value that is not", aka.KeyLen)
	}
	var op, opc []byte
	switch {
	case !s.OPc.IsZero():
		opc, err = hex.DecodeString(s.OPc.Reveal())
		if err != nil {
			return nil, errors.New("ue: lab subscriber.opc: expected hex, got a value that is not")
		}
	case !s.OP.IsZero():
		op, err = hex.DecodeString(s.OP.Reveal())
		if err != nil {
			return nil, errors.New("ue: lab subscriber.op: expected hex, got a value that is not")
		}
	default:
		return nil, errors.New("ue: lab subscriber: expected op or opc, got neither")
	}
	m, err := aka.NewMilenage(k, op, opc)
	if err != nil {
		return nil, fmt.Errorf("ue: lab subscriber keys: %w", err)
	}
	return m, nil
}

func hostport(ip netip.Addr, port int) string {
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

func (u *UE) bind(host netip.Addr, c lab.UE) error {
	if u.transport == "UDP" {
		bindUDP := func(port int) (*net.UDPConn, uint16, error) {
			l, err := sipstack.Listen("udp", hostport(host, port))
			if err != nil {
				return nil, 0, fmt.Errorf("ue: %w", err)
			}
			return l.Packet.(*net.UDPConn), l.Addr.Port(), nil
		}
		var err error
		if u.udpPlain, u.addrs.Port, err = bindUDP(c.Port); err != nil {
			return err
		}
		if u.udpC, u.addrs.PortC, err = bindUDP(c.PortC); err != nil {
			return err
		}
		if u.udpS, u.addrs.PortS, err = bindUDP(c.PortS); err != nil {
			return err
		}
		for _, conn := range []*net.UDPConn{u.udpPlain, u.udpC, u.udpS} {
			u.wg.Add(1)
			go u.readUDP(conn)
		}
		return nil
	}
	l, err := sipstack.Listen("tcp", hostport(host, c.PortS))
	if err != nil {
		return fmt.Errorf("ue: %w", err)
	}
	u.tcpS = l.Stream
	u.addrs.PortS = l.Addr.Port()
	u.wg.Add(1)
	go u.acceptTCP()
	if u.tcpPlain, err = u.dial(host, c.Port); err != nil {
		return err
	}
	u.addrs.Port = sipwire.AddrPort(u.tcpPlain.LocalAddr()).Port()
	if u.tcpC, err = u.dial(host, c.PortC); err != nil {
		return err
	}
	u.addrs.PortC = sipwire.AddrPort(u.tcpC.LocalAddr()).Port()
	return nil
}

// dial opens a TCP connection to the P-CSCF from host:port and starts
// reading it.
func (u *UE) dial(host netip.Addr, port int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(host, uint16(port))), Timeout: u.timeout}
	conn, err := d.Dial("tcp", u.pcscf.String())
	if err != nil {
		return nil, fmt.Errorf("ue: expected a TCP connection to the P-CSCF %s from %s, got: %w", u.pcscf, hostport(host, port), err)
	}
	u.wg.Add(1)
	go u.readTCP(conn)
	return conn, nil
}

// Addrs returns the UE's bound addresses and SPIs.
func (u *UE) Addrs() Addrs { return u.addrs }

// Trace returns the trace the UE records into.
func (u *UE) Trace() *trace.Trace { return u.tr }

// Close closes every socket and waits for the receivers to stop.
func (u *UE) Close() error {
	u.closeOnce.Do(func() {
		u.tcpMu.Lock()
		u.closed = true
		for _, c := range []net.Conn{u.tcpPlain, u.tcpC} {
			if c != nil {
				c.Close()
			}
		}
		for _, c := range u.tcpAccepted {
			c.Close()
		}
		if u.tcpS != nil {
			u.tcpS.Close()
		}
		u.tcpMu.Unlock()
		for _, c := range []*net.UDPConn{u.udpPlain, u.udpC, u.udpS} {
			if c != nil {
				c.Close()
			}
		}
	})
	u.wg.Wait()
	return nil
}

func (u *UE) readUDP(c *net.UDPConn) {
	defer u.wg.Done()
	local := sipwire.AddrPort(c.LocalAddr())
	buf := make([]byte, 65536)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		u.deliver(sipwire.Read(Role, "UDP", src, local, buf[:n]))
	}
}

func (u *UE) acceptTCP() {
	defer u.wg.Done()
	for {
		c, err := u.tcpS.Accept()
		if err != nil {
			return
		}
		u.tcpMu.Lock()
		if u.closed {
			u.tcpMu.Unlock()
			c.Close()
			return
		}
		u.tcpAccepted = append(u.tcpAccepted, c)
		u.wg.Add(1)
		u.tcpMu.Unlock()
		go u.readTCP(c)
	}
}

func (u *UE) readTCP(c net.Conn) {
	defer u.wg.Done()
	defer c.Close()
	local, remote := sipwire.AddrPort(c.LocalAddr()), sipwire.AddrPort(c.RemoteAddr())
	var f sipwire.Framer
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			f.Write(buf[:n])
			for {
				raw, ok, ferr := f.Next()
				if !ok {
					break
				}
				u.deliver(sipwire.Read(Role, "TCP", remote, local, raw))
				if ferr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// deliver records a received message and hands a response to the
// transaction it answers: matched by the branch of the top Via, else by
// Call-ID and CSeq. Requests (the UE takes none), unmatched responses, bytes
// that do not parse and responses a full transaction cannot take are
// recorded as unrelated.
func (u *UE) deliver(in sipwire.Inbound) {
	if u.log.Enabled(context.Background(), slog.LevelDebug) {
		u.log.Debug("ue: received", "from", in.Msg.Src, "line", firstLine(in.Msg.Raw), "note", in.Msg.Note)
	}
	p := in.Parsed
	if p == nil || p.Request {
		in.Record(u.tr, false)
		return
	}
	branch := ""
	if v := sipwire.TopVia(p); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	callID := sipwire.HeaderValue(p, "Call-ID")
	cseq, _ := sipwire.CSeq(p)
	u.pendingMu.Lock()
	t := u.pending[branch]
	if t == nil {
		for _, c := range u.pending {
			if c.callID == callID && c.cseq == cseq {
				t = c
				break
			}
		}
	}
	u.pendingMu.Unlock()
	if t == nil || len(t.ch) == cap(t.ch) {
		in.Record(u.tr, false)
		return
	}
	in.Record(u.tr, true)
	select {
	case t.ch <- in:
	default:
	}
}

func firstLine(raw []byte) string {
	n := len(raw)
	for i, c := range raw {
		if c == '\r' || c == '\n' {
			n = i
			break
		}
	}
	return string(raw[:min(n, 80)])
}

func (u *UE) debugSent(raw []byte) {
	if u.log.Enabled(context.Background(), slog.LevelDebug) {
		u.log.Debug("ue: sent", "to", u.pcscf, "line", firstLine(raw))
	}
}

// NoResponseError says that no final response came within the wait.
type NoResponseError struct {
	Request string        // e.g. "REGISTER CSeq 2"
	Wait    time.Duration // how long the UE waited
}

func (e *NoResponseError) Error() string {
	return fmt.Sprintf("ue: expected a final response to %s within %s, got none", e.Request, e.Wait)
}

// ErrInterrupted is returned when the context ends while the UE waits.
var ErrInterrupted = errors.New("ue: interrupted")

// send writes raw to the P-CSCF from the unprotected or the protected client
// side and records it.
func (u *UE) send(protected bool, raw []byte) (trace.Message, error) {
	if u.transport == "UDP" {
		c := u.udpPlain
		if protected {
			c = u.udpC
		}
		// Recorded before it is written, so that the trace keeps the order
		// of the wire even when the answer comes back at once.
		m := sipwire.Record(u.tr, Role, "UDP", sipwire.AddrPort(c.LocalAddr()), u.pcscf, raw)
		if _, err := c.WriteToUDPAddrPort(raw, u.pcscf); err != nil {
			return m, fmt.Errorf("ue: expected to send to the P-CSCF %s, got: %w", u.pcscf, err)
		}
		u.debugSent(raw)
		return m, nil
	}
	u.tcpMu.Lock()
	c := u.tcpPlain
	port := u.addrs.Port
	if protected {
		c, port = u.tcpC, u.addrs.PortC
	}
	u.tcpMu.Unlock()
	if c != nil {
		m := sipwire.Record(u.tr, Role, "TCP", sipwire.AddrPort(c.LocalAddr()), u.pcscf, raw)
		if _, err := c.Write(raw); err == nil {
			u.debugSent(raw)
			return m, nil
		}
	}
	// The P-CSCF may have closed the connection: open it again from the
	// same port and send there.
	nc, err := u.dial(u.addrs.Host, int(port))
	if err != nil {
		return trace.Message{}, fmt.Errorf("ue: expected to send to the P-CSCF %s over TCP, got: %w", u.pcscf, err)
	}
	u.tcpMu.Lock()
	if protected {
		u.tcpC = nc
	} else {
		u.tcpPlain = nc
	}
	u.tcpMu.Unlock()
	m := sipwire.Record(u.tr, Role, "TCP", sipwire.AddrPort(nc.LocalAddr()), u.pcscf, raw)
	if _, err := nc.Write(raw); err != nil {
		return m, fmt.Errorf("ue: expected to send to the P-CSCF %s over TCP, got: %w", u.pcscf, err)
	}
	u.debugSent(raw)
	return m, nil
}

// exchange sends a request and waits for its final response (retransmitting
// over UDP). It returns the request as recorded and the final response.
func (u *UE) exchange(ctx context.Context, protected bool, raw []byte, branch, callID string, cseq uint32) (trace.Message, *sipwire.Inbound, error) {
	t := &txn{callID: callID, cseq: cseq, ch: make(chan sipwire.Inbound, 16)}
	u.pendingMu.Lock()
	u.pending[branch] = t
	u.pendingMu.Unlock()
	defer func() {
		u.pendingMu.Lock()
		delete(u.pending, branch)
		u.pendingMu.Unlock()
	}()
	sent, err := u.send(protected, raw)
	if err != nil {
		return sent, nil, err
	}
	wait := time.NewTimer(u.timeout)
	defer wait.Stop()
	interval := T1
	var retrans <-chan time.Time
	var rt *time.Timer
	if u.transport == "UDP" {
		rt = time.NewTimer(interval)
		defer rt.Stop()
		retrans = rt.C
	}
	req := fmt.Sprintf("REGISTER CSeq %d", cseq)
	for {
		select {
		case <-ctx.Done():
			return sent, nil, ErrInterrupted
		case <-wait.C:
			return sent, nil, &NoResponseError{Request: req, Wait: u.timeout}
		case <-retrans:
			if _, err := u.send(protected, raw); err != nil {
				return sent, nil, err
			}
			interval = min(2*interval, T2)
			rt.Reset(interval)
		case in := <-t.ch:
			if in.Parsed.StatusCode < 200 {
				interval = T2
				if rt != nil {
					rt.Reset(interval)
				}
				continue
			}
			return sent, &in, nil
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b)
}

// itoa is strconv.Itoa for the unsigned values of headers.
func itoa[T ~uint16 | ~uint32 | ~int](v T) string { return strconv.FormatUint(uint64(v), 10) }
