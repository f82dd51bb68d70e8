// Package trace records every message the harness sends or receives: direction,
// endpoints, time, raw bytes, and which harness role saw it. It keeps datagrams
// that do not parse as SIP, and is safe for concurrent use. Under IPsec it
// also records the ESP packets a role's user-space ESP sent and received
// (Packet), accepted or refused, and links each message to the packets that
// carried it (Message.ESP). Its subpackage
// trace/pcap writes a trace as pcap; this package itself links no packet
// library, so that the check engine, which reads traces, stays small.
//
// It does not judge messages; the check engine does that.
package trace

import (
	"net/netip"
	"sync"
	"time"
)

// Direction is seen from the harness: Sent by one of its roles, or Received.
type Direction string

const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// Protocol of a captured message.
type Protocol string

const (
	SIP      Protocol = "SIP"
	Diameter Protocol = "Diameter"
)

// Message is one captured message.
type Message struct {
	Seq       int            `json:"seq"`       // 1-based, in capture order
	Time      time.Time      `json:"time"`      // when it was sent or received
	Proto     Protocol       `json:"proto"`     // SIP or Diameter
	Transport string         `json:"transport"` // "UDP" or "TCP"
	Dir       Direction      `json:"dir"`
	Role      string         `json:"role"` // harness role that saw it: "UE", "VCCApp", "HSS"
	Src       netip.AddrPort `json:"src"`
	Dst       netip.AddrPort `json:"dst"`
	Raw       []byte         `json:"raw"`
	Note      string         `json:"note,omitempty"` // e.g. "does not parse as SIP: ..."
	// ESP, for a message that travelled inside IPsec ESP, names the SA and
	// the packets that carried it (see LinkESP); nil for one in clear.
	ESP *ESP `json:"esp,omitempty"`
}

// Trace is an append-only, concurrency-safe list of captured messages.
type Trace struct {
	mu   sync.Mutex
	msgs []Message

	// The ESP packets under the messages (esp.go).
	pkts        []Packet
	pktBytes    int
	pktsDropped int
}

// New returns an empty trace.
func New() *Trace { return &Trace{} }

// Add records m, filling Seq and (when zero) Time, and returns the stored copy.
// Raw is copied, so the caller may reuse its buffer.
func (t *Trace) Add(m Message) Message {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	m.Raw = append([]byte(nil), m.Raw...)
	t.mu.Lock()
	defer t.mu.Unlock()
	m.Seq = len(t.msgs) + 1
	t.msgs = append(t.msgs, m)
	return m
}

// Messages returns a snapshot of the captured messages in capture order.
func (t *Trace) Messages() []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Message(nil), t.msgs...)
}
