package load

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"imsconform/harness/transport"
	"imsconform/harness/ue"
)

// Causes of an ineffective registration attempt (RFC 6076 4.2 counts
// attempts that end with a failure response or none; a load run also
// counts a 2xx whose messages break a rule that gates, and says which).
const (
	CauseTimeout     = "timeout"     // no final response within the step timeout
	CauseUnreachable = "unreachable" // nothing listens at the P-CSCF (ICMP port unreachable, TCP refused)
	CauseAKA         = "aka"         // the 401 could not be answered: AUTN failed verification, no usable challenge, too many challenges
	CauseFields      = "fields"      // a 2xx, but a rule that gates failed on the registration's messages
	CauseInterrupted = "interrupted" // the run ended first
	CauseHarness     = "harness"     // the UE could not send
	// A final response that is not a 2xx counts under its class: "3xx",
	// "4xx", "5xx", "6xx".
)

// cause says why a registration that ended with err was ineffective ("" for
// none).
func cause(reg *ue.Registration, err error) string {
	var nr *ue.NoResponseError
	var un *transport.UnreachableError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &nr):
		return CauseTimeout
	case errors.Is(err, ue.ErrInterrupted):
		return CauseInterrupted
	case errors.As(err, &un):
		return CauseUnreachable
	case reg != nil && reg.Status >= 300:
		return fmt.Sprintf("%dxx", reg.Status/100)
	case reg != nil && reg.AUTN != "" && reg.AUTN != ue.AUTNValid, reg != nil && len(reg.Challenges) > 0 && reg.Authorized == nil:
		return CauseAKA
	}
	return CauseHarness
}

// Phase counts one kind of registration attempt of a run: initial
// registrations, re-registrations or de-registrations.
type Phase struct {
	Attempted int64 `json:"attempted"`
	// Succeeded counts the attempts that ended with a 2xx (and, for a
	// judged initial registration, with no rule that gates failing).
	Succeeded int64 `json:"succeeded"`
	// Ineffective counts the others that ended (RFC 6076 4.2), by cause.
	Ineffective int64            `json:"ineffective"`
	Causes      map[string]int64 `json:"ineffective_by_cause"`
	// Unfinished were still under way when the run ended.
	Unfinished int64 `json:"unfinished"`
	// RRD is RFC 6076 4.1's Registration Request Delay of every attempt a
	// 2xx answered: from the first REGISTER sent to the 2xx received, the
	// 401 round trip included.
	RRD *Latency `json:"rrd"`
}

func newPhase() *Phase { return &Phase{Causes: map[string]int64{}, RRD: NewLatency()} }

// IneffectivePercent is Ineffective as a share of the attempts that ended.
func (p *Phase) IneffectivePercent() float64 {
	if n := p.Succeeded + p.Ineffective; n > 0 {
		return 100 * float64(p.Ineffective) / float64(n)
	}
	return 0
}

func (p *Phase) merge(o *Phase) error {
	p.Attempted += o.Attempted
	p.Succeeded += o.Succeeded
	p.Ineffective += o.Ineffective
	p.Unfinished += o.Unfinished
	for c, n := range o.Causes {
		p.Causes[c] += n
	}
	return p.RRD.Merge(o.RRD)
}

// Second is one second of a run (wall clock, so that shards line up):
// initial registrations attempted, succeeded and ineffective in it (by the
// time they started, and ended), and the RRD of those that ended in it.
type Second struct {
	T           int64    `json:"t"` // Unix seconds
	Attempted   int64    `json:"attempted"`
	Succeeded   int64    `json:"succeeded"`
	Ineffective int64    `json:"ineffective"`
	RRD         *Latency `json:"rrd"` // 2 significant digits
}

// series is a run's seconds. A second's histogram is kept as load.json
// keeps it (encoded) once it is older than settle, so that a long run
// holds a few dozen bytes per second, not a histogram each.
type series struct {
	mu  sync.Mutex
	m   map[int64]*Second
	old map[int64][]byte // encoded seconds, by T
}

