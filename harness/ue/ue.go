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
// It binds its unprotected port, port-c and port-s on the lab's address (IPv4
// or IPv6, any address the machine has), each on UDP and TCP at once, through
// the shared SIP transport (harness/transport): RFC 3261 client transactions
// retransmit its REGISTERs over UDP, and a P-CSCF that is not listening ends
// the exchange at once with a *transport.UnreachableError. It sends over the
// lab's transport, records every message it sends or receives into a trace
// (role "UE"), including what does not parse, and applies the deviations of
// the steps it sends (2 and 7).
//
// Without real IPsec (sut.ipsec false) the protected REGISTER goes to the
// same P-CSCF address and port as the first one, in clear. With it, the UE
// runs the security agreement of TS 33.203 7.1–7.4 over user-space ESP
// (harness/esp): it leases its protected ports and SPIs from the process's
// pool before the first REGISTER and announces them in Security-Client;
// after the 401 it picks from Security-Server the mechanism with the
// highest q among those it offered (harness/secagree), creates the four SAs
// with the P-CSCF's ports and SPIs and the IK and CK of the AKA run, and
// sends the REGISTER of step 7 (and every later one) from port-c to the
// P-CSCF's port-s inside ESP, with Security-Verify; the 200 OK comes back on
// the SA to port-c. The unprotected port carries the initial REGISTER only.
// Kernel sockets on port-c and port-s watch for traffic in clear: what comes
// there is recorded and taken as it came, so that a rule can say a 200 OK
// was not protected. The UE records every ESP packet its stack sends or
// receives into the trace (trace.Packet), refused ones too. The SAs live
// until the UE closes or its next registration makes new ones (after a
// de-registration they stay, so that a TCP connection over them winds down
// over them); Close removes every SA the UE made, only those, and gives its
// ports and SPIs back, on every path. A new
// challenge inside a protected exchange is answered over the SAs in place:
// the new set of SAs of TS 33.203 7.4 is not made.
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
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/lab"
	"imsconform/harness/secagree"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
)

// Role is the trace role of the UE emulator.
const Role = "UE"

// DefaultExpires is the expiry requested when the lab gives none (the value
// of table A.3.2.2-2).
const DefaultExpires = 600000

// DefaultTimeout bounds the wait for each response when neither Options nor
// the lab give one: lab.DefaultStep (RFC 3261 Timer F).
const DefaultTimeout = lab.DefaultStep

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
	// Host is the UE's address; the zero value means Lab.UE.Address, then
	// ::1.
	Host netip.Addr
	// Trace receives every message; nil means a new trace (see UE.Trace),
	// unless Untraced.
	Trace *trace.Trace
	// Untraced records no message into any trace: a load run's UEs keep
	// each registration's messages in their Registration only, for as
	// long as it needs them (see Ports).
	Untraced bool
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
	// Timers are the RFC 3261 timers of its transactions; zero fields mean
	// the defaults (T1 500 ms, T2 4 s, T4 5 s).
	Timers transport.Timers
	// NoSecondOpinion skips sipgo's parse of every message received
	// (transport.Options.NoSecondOpinion): a load run's UEs.
	NoSecondOpinion bool
	// ESP is the user-space ESP stack for the protected ports under
	// Lab.SUT.IPsec; nil means the UE opens its own on its address and
	// records its packets into Trace. A stack shared by many UEs is its
	// caller's to record (TracePacket) and to close.
	ESP *esp.Stack
	// Offer is what the UE offers in Security-Client, one ipsec-3gpp
	// mechanism each (their SPIs and ports are the UE's); nil means the
	// lab's ue.sec_algorithms, then DefaultOffer.
	Offer []secagree.Mechanism
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

	// One transport for the three ports: a response is matched to its
	// REGISTER by branch whichever port it comes to.
	tl                  *transport.Layer
	plain, portC, portS *transport.Endpoint

	waits     *waiters // the exchanges waiting, shared by the UEs on the same ports
	offer     []secagree.Mechanism
	ipsec     *ipsec // nil without sut.ipsec
	recording atomic.Bool
	saMu      sync.Mutex

	registrar         string
	impi, impu, realm string
	// contactUser is the user part of the Contact URI ("" for none): UEs
	// behind one address and port (Ports) are bound apart by it.
	contactUser string
	// member says the UE was made on shared Ports: tl and plain are
	// theirs, not its own.
	member bool
}

// waiters are the exchanges waiting for a final response, by Call-ID and
// CSeq, on one set of ports.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan *transport.Incoming // Call-ID|CSeq -> exchange waiting
}

// New checks the options, binds the UE's sockets and starts receiving.
func New(o Options) (*UE, error) { return create(o, true) }

