package flow

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"imsconform/harness/refcore"
	"imsconform/harness/sqnstate"
)

// TestMain keeps the UE's SQN state of the tests that run against a lab in
// a directory of their own, never in the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flow-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestUSIMKeepsItsSQNBetweenRuns: against a lab whose HSS is its own (here
// the reference core as a lab, whose in-memory HSS starts afresh at the
// lab's SQN every time it starts, as a lab HSS behind the UE does), the UE
// keeps the SQN it accepted: the second run's first vector is one the USIM
// has already seen, so it answers with AUTS, the HSS re-synchronises once,
// and the run passes; with ue.sqn_state off every run starts afresh and no
// re-synchronisation happens.
func TestUSIMKeepsItsSQNBetweenRuns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sqn.json")
	// One lab, one address, started afresh for each run.
	entry := "127.0.0.1:" + strconv.Itoa(freePort(t, "udp", "127.0.0.1"))
	runOnce := func(state string) *Result {
		t.Helper()
		l := testLab("127.0.0.1", "udp")
		l.VCCApp.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t, "udp", "127.0.0.1"))
		core, err := refcore.Start(context.Background(), refcore.Config{Lab: l, Host: "127.0.0.1", Transport: "udp",
			EntryAddr: entry, VCCApp: netip.MustParseAddrPort(l.VCCApp.Listen)})
		if err != nil {
			t.Fatal(err)
		}
		l.SUT.PCSCF = entry
		l.UE.SQNState = state
		r := Run(context.Background(), Options{Lab: l})
		core.Close()
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, ok := r.Messages["10"]; !ok {
			t.Fatalf("no 200 OK: %v", r.Missing)
		}
		return r
	}
	first := runOnce(file)
	if first.Facts["5.auts"] != "" {
		t.Errorf("first run: a re-synchronisation with no SQN kept yet (%s AUTS)", first.Facts["5.auts"])
	}
	st, _ := sqnstate.Open(file)
	kept, ok, err := st.Get(first.Vars["pcscf_entry"]+" "+first.Vars["realm"], first.Vars["impi"])
	if err != nil || !ok || kept == 0 {
		t.Fatalf("after the first run: kept %d, %v, %v", kept, ok, err)
	}
	second := runOnce(file)
	if second.Facts["5.auts"] != "1" || second.Facts["5.autn"] != "valid" {
		t.Errorf("second run: want one re-synchronisation and a valid AUTN after it, got auts %q autn %q", second.Facts["5.auts"], second.Facts["5.autn"])
	}
	if _, ok := second.Messages["5.resync"]; !ok {
		t.Errorf("second run: the rejected challenge is not recorded (5.resync)")
	}
	off := runOnce("off")
	if off.Facts["5.auts"] != "" {
		t.Errorf("sqn_state off: a re-synchronisation (%s AUTS)", off.Facts["5.auts"])
	}
}
