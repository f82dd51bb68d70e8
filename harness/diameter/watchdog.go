package diameter

import (
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultWatchdog is the default of Tw, the watchdog interval of RFC 3539
// 3.4.1: 30 s (the RFC's minimum is 6 s).
const DefaultWatchdog = 30 * time.Second

// watchdog is the RFC 3539 3.4.1 watchdog of one connection, on either side:
// Tw after the last message received it sends a DWR; when Tw passes again
// with its DWA still pending, the peer is suspect; after one more Tw without
// a message it is down and the connection is closed. Any message received
// resets the timer and makes a suspect peer good again; a DWA also ends
// the wait for it. Tw is jittered by up to ±2 s (RFC 3539 3.4.1) when it is
// above 6 s.
type watchdog struct {
	tw   time.Duration
	dwr  func() error        // sends a DWR
	down func(reason string) // closes the connection

	mu      sync.Mutex
	pending bool // a DWR waits for its DWA
	suspect bool
	stopped bool
	t       *time.Timer
}

// watch starts the watchdog of a connection that has just opened; tw <= 0
// means none (nil is returned, and its methods do nothing).
func watch(tw time.Duration, dwr func() error, down func(string)) *watchdog {
	if tw <= 0 {
		return nil
	}
	w := &watchdog{tw: tw, dwr: dwr, down: down}
	w.mu.Lock()
	w.t = time.AfterFunc(w.interval(), w.expired)
	w.mu.Unlock()
	return w
}

func (w *watchdog) interval() time.Duration {
	if w.tw <= 6*time.Second {
		return w.tw
	}
	return w.tw - 2*time.Second + rand.N(4*time.Second)
}

// received notes a message from the peer (dwa: it is a DWA).
func (w *watchdog) received(dwa bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if dwa || w.suspect {
		w.pending = false
	}
	w.suspect = false
	w.t.Reset(w.interval())
}

// stop ends the watchdog (the connection is closing).
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stopped = true
	w.t.Stop()
	w.mu.Unlock()
}

func (w *watchdog) expired() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	switch {
	case w.suspect:
		w.stopped = true
		w.mu.Unlock()
		w.down("no message from the peer within 3·Tw (" + (3 * w.tw).String() + ") and no DWA to the DWR sent after Tw idle (RFC 3539 3.4.1)")
		return
	case w.pending:
		w.suspect = true
		w.t.Reset(w.interval())
		w.mu.Unlock()
		return
	}
	w.pending = true
	w.t.Reset(w.interval())
	w.mu.Unlock()
	if err := w.dwr(); err != nil {
		w.stop()
		w.down("the DWR could not be sent: " + err.Error())
	}
}

// dwrBytes is a DWR (RFC 6733 5.5.1): Origin-Host, Origin-Realm and, when
// not 0, Origin-State-Id.
func dwrBytes(hbh, e2e uint32, origin []AVP, stateID uint32) ([]byte, error) {
	m := NewRequest(CmdDeviceWatchdog, AppCommon, hbh, e2e, origin...)
	if stateID != 0 {
		m.Add(Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, stateID))
	}
	return m.Marshal()
}
