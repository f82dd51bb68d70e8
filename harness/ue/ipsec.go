package ue

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"imsconform/harness/aka"
	"imsconform/harness/esp"
	"imsconform/harness/lab"
	"imsconform/harness/secagree"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
)

// DefaultOffer is what the UE offers in Security-Client: the one mechanism
// of table A.3.2.2-2, integrity hmac-sha-1-96 and no ealg (null, TS 24.229
// 7.2A.7).
var DefaultOffer = []secagree.Mechanism{{Integrity: esp.HMACSHA196}}

// labOffer reads ue.sec_algorithms ("ALG" or "ALG/EALG" each); none
// means DefaultOffer.
func labOffer(algs []string) ([]secagree.Mechanism, error) {
	if len(algs) == 0 {
		return DefaultOffer, nil
	}
	out := make([]secagree.Mechanism, 0, len(algs))
	for _, a := range algs {
		i, e, hasE := strings.Cut(a, "/")
		var m secagree.Mechanism
		var err error
		if m.Integrity, err = esp.ParseIntegrity(i); err != nil {
			return nil, fmt.Errorf("ue: lab ue.sec_algorithms %q: %w", a, err)
		}
		if hasE {
			if m.Encryption, err = esp.ParseEncryption(e); err != nil {
				return nil, fmt.Errorf("ue: lab ue.sec_algorithms %q: %w", a, err)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Agreement is the security agreement of a registration (TS 33.203 7.1):
// what each end announced and the algorithms chosen, as the SAs were made
// from it. It holds no keys.
type Agreement struct {
	// Mechanism is the Security-Server mechanism the UE chose.
	Mechanism secagree.Mechanism
	// Local and Remote are the UE's and the P-CSCF's addresses, protected
	// ports and SPIs.
	Local, Remote esp.Side
	Integrity     esp.Integrity
	Encryption    esp.Encryption
}

// PortS is where the UE sends its protected requests: the P-CSCF's
// protected server port.
func (a *Agreement) PortS() netip.AddrPort { return netip.AddrPortFrom(a.Remote.Addr, a.Remote.PortS) }

// ipsec is the UE's side of real IPsec (sut.ipsec): its user-space ESP, its
// lease of protected ports and SPIs, and every SA bundle it made.
type ipsec struct {
	stack    *esp.Stack
	ownStack bool
	lease    *esp.Lease
	// clearC and clearS are kernel sockets on the protected ports: what
	// comes there in clear (a P-CSCF that sends without ESP) is recorded
	// and taken as it came, so that a rule can say it was not protected.
	clearC, clearS *transport.Endpoint
	bundles        []*esp.Bundle
	records        []esp.ESPSARecord
}

// TracePacket turns an ESP packet a stack reported into the trace's form,
// as role saw it.
func TracePacket(p esp.Packet, role string) trace.Packet {
	tp := trace.Packet{Time: p.Time, Role: role, Dir: trace.Direction(p.Dir), Src: p.Src, Dst: p.Dst,
		SPI: p.SPI, ESPSeq: p.Seq, Raw: p.ESP, Clear: p.ESP == nil && p.Inner != nil && p.Fault == esp.FaultClear,
		Proto: p.NextHeader, SrcPort: p.SrcPort, DstPort: p.DstPort, Inner: p.Inner, Refusal: esp.Refusal(p.Err)}
	if p.SA != (esp.SAInfo{}) {
		tp.SA = p.SA.String()
	}
	if p.Fault != esp.FaultNone {
		tp.Fault = p.Fault.String()
	}
	if p.Err != nil {
		tp.Err = p.Err.Error()
	}
	return tp
}

// startESP opens the UE's ESP (its own stack on host, or shared) and,
// with lease, leases its protected ports and SPIs (see leaseProtected).
// The ports' own UE of a population (NewPorts) leases none: each member
// leases its own.
func (u *UE) startESP(host netip.Addr, shared *esp.Stack, c lab.UE, lease bool) error {
	s := &ipsec{stack: shared}
	if s.stack == nil {
		st, err := esp.NewStack(esp.Config{Addr: host, OnPacket: func(p esp.Packet) {
			if u.recording.Load() {
				u.tr.AddPacket(TracePacket(p, Role))
			}
		}})
		if err != nil {
			return fmt.Errorf("ue: sut.ipsec: %w", err)
		}
		s.stack, s.ownStack = st, true
	} else if shared.Addr() != host {
		return fmt.Errorf("ue: options: expected the ESP stack on the UE's address %s, got one on %s", host, shared.Addr())
	}
	u.ipsec = s
	if !lease {
		return nil
	}
	want := esp.Side{PortC: uint16(c.PortC), PortS: uint16(c.PortS), SPIC: c.SPIC, SPIS: c.SPIS}
	// The default SPIs are the seed's, the same for every UE: they are
	// drawn from the pool instead, so that UEs of one process never share
	// one (a lab's own SPIs are kept).
	if u.lab.IsDefault("ue.spi_c") {
		want.SPIC = 0
	}
	if u.lab.IsDefault("ue.spi_s") {
		want.SPIS = 0
	}
	if err := u.leaseProtected(want); err != nil {
		u.ipsec = nil
		if s.ownStack {
			s.stack.Close()
		}
		return err
	}
	u.recording.Store(true)
	return nil
}

// leaseProtected leases the UE's protected ports and SPIs from the pool of
// its stack: those want fixes, the others drawn.
func (u *UE) leaseProtected(want esp.Side) error {
	l, err := u.ipsec.stack.Claim(want)
	if err != nil {
		return fmt.Errorf("ue: protected ports and SPIs: %w", err)
	}
	u.ipsec.lease = l
	side := l.Side()
	u.addrs.PortC, u.addrs.PortS, u.addrs.SPIC, u.addrs.SPIS = side.PortC, side.PortS, side.SPIC, side.SPIS
	return nil
}

// bindProtected binds port-c and port-s on the user-space ESP stack (UDP
// and TCP, over the SAs) and on the kernel's (the watch for clear traffic).
func (u *UE) bindProtected(host netip.Addr) error {
	s := u.ipsec
	for _, p := range []struct {
		esp, clear **transport.Endpoint
		port       uint16
	}{{&u.portC, &s.clearC, u.addrs.PortC}, {&u.portS, &s.clearS, u.addrs.PortS}} {
		at := netip.AddrPortFrom(host, p.port)
		e, err := u.tl.ListenOn(context.Background(), s.stack, at, u.handle)
		if err != nil {
			return fmt.Errorf("ue: protected port %s over ESP: %w", at, err)
		}
		*p.esp = e
		if *p.clear, err = u.tl.ListenOn(context.Background(), transport.Kernel, at, u.handle); err != nil {
			return fmt.Errorf("ue: protected port %s: the watch for clear traffic (kernel UDP and TCP on the same port): %w", at, err)
		}
	}
	return nil
}

// agree sets up the security agreement of r after the 401 of challenge
// (TS 33.203 7.1–7.2, RFC 3329 2.3.1): it chooses from the 401's
// Security-Server the mechanism with the highest q among those the UE
// offered and creates the four SAs with the P-CSCF's address, ports and
// SPIs, and the IK and CK of the AKA run. The SAs of an earlier agreement
// go then: they hold the same inbound SPIs, the UE's lease's.
func (u *UE) agree(r *Registration) error {
	s := u.ipsec
	server, perr := secagree.ParseValues(r.SecurityServer)
	m, err := secagree.ChooseServer(server, u.offer)
	if err != nil {
		if perr != nil {
			err = errors.Join(err, perr)
		}
		return fmt.Errorf("the UE abandons the registration (TS 33.203 7.2): %w", err)
	}
	a := esp.Agreement{Local: s.lease.Side(), Remote: m.Side(u.pcscf.Addr()), Integrity: m.Integrity, Encryption: m.Cipher()}
	a.IK, a.CK = r.ik, r.ck
	if r.SA != nil && r.SA.Remote == a.Remote && r.SA.Integrity == a.Integrity && r.SA.Encryption == a.Encryption && r.bundle != nil {
		// The same agreement answered again (a new challenge on the same
		// SAs): TS 33.203 7.4's new SAs are not made; see the package doc.
		return nil
	}
	// The UE's SAs all use its lease's inbound SPIs: those of an earlier
	// agreement (of this registration, or of one before it) go first.
	u.saMu.Lock()
	old := append([]*esp.Bundle(nil), s.bundles...)
	u.saMu.Unlock()
	for _, b := range old {
		b.Close()
	}
	b, err := s.stack.Establish(a)
	if err != nil {
		return fmt.Errorf("the UE could not create its security associations: %w", err)
	}
	u.saMu.Lock()
	s.bundles = append(s.bundles, b)
	s.records = append(s.records, b.ESPSA()...)
	u.saMu.Unlock()
	r.bundle = b
	r.SA = &Agreement{Mechanism: m, Local: a.Local, Remote: a.Remote, Integrity: a.Integrity, Encryption: a.Encryption}
	u.log.Debug("ue: security associations created", "sa", a.String())
	return nil
}

// ESPSA returns the rows of Wireshark's ESP SA table for every SA the UE
// made, for the esp_sa file beside the pcap. They hold the SAs' keys (fmt
// output redacts them): esp.WriteESPSAFile is the one place to put them.
func (u *UE) ESPSA() []esp.ESPSARecord {
	if u.ipsec == nil {
		return nil
	}
	u.saMu.Lock()
	defer u.saMu.Unlock()
	return append([]esp.ESPSARecord(nil), u.ipsec.records...)
}

// SAs describes the SAs the UE holds now (none once it is closed).
func (u *UE) SAs() []esp.SAInfo {
	if u.ipsec == nil {
		return nil
	}
	u.saMu.Lock()
	defer u.saMu.Unlock()
	var out []esp.SAInfo
	for _, b := range u.ipsec.bundles {
		for _, sa := range b.SAs() {
			if sa.Active() {
				out = append(out, sa.Info())
			}
		}
	}
	return out
}

// closeESP removes every SA the UE made and gives its ports and SPIs back;
// its own stack closes. It stops recording first: what the peer sends after
// the SAs are gone is no part of the run.
func (u *UE) closeESP() {
	s := u.ipsec
	if s == nil {
		return
	}
	u.recording.Store(false)
	u.saMu.Lock()
	bundles := s.bundles
	u.saMu.Unlock()
	for _, b := range bundles {
		b.Close()
	}
	if s.lease != nil {
		s.lease.Release()
	}
	if s.ownStack {
		s.stack.Close()
	}
}

// keys keeps IK and CK of an AKA run for the SAs (key material: never
// printed).
func (r *Registration) keep(a aka.Auth) { r.ik, r.ck = a.IK, a.CK }

// ownEndpoints are the endpoints a member of a population bound for
// itself: its protected ports over ESP and the kernel's watch on them.
func (u *UE) ownEndpoints() []*transport.Endpoint {
	if u.ipsec == nil {
		return nil
	}
	var out []*transport.Endpoint
	for _, e := range []*transport.Endpoint{u.portC, u.portS, u.ipsec.clearC, u.ipsec.clearS} {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
