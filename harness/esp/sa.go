package esp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"imsconform/harness/aka"
)

// SADirection says whether an SA protects packets a stack sends or receives.
type SADirection string

const (
	Inbound  SADirection = "inbound"
	Outbound SADirection = "outbound"
)

// SAInfo describes one SA (RFC 4301 4.4.2) without its keys: its SPI, its
// direction, the selectors TS 33.203 7.1 gives it (the packets from Src to
// Dst, UDP and TCP alike) and its algorithms.
type SAInfo struct {
	SPI        uint32
	Dir        SADirection
	Src, Dst   netip.AddrPort
	Integrity  Integrity
	Encryption Encryption
}

func (i SAInfo) String() string {
	return fmt.Sprintf("%s SA SPI 0x%08x %s→%s %s %s", i.Dir, i.SPI, i.Src, i.Dst, i.Integrity, i.Encryption)
}

// SA is one security association of a Stack, in transport mode.
type SA struct {
	info  SAInfo
	keys  Keys
	t     *transform
	stack *Stack

	seq     atomic.Uint64 // outbound: the last sequence number sent
	win     replayWindow  // inbound
	removed atomic.Bool

	mu     sync.Mutex
	faults []Fault // outbound: faults for the next packets, in order
}

// Info describes the SA.
func (sa *SA) Info() SAInfo { return sa.info }

// Active reports whether the SA is still on its stack (not removed by its
// bundle's or its stack's Close).
func (sa *SA) Active() bool { return !sa.removed.Load() }

