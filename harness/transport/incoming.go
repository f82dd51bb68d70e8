package transport

import (
	"imsconform/harness/sipmsg"
	"imsconform/harness/trace"
)

// Incoming is one message an endpoint received.
type Incoming struct {
	// Msg is the message as recorded: its exact bytes, source, destination,
	// transport, time and note.
	Msg trace.Message
	// Parsed is the message read by harness/sipmsg; nil when it does not
	// parse as SIP (Err says why).
	Parsed *sipmsg.Message
	Err    error
	// Tx is the server transaction a new request opened; nil for
	// responses, ACKs and what does not parse.
	Tx *ServerTx
	// Endpoint is where it arrived.
	Endpoint *Endpoint

	conn    *conn // the TCP connection it came on
	related bool  // part of the role's exchanges (Options.Takes), not unrelated traffic
}

// Related reports whether the message belongs to the role's exchanges; an
// unrelated one was recorded as unrelated traffic (Options.Takes).
func (in *Incoming) Related() bool { return in.related }

// Transport is UDP or TCP.
func (in *Incoming) Transport() string { return in.Msg.Transport }
