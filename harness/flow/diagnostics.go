package flow

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"imsconform/harness/diameter"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
	"imsconform/harness/transport"
	"imsconform/harness/ue"
)

// Diagnostic is one finding a lab engineer can act on, beside the rules'
// verdicts: why the run went the way it did, in one line. It judges
// nothing; the rules do.
type Diagnostic struct {
	Code    string // one of the Diag… constants
	Message string // one line: what was seen, where, and what to check
}

// Diagnostic codes.
const (
	// DiagUnresolved: sut.pcscf is a host name or domain that did not
	// resolve (A/AAAA, or RFC 3263 NAPTR/SRV/A/AAAA).
	DiagUnresolved = "pcscf-unresolved"
	// DiagUnreachable: nothing listens at the P-CSCF (TCP connection
	// refused), or the UE has no way to reach it.
	DiagUnreachable = "pcscf-unreachable"
	// DiagNoAnswer: the P-CSCF sent nothing at all within the step timeout
	// to the REGISTER of step 2 over UDP.
	DiagNoAnswer = "pcscf-no-answer"
	// DiagUnparseable: the SUT sent a SIP or Diameter message that does not
	// parse.
	DiagUnparseable = "unparseable"
	// DiagKeys: the AUTN of the 401 failed verification (MAC-A wrong): the
	// lab's K and OP/OPc differ from what the SUT's HSS holds.
	DiagKeys = "auth-keys-mismatch"
	// DiagHSSPeer: a CSCF did not connect to the HSS the harness plays.
	DiagHSSPeer = "hss-peer-missing"
	// DiagDeregistration: the de-registration at the end of the run failed.
	DiagDeregistration = "deregistration-failed"
	// DiagUSIMState: the UE's SQN kept between runs could not be read or
	// written (harness/sqnstate).
	DiagUSIMState = "usim-state"
	// DiagSecAgree: under sut.ipsec the UE set up no security associations
	// after a valid challenge (no mechanism it offered, broken parameters).
	DiagSecAgree = "sec-agree-failed"
	// DiagESPRefused: under sut.ipsec the UE refused ESP packets of the
	// P-CSCF (bad ICV, unknown SPI, replay, …).
	DiagESPRefused = "esp-refused"
)

// diagnoseAgreement says why no SAs were set up after a valid challenge.
func diagnoseAgreement(res *Result, reg *ue.Registration) {
	if reg.SA == nil && reg.AUTN == ue.AUTNValid && reg.Why != "" {
		res.diagnose(DiagSecAgree, "no security associations (sut.ipsec): "+reg.Why+"; the REGISTER of step 7 was not sent")
	}
}

// diagnoseESP counts the ESP packets of the P-CSCF the UE refused, by
// reason.
func diagnoseESP(res *Result) {
	counts := map[string]int{}
	var order []string
	for _, p := range res.Trace.Packets() {
		if p.Role != ue.Role || p.Dir != trace.Received || p.Refusal == "" {
			continue
		}
		if counts[p.Refusal] == 0 {
			order = append(order, p.Refusal)
		}
		counts[p.Refusal]++
	}
	if len(order) == 0 {
		return
	}
	var parts []string
	for _, r := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
	}
	res.diagnose(DiagESPRefused, fmt.Sprintf("the UE refused ESP packets sent to it (%s): see the ESP rules of table A.3.2.2-10 and the pcap with its esp_sa file", strings.Join(parts, ", ")))
}

func (r *Result) diagnose(code, msg string) {
	r.Diagnostics = append(r.Diagnostics, Diagnostic{Code: code, Message: msg})
}

// diagnoseRegistration adds what the UE's registration shows: no answer at
// all from the P-CSCF, an AUTN whose MAC-A is wrong.
func diagnoseRegistration(res *Result, reg *ue.Registration, pcscf netip.AddrPort, transport string, playsHSS bool) {
	if reg.Initial != nil && len(reg.Challenges) == 0 && reg.Final == nil && transport == "UDP" && !receivedBy(res.Trace, ue.Role) && res.Missing["5"] != "interrupted" {
		res.diagnose(DiagNoAnswer, fmt.Sprintf("nothing answered at the P-CSCF %s over UDP: the REGISTER of step 2 got no response at all (%s); check that the P-CSCF listens on that address and port and that no firewall drops the datagrams", pcscf, reg.Why))
	}
	if reg.AUTN == ue.AUTNBadMAC {
		if playsHSS {
			res.diagnose(DiagKeys, "the AUTN of the 401 failed verification (MAC-A wrong) although the harness's HSS made it from the lab's own K and OP/OPc: the SUT changed RAND or AUTN on the way from the MAA to the 401")
		} else {
			res.diagnose(DiagKeys, "the AUTN of the 401 failed verification (MAC-A wrong): the lab's subscriber.k and subscriber.op or .opc are not what the SUT's HSS holds for "+res.Vars["impi"]+" (check also which of OP and OPc the HSS was given)")
		}
	}
}

