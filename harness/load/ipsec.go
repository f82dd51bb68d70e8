package load

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"imsconform/harness/esp"
	"imsconform/harness/ue"
)

// A load run over real SAs (sut.ipsec) runs the security agreement of
// TS 33.203 7.1–7.4 for every UE as the conformance run's UE does, with the
// UE's own code (harness/ue, harness/secagree, harness/esp): each UE of the
// population leases its own protected ports and SPIs from the pool of one
// user-space ESP stack that all of them share (ue.Ports.UE), sends the
// REGISTER of step 7 from its port-c inside ESP and gets the 200 OK on the
// SA; its re-registrations and its de-registration run over the same SAs,
// as the conformance UE's do (a new challenge is answered over them in
// place). Its initial REGISTER leaves from its port group's shared
// unprotected port (see ue.Ports for why that is right).
//
// A UE keeps its SAs, its lease and its sockets while it is registered and
// gives them back when it is done: at once when its initial registration or
// a re-registration did not end registered, after its de-registration, and
// at the end of the run for the others, on every path (closeMember). The
// run then checks that the stack holds no lease and no SA any more, a leak
// being a harness error in the report.
//
// The ESP packets of a UE's SAs during its judged initial registration are
// kept with its capture (until espSettle after its end), so that the rules of kind esp (tables A.3.2.2-7
// and -10) are judged per registration as in a conformance run: each
// message is linked to the packets that carried it (trace.Link), and the
// packets the UE received are the engine's Input.Packets. A packet is the
// UE's by the SPI of the UE's inbound SA (received: the UE chose it, and
// the pool never hands out one twice in the process) or by its protected
// source port (sent). A packet received with an SPI that no UE announced
// (refused as without an SA, RFC 4303 3.4.2) cannot be told to be one UE's:
// every UE shares the one address the P-CSCF sent it to, so it goes to
// every judged registration under way when it came, whose packets.spi rule
// then fails: it never passes for want of knowing whose it was.

// espSettle is how long after its end a judged registration still takes
// the ESP packets of its SAs: RFC 3261's T1, the round-trip estimate. A
// packet sent right after the 200 OK (a replayed copy, RFC 4303 3.4.3; a
// segment sent again) may come after the UE has taken the 200 OK, and a
// conformance run, which de-registers before it looks, sees it.
const espSettle = 500 * time.Millisecond

// settleESP waits out espSettle under sut.ipsec (or until the run is
// interrupted).
func (r *runner) settleESP() {
	if r.ipsec.stack == nil {
		return
	}
	t := time.NewTimer(espSettle)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}

// maxCapturePackets bounds the ESP packets kept per judged registration; a
// registration over UDP takes four, over TCP a few dozen.
const maxCapturePackets = 256

// ipsecState is the run's side of the UEs' ESP: the shared stack and whose
// each SPI and protected port is.
type ipsecState struct {
	stack *esp.Stack // nil without sut.ipsec

	mu     sync.Mutex
	bySPI  map[uint32]int // member by the SPI of one of its inbound SAs
	byPort map[uint16]int // member by one of its protected ports
}

// startESP opens the UEs' ESP stack on their address under sut.ipsec.
func (r *runner) startESP() error {
	if !r.o.Lab.SUT.IPsec {
		return nil
	}
	st, err := esp.NewStack(esp.Config{Addr: r.host, OnPacket: r.onPacket})
	if err != nil {
		return fmt.Errorf("load: sut.ipsec: the UEs' ESP: %w", err)
	}
	r.ipsec.bySPI, r.ipsec.byPort = map[uint32]int{}, map[uint16]int{}
	r.ipsec.stack = st
	return nil
}

// track remembers whose a new member's SPIs and protected ports are. The
// entries stay when the member closes (a late packet of its SAs stays its
// own, not a stranger's) until the pool hands them to another.
func (s *ipsecState) track(k int, a ue.Addrs) {
	if s.stack == nil {
		return
	}
	s.mu.Lock()
	s.bySPI[a.SPIC], s.bySPI[a.SPIS] = k, k
	s.byPort[a.PortC], s.byPort[a.PortS] = k, k
	s.mu.Unlock()
}

// closeMember removes the k-th UE's SAs and gives its protected ports and
// SPIs back (under sut.ipsec; without, a member holds nothing).
func (r *runner) closeMember(k int) {
	m := &r.members[k]
	if r.ipsec.stack == nil || m.ue == nil {
		return
	}
	m.ue.Close()
	m.ue, m.reg, m.registered = nil, nil, false // the registration holds its SAs' keys
}

// stopESP says what the UEs left on their stack once every one closed: a
// lease or an SA left is a leak of the harness.
func (r *runner) stopESP() error {
	st := r.ipsec.stack
	if st == nil {
		return nil
	}
	leases, sas := st.Leases(), len(st.SAs())
	if leases == 0 && sas == 0 {
		return nil
	}
	return fmt.Errorf("load: harness: %d leases of protected ports and SPIs and %d SAs were left on the UEs' ESP stack after every UE closed", leases, sas)
}

func (s *ipsecState) close() {
	if s.stack != nil {
		s.stack.Close()
	}
}

// onPacket keeps an ESP packet of the UEs' stack with the judged
// registration under way whose it is (see the comment at the top).
func (r *runner) onPacket(p esp.Packet) {
	s := &r.ipsec
	s.mu.Lock()
	var k int
	var ok bool
	if p.Dir == esp.Received {
		k, ok = s.bySPI[p.SPI]
	} else {
		k, ok = s.byPort[p.SrcPort]
	}
	s.mu.Unlock()
	if ok {
		if c := r.capture(r.lo+k, ""); c != nil && c.judged {
			c.keepPacket(p)
		}
		return
	}
	if p.Dir != esp.Received || !errors.Is(p.Err, esp.ErrNoSA) {
		return
	}
	r.mu.Lock()
	open := make([]*capture, 0, len(r.open))
	for _, c := range r.open {
		if c.judged {
			open = append(open, c)
		}
	}
	r.mu.Unlock()
	for _, c := range open {
		c.keepPacket(p)
	}
}

// keepPacket records p, copied (its bytes are the stack's), as the UE saw
// it; they go with the capture once it is judged.
func (c *capture) keepPacket(p esp.Packet) {
	if p.ESP != nil {
		p.ESP = append([]byte(nil), p.ESP...)
	}
	if p.Inner != nil {
		p.Inner = append([]byte(nil), p.Inner...)
	}
	tp := ue.TracePacket(p, ue.Role)
	c.mu.Lock()
	if len(c.pkts) < maxCapturePackets {
		tp.Seq = len(c.pkts) + 1
		c.pkts = append(c.pkts, tp)
	}
	c.mu.Unlock()
}
