package transport

import "time"

// Clock runs the transaction timers (E, F, K, J). The real one is the
// default; a test injects one it advances by hand, so that a retransmission
// schedule is checked exactly and not against the wall clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a test clock, when
	// the test advances past d) unless the timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call of Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call; it reports whether it did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Timers are RFC 3261's T1, T2 and T4 (17.1.2.2, table 4). The zero value of
// a field means its default.
type Timers struct {
	T1 time.Duration // RTT estimate: 500 ms
	T2 time.Duration // longest retransmit interval of a non-INVITE request: 4 s
	T4 time.Duration // how long a message may stay in the network: 5 s
}

// Defaults of Timers.
const (
	DefaultT1 = 500 * time.Millisecond
	DefaultT2 = 4 * time.Second
	DefaultT4 = 5 * time.Second
)

func (t Timers) withDefaults() Timers {
	if t.T1 <= 0 {
		t.T1 = DefaultT1
	}
	if t.T2 <= 0 {
		t.T2 = DefaultT2
	}
	if t.T4 <= 0 {
		t.T4 = DefaultT4
	}
	return t
}

// F is Timer F (and Timer J): 64·T1.
func (t Timers) F() time.Duration { return 64 * t.withDefaults().T1 }
