package refcore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/esp"
	"imsconform/harness/secagree"
	"imsconform/harness/transport"
)

// pcscfIPsec is the P-CSCF's side of real IPsec (sut.ipsec, TS 33.203 7.1):
// its user-space ESP stack and, per security agreement, a lease of
// protected ports and SPIs, port-c and port-s as endpoints of the P-CSCF's
// transport over ESP, and the four SAs. A request that comes to port-s came
// over the SAs: the user-space stack accepts nothing else there, and the
// kernel, which has no socket on the port, refuses a REGISTER sent to it in
// clear (ICMP port unreachable, a TCP reset), as a P-CSCF whose IPsec
// policy drops it refuses it.
type pcscfIPsec struct {
	stack *esp.Stack
	layer *transport.Layer
	host  netip.Addr
	log   *slog.Logger

	mu         sync.Mutex
	agreements []*pAgreement
	byEndpoint map[*transport.Endpoint]*pAgreement
}

// pAgreement is one security agreement of the P-CSCF with a UE.
type pAgreement struct {
	lease        *esp.Lease
	bundle       *esp.Bundle
	portC, portS *transport.Endpoint
	clearS       *transport.Endpoint // kernel socket on port-s, only for the deviation 10/in-clear
	mech         secagree.Mechanism  // as announced in Security-Server
	ue           esp.Side            // the UE's end, as its Security-Client announced it
}

// close removes the agreement's SAs, closes its ports and gives its lease
// back.
func (pa *pAgreement) close() {
	for _, e := range []*transport.Endpoint{pa.portC, pa.portS, pa.clearS} {
		if e != nil {
			e.Close()
		}
	}
	if pa.bundle != nil {
		pa.bundle.Close()
	}
	pa.lease.Release()
}