// Inject makes the next packet this outbound SA sends carry fault f; several
// calls queue faults for the packets after it.
func (sa *SA) Inject(f Fault) error {
	if sa.info.Dir != Outbound {
		return fmt.Errorf("esp: Inject %s on %s: expected an outbound SA", f, sa.info)
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	sa.faults = append(sa.faults, f)
	return nil
}

func (sa *SA) nextFault() Fault {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if len(sa.faults) == 0 {
		return FaultNone
	}
	f := sa.faults[0]
	sa.faults = sa.faults[1:]
	return f
}

// Agreement is a security agreement between two ends (TS 33.203 7.1–7.4,
// RFC 3329): what each side announced, the algorithms chosen and the keys
// of the AKA run that authenticated the registration. IK and CK are key
// material: fmt output redacts them.
type Agreement struct {
	Local, Remote Side
	Integrity     Integrity
	Encryption    Encryption
	IK, CK        [aka.KeyLen]byte
}

// String never shows IK or CK.
func (a Agreement) String() string {
	return fmt.Sprintf("esp.Agreement{Local: %s, Remote: %s, %s %s, IK:%s CK:%s}", a.Local, a.Remote, a.Integrity, a.Encryption, redacted, redacted)
}

// GoString never shows IK or CK.
func (a Agreement) GoString() string { return a.String() }

// Format prints the redacted String for every verb.
func (a Agreement) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// Bundle is the four SAs of one security agreement, as TS 33.203 7.1 lays
// them out, seen from the local side (L) and the remote side (R):
//
//	outbound  L port-c → R port-s  SPI = R spi-s
//	inbound   R port-s → L port-c  SPI = L spi-c
//	outbound  L port-s → R port-c  SPI = R spi-c
//	inbound   R port-c → L port-s  SPI = L spi-s
//
// The UE and the P-CSCF each build the mirror image of the other's bundle.
// Each SA covers UDP and TCP alike.
type Bundle struct {
	stack *Stack
	sas   [4]*SA
	once  sync.Once
}

// SAs are the bundle's four SAs in the order of the table above.
func (b *Bundle) SAs() []*SA { return b.sas[:] }

// Outbound is the bundle's outbound SA whose packets leave the local port
// localPort (port-c or port-s), or nil.
func (b *Bundle) Outbound(localPort uint16) *SA {
	for _, sa := range b.sas {
		if sa.info.Dir == Outbound && sa.info.Src.Port() == localPort {
			return sa
		}
	}
	return nil
}

// Close removes the bundle's four SAs from the stack. It is idempotent, and
// it removes only what this bundle made.
func (b *Bundle) Close() error {
	b.once.Do(func() { b.stack.removeSAs(b.sas[:]) })
	return nil
}

// Establish creates the four SAs of the agreement on the stack (see Bundle).
// The local side's address must be the stack's; the inbound SPIs must not be
// in use by another SA to that address in this process, nor claimed by
// another stack's lease. Nothing is left behind when it fails.
func (s *Stack) Establish(a Agreement) (*Bundle, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	if a.Local.Addr != s.addr {
		return nil, fmt.Errorf("esp: Establish: expected the local address to be the stack's %s, got %s", s.addr, a.Local.Addr)
	}
	if !a.Remote.Addr.IsValid() || a.Remote.Addr.Is4() != s.addr.Is4() {
		return nil, fmt.Errorf("esp: Establish: expected a remote address of the stack's family (%s), got %s", s.addr, a.Remote.Addr)
	}
	for _, p := range []uint16{a.Local.PortC, a.Local.PortS, a.Remote.PortC, a.Remote.PortS} {
		if p == 0 {
			return nil, fmt.Errorf("esp: Establish %s: expected four non-zero protected ports", a)
		}
	}
	if a.Local.PortC == a.Local.PortS || a.Remote.PortC == a.Remote.PortS {
		return nil, fmt.Errorf("esp: Establish %s: expected port-c and port-s to differ on each side", a)
	}
	if a.Local.SPIC == a.Local.SPIS || a.Remote.SPIC == a.Remote.SPIS {
		return nil, fmt.Errorf("esp: Establish %s: expected spi-c and spi-s to differ on each side", a)
	}
	keys, err := ExpandKeys(a.Integrity, a.Encryption, a.IK, a.CK)
	if err != nil {
		return nil, err
	}
	t, err := newTransform(keys)
	if err != nil {
		return nil, err
	}
	L, R := a.Local, a.Remote
	ap := netip.AddrPortFrom
	infos := [4]SAInfo{
		{SPI: R.SPIS, Dir: Outbound, Src: ap(L.Addr, L.PortC), Dst: ap(R.Addr, R.PortS)},
		{SPI: L.SPIC, Dir: Inbound, Src: ap(R.Addr, R.PortS), Dst: ap(L.Addr, L.PortC)},
		{SPI: R.SPIC, Dir: Outbound, Src: ap(L.Addr, L.PortS), Dst: ap(R.Addr, R.PortC)},
		{SPI: L.SPIS, Dir: Inbound, Src: ap(R.Addr, R.PortC), Dst: ap(L.Addr, L.PortS)},
	}
	b := &Bundle{stack: s}
	for i, info := range infos {
		info.Integrity, info.Encryption = a.Integrity, a.Encryption
		b.sas[i] = &SA{info: info, keys: keys, t: t, stack: s}
	}
	if err := s.addSAs(b.sas[:]); err != nil {
		return nil, err
	}
	return b, nil
}

var errClosed = errors.New("esp: the stack is closed")

// addSAs installs sas in the process's inbound index and the stack's
// outbound table, all or none.
func (s *Stack) addSAs(sas []*SA) error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	for _, sa := range sas {
		i := sa.info
		switch i.Dir {
		case Inbound:
			if old, ok := registry.inbound[inKey{i.SPI, i.Dst.Addr()}]; ok {
				return fmt.Errorf("esp: inbound SPI 0x%08x to %s is in use by %s", i.SPI, i.Dst.Addr(), old.info)
			}
			if owner := registry.spis[i.SPI]; owner != nil && owner != s {
				return fmt.Errorf("esp: inbound SPI 0x%08x is claimed by another stack of this process", i.SPI)
			}
		case Outbound:
			if old, ok := s.outbound[selector{i.Src, i.Dst}]; ok {
				return fmt.Errorf("esp: an outbound SA for %s→%s exists already: %s", i.Src, i.Dst, old.info)
			}
		}
	}
	for _, sa := range sas {
		i := sa.info
		s.sas[sa] = true
		switch i.Dir {
		case Inbound:
			registry.inbound[inKey{i.SPI, i.Dst.Addr()}] = sa
			_ = claimSPILocked(s, i.SPI) // checked above
		case Outbound:
			s.outbound[selector{i.Src, i.Dst}] = sa
			s.sentSPIs[i.SPI]++
		}
	}
	return nil
}

// removeSAs removes sas (those still there) from the index and the table.
func (s *Stack) removeSAs(sas []*SA) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sa := range sas {
		if !s.sas[sa] {
			continue
		}
		delete(s.sas, sa)
		sa.removed.Store(true)
		i := sa.info
		switch i.Dir {
		case Inbound:
			if registry.inbound[inKey{i.SPI, i.Dst.Addr()}] == sa {
				delete(registry.inbound, inKey{i.SPI, i.Dst.Addr()})
			}
			releaseSPILocked(i.SPI)
		case Outbound:
			if s.outbound[selector{i.Src, i.Dst}] == sa {
				delete(s.outbound, selector{i.Src, i.Dst})
			}
			if s.sentSPIs[i.SPI]--; s.sentSPIs[i.SPI] <= 0 {
				delete(s.sentSPIs, i.SPI)
			}
		}
	}
}

// selector is the key of the outbound table: the packet's source and
// destination address and port (TS 33.203 7.1), whatever the protocol.
type selector struct{ src, dst netip.AddrPort }
