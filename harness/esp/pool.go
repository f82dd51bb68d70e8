package esp

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	"imsconform/harness/trace"
)

// registry is what every Stack of the process shares: the inbound SAs by SPI
// and destination (so that stacks which see each other's packets on one
// raw socket know whose a packet is), and the SPIs and protected ports in
// use (so that the pool never hands out one twice).
var registry = struct {
	mu      sync.Mutex
	inbound map[inKey]*SA                  // every inbound SA of the process
	spis    map[uint32]*Stack              // SPIs claimed, by the stack that claimed them
	spiRefs map[uint32]int                 // claims per SPI (a lease and its SAs)
	ports   map[netip.Addr]map[uint16]bool // protected ports leased, per address
	// strays names, for an SPI no stack holds, the stack its packets are
	// meant for: the stack that held it last (its peer may still send a
	// segment or two after the SAs went), or the one a FaultWrongSPI packet
	// was sent to. The other stacks on the address leave such packets
	// alone; only that one reports them. Bounded by maxStrays.
	strays map[uint32]*Stack
}{
	inbound: map[inKey]*SA{},
	spis:    map[uint32]*Stack{},
	spiRefs: map[uint32]int{},
	ports:   map[netip.Addr]map[uint16]bool{},
	strays:  map[uint32]*Stack{},
}

// maxStrays bounds registry.strays; past it an arbitrary entry goes.
const maxStrays = 1 << 16

func strayLocked(spi uint32, s *Stack) {
	if len(registry.strays) >= maxStrays {
		for k := range registry.strays {
			delete(registry.strays, k)
			break
		}
	}
	registry.strays[spi] = s
}

type inKey struct {
	spi uint32
	dst netip.Addr
}

// claimSPILocked claims spi for s; it fails if another stack holds it.
func claimSPILocked(s *Stack, spi uint32) error {
	if spi < 256 {
		return fmt.Errorf("esp: SPI %d: expected 256 or more (RFC 4303 2.1 reserves 1 to 255, and 0)", spi)
	}
	if owner, ok := registry.spis[spi]; ok && owner != s {
		return fmt.Errorf("esp: SPI 0x%08x is in use by another stack of this process", spi)
	}
	registry.spis[spi] = s
	registry.spiRefs[spi]++
	delete(registry.strays, spi)
	return nil
}

func releaseSPILocked(spi uint32) {
	if registry.spiRefs[spi]--; registry.spiRefs[spi] <= 0 {
		if owner := registry.spis[spi]; owner != nil {
			strayLocked(spi, owner)
		}
		delete(registry.spiRefs, spi)
		delete(registry.spis, spi)
	}
}

// spiOwner is the stack that claimed spi, or the one its stray packets
// are meant for (see registry.strays), or nil.
func spiOwner(spi uint32) *Stack {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if o := registry.spis[spi]; o != nil {
		return o
	}
	return registry.strays[spi]
}

func lookupInbound(spi uint32, dst netip.Addr) *SA {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.inbound[inKey{spi, dst}]
}

// Lease is one UE's (or one P-CSCF side's) share of the pool: two protected
// ports on the stack's address and two SPIs, none of which any other lease
// or SA of this process holds until Release. TS 33.203 7.1 has each side
// choose the SPIs of its inbound SAs and its protected ports; a Lease is
// that choice, ready to be announced in Security-Client or Security-Server.
type Lease struct {
	stack *Stack
	side  Side
	once  sync.Once
}

// Side is what one end of the security agreement announces (RFC 3329 2.2,
// TS 33.203 7.1): its address, its protected client and server ports, and
// the SPIs of the SAs inbound to them.
type Side struct {
	Addr  netip.Addr
	PortC uint16 // protected client port (port-c)
	PortS uint16 // protected server port (port-s)
	SPIC  uint32 // SPI of the SA inbound to port-c (spi-c)
	SPIS  uint32 // SPI of the SA inbound to port-s (spi-s)
}

func (d Side) String() string {
	return fmt.Sprintf("%s port-c %d port-s %d spi-c %d spi-s %d", d.Addr, d.PortC, d.PortS, d.SPIC, d.SPIS)
}

// Side is the leased ports and SPIs.
func (l *Lease) Side() Side { return l.side }

// Release gives the ports and SPIs back to the pool (SAs established with
// them keep their SPIs until they are removed). It is idempotent.
func (l *Lease) Release() {
	l.once.Do(func() {
		registry.mu.Lock()
		defer registry.mu.Unlock()
		releaseSPILocked(l.side.SPIC)
		releaseSPILocked(l.side.SPIS)
		delete(registry.ports[l.side.Addr], l.side.PortC)
		delete(registry.ports[l.side.Addr], l.side.PortS)
		l.stack.forgetLease(l)
	})
}