// create is New; without protected (the ports' own UE of a population,
// NewPorts) it binds the unprotected port alone under IPsec, and its
// members lease and bind their protected ports themselves (Ports.UE).
func create(o Options, protected bool) (*UE, error) {
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
	network, err := transport.Network(tp)
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
	mil, err := milenage(l.Subscriber)
	if err != nil {
		return nil, err
	}
	u := &UE{
		lab:       l,
		pcscf:     netip.AddrPortFrom(o.PCSCF.Addr().Unmap(), o.PCSCF.Port()),
		transport: network,
		tr:        o.Trace,
		devs:      o.Deviations,
		timeout:   o.Timeout,
		log:       o.Logger,
		usim:      aka.NewUSIM(mil, aka.SQNFromUint64(o.SQNMS), 0),
		expires:   l.UE.Expires,
		waits:     &waiters{m: map[string]chan *transport.Incoming{}},
		registrar: l.Registrar,
		impi:      l.Subscriber.IMPI,
		impu:      l.Subscriber.IMPUs[0],
		realm:     l.Realm,
	}
	if u.tr == nil && !o.Untraced {
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
	u.offer = o.Offer
	if len(u.offer) == 0 {
		if u.offer, err = labOffer(l.UE.SecAlgorithms); err != nil {
			return nil, err
		}
	}
	// The UE takes no request in this flow: any that comes is unrelated
	// traffic, counted and kept only in part (so is a response that
	// matches none of its REGISTERs).
	u.tl = transport.New(transport.Options{Role: Role, Trace: u.tr, Timers: o.Timers, Logger: u.log, NoSecondOpinion: o.NoSecondOpinion,
		Takes: func(*sipmsg.Message) bool { return false }})
	if l.SUT.IPsec {
		if err := u.startESP(host, o.ESP, l.UE, protected); err != nil {
			u.tl.Close()
			return nil, err
		}
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

// bind binds the unprotected port, port-c and port-s (0: ephemeral), each
// on UDP and TCP; under IPsec port-c and port-s are the lease's, over ESP.
func (u *UE) bind(host netip.Addr, c lab.UE) error {
	if u.ipsec != nil {
		e, err := u.tl.Listen(context.Background(), netip.AddrPortFrom(host, uint16(c.Port)), u.handle)
		if err != nil {
			return fmt.Errorf("ue: %w", err)
		}
		u.plain, u.addrs.Port = e, e.Addr().Port()
		if u.ipsec.lease == nil {
			return nil
		}
		return u.bindProtected(host)
	}
	for _, p := range []struct {
		ep   **transport.Endpoint
		port *uint16
		want int
	}{{&u.plain, &u.addrs.Port, c.Port}, {&u.portC, &u.addrs.PortC, c.PortC}, {&u.portS, &u.addrs.PortS, c.PortS}} {
		e, err := u.tl.Listen(context.Background(), netip.AddrPortFrom(host, uint16(p.want)), u.handle)
		if err != nil {
			return fmt.Errorf("ue: %w", err)
		}
		*p.ep, *p.port = e, e.Addr().Port()
	}
	return nil
}

// SQNMS returns the highest SQN the UE's USIM has accepted so far (48
// bits), for keeping between runs (harness/sqnstate).
func (u *UE) SQNMS() uint64 { return aka.SQNToUint64(u.usim.SQNMS()) }

// Addrs returns the UE's bound addresses and SPIs.
func (u *UE) Addrs() Addrs { return u.addrs }

// Trace returns the trace the UE records into.
func (u *UE) Trace() *trace.Trace { return u.tr }

// Close closes every socket and waits for the receivers to stop; under
// IPsec it then removes every SA the UE made and gives back its ports and
// SPIs. It is idempotent.
func (u *UE) Close() error {
	u.recording.Store(false)
	switch {
	case u.member:
		// A member of a population closes its own protected ports
		// alone: the transport and the unprotected port are the Ports'.
		for _, e := range u.ownEndpoints() {
			e.Close()
		}
	case u.tl != nil:
		u.tl.Close()
	}
	u.closeESP()
	return nil
}

// handle takes what no transaction absorbed: a final response whose branch
// matches no REGISTER (a SUT that changed the Via) still answers the
// exchange with the same Call-ID and CSeq, so that it is judged rather than
// reported missing. Requests and other messages are only recorded (by the
// transport).
func (u *UE) handle(in *transport.Incoming) {
	p := in.Parsed
	if p == nil || p.Request || p.StatusCode < 200 {
		return
	}
	n, _, err := p.CSeq()
	if err != nil {
		return
	}
	u.waits.mu.Lock()
	ch := u.waits.m[p.Get("Call-ID")+"|"+itoa(n)]
	u.waits.mu.Unlock()
	if ch != nil {
		select {
		case ch <- in:
		default:
		}
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

// exchange sends a REGISTER (m, or raw when a deviation replaced it) from
// ep to dst and waits up to the step timeout for its final response. It
// returns the request as recorded and the final response.
func (u *UE) exchange(ctx context.Context, ep *transport.Endpoint, to netip.AddrPort, m *sipmsg.Message, raw []byte, callID string, cseq uint32) (trace.Message, *transport.Incoming, error) {
	key := callID + "|" + itoa(cseq)
	fallback := make(chan *transport.Incoming, 1)
	u.waits.mu.Lock()
	u.waits.m[key] = fallback
	u.waits.mu.Unlock()
	defer func() {
		u.waits.mu.Lock()
		delete(u.waits.m, key)
		u.waits.mu.Unlock()
	}()
	wait, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	dst := transport.Dest{Transport: u.transport, Addr: to}
	var tx *transport.ClientTx
	var err error
	if raw != nil {
		tx, err = ep.RequestRaw(wait, dst, raw, nil)
	} else {
		tx, err = ep.Request(wait, dst, m, nil)
	}
	if err != nil {
		return trace.Message{}, nil, fmt.Errorf("ue: %w", err)
	}
	var res *transport.Incoming
	select {
	case <-tx.Done():
		res, err = tx.Result()
	case res = <-fallback:
		tx.Cancel()
	}
	sent := tx.Sent()
	switch {
	case err == nil:
		return sent, res, nil
	case ctx.Err() != nil:
		return sent, nil, ErrInterrupted
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, new(*transport.TimeoutError)):
		return sent, nil, &NoResponseError{Request: fmt.Sprintf("REGISTER CSeq %d", cseq), Wait: u.timeout}
	}
	return sent, nil, fmt.Errorf("ue: REGISTER CSeq %d: %w", cseq, err)
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
