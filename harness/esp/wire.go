package esp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
)

// wire is the stack's access to the real network: a raw IP socket for
// protocol 50 (ESP) bound to the stack's address, through which the kernel,
// which has no ESP of its own here, hands over every ESP packet to that
// address and sends the ones the stack seals (building the IP header, and
// fragmenting where the path needs it). A second raw socket, opened only when
// a FaultClear is sent, writes a whole IP packet in clear.
type wire struct {
	addr netip.Addr
	esp  *net.IPConn

	mu    sync.Mutex
	clear *net.IPConn // IPPROTO_RAW: send only, header included
}

// ErrRawSocket is wrapped by the error NewStack returns when the kernel
// refuses the raw ESP socket: it needs root or CAP_NET_RAW.
var ErrRawSocket = errors.New("cannot open a raw IP socket (it needs root or CAP_NET_RAW)")

func family(a netip.Addr) string {
	if a.Is4() {
		return "ip4"
	}
	return "ip6"
}

func openWire(addr netip.Addr) (*wire, error) {
	c, err := net.ListenPacket(family(addr)+":50", addr.String())
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("esp: raw ESP socket (IP protocol 50) on %s: %w: %v", addr, ErrRawSocket, err)
		}
		return nil, fmt.Errorf("esp: raw ESP socket (IP protocol 50) on %s: %w", addr, err)
	}
	ipc := c.(*net.IPConn)
	_ = ipc.SetReadBuffer(4 << 20)
	_ = ipc.SetWriteBuffer(4 << 20)
	return &wire{addr: addr, esp: ipc}, nil
}

// send sends one ESP packet (the IP payload) to dst.
func (w *wire) send(dst netip.Addr, esp []byte) error {
	_, err := w.esp.WriteToIP(esp, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// recv reads one ESP packet sent to the stack's address. For IPv4 the
// kernel's raw socket delivers the IP header, which net strips; for IPv6 it
// delivers the payload only.
func (w *wire) recv(b []byte) (int, netip.Addr, error) {
	n, from, err := w.esp.ReadFromIP(b)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	src, _ := netip.AddrFromSlice(from.IP)
	return n, src.Unmap(), nil
}

// sendClear sends a whole IP packet, header included, unprotected.
func (w *wire) sendClear(dst netip.Addr, ipPacket []byte) error {
	w.mu.Lock()
	if w.clear == nil {
		c, err := net.ListenPacket(family(w.addr)+":255", w.addr.String())
		if err != nil {
			w.mu.Unlock()
			return fmt.Errorf("esp: raw IP socket (IPPROTO_RAW) on %s: %w", w.addr, err)
		}
		w.clear = c.(*net.IPConn)
	}
	c := w.clear
	w.mu.Unlock()
	_, err := c.WriteToIP(ipPacket, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (w *wire) close() {
	w.esp.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.clear != nil {
		w.clear.Close()
	}
}
