package esp

import (
	"fmt"
	"sync"
)

// ReplayWindow is the size of the anti-replay window of every inbound SA:
// RFC 4303 3.4.3 requires at least 32 and makes 64 the default.
const ReplayWindow = 64

// replayWindow is the receiver's anti-replay state of one SA (RFC 4303 3.4.3,
// without extended sequence numbers, which TS 33.203 does not use): the
// highest sequence number accepted and which of the 64 below it were seen.
type replayWindow struct {
	mu     sync.Mutex
	top    uint32 // highest sequence number accepted; 0: none yet
	bitmap uint64 // bit i: top-i was accepted
}

// check reports whether seq may be accepted: it is not 0 (the sender's first
// packet is 1), it is not left of the window, and it was not accepted before.
// It is cheap and done before the ICV (RFC 4303 3.4.3: "duplicates are
// rejected ... before the ICV is verified").
func (w *replayWindow) check(seq uint32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkLocked(seq)
}

func (w *replayWindow) checkLocked(seq uint32) error {
	switch {
	case seq == 0:
		return fmt.Errorf("%w: sequence number 0 is never sent (the first packet is 1)", ErrReplay)
	case seq > w.top:
		return nil
	case w.top-seq >= ReplayWindow:
		return fmt.Errorf("%w: sequence number %d is left of the window (highest accepted %d, window %d)", ErrReplay, seq, w.top, ReplayWindow)
	case w.bitmap&(1<<(w.top-seq)) != 0:
		return fmt.Errorf("%w: sequence number %d was accepted already (highest accepted %d)", ErrReplay, seq, w.top)
	}
	return nil
}

// accept checks seq again and marks it seen. It is called only after the ICV
// verified (RFC 4303 3.4.3: the window is updated only then).
func (w *replayWindow) accept(seq uint32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkLocked(seq); err != nil {
		return err
	}
	if seq > w.top {
		shift := seq - w.top
		if shift >= ReplayWindow {
			w.bitmap = 0
		} else {
			w.bitmap <<= shift
		}
		w.top = seq
	}
	w.bitmap |= 1 << (w.top - seq)
	return nil
}
