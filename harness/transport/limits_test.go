package transport

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"imsconform/harness/sipmsg"
)

// TestTransactionTableIsBounded: with MaxTransactions 3, three requests
// open transactions; the fourth is answered 503 with Retry-After, twice the
// same way (stateless, RFC 3261 8.2.7: the same To tag), and opens none;
// once a transaction ends, a new request opens one again.
func TestTransactionTableIsBounded(t *testing.T) {
	h, got := collect()
	l := newLayer(t, Options{MaxTransactions: 3})
	e := listen(t, l, h)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := "SIP/2.0/UDP " + c.LocalAddr().String() + ";rport"
	var txs []*ServerTx
	for i := range 3 {
		c.WriteToUDPAddrPort(register("z9hG4bKfull"+strconv.Itoa(i), from).Bytes(), e.Addr())
		txs = append(txs, next(t, got).Tx)
	}
	read := func() *sipmsg.Message { t.Helper(); return readAnswer(t, c) }
	over := register("z9hG4bKover", from).Bytes()
	var tags []string
	for range 2 {
		c.WriteToUDPAddrPort(over, e.Addr())
		r := read()
		if r.StatusCode != 503 || r.Get("Retry-After") != strconv.Itoa(RetryAfter) || r.Get("Call-ID") != "c-z9hG4bKover" {
			t.Fatalf("expected 503 with Retry-After %d to the fourth request, got %q Retry-After %q", RetryAfter, r.StartLine, r.Get("Retry-After"))
		}
		na, _ := sipmsg.ParseNameAddr(r.Get("To"))
		tag, _ := na.Params.Get("tag")
		tags = append(tags, tag)
	}
	if tags[0] == "" || tags[0] != tags[1] {
		t.Errorf("expected the same To tag on both stateless answers, got %q", tags)
	}
	select {
	case in := <-got:
		t.Fatalf("the request beyond the bound reached the handler: %q", in.Msg.Raw)
	default:
	}
	l.mu.Lock()
	n := len(l.servers)
	l.mu.Unlock()
	if n != 3 {
		t.Errorf("expected 3 server transactions, got %d", n)
	}
	// Once a transaction ends there is room again.
	txs[0].terminate()
	c.WriteToUDPAddrPort(register("z9hG4bKroom", from).Bytes(), e.Addr())
	if in := next(t, got); in.Tx == nil {
		t.Errorf("expected a transaction for the request after one ended")
	}
}

// TestAcceptedConnectionsAreBounded: with MaxConnections 2, a third
// accepted connection is closed at once; connections the endpoint opens
// itself do not count.
func TestAcceptedConnectionsAreBounded(t *testing.T) {
	h, got := collect()
	e := listen(t, newLayer(t, Options{MaxConnections: 2}), h)
	var cs []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
		// A request on it: the endpoint has accepted it once it arrives.
		c.Write(register("z9hG4bKconn"+strconv.Itoa(len(cs)), "SIP/2.0/TCP 127.0.0.1:9").Bytes())
		next(t, got)
	}
	third, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(third).ReadByte(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("expected the third connection closed at once, got %v", err)
	}
	// The endpoint's own connection to a peer is not refused.
	ph, pgot := collect()
	peer := listen(t, newLayer(t, Options{}), ph)
	if _, err := e.Send(t.Context(), Dest{Transport: TCP, Addr: peer.Addr()}, register("z9hG4bKout", "SIP/2.0/TCP 127.0.0.1:9").Bytes()); err != nil {
		t.Fatalf("expected a connection out, got %v", err)
	}
	next(t, pgot)
}

// TestFullTableEndsTheOldestCompleted: with MaxTransactions 3 and three
// transactions answered (Completed, waiting out Timer J over UDP), a fourth
// request opens a transaction, not a 503: the oldest Completed one ends to
// make room. A retransmission of that oldest request is then a new request
// for the handler; one of a Completed transaction still kept is answered
// from the cache.
func TestFullTableEndsTheOldestCompleted(t *testing.T) {
	h, got := collect()
	l := newLayer(t, Options{MaxTransactions: 3})
	e := listen(t, l, h)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := "SIP/2.0/UDP " + c.LocalAddr().String() + ";rport"
	read := func() *sipmsg.Message { t.Helper(); return readAnswer(t, c) }
	reqs := make([][]byte, 4)
	for i := range reqs {
		reqs[i] = register("z9hG4bKdone"+strconv.Itoa(i), from).Bytes()
	}
	for i := range 4 {
		c.WriteToUDPAddrPort(reqs[i], e.Addr())
		in := next(t, got)
		if in.Tx == nil {
			t.Fatalf("request %d: expected a transaction (the oldest Completed one ends to make room), got none", i)
		}
		if _, err := in.Tx.Respond(sipmsg.NewResponse(in.Parsed, 200, "OK", "t"+strconv.Itoa(i)).Bytes()); err != nil {
			t.Fatal(err)
		}
		if r := read(); r.StatusCode != 200 {
			t.Fatalf("request %d: expected 200, got %q", i, r.StartLine)
		}
	}
	l.mu.Lock()
	n, k := len(l.servers), l.completed.Len()
	l.mu.Unlock()
	if n != 3 || k != 3 {
		t.Errorf("expected 3 server transactions, all Completed, got %d (%d Completed)", n, k)
	}
	// The last request's transaction is kept: its retransmission is answered
	// from the cache and does not reach the handler.
	c.WriteToUDPAddrPort(reqs[3], e.Addr())
	if r := read(); r.StatusCode != 200 {
		t.Fatalf("expected the cached 200 to a retransmission, got %q", r.StartLine)
	}
	select {
	case in := <-got:
		t.Fatalf("a retransmission of a kept transaction reached the handler: %q", in.Msg.Raw)
	case <-time.After(100 * time.Millisecond):
	}
	// The first one's ended: its retransmission is a new request.
	c.WriteToUDPAddrPort(reqs[0], e.Addr())
	if in := next(t, got); in.Tx == nil || !strings.Contains(string(in.Msg.Raw), "z9hG4bKdone0") {
		t.Errorf("expected the first request again as a new transaction, got %v", in.Tx)
	}
}

// readAnswer reads one SIP message from c within 5 s.
func readAnswer(t *testing.T, c *net.UDPConn) *sipmsg.Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 65535)
	n, _, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		t.Fatalf("expected an answer, got %v", err)
	}
	m, err := sipmsg.Parse(b[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m
}
