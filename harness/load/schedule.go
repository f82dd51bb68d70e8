package load

import (
	"context"
	"time"
)

// Clock is the schedule's time: the real one in a run, a test's own in a
// test, so that the schedule is checked exactly.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends; false when ctx ended.
	Sleep(ctx context.Context, d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Schedule is an open-loop arrival schedule: n starts at a fixed rate, the
// k-th at Start + k/Rate. Nothing in it waits on an answer: a start that
// comes late (the generator could not keep up) is late, and is measured so
// (the slip), but it moves no other start.
type Schedule struct {
	Start time.Time
	Rate  float64 // starts per second, above 0
	N     int
}

// At is when the k-th start is due.
func (s Schedule) At(k int) time.Time {
	return s.Start.Add(time.Duration(float64(k) * float64(time.Second) / s.Rate))
}

// Span is the time from the first start to the last.
func (s Schedule) Span() time.Duration {
	if s.N < 1 {
		return 0
	}
	return s.At(s.N - 1).Sub(s.Start)
}

// Run calls start(k, due) for each k in order, each when it is due (at
// once when it is already past), never waiting for a call to return: start
// must hand its work to a goroutine of its own. It returns how many it
// started: fewer than N when ctx ended first.
func (s Schedule) Run(ctx context.Context, c Clock, start func(k int, due time.Time)) int {
	for k := range s.N {
		due := s.At(k)
		if d := due.Sub(c.Now()); d > 0 {
			if !c.Sleep(ctx, d) {
				return k
			}
		} else if ctx.Err() != nil {
			return k
		}
		start(k, due)
	}
	return s.N
}

// sampled reports whether the k-th registration of a run judging the share
// sample (0 < sample ≤ 1) of them is judged: the judged ones are spread
// evenly, the first always among them.
func sampled(k int, sample float64) bool {
	if sample >= 1 {
		return true
	}
	if sample <= 0 {
		return false
	}
	return k == 0 || int(float64(k+1)*sample) > int(float64(k)*sample)
}
