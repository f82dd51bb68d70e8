// Package trace records every message the harness sends or receives: direction,
// endpoints, time, raw bytes, and which harness role saw it. It keeps datagrams
// that do not parse as SIP, and is safe for concurrent use. Under IPsec it
// also records the ESP packets a role's user-space ESP sent and received
// (Packet), accepted or refused, and links each message to the packets that
// carried it (Message.ESP). Its subpackage trace/pcap writes a trace as pcap,
// trace/mask overwrites the authentication vectors in captured messages; this
// package itself links no packet library, so that the check engine, which
// reads traces, stays small.
//
// A trace is bounded whatever the peers send (see Limits): traffic a role
// finds part of no exchange of the run — a response that matches no
// transaction, a request no handler takes, bytes that do not parse — is
// recorded with AddUnrelated, which keeps the first few messages of each peer
// and counts the rest (Tallies), so that a flood leaves a summary, not a
// gigabyte.
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
	Seq       int            `json:"seq"`       // 1-based, in capture order; 0 when the trace did not keep it
	Time      time.Time      `json:"time"`      // when it was sent or received
	Proto     Protocol       `json:"proto"`     // SIP or Diameter
	Transport string         `json:"transport"` // "UDP" or "TCP"
	Dir       Direction      `json:"dir"`
	Role      string         `json:"role"` // harness role that saw it: "UE", "VCCApp", "HSS"
	Src       netip.AddrPort `json:"src"`
	Dst       netip.AddrPort `json:"dst"`
	Raw       []byte         `json:"raw"`
	Note      string         `json:"note,omitempty"` // e.g. "does not parse as SIP: ..."
	// Unrelated is set on a message recorded with AddUnrelated: its role
	// found it part of no exchange of the run.
	Unrelated bool `json:"unrelated,omitempty"`
	// ESP, for a message that travelled inside IPsec ESP, names the SA and
	// the packets that carried it (see LinkESP); nil for one in clear.
	ESP *ESP `json:"esp,omitempty"`
}

// Peer is the other end of a message: its source when received, its
// destination when sent.
func (m Message) Peer() netip.AddrPort {
	if m.Dir == Sent {
		return m.Dst
	}
	return m.Src
}

// Limits bound what a trace keeps. A message past a limit is not stored; it
// is counted in its peer's Tally.
type Limits struct {
	Messages int // messages kept in all (related and unrelated)
	Bytes    int // raw bytes kept in all

	UnrelatedPerPeer int // unrelated messages kept per role and peer
	Unrelated        int // unrelated messages kept in all
	UnrelatedBytes   int // raw bytes of unrelated messages kept in all

	// Peers is how many (role, peer) pairs are tallied one by one; the
	// messages of any further peer are tallied together, under the zero
	// Peer of their role.
	Peers int
}

// DefaultLimits are the limits of New. A run of the registration flow
// captures about 20 messages of about 1 KiB; these leave room for any
// conformant run and bound a flood. They are stated in reports/SCHEMA.md.
var DefaultLimits = Limits{
	Messages: 2000, Bytes: 8 << 20,
	UnrelatedPerPeer: 10, Unrelated: 100, UnrelatedBytes: 1 << 20,
	Peers: 100,
}

// Tally counts, for one role and one peer, the messages recorded as
// unrelated and those the trace did not keep.
type Tally struct {
	Role string `json:"role"`
	// Peer is the other end; the zero value stands for every peer past
	// Limits.Peers.
	Peer      netip.AddrPort `json:"peer"`
	Unrelated int            `json:"unrelated"` // messages recorded as unrelated, kept or not
	Kept      int            `json:"kept"`      // of those, kept in the trace
	// Dropped counts every message not kept: the unrelated ones past the
	// limits, and related ones past Limits.Messages or Limits.Bytes.
	Dropped      int       `json:"dropped"`
	DroppedBytes int64     `json:"dropped_bytes"`
	First, Last  time.Time `json:"-"` // when the first and the last message counted here was seen
}

type tallyKey struct {
	role string
	peer netip.AddrPort
}

// Trace is an append-only, concurrency-safe, bounded list of captured
// messages.
type Trace struct {
	mu        sync.Mutex
	lim       Limits
	msgs      []Message
	bytes     int
	unrelated int // unrelated messages kept
	ubytes    int // their raw bytes
	tallies   map[tallyKey]*Tally
	order     []tallyKey // tallies in order of first appearance
	peers     int        // tallies with a real peer

	// The ESP packets under the messages (esp.go).
	pkts        []Packet
	pktBytes    int
	pktsDropped int
}

