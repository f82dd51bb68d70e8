package esp

import (
	"errors"
	"testing"
)

// The receiver's window of RFC 4303 3.4.3, step by step: each row is a
// sequence number arriving, whether it is accepted, and the highest accepted
// after it.
func TestReplayWindow(t *testing.T) {
	var w replayWindow
	for i, tc := range []struct {
		seq    uint32
		accept bool
		top    uint32
	}{
		{0, false, 0},    // 0 is never sent
		{1, true, 1},     // the first packet
		{1, false, 1},    // duplicate
		{3, true, 3},     // a gap is fine
		{2, true, 3},     // late, inside the window
		{2, false, 3},    // late duplicate
		{100, true, 100}, // a jump slides the window
		{37, true, 100},  // 100-37 = 63: the left edge of a 64 window
		{36, false, 100}, // 64 behind: left of the window
		{37, false, 100}, // already seen
		{99, true, 100},
		{164, true, 164}, // slides by exactly 64: the old bits are gone
		{100, false, 164},
		{101, true, 164},
		{4294967295, true, 4294967295},
		{4294967295, false, 4294967295},
	} {
		err := w.check(tc.seq)
		if err == nil {
			err = w.accept(tc.seq)
		}
		if (err == nil) != tc.accept {
			t.Fatalf("step %d: seq %d: err %v, want accepted=%v", i, tc.seq, err, tc.accept)
		}
		if err != nil && !errors.Is(err, ErrReplay) {
			t.Fatalf("step %d: %v is not ErrReplay", i, err)
		}
		if w.top != tc.top {
			t.Fatalf("step %d: top %d, want %d", i, w.top, tc.top)
		}
	}
}

// check is read-only: a packet whose ICV then fails leaves the window alone.
func TestReplayCheckDoesNotAccept(t *testing.T) {
	var w replayWindow
	if err := w.check(5); err != nil {
		t.Fatal(err)
	}
	if err := w.check(5); err != nil {
		t.Fatalf("check marked 5 as seen: %v", err)
	}
	if w.top != 0 {
		t.Fatalf("top %d after check only", w.top)
	}
}