// Allocate leases two protected ports in the stack's port range and two
// SPIs from the pool. The SPIs are random, 256 or more, and unique among the
// process's leases and SAs; the ports are unique among the process's leases
// on this address, and a port that a kernel socket holds on the address at
// the time (UDP or TCP) is skipped, so that a protected port never shares
// its number with an unprotected one; so is a port Wireshark dissects as
// another protocol (trace.WiresharkOther), so that the SIP inside the SAs
// shows as SIP in a capture. It fails when the range is exhausted.
func (s *Stack) Allocate() (*Lease, error) { return s.Claim(Side{}) }

// Claim is Allocate with some of the ports and SPIs chosen by the caller
// (a lab that fixes its UE's protected ports or SPIs): the non-zero fields
// of want are leased as they are, or Claim fails saying which is taken;
// the zero ones are drawn from the pool as Allocate draws them. A port
// given may lie outside the stack's port range; want.Addr must be the
// stack's address or invalid.
func (s *Stack) Claim(want Side) (*Lease, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	if want.Addr.IsValid() && want.Addr.Unmap() != s.addr {
		return nil, fmt.Errorf("esp: Claim %s: expected the stack's address %s", want, s.addr)
	}
	if (want.PortC != 0 && want.PortC == want.PortS) || (want.SPIC != 0 && want.SPIC == want.SPIS) {
		return nil, fmt.Errorf("esp: Claim %s: expected port-c and port-s, and spi-c and spi-s, to differ", want)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	ports := registry.ports[s.addr]
	if ports == nil {
		ports = map[uint16]bool{}
		registry.ports[s.addr] = ports
	}
	got := [2]uint16{want.PortC, want.PortS}
	for _, p := range got {
		if p != 0 && (ports[p] || s.portInUse(p)) {
			return nil, fmt.Errorf("esp: protected port %d on %s is leased already", p, s.addr)
		}
	}
	span := int(s.cfg.PortMax) - int(s.cfg.PortMin) + 1
	start := rand.IntN(span)
	next := 0
	for i := 0; i < span && (got[0] == 0 || got[1] == 0); i++ {
		p := uint16(int(s.cfg.PortMin) + (start+i)%span)
		if ports[p] || p == got[0] || p == got[1] || s.portInUse(p) || trace.WiresharkOther(p) || kernelHolds(s.addr, p) {
			continue
		}
		for got[next] != 0 {
			next++
		}
		got[next] = p
	}
	if got[0] == 0 || got[1] == 0 {
		return nil, fmt.Errorf("esp: no two free protected ports left in %d–%d on %s (%d leased)", s.cfg.PortMin, s.cfg.PortMax, s.addr, len(ports))
	}
	spis := [2]uint32{want.SPIC, want.SPIS}
	for _, spi := range spis {
		if spi == 0 {
			continue
		}
		if spi < 256 {
			return nil, fmt.Errorf("esp: SPI %d: expected 256 or more (RFC 4303 2.1 reserves 1 to 255, and 0)", spi)
		}
		if registry.spiRefs[spi] > 0 {
			return nil, fmt.Errorf("esp: SPI %d is in use in this process already", spi)
		}
	}
	for i := range spis {
		for spis[i] == 0 {
			spi := rand.Uint32()
			if spi < 256 || registry.spiRefs[spi] > 0 || spi == spis[1-i] {
				continue
			}
			spis[i] = spi
		}
	}
	l := &Lease{stack: s, side: Side{Addr: s.addr, PortC: got[0], PortS: got[1], SPIC: spis[0], SPIS: spis[1]}}
	// Remembered before it is claimed: a Close that has not seen it yet
	// releases it, one that has refuses it here.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	s.leases[l] = true
	s.mu.Unlock()
	for _, spi := range spis {
		_ = claimSPILocked(s, spi) // free under the lock
	}
	ports[got[0]], ports[got[1]] = true, true
	return l, nil
}

// LeasedPorts counts the protected ports leased on addr in the process,
// by every stack: none once every lease is released.
func LeasedPorts(addr netip.Addr) int {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return len(registry.ports[addr.Unmap()])
}

// kernelHolds reports whether a kernel UDP or TCP socket holds port on addr.
func kernelHolds(addr netip.Addr, port uint16) bool {
	ap := netip.AddrPortFrom(addr, port).String()
	u, err := net.ListenPacket("udp", ap)
	if err != nil {
		return true
	}
	u.Close()
	t, err := net.Listen("tcp", ap)
	if err != nil {
		return true
	}
	t.Close()
	return false
}
