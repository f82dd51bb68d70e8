// Package deviation describes how a message sent in the flow is deliberately
// broken, so that a test can prove a rule fails when its field is wrong.
//
// A Deviation is data. The reference core applies the deviations of the SUT's
// steps (5, 10/14, 11) and its behaviours (bad MAC, stale SQN, no answer, 403,
// a malformed datagram); the UE emulator and the mock VCC Application apply
// those of their own steps (2, 7, 13), so that even the stimulus rules can be
// shown to fail. The Cx steps (3.UAR, 3.MAR, 8.UAR, 9.SAR) are Diameter
// requests of the reference core: their header edits name AVPs (see
// ApplyAVPs) and no-answer withholds the request. Under real IPsec
// (sut.ipsec) the ESP deviations break the security associations instead of
// a header: a bad ICV, a wrong SPI, a replayed sequence number, a message in
// clear between protected ports, an integrity algorithm the UE did not offer.
package deviation

// Action is what a deviation does.
type Action string

const (
	// Header edits, applied to the message of Step just before it is sent.
	DropHeader Action = "drop-header" // remove every Header line
	SetHeader  Action = "set-header"  // replace the value of every Header line with Value (add it if absent)
	AddHeader  Action = "add-header"  // append one more Header line with Value
	DropParam  Action = "drop-param"  // remove parameter Param from every Header value (Digest params too)
	SetParam   Action = "set-param"   // set parameter Param of every Header value to Value (add it if absent)
	// StartLine replaces the start line (request line or status line) with Value.
	StartLine Action = "start-line"

	// Behaviours of the reference core.
	BadMAC    Action = "bad-mac"    // step 5: AUTN carries a wrong MAC-A
	StaleSQN  Action = "stale-sqn"  // step 5: the HSS's SQN is behind the UE's (UE answers with AUTS); with Value ReplayRAND the next vector repeats the rejected RAND
	NoAnswer  Action = "no-answer"  // Step: the message of that step is never sent
	Reject403 Action = "reject-403" // step 10: answer the authenticated REGISTER with 403 Forbidden
	Malformed Action = "malformed"  // Step: send Value (or garbage) as a datagram that does not parse, instead of the message
	WrongRES  Action = "wrong-res"  // step 7 (UE): send a wrong digest response
	// AsTable, on step 11, makes the S-CSCF pass the authenticated REGISTER
	// on to the VCC Application as table A.3.2.2-11 shows it (the Via chain
	// of the P-CSCF and the I-CSCF, no Via of its own, Request-URI
	// sip:<scscf_name>) instead of originating the third-party REGISTER of
	// TS 24.229 5.4.1.7: the seed's reading, which breaks RFC 3261 16.6.
	AsTable Action = "as-table"
	// Late, on a Cx step, makes the S-CSCF send that request only after the
	// SIP answer it should come before: the MAR of step 3.MAR when the UE
	// answers the 401 (the 401's vector comes from the core's own AuC), the
	// SAR of step 9.SAR a quarter of a second after the P-CSCF has relayed
	// the 200 OK to the UE (and before step 11).
	Late Action = "late"

	// The ESP deviations (TS 33.203 7.1, RFC 4303), under real IPsec
	// (sut.ipsec): the reference P-CSCF's on step 10 apply to the next ESP
	// packet on the SA the 200 OK leaves on (port-s to the UE's port-c);
	// the packet after it is sound again, so that the 200 OK still arrives
	// (over UDP the UE's retransmitted REGISTER is answered, over TCP the
	// segment is sent again) and only the rules on the packets fail.
	BadICV   Action = "bad-icv"   // step 10: that packet's ICV is wrong
	WrongSPI Action = "wrong-spi" // step 10: that packet carries an SPI the UE did not announce
	Replay   Action = "replay"    // step 10: that packet is sent twice: the copy replays its sequence number
	// InClear sends a message in clear between the protected ports: on
	// step 10 the P-CSCF sends the 200 OK from its port-s to the UE's
	// port-c without ESP; on step 7 the UE sends the REGISTER from its
	// port-c to the P-CSCF's port-s without ESP (which a P-CSCF must refuse).
	InClear Action = "in-clear"
	// AlgNotOffered, on step 5, makes the P-CSCF list in Security-Server,
	// before its own mechanism and at a higher q, one whose integrity
	// algorithm the UE did not offer (TS 33.203 7.2 has it choose among
	// those the UE offered). A UE picks among what it offered, so the
	// registration goes on.
	AlgNotOffered Action = "alg-not-offered"
)

// ESPSteps lists, per ESP deviation, the steps it applies to.
var ESPSteps = map[Action][]string{
	BadICV: {"10"}, WrongSPI: {"10"}, Replay: {"10"}, InClear: {"7", "10"}, AlgNotOffered: {"5"},
}

// ReplayRAND is the Value of a stale-sqn deviation whose HSS, after the
// re-synchronisation, sends a vector with the RAND the UE rejected.
const ReplayRAND = "replay-rand"

// Deviation breaks one field of the message of one step.
type Deviation struct {
	Step   string `yaml:"step" json:"step"`                         // "2", "5", "7", "10", "11", "13", or a Cx step "3.UAR", "3.MAR", "8.UAR", "9.SAR"
	Action Action `yaml:"action" json:"action"`                     // what to do
	Header string `yaml:"header,omitempty" json:"header,omitempty"` // header name, for header edits; an AVP path ("SIP-Auth-Data-Item/SIP-Authentication-Scheme") on a Cx step
	Param  string `yaml:"param,omitempty" json:"param,omitempty"`   // parameter name, for param edits
	Value  string `yaml:"value,omitempty" json:"value,omitempty"`   // new value
}

// For returns the deviations of ds that apply to step.
func For(ds []Deviation, step string) []Deviation {
	var out []Deviation
	for _, d := range ds {
		if d.Step == step {
			out = append(out, d)
		}
	}
	return out
}
