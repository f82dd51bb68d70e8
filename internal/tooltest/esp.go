package tooltest

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The tests that put ESP on the wire take turns across processes: a raw
// ESP socket receives every ESP packet to its address, so two test
// binaries at once on loopback (go test runs packages in parallel) would
// see each other's packets as ones for an SA they never made. Within one
// process the tests share the lock.
var espTurn struct {
	mu    sync.Mutex
	users int
	f     *os.File
}

// ESPAlone holds, for the rest of the test, the lock that keeps the ESP of
// other test processes off the wire.
func ESPAlone(t testing.TB) {
	t.Helper()
	espTurn.mu.Lock()
	defer espTurn.mu.Unlock()
	if espTurn.users == 0 {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "imsconform-esp.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("the ESP tests' lock: %v", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("the ESP tests' lock: %v", err)
		}
		espTurn.f = f
	}
	espTurn.users++
	t.Cleanup(func() {
		espTurn.mu.Lock()
		defer espTurn.mu.Unlock()
		if espTurn.users--; espTurn.users == 0 {
			espTurn.f.Close() // releases the lock
			espTurn.f = nil
		}
	})
}
