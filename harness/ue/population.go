package ue

import (
	"errors"
	"math/rand/v2"
	"strings"

	"imsconform/harness/aka"
	"imsconform/harness/esp"
	"imsconform/harness/transport"
)

// Ports are the three ports of a UE — unprotected, port-c and port-s, each
// on UDP and TCP — on one transport, shared by many UEs: a load run's
// population behind one address. The UEs made on them (Ports.UE) send from
// and receive on the same sockets; their transactions are told apart by
// their branches, their exchanges by Call-ID and CSeq, and the registrar
// binds them apart by their identities and the user part of their Contact.
// No UE made on them holds a socket or a goroutine of its own: a UE costs
// its identity, its USIM and its SPIs, and a goroutine only while one of
// its registrations is under way.
//
// Without IPsec a UE's protected ports are a port number in Security-Client
// and a socket to listen on, so sharing them is what a NAT'd population
// looks like to the P-CSCF.
//
// Over real SAs (sut.ipsec) each UE needs its own: TS 33.203 7.1 has each
// UE choose the SPIs of its inbound SAs and its protected ports, and a
// P-CSCF keys its SAs on them, so two UEs on one port-c would share SAs.
// There Ports hold the transport, the unprotected port and the ESP stack
// (Options.ESP, shared by every member), and each member (Ports.UE) leases
// its own port-c, port-s and SPIs from the stack's pool and binds them on
// the shared transport, over ESP and in the kernel (the watch for traffic
// in clear), exactly as a UE of its own does (New); its SAs are its own.
// Its unprotected initial REGISTER stays on the shared unprotected port:
// that port carries only the REGISTER of step 2 and its 401, before any SA
// exists, and nothing of the agreement names it, so sharing it changes
// nothing the P-CSCF sees of the agreement; it is what a population behind
// a NAT looks like. A member under IPsec costs four sockets on the user-space
// stack, four in the kernel, their receivers (a goroutine each) and four
// SAs while registered: Close it when it is done.
type Ports struct {
	base *UE // the ports' own UE: it bound the sockets; its identity is the lab subscriber's
}

// NewPorts binds the ports as New does, from the same options (Lab, PCSCF,
// Transport, Host, Timeout, Logger, Timers, Trace or Untraced, and under
// IPsec ESP and Offer); under IPsec it binds the unprotected port alone and
// leases nothing: each member does. Deviations are refused: a load run
// breaks no stimulus on purpose.
func NewPorts(o Options) (*Ports, error) {
	if len(o.Deviations) > 0 {
		return nil, errors.New("ue: ports: expected no deviations (they break one run's stimulus on purpose), got some")
	}
	u, err := create(o, false)
	if err != nil {
		return nil, err
	}
	return &Ports{base: u}, nil
}

// Member is a UE of a population: its identities, its USIM and how it is
// told apart behind shared ports.
type Member struct {
	IMPI, IMPU string
	Milenage   *aka.Milenage
	SQNMS      uint64 // the highest SQN its USIM has accepted at start
	// ContactUser is the user part of its Contact URI, e.g. the IMPI's
	// number: UEs behind one address and port are bound apart by it.
	ContactUser string
	// SPIC and SPIS are the SPIs it offers in Security-Client; 0 draws
	// one at random (256 or more, RFC 4303 2.1), under IPsec from the
	// pool.
	SPIC, SPIS uint32
}

// UE returns a UE of identity m on the ports. Without IPsec it holds
// nothing the ports must release: closing it closes nothing (close the
// Ports). Under IPsec it leases its own protected ports and SPIs and binds
// them (see Ports); it fails when the pool has none left, and its Close
// removes its SAs and gives its ports and SPIs back. Close every member
// before the Ports.
func (p *Ports) UE(m Member) (*UE, error) {
	b := p.base
	a := b.addrs
	a.SPIC, a.SPIS = m.SPIC, m.SPIS
	u := &UE{
		lab: b.lab, pcscf: b.pcscf, transport: b.transport, tr: b.tr, timeout: b.timeout, log: b.log,
		usim: aka.NewUSIM(m.Milenage, aka.SQNFromUint64(m.SQNMS), 0), expires: b.expires, offer: b.offer,
		waits: b.waits, registrar: b.registrar, impi: m.IMPI, impu: m.IMPU, realm: b.realm, contactUser: m.ContactUser,
		tl: b.tl, plain: b.plain, member: true,
	}
	if b.ipsec != nil {
		u.addrs = a
		u.ipsec = &ipsec{stack: b.ipsec.stack}
		if err := u.leaseProtected(esp.Side{SPIC: m.SPIC, SPIS: m.SPIS}); err != nil {
			return nil, err
		}
		if err := u.bindProtected(a.Host); err != nil {
			u.Close()
			return nil, err
		}
		return u, nil
	}
	if a.SPIC == 0 {
		a.SPIC = rand.Uint32N(1<<31) + 256
	}
	for a.SPIS == 0 || a.SPIS == a.SPIC {
		a.SPIS = rand.Uint32N(1<<31) + 256
	}
	u.addrs, u.portC, u.portS = a, b.portC, b.portS
	return u, nil
}

// Addrs returns the ports' addresses (the SPIs are each UE's).
func (p *Ports) Addrs() Addrs { return p.base.addrs }

// Close closes the sockets and waits for the receivers to stop: every
// exchange still under way on them ends. Under IPsec it closes the ESP
// stack when the ports opened it (Options.ESP nil); the members' SAs and
// leases are theirs to remove (UE.Close).
func (p *Ports) Close() error { return p.base.Close() }

// Repeats are the messages the ports' transactions sent or took in more
// than once (transport.Layer.Repeats).
func (p *Ports) Repeats() transport.Repeats { return p.base.tl.Repeats() }

// Forget lets the registration's messages go and keeps what its next
// exchange needs (Call-ID, CSeq, the digest state, the Security-Server
// lines), in storage of its own: a value read out of a message keeps no
// part of the message alive. A population keeps each UE's registration
// between exchanges this way.
func (r *Registration) Forget() {
	r.Requests, r.Initial, r.Challenges, r.Challenge, r.Authorized, r.Final = nil, nil, nil, nil, nil, nil
	r.realm, r.nonce, r.opaque, r.algorithm = strings.Clone(r.realm), strings.Clone(r.nonce), strings.Clone(r.opaque), strings.Clone(r.algorithm)
	r.Why = strings.Clone(r.Why)
	ss := make([]string, len(r.SecurityServer))
	for i, s := range r.SecurityServer {
		ss[i] = strings.Clone(s)
	}
	r.SecurityServer = ss
}
