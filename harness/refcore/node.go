package refcore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"imsconform/harness/sipstack"
)

// maxMessage bounds what a node reads as one SIP message.
const maxMessage = 65535

// peer is where a message came from and where an answer goes: an address
// and, over TCP, the connection it arrived on.
type peer struct {
	addr netip.AddrPort
	conn net.Conn
}

// node is one SIP hop of the core: one socket (UDP) or one listener (TCP).
type node struct {
	name    string
	network string // "udp" or "tcp"
	l       *sipstack.Listener
	log     *slog.Logger
	handle  func(raw []byte, from peer)
	ctx     context.Context
	wg      *sync.WaitGroup

	mu    sync.Mutex
	conns map[netip.AddrPort]net.Conn // TCP connections by remote address
}

func newNode(ctx context.Context, wg *sync.WaitGroup, name, network, hostport string, log *slog.Logger) (*node, error) {
	l, err := sipstack.Listen(network, hostport)
	if err != nil {
		return nil, err
	}
	return &node{name: name, network: l.Network, l: l, log: log.With("node", name), ctx: ctx, wg: wg, conns: map[netip.AddrPort]net.Conn{}}, nil
}

func (n *node) addr() netip.AddrPort { return n.l.Addr }

// serve starts reading; handle runs on the reader goroutine.
func (n *node) serve() {
	n.wg.Add(1)
	if n.l.Packet != nil {
		go n.readUDP()
		return
	}
	go n.accept()
}

func (n *node) safeHandle(raw []byte, from peer) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("message handling failed; message dropped", "from", from.addr, "error", r)
		}
	}()
	n.handle(raw, from)
}

func (n *node) readUDP() {
	defer n.wg.Done()
	buf := make([]byte, maxMessage+1)
	for {
		k, src, err := n.l.Packet.(*net.UDPConn).ReadFromUDPAddrPort(buf)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if k == 0 || k > maxMessage {
			continue
		}
		raw := append([]byte(nil), buf[:k]...)
		n.safeHandle(raw, peer{addr: netip.AddrPortFrom(src.Addr().Unmap(), src.Port())})
	}
}

func (n *node) accept() {
	defer n.wg.Done()
	for {
		c, err := n.l.Stream.Accept()
		if err != nil {
			return
		}
		n.track(c)
	}
}

// track registers a TCP connection and reads messages from it.
func (n *node) track(c net.Conn) {
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	ra = netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port())
	n.mu.Lock()
	n.conns[ra] = c
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			c.Close()
			n.mu.Lock()
			if n.conns[ra] == c {
				delete(n.conns, ra)
			}
			n.mu.Unlock()
		}()
		go func() {
			<-n.ctx.Done()
			c.Close()
		}()
		r := bufio.NewReaderSize(c, 4096)
		for {
			raw, err := readStream(r)
			if err != nil {
				if err != io.EOF && n.ctx.Err() == nil {
					n.log.Debug("tcp stream closed", "from", ra, "reason", err)
				}
				return
			}
			n.safeHandle(raw, peer{addr: ra, conn: c})
		}
	}()
}

// readStream reads one message from a stream: header up to the empty line,
// then Content-Length bytes of body (RFC 3261 18.3).
func readStream(r *bufio.Reader) ([]byte, error) {
	var head bytes.Buffer
	length := 0
	for {
		line, err := readLine(r, maxMessage-head.Len())
		if err != nil {
			return nil, err
		}
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // keep-alive CRLFs between messages
		}
		head.WriteString(line)
		if head.Len() > maxMessage {
			return nil, errors.New("expected a header of at most 64 KiB, got more")
		}
		t := strings.TrimRight(line, "\r\n")
		if t == "" {
			break
		}
		if name, val, ok := strings.Cut(t, ":"); ok {
			nm := strings.ToLower(strings.TrimSpace(name))
			if nm == "content-length" || nm == "l" {
				v, err := strconv.Atoi(strings.TrimSpace(val))
				if err != nil || v < 0 || v > maxMessage {
					return nil, errors.New("expected a Content-Length of 0..65535, got " + strconv.Quote(strings.TrimSpace(val)))
				}
				length = v
			}
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head.Bytes(), body...), nil
}

// readLine reads up to and including '\n', refusing a line longer than max
// bytes (a peer that never sends a newline must not make the core buffer
// without bound).
func readLine(r *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return "", errors.New("expected a header of at most 64 KiB, got more")
		}
		switch err {
		case nil:
			return string(line), nil
		case bufio.ErrBufferFull:
			continue
		default:
			return "", err
		}
	}
}

// send writes raw to p: on p's connection, over UDP from this node's socket,
// or over a TCP connection to p.addr (dialled from this node's address when
// none is open; the node reads answers on it).
func (n *node) send(p peer, raw []byte) error {
	if !p.addr.Addr().IsLoopback() {
		return errors.New("refcore: expected a loopback destination, got " + p.addr.String())
	}
	if p.conn != nil {
		p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := p.conn.Write(raw)
		return err
	}
	if n.l.Packet != nil {
		_, err := n.l.Packet.(*net.UDPConn).WriteToUDPAddrPort(raw, p.addr)
		return err
	}
	n.mu.Lock()
	c := n.conns[p.addr]
	n.mu.Unlock()
	if c == nil {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: n.l.Addr.Addr().AsSlice()}}
		nc, err := d.DialContext(n.ctx, "tcp", p.addr.String())
		if err != nil {
			return err
		}
		n.track(nc)
		c = nc
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(raw)
	return err
}

func (n *node) close() { n.l.Close() }
