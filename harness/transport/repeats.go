package transport

import (
	"maps"
	"strconv"
	"sync"
)

// Repeats counts what a Layer's transactions sent or took in more than
// once: requests retransmitted on Timer E, final responses that came again
// to a completed client transaction, and requests that came again to a
// server transaction (answered from its cache, or absorbed). A load run
// reports them per message.
type Repeats struct {
	Retransmitted map[string]int64 // requests sent again, by method
	Responses     map[string]int64 // final responses received again, by status code
	Requests      map[string]int64 // requests received again, by method
}

// repeats is a Layer's count.
type repeats struct {
	mu sync.Mutex
	r  Repeats
}

func (c *repeats) add(m *map[string]int64, key string) {
	c.mu.Lock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[key]++
	c.mu.Unlock()
}

// Repeats returns a copy of the Layer's count so far.
func (l *Layer) Repeats() Repeats {
	c := &l.repeats
	c.mu.Lock()
	defer c.mu.Unlock()
	return Repeats{Retransmitted: maps.Clone(c.r.Retransmitted), Responses: maps.Clone(c.r.Responses), Requests: maps.Clone(c.r.Requests)}
}

func (l *Layer) retransmittedRequest(method string) {
	l.repeats.add(&l.repeats.r.Retransmitted, method)
}
func (l *Layer) repeatedResponse(code int)     { l.repeats.add(&l.repeats.r.Responses, strconv.Itoa(code)) }
func (l *Layer) repeatedRequest(method string) { l.repeats.add(&l.repeats.r.Requests, method) }
