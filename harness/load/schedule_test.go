package load

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock advances only when the schedule sleeps, or when a test moves
// it: the schedule is checked exactly, not against the wall clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.advance(d)
	return true
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestScheduleStartsEachAtItsTime(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &fakeClock{now: t0}
	s := Schedule{Start: t0, Rate: 250, N: 1000}
	var at []time.Duration
	n := s.Run(context.Background(), c, func(k int, due time.Time) {
		if want := t0.Add(time.Duration(k) * 4 * time.Millisecond); !due.Equal(want) {
			t.Fatalf("start %d due at %v, want %v", k, due.Sub(t0), want.Sub(t0))
		}
		at = append(at, c.Now().Sub(t0))
	})
	if n != 1000 || len(at) != 1000 {
		t.Fatalf("started %d", n)
	}
	for k, d := range at {
		if d != time.Duration(k)*4*time.Millisecond {
			t.Fatalf("start %d at %v, want %v", k, d, time.Duration(k)*4*time.Millisecond)
		}
	}
	if s.Span() != 999*4*time.Millisecond {
		t.Errorf("Span = %v", s.Span())
	}
}

// Open loop: a start that takes long (a generator that falls behind) makes
// the next starts late, at once, but moves no start's due time: nothing
// waits on an answer, and the lateness is there to be measured.
func TestScheduleIsOpenLoop(t *testing.T) {
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &fakeClock{now: t0}
	s := Schedule{Start: t0, Rate: 100, N: 20}
	var slips []time.Duration
	s.Run(context.Background(), c, func(k int, due time.Time) {
		slips = append(slips, c.Now().Sub(due))
		if k == 5 {
			c.advance(55 * time.Millisecond) // start 5 holds the generator 5.5 intervals
		}
	})
	for k, sl := range slips {
		want := time.Duration(0)
		switch {
		case k >= 6 && k <= 10:
			want = time.Duration(55-10*(k-5)) * time.Millisecond // due 10 ms apart, all started at 105 ms
		}
		if want < 0 {
			want = 0
		}
		if sl != want {
			t.Errorf("start %d: slip %v, want %v", k, sl, want)
		}
	}
}

func TestScheduleStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &fakeClock{now: time.Unix(0, 0)}
	n := Schedule{Start: c.Now(), Rate: 10, N: 100}.Run(ctx, c, func(k int, _ time.Time) {
		if k == 9 {
			cancel()
		}
	})
	if n != 10 {
		t.Errorf("started %d after the context ended at the 10th, want 10", n)
	}
}

func TestSampleSpreadsTheJudgedEvenly(t *testing.T) {
	for _, s := range []float64{1, 0.5, 0.1, 0.013} {
		n, runs := 0, 0
		gap := 0
		for k := range 10000 {
			if sampled(k, s) {
				n++
				gap = 0
			} else if gap++; gap > int(1/s)+1 {
				runs++
			}
		}
		if want := int(10000 * s); n < want || n > want+1 {
			t.Errorf("sample %g: %d of 10000 judged, want %d", s, n, want)
		}
		if runs > 0 {
			t.Errorf("sample %g: %d gaps longer than 1/s: not spread evenly", s, runs)
		}
	}
	if !sampled(0, 0.001) {
		t.Error("the first registration is always judged")
	}
}
