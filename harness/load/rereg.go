package load

import (
	"sync"
	"time"
)

// reregItem is a UE's next re-registration.
type reregItem struct {
	at time.Time
	k  int
}

// reregQueue holds the re-registrations due, in the order they fall due:
// every one is pushed at its registration's end plus one interval, so the
// order of pushing is (nearly) the order of falling due, and a FIFO does.
// One goroutine (reregistrations) takes them; no UE holds a timer.
type reregQueue struct {
	mu    sync.Mutex
	items []reregItem
	head  int
	wakeC chan struct{}
}

func (q *reregQueue) push(it reregItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.wake()
}

// peek returns the first item, if any.
func (q *reregQueue) peek() (reregItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head >= len(q.items) {
		return reregItem{}, false
	}
	return q.items[q.head], true
}

func (q *reregQueue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[q.head] = reregItem{}
	q.head++
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
}

func (q *reregQueue) wake() {
	q.mu.Lock()
	c := q.wakeC
	q.mu.Unlock()
	if c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// reregistrations starts each re-registration when it falls due, until the
// run stops.
func (r *runner) reregistrations() {
	r.rq.mu.Lock()
	r.rq.wakeC = make(chan struct{}, 1)
	wake := r.rq.wakeC
	r.rq.mu.Unlock()
	for !r.stopping.Load() && r.ctx.Err() == nil {
		it, ok := r.rq.peek()
		if !ok {
			select {
			case <-wake:
			case <-r.ctx.Done():
			}
			continue
		}
		if d := time.Until(it.at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-wake:
			case <-r.ctx.Done():
			}
			t.Stop()
			continue
		}
		r.rq.pop()
		r.startRenewal(it.k, r.rereg, false)
	}
}

// deregistrations de-register every registered UE at the run's rate, open
// loop as the initial registrations.
func (r *runner) deregistrations() {
	var ks []int
	for k := range r.members {
		if r.members[k].registered {
			ks = append(ks, k)
		}
	}
	s := Schedule{Start: r.clock.Now(), Rate: r.rate, N: len(ks)}
	s.Run(r.ctx, r.clock, func(j int, _ time.Time) { r.startRenewal(ks[j], r.dereg, true) })
}

// startRenewal starts a re-registration (or, with dereg, a
// de-registration) of the k-th UE in a goroutine of its own. It is
// measured in phase, not judged.
func (r *runner) startRenewal(k int, phase *Phase, dereg bool) {
	m := &r.members[k]
	if m.ue == nil || m.reg == nil || !m.registered {
		return
	}
	r.inflight.Add(1)
	r.pmu.Lock()
	phase.Attempted++
	r.pmu.Unlock()
	go func() {
		defer r.inflight.Done()
		r.busy.Add(1)
		var err error
		if dereg {
			_, err = m.ue.Deregister(r.ctx, m.reg)
		} else {
			_, err = m.ue.Reregister(r.ctx, m.reg)
		}
		r.busy.Add(-1)
		reg := m.reg
		why := cause(reg, err)
		var rrd time.Duration
		if reg.Registered() && reg.Requests != nil && reg.Final != nil {
			rrd = reg.Final.Time.Sub(reg.Requests[0].Time)
			phase.RRD.Record(rrd)
		}
		r.pmu.Lock()
		switch {
		case why == CauseInterrupted:
			phase.Unfinished++
		case why == "":
			phase.Succeeded++
		default:
			phase.Ineffective++
			phase.Causes[why]++
		}
		r.pmu.Unlock()
		m.registered = !dereg && reg.Registered()
		reg.Forget()
		if !m.registered {
			r.closeMember(k)
		}
		if m.registered && !dereg && !r.stopping.Load() {
			r.rq.push(reregItem{at: time.Now().Add(r.o.Reregister), k: k})
		}
	}()
}