// New returns an empty trace with DefaultLimits.
func New() *Trace { return NewLimited(DefaultLimits) }

// NewLimited returns an empty trace with the given limits; a limit of zero
// or less is the default's.
func NewLimited(l Limits) *Trace {
	d := DefaultLimits
	for _, p := range []struct{ v, def *int }{
		{&l.Messages, &d.Messages}, {&l.Bytes, &d.Bytes}, {&l.UnrelatedPerPeer, &d.UnrelatedPerPeer},
		{&l.Unrelated, &d.Unrelated}, {&l.UnrelatedBytes, &d.UnrelatedBytes}, {&l.Peers, &d.Peers},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return &Trace{lim: l}
}

// Add records m, a message of an exchange of the run, filling Seq and (when
// zero) Time, and returns the stored copy. Raw is copied, so the caller may
// reuse its buffer. Past Limits.Messages or Limits.Bytes the message is only
// counted (Tallies): the copy returned has Seq 0 (and still its Raw).
func (t *Trace) Add(m Message) Message {
	m.Unrelated = false
	m, _ = t.add(m)
	return m
}

// AddUnrelated records m, a message its role found part of no exchange of
// the run: a response that matches no transaction, a request that no handler
// takes (and the answer to it), bytes that do not parse. The first
// Limits.UnrelatedPerPeer such messages of each role and peer are kept (with
// Unrelated set), within Limits.Unrelated and Limits.UnrelatedBytes; every
// one is counted in its peer's Tally. It returns the stored copy and whether
// it was kept (when not, Seq is 0 and Raw nil).
func (t *Trace) AddUnrelated(m Message) (Message, bool) {
	m.Unrelated = true
	return t.add(m)
}

func (t *Trace) add(m Message) (Message, bool) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(m.Raw)
	keep := len(t.msgs) < t.lim.Messages && t.bytes+n <= t.lim.Bytes
	var tl *Tally
	if m.Unrelated {
		tl = t.tally(m)
		tl.Unrelated++
		keep = keep && tl.Kept < t.lim.UnrelatedPerPeer && t.unrelated < t.lim.Unrelated && t.ubytes+n <= t.lim.UnrelatedBytes
	}
	if !keep {
		if tl == nil {
			tl = t.tally(m)
		}
		tl.Dropped++
		tl.DroppedBytes += int64(n)
		m.Seq = 0
		if m.Unrelated {
			m.Raw = nil
		} else {
			m.Raw = append([]byte(nil), m.Raw...)
		}
		return m, false
	}
	if tl != nil {
		tl.Kept++
		t.unrelated++
		t.ubytes += n
	}
	m.Raw = append([]byte(nil), m.Raw...)
	t.bytes += n
	m.Seq = len(t.msgs) + 1
	t.msgs = append(t.msgs, m)
	return m, true
}

// tally returns the tally of m's role and peer, counting m's time. The
// caller holds t.mu.
func (t *Trace) tally(m Message) *Tally {
	k := tallyKey{m.Role, m.Peer()}
	tl, ok := t.tallies[k]
	if !ok && t.peers >= t.lim.Peers {
		k.peer = netip.AddrPort{}
		tl, ok = t.tallies[k]
	}
	if !ok {
		if t.tallies == nil {
			t.tallies = map[tallyKey]*Tally{}
		}
		tl = &Tally{Role: k.role, Peer: k.peer, First: m.Time}
		t.tallies[k] = tl
		t.order = append(t.order, k)
		if k.peer.IsValid() {
			t.peers++
		}
	}
	if m.Time.Before(tl.First) {
		tl.First = m.Time
	}
	if m.Time.After(tl.Last) {
		tl.Last = m.Time
	}
	return tl
}

// Messages returns a snapshot of the kept messages in capture order.
func (t *Trace) Messages() []Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Message(nil), t.msgs...)
}

// Tallies returns a snapshot of the tallies, in order of first appearance:
// one per role and peer that sent or got an unrelated message or a message
// the trace did not keep.
func (t *Trace) Tallies() []Tally {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Tally, 0, len(t.order))
	for _, k := range t.order {
		out = append(out, *t.tallies[k])
	}
	return out
}

// Limits returns the trace's limits.
func (t *Trace) Limits() Limits { return t.lim }
