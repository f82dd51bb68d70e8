package transport

import (
	"sort"
	"sync"
	"time"
)

// fakeClock is a Clock a test advances by hand: a timer fires, in the
// test's goroutine, when Advance passes its due time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	due     time.Time
	f       func()
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, due: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// Advance moves the clock by d, firing every timer that falls due on the
// way, in due order, with the clock at its due time.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var live []*fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.fired {
				live = append(live, t)
			}
		}
		c.timers = live
		sort.SliceStable(live, func(i, j int) bool { return live[i].due.Before(live[j].due) })
		if len(live) == 0 || live[0].due.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := live[0]
		t.fired = true
		c.now = t.due
		c.mu.Unlock()
		t.f()
	}
}

// next is the due time of the earliest live timer (zero when none).
func (c *fakeClock) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n time.Time
	for _, t := range c.timers {
		if !t.stopped && !t.fired && (n.IsZero() || t.due.Before(n)) {
			n = t.due
		}
	}
	return n
}