func startPCSCFIPsec(host netip.Addr, layer *transport.Layer, log *slog.Logger) (*pcscfIPsec, error) {
	st, err := esp.NewStack(esp.Config{Addr: host, OnPacket: func(p esp.Packet) {
		if p.Err != nil && log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("P-CSCF: ESP packet refused", "packet", p.String())
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("refcore: P-CSCF: sut.ipsec: %w", err)
	}
	return &pcscfIPsec{stack: st, layer: layer, host: host, log: log, byEndpoint: map[*transport.Endpoint]*pAgreement{}}, nil
}

// close removes every SA and releases every lease (the layer, closed
// before, has closed the endpoints).
func (s *pcscfIPsec) close() {
	if s != nil {
		s.stack.Close()
	}
}

// agreement is the agreement whose protected port e is, or nil.
func (s *pcscfIPsec) agreement(e *transport.Endpoint) *pAgreement {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byEndpoint[e]
}

// agree sets up a security agreement for the UE at ue that sent the
// Security-Client client, with the IK and CK the S-CSCF put in its 401
// (TS 24.229 5.4.1.2.1), and returns the Security-Server value to send:
// the P-CSCF chooses the first of the UE's mechanisms it supports (TS 33.203
// 7.2), leases its protected ports and SPIs, listens on them over ESP, and
// creates the four SAs (TS 33.203 7.1) before the 401 leaves. devs are the
// deviations of steps 5 and 10.
func (s *pcscfIPsec) agree(ctx context.Context, ue netip.Addr, client []string, wwwAuth string, handler transport.Handler, devs []deviation.Deviation) (string, error) {
	offered, perr := secagree.ParseValues(client)
	chosen, err := secagree.ChooseClient(offered)
	if err != nil {
		return "", errors.Join(err, perr)
	}
	d, ok := digestParams(wwwAuth)
	if !ok {
		return "", errors.New("expected the S-CSCF's 401 to carry a Digest challenge, saw none")
	}
	var a esp.Agreement
	for _, k := range []struct {
		name string
		key  *[aka.KeyLen]byte
	}{{"ck", &a.CK}, {"ik", &a.IK}} {
		b, err := hex.DecodeString(d[k.name])
		if err != nil || len(b) != aka.KeyLen {
			return "", fmt.Errorf("expected the S-CSCF's 401 to carry %s as %d bytes of hex (TS 24.229 5.4.1.2.1), saw a value that is not", k.name, aka.KeyLen)
		}
		copy(k.key[:], b)
	}
	lease, err := s.stack.Allocate()
	if err != nil {
		return "", err
	}
	pa := &pAgreement{lease: lease}
	fail := func(err error) (string, error) {
		pa.close()
		return "", err
	}
	side := lease.Side()
	for _, p := range []struct {
		ep   **transport.Endpoint
		port uint16
	}{{&pa.portC, side.PortC}, {&pa.portS, side.PortS}} {
		if *p.ep, err = s.layer.ListenOn(ctx, s.stack, netip.AddrPortFrom(s.host, p.port), handler); err != nil {
			return fail(err)
		}
	}
	if deviation.Has(devs, deviation.InClear) {
		// Only to send the 200 OK in clear from port-s: what comes to it in
		// clear is dropped, as without it.
		drop := func(in *transport.Incoming) {
			s.log.Info("P-CSCF: a message in clear on a protected port dropped", "from", in.Msg.Src)
		}
		if pa.clearS, err = s.layer.ListenOn(ctx, transport.Kernel, netip.AddrPortFrom(s.host, side.PortS), drop); err != nil {
			return fail(fmt.Errorf("the deviation 10/in-clear needs a kernel socket on port-s: %w", err))
		}
	}
	a.Local, a.Remote = side, chosen.Side(ue)
	pa.ue = a.Remote
	a.Integrity, a.Encryption = chosen.Integrity, chosen.Cipher()
	if pa.bundle, err = s.stack.Establish(a); err != nil {
		return fail(err)
	}
	pa.mech = secagree.FromSide(side, chosen.Integrity, chosen.Encryption)
	pa.mech.Q, pa.mech.QValue = "0.1", 0.1 // as table A.3.2.2-5
	// The UE's earlier agreement, if any, goes: the new SAs replace it
	// (its ports and SPIs are the UE's again), so that the P-CSCF holds one
	// agreement per UE, not one per registration.
	s.mu.Lock()
	var old []*pAgreement
	keep := s.agreements[:0]
	for _, o := range s.agreements {
		if o.ue.Addr == pa.ue.Addr && (o.ue.PortC == pa.ue.PortC || o.ue.PortS == pa.ue.PortS) {
			old = append(old, o)
			delete(s.byEndpoint, o.portC)
			delete(s.byEndpoint, o.portS)
			continue
		}
		keep = append(keep, o)
	}
	s.agreements = append(keep, pa)
	s.byEndpoint[pa.portC], s.byEndpoint[pa.portS] = pa, pa
	s.mu.Unlock()
	for _, o := range old {
		o.close()
	}
	s.log.Info("P-CSCF: security associations created", "sa", a.String())
	value := pa.mech.String()
	if deviation.Has(devs, deviation.AlgNotOffered) {
		value = notOffered(pa.mech, offered).String() + ", " + value
	}
	return value, nil
}

// notOffered is m with an integrity algorithm the UE did not offer and a
// higher q: the mechanism the deviation 5/alg-not-offered lists first.
func notOffered(m secagree.Mechanism, offered []secagree.Mechanism) secagree.Mechanism {
	other := m
	other.Q, other.QValue = "0.9", 0.9
	other.Integrity = "hmac-sha-256-128" // an algorithm of no UE of this harness
	for _, i := range esp.Integrities {
		alg := secagree.Mechanism{Integrity: i, Encryption: m.Encryption}
		if !secagree.Offered(alg, offered) {
			other.Integrity = i
			break
		}
	}
	return other
}

// respond sends the P-CSCF's answer raw to a request that came over the
// SAs of pa, from port-s to the UE's port-c at ue (TS 33.203 7.1), applying
// the ESP deviations of step 10 when the answer is the 200 OK.
func (s *pcscfIPsec) respond(pa *pAgreement, tx *transport.ServerTx, ue netip.AddrPort, raw []byte, devs []deviation.Deviation, tp string) error {
	faults := map[deviation.Action]esp.Fault{deviation.BadICV: esp.FaultBadICV, deviation.WrongSPI: esp.FaultWrongSPI, deviation.Replay: esp.FaultReplay}
	for _, d := range devs {
		if f, ok := faults[d.Action]; ok {
			sa := pa.bundle.Outbound(pa.lease.Side().PortS)
			if err := sa.Inject(f); err != nil {
				return err
			}
			s.log.Info("deviation: the next ESP packet of the P-CSCF's SA carries a fault", "fault", f.String(), "sa", sa.Info().String())
		}
	}
	if deviation.Has(devs, deviation.InClear) && pa.clearS != nil {
		s.log.Info("deviation in-clear: the 200 OK leaves port-s without ESP", "to", ue)
		_, err := pa.clearS.Send(context.Background(), transport.Dest{Transport: tp, Addr: ue}, raw)
		return err
	}
	_, err := tx.RespondTo(ue, raw)
	return err
}

// securityVerifyOutside is the Warning of a REGISTER with Security-Verify
// that did not come over the SAs.
func securityVerifyOutside(name string) string {
	return `399 ` + name + ` ` + strconv.Quote("a REGISTER with Security-Verify must come over the security associations to the protected server port (TS 33.203 7.1); this one came in clear to the unprotected port")
}
