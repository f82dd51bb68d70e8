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
	tr := New()
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
	tr := New()
	raw := make([]byte, 800) // a REGISTER's size
	m := Message{Proto: SIP, Transport: "UDP", Dir: Sent, Role: "UE",
		Src: netip.MustParseAddrPort("[::1]:5062"), Dst: netip.MustParseAddrPort("[::1]:5060"), Raw: raw}
	b.ReportAllocs()
	for b.Loop() {
		tr.Add(m)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	tr := New()
	m := Message{Proto: SIP, Raw: make([]byte, 800)}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Add(m)
		}
	})
}