const settle = 20 // seconds after which a second no longer changes

func newSeries() *series { return &series{m: map[int64]*Second{}, old: map[int64][]byte{}} }

func (s *series) at(t time.Time) *Second {
	k := t.Unix()
	sec := s.m[k]
	if sec == nil {
		if b, ok := s.old[k]; ok { // a straggler: back into memory
			sec = &Second{}
			if err := sec.unmarshal(b); err == nil {
				delete(s.old, k)
				s.m[k] = sec
				return sec
			}
		}
		sec = &Second{T: k, RRD: newLatency(intervalDigits)}
		s.m[k] = sec
	}
	return sec
}

func (s *series) attempted(t time.Time) {
	s.mu.Lock()
	s.at(t).Attempted++
	s.mu.Unlock()
}

func (s *series) ended(t time.Time, ok bool, rrd time.Duration) {
	s.mu.Lock()
	sec := s.at(t)
	if ok {
		sec.Succeeded++
	} else {
		sec.Ineffective++
	}
	s.mu.Unlock()
	if rrd > 0 {
		sec.RRD.Record(rrd)
	}
}

// compact encodes the seconds older than settle seconds before now.
func (s *series) compact(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sec := range s.m {
		if k < now.Unix()-settle {
			if b, err := sec.marshal(); err == nil {
				s.old[k] = b
				delete(s.m, k)
			}
		}
	}
}

// seconds returns every second in order.
func (s *series) seconds() []Second {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Second, 0, len(s.m)+len(s.old))
	for _, sec := range s.m {
		out = append(out, *sec)
	}
	for _, b := range s.old {
		var sec Second
		if err := sec.unmarshal(b); err == nil {
			out = append(out, sec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out
}

// mergeSeconds adds b's seconds to a's, second by second.
func mergeSeconds(a, b []Second) ([]Second, error) {
	at := map[int64]int{}
	for i, s := range a {
		at[s.T] = i
	}
	for _, s := range b {
		i, ok := at[s.T]
		if !ok {
			c := s
			c.RRD = newLatency(intervalDigits)
			if err := c.RRD.Merge(s.RRD); err != nil {
				return nil, err
			}
			at[s.T] = len(a)
			a = append(a, c)
			continue
		}
		x := &a[i]
		x.Attempted += s.Attempted
		x.Succeeded += s.Succeeded
		x.Ineffective += s.Ineffective
		if err := x.RRD.Merge(s.RRD); err != nil {
			return nil, err
		}
	}
	sort.Slice(a, func(i, j int) bool { return a[i].T < a[j].T })
	return a, nil
}

// Repeats are the messages a run's transactions sent or took in more than
// once, per message.
type Repeats struct {
	// Retransmitted counts the REGISTERs the UEs sent again on Timer E
	// (RFC 3261 17.1.2.2: no answer within T1, 2·T1, …).
	Retransmitted int64 `json:"register_retransmitted_by_ue"`
	// Responses counts the final responses the SUT sent the UEs again, by
	// status code (its server transaction answering a REGISTER that came
	// again, or repeating on its own).
	Responses map[string]int64 `json:"responses_repeated_by_sut"`
	// ThirdParty counts the third-party REGISTERs (step 11) the SUT sent
	// the VCC Application again; each got the cached 200 OK (step 13)
	// again.
	ThirdParty int64 `json:"third_party_register_repeated_by_sut"`
}

func (r *Repeats) add(ueLayer, appLayer transport.Repeats) {
	r.Retransmitted += ueLayer.Retransmitted["REGISTER"]
	if r.Responses == nil {
		r.Responses = map[string]int64{}
	}
	for c, n := range ueLayer.Responses {
		r.Responses[c] += n
	}
	r.ThirdParty += appLayer.Requests["REGISTER"]
}

func (r *Repeats) merge(o Repeats) {
	r.add(transport.Repeats{Retransmitted: map[string]int64{"REGISTER": o.Retransmitted}, Responses: o.Responses},
		transport.Repeats{Requests: map[string]int64{"REGISTER": o.ThirdParty}})
}