func receivedBy(t *trace.Trace, role string) bool {
	for _, m := range t.Messages() {
		if m.Role == role && m.Dir == trace.Received {
			return true
		}
	}
	return false
}

// diagnoseUnparseable adds one line per protocol for the messages the SUT
// sent that do not parse: SIP to the UE or the VCC Application (sipmsg,
// the grammar the rules use), Diameter to the HSS.
func diagnoseUnparseable(res *Result) {
	var sipN, diaN int
	var sipFirst, diaFirst string
	for _, m := range res.Trace.Messages() {
		if m.Dir != trace.Received {
			continue
		}
		switch m.Proto {
		case trace.Diameter:
			if _, err := diameter.Unmarshal(m.Raw); err != nil {
				if diaN++; diaN == 1 {
					diaFirst = fmt.Sprintf("message #%d from %s (%d bytes): %v", m.Seq, m.Src, len(m.Raw), err)
				}
			}
		default:
			if len(bytes.Trim(m.Raw, "\r\n")) == 0 {
				continue // a CRLF keep-alive (RFC 5626 3.5.1)
			}
			if _, err := sipmsg.Parse(m.Raw); err != nil {
				if sipN++; sipN == 1 {
					sipFirst = fmt.Sprintf("message #%d from %s to the %s (%d bytes): %v", m.Seq, m.Src, m.Role, len(m.Raw), err)
				}
			}
		}
	}
	if sipN > 0 {
		res.diagnose(DiagUnparseable, fmt.Sprintf("the SUT sent %d SIP message(s) that do not parse; the first is %s", sipN, sipFirst))
	}
	if diaN > 0 {
		res.diagnose(DiagUnparseable, fmt.Sprintf("the SUT sent %d Diameter message(s) to the HSS that do not decode; the first is %s", diaN, diaFirst))
	}
}

// diagnoseUnreachable reports a P-CSCF where nothing listens — ICMP port
// unreachable over UDP, a refused connection over TCP, as the transport
// tells the UE's first exchange (*transport.UnreachableError) — and names it
// in the reasons of the steps that could not come. It reports whether it
// was so.
func diagnoseUnreachable(res *Result, err error, pcscf netip.AddrPort) bool {
	var unr *transport.UnreachableError
	if !errors.As(err, &unr) {
		return false
	}
	how := "ICMP port unreachable"
	if unr.Transport == transport.TCP {
		how = "connection refused"
	}
	why := fmt.Sprintf("nothing listens at the P-CSCF %s over %s (%s)", pcscf, unr.Transport, how)
	res.diagnose(DiagUnreachable, why+": check the address and port, and that the P-CSCF has "+unr.Transport+" enabled")
	if _, sent := res.Messages["2"]; !sent {
		res.Missing["2"] = "not sent: " + why
	}
	for _, s := range []string{"5", "10", "14", "11"} {
		res.Missing[s] = "not received: " + why
	}
	for _, s := range []string{"7", "13"} {
		res.Missing[s] = "not sent: " + why
	}
	return true
}

// unreached marks every step of a run that could not reach the P-CSCF.
func unreached(res *Result, why string) {
	res.Missing["2"] = "not sent: " + why
	for _, s := range []string{"5", "10", "14"} {
		res.Missing[s] = "not received: " + why
	}
	for _, s := range []string{"7", "13"} {
		res.Missing[s] = "not sent: " + why
	}
	res.Missing["11"] = "not received: " + why
	res.Missing["12"] = "nothing stored: no REGISTER received at step 11 (" + why + ")"
	res.Facts["12.accepted"] = "false: no REGISTER received at step 11 (" + why + ")"
	res.Facts["5.autn"] = "unusable: no 401 Unauthorized received"
}

// ueHost picks the UE's address: ue.address, or, when the lab left it out,
// the address this host reaches the P-CSCF from.
func ueHost(l *lab.Profile, pcscf netip.AddrPort, given netip.Addr) (netip.Addr, string) {
	if !l.IsDefault("ue.address") || !pcscf.IsValid() {
		return given, ""
	}
	a, err := lab.RouteSource(pcscf.Addr())
	if err != nil || a == given {
		return given, ""
	}
	return a, fmt.Sprintf("UE address %s: the address this host reaches %s from (ue.address left out)", a, pcscf.Addr())
}
