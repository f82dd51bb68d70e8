package trace

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestAddFillsSeqAndTimeAndCopiesRaw(t *testing.T) {
	tr := New()
	buf := []byte("OPTIONS sip:a SIP/2.0\r\n\r\n")
	m := tr.Add(Message{Proto: SIP, Raw: buf})
	buf[0] = 'X'
	if m.Seq != 1 || m.Time.IsZero() {
		t.Errorf("Add = seq %d time %v, want seq 1 and a time", m.Seq, m.Time)
	}
	got := tr.Messages()
	if len(got) != 1 || got[0].Raw[0] != 'O' {
		t.Fatalf("Messages = %+v, want one message whose Raw was copied", got)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if m2 := tr.Add(Message{Time: at}); m2.Seq != 2 || !m2.Time.Equal(at) {
		t.Errorf("second Add = seq %d time %v, want 2 and %v", m2.Seq, m2.Time, at)
	}
}

// Run with -race: writers Add while a reader takes snapshots.
func TestConcurrentAddAndMessages(t *testing.T) {
	tr := NewLimited(Limits{Messages: 1 << 20})
	const writers, each = 16, 200
	var wg sync.WaitGroup
	done := make(chan struct{})
	readerErr := make(chan string, 1)
	go func() {
		defer close(readerErr)
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			ms := tr.Messages()
			if len(ms) < last {
				readerErr <- "snapshot shrank"
				return
			}
			for i, m := range ms {
				if m.Seq != i+1 {
					readerErr <- "snapshot out of order"
					return
				}
			}
			last = len(ms)
		}
	}()
	src := netip.MustParseAddrPort("127.0.0.1:5060")
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				tr.Add(Message{Proto: SIP, Src: src, Role: "UE", Raw: []byte{byte(w), byte(i)}})
			}
		}()
	}
	wg.Wait()
	close(done)
	if msg, ok := <-readerErr; ok {
		t.Fatal(msg)
	}
	ms := tr.Messages()
	if len(ms) != writers*each {
		t.Fatalf("len(Messages) = %d, want %d", len(ms), writers*each)
	}
	seen := map[[2]byte]bool{}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Fatalf("message %d has Seq %d", i, m.Seq)
		}
		seen[[2]byte{m.Raw[0], m.Raw[1]}] = true
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct messages, want %d", len(seen), writers*each)
	}
}

func BenchmarkAdd(b *testing.B) {
	tr := NewLimited(Limits{Messages: 1 << 30, Bytes: 1 << 40})
	raw := make([]byte, 800) // a REGISTER's size
	m := Message{Proto: SIP, Transport: "UDP", Dir: Sent, Role: "UE",
		Src: netip.MustParseAddrPort("[::1]:5062"), Dst: netip.MustParseAddrPort("[::1]:5060"), Raw: raw}
	b.ReportAllocs()
	for b.Loop() {
		tr.Add(m)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	tr := NewLimited(Limits{Messages: 1 << 30, Bytes: 1 << 40})
	m := Message{Proto: SIP, Raw: make([]byte, 800)}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Add(m)
		}
	})
}

func TestAddUnrelatedKeepsTheFirstOfEachPeerAndCountsAll(t *testing.T) {
	tr := NewLimited(Limits{UnrelatedPerPeer: 3, Unrelated: 5, Peers: 2})
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.1:2000")
	c := netip.MustParseAddrPort("127.0.0.1:3000")
	ue := netip.MustParseAddrPort("[::1]:5060")
	related := tr.Add(Message{Role: "UE", Dir: Sent, Src: ue, Dst: a, Raw: []byte("REGISTER")})
	for i := range 10 {
		m, kept := tr.AddUnrelated(Message{Role: "UE", Dir: Received, Src: a, Dst: ue, Raw: []byte("junk")})
		if want := i < 3; kept != want || (m.Seq != 0) != want || !m.Unrelated {
			t.Fatalf("unrelated message %d from %s: kept %v seq %d unrelated %v, want kept %v", i, a, kept, m.Seq, m.Unrelated, want)
		}
	}
	for range 4 { // only 2 more fit the total of 5
		tr.AddUnrelated(Message{Role: "UE", Dir: Received, Src: b, Dst: ue, Raw: []byte("junk!")})
	}
	// A third peer is past Limits.Peers: tallied under the zero peer. The
	// VCC App's answer to a request it has no handler for counts for the
	// peer it went to.
	tr.AddUnrelated(Message{Role: "UE", Dir: Received, Src: c, Dst: ue, Raw: []byte("x")})
	tr.AddUnrelated(Message{Role: "VCCApp", Dir: Sent, Src: ue, Dst: c, Raw: []byte("SIP/2.0 405")})
	if after := tr.Add(Message{Role: "UE", Raw: []byte("200 OK")}); after.Seq == 0 || after.Unrelated {
		t.Errorf("a related message after the flood: seq %d unrelated %v, want it kept as related", after.Seq, after.Unrelated)
	}
	ms := tr.Messages()
	if len(ms) != 1+5+1 || ms[0].Seq != related.Seq || ms[0].Unrelated {
		t.Fatalf("kept %d messages (want 7: the related one, 5 unrelated, the last related)", len(ms))
	}
	for i, m := range ms {
		if m.Seq != i+1 {
			t.Errorf("message %d has Seq %d: kept messages must be numbered without gaps", i, m.Seq)
		}
	}
	got := tr.Tallies()
	want := []Tally{
		{Role: "UE", Peer: a, Unrelated: 10, Kept: 3, Dropped: 7, DroppedBytes: 28},
		{Role: "UE", Peer: b, Unrelated: 4, Kept: 2, Dropped: 2, DroppedBytes: 10},
		{Role: "UE", Unrelated: 1, Kept: 0, Dropped: 1, DroppedBytes: 1},
		{Role: "VCCApp", Unrelated: 1, Kept: 0, Dropped: 1, DroppedBytes: 11},
	}
	if len(got) != len(want) {
		t.Fatalf("Tallies = %+v, want %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.First.IsZero() || g.Last.Before(g.First) {
			t.Errorf("tally %d: first %v last %v, want both set, first ≤ last", i, g.First, g.Last)
		}
		g.First, g.Last = time.Time{}, time.Time{}
		if g != want[i] {
			t.Errorf("tally %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestAddPastTheLimitsCountsAndKeepsNothing(t *testing.T) {
	tr := NewLimited(Limits{Messages: 3, Bytes: 10})
	peer := netip.MustParseAddrPort("127.0.0.1:5060")
	for i := range 5 {
		m := tr.Add(Message{Role: "UE", Src: peer, Dir: Received, Raw: []byte("abcd")})
		if kept := m.Seq != 0; kept != (i < 2) || string(m.Raw) != "abcd" {
			t.Errorf("message %d: seq %d raw %q: want the first two kept (10 bytes fit 2 of 4) and Raw returned", i, m.Seq, m.Raw)
		}
	}
	if n := len(tr.Messages()); n != 2 {
		t.Errorf("kept %d messages, want 2", n)
	}
	tl := tr.Tallies()
	if len(tl) != 1 || tl[0].Dropped != 3 || tl[0].DroppedBytes != 12 || tl[0].Unrelated != 0 {
		t.Errorf("Tallies = %+v, want one: 3 related messages dropped, 12 bytes", tl)
	}
}

// A flood of 100,000 unrelated datagrams from many ports leaves a trace of
// at most the limits, and every datagram counted.
func TestFloodIsBounded(t *testing.T) {
	tr := New()
	ue := netip.MustParseAddrPort("[::1]:5062")
	raw := make([]byte, 1400)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25000 {
				src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(1024+w*25000+i%300))
				tr.AddUnrelated(Message{Role: "UE", Dir: Received, Src: src, Dst: ue, Raw: raw})
			}
		}()
	}
	wg.Wait()
	l := tr.Limits()
	ms := tr.Messages()
	if len(ms) > l.Unrelated {
		t.Errorf("kept %d unrelated messages, want at most %d", len(ms), l.Unrelated)
	}
	tl := tr.Tallies()
	if len(tl) > l.Peers+1 {
		t.Errorf("%d tallies, want at most %d (one per peer, one for the rest)", len(tl), l.Peers+1)
	}
	seen, kept := 0, 0
	for _, x := range tl {
		seen += x.Unrelated
		kept += x.Kept
		if x.Kept+x.Dropped != x.Unrelated {
			t.Errorf("tally %+v: kept + dropped != unrelated", x)
		}
	}
	if seen != 100000 || kept != len(ms) {
		t.Errorf("tallies count %d unrelated (want 100000), %d kept (want %d)", seen, kept, len(ms))
	}
}

func BenchmarkAddUnrelatedFlood(b *testing.B) {
	tr := New()
	m := Message{Proto: SIP, Role: "UE", Dir: Received, Src: netip.MustParseAddrPort("127.0.0.1:9"), Raw: make([]byte, 200)}
	b.ReportAllocs()
	for b.Loop() {
		tr.AddUnrelated(m)
	}
}
