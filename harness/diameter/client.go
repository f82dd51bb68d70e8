package diameter

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig configures the initiator side of one peer connection.
type ClientConfig struct {
	OriginHost      string
	OriginRealm     string
	HostIPAddresses []netip.Addr // empty: the local address of the connection
	VendorID        uint32
	ProductName     string // empty: "imsconform"
	OriginStateID   uint32 // 0: not sent
	// Applications are advertised in the CER; a VendorID other than 0
	// advertises one inside a Vendor-Specific-Application-Id.
	Applications []Application
	// LocalAddr, when valid, is the address the connection is dialled from
	// (port 0 for an ephemeral port).
	LocalAddr netip.Addr
	// Observer, when set, is called with every message read and written.
	Observer func(Capture)
	// Logf, when set, receives one line per notable event; never AVP data.
	Logf          func(format string, args ...any)
	MaxMessageLen int // 0: DefaultMaxMessageLen
	// Watchdog is Tw (RFC 3539 3.4.1): a DWR after Tw without a message
	// from the peer, the connection closed after 3·Tw without one. 0 means
	// DefaultWatchdog; negative means none.
	Watchdog time.Duration
}

// Client is the initiator side of one Diameter peer connection over TCP
// (RFC 6733 5): it connects, sends CER and waits for a successful CEA, then
// sends requests and matches their answers by Hop-by-Hop Identifier. It
// answers DWR with DWA and DPR with DPA (then closes), and any other request
// with 3001 DIAMETER_COMMAND_UNSUPPORTED. Its watchdog (RFC 3539) sends DWR
// after Tw without a message and closes a connection whose peer stays
// silent. Close sends DPR.
//
// It does not reconnect (Link does) and has no failover. Its methods are
// safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	c    net.Conn
	peer Peer

	wmu     sync.Mutex // serialises writes
	mu      sync.Mutex
	pending map[uint32]chan *Message
	closed  bool
	err     error // why the connection ended

	hbh, e2e, sess atomic.Uint32
	sessHigh       uint32
	done           chan struct{} // closed when the reader ends
	dpa            chan struct{} // closed when the DPA arrives
	dpaOnce        sync.Once
	closeOnce      sync.Once
	wd             *watchdog
}

// ErrClientClosed is returned for requests on a closed Client.
var ErrClientClosed = errors.New("diameter: client closed")

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// Dial connects to remote over TCP and performs the capabilities exchange.
// It fails when the connection cannot be made, the CEA does not come before
// ctx ends (or within 5 s when ctx has no deadline), or the CEA's
// Result-Code is not 2001 DIAMETER_SUCCESS.
func Dial(ctx context.Context, remote netip.AddrPort, cfg ClientConfig) (*Client, error) {
	if cfg.OriginHost == "" || cfg.OriginRealm == "" {
		return nil, fmt.Errorf("diameter: client: expected an Origin-Host and an Origin-Realm, got %q and %q", cfg.OriginHost, cfg.OriginRealm)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	d := net.Dialer{}
	if cfg.LocalAddr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: cfg.LocalAddr.AsSlice(), Zone: cfg.LocalAddr.Zone()}
	}
	nc, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, fmt.Errorf("diameter: client: connecting to %s: %w", remote, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &Client{
		cfg: cfg, c: nc, pending: map[uint32]chan *Message{},
		peer:     Peer{Remote: addrPort(nc.RemoteAddr()), Local: addrPort(nc.LocalAddr())},
		done:     make(chan struct{}),
		dpa:      make(chan struct{}),
		sessHigh: uint32(time.Now().Unix()),
	}
	c.hbh.Store(randUint32())
	c.e2e.Store(uint32(time.Now().Unix())<<20 | randUint32()&0xfffff)
	go c.read()
	cea, err := c.Do(ctx, c.cer())
	if err != nil {
		c.shut(err)
		<-c.done
		return nil, fmt.Errorf("diameter: client: capabilities exchange with %s: %w", remote, err)
	}
	rc, _ := ResultOf(cea)
	if rc != ResultSuccess {
		c.shut(fmt.Errorf("CEA Result-Code %s", ResultCodeName(rc)))
		<-c.done
		return nil, fmt.Errorf("diameter: client: capabilities exchange with %s: expected Result-Code 2001 DIAMETER_SUCCESS, got %s", remote, ResultCodeName(rc))
	}
	if a, ok := cea.Find(AVPOriginHost, 0); ok {
		c.peer.OriginHost, _ = a.UTF8()
	}
	if a, ok := cea.Find(AVPOriginRealm, 0); ok {
		c.peer.OriginRealm, _ = a.UTF8()
	}
	c.logf("diameter: client %s: connected to %q realm %q at %s", cfg.OriginHost, c.peer.OriginHost, c.peer.OriginRealm, remote)
	tw := cfg.Watchdog
	if tw == 0 {
		tw = DefaultWatchdog
	}
	wd := watch(tw, c.dwr, func(reason string) {
		c.logf("diameter: client %s: closing: peer %q is down: %s", cfg.OriginHost, c.peer.OriginHost, reason)
		c.shut(errors.New("the peer is down: " + reason))
	})
	c.mu.Lock()
	c.wd = wd
	c.mu.Unlock()
	return c, nil
}

// dwr sends the watchdog's DWR; its DWA is taken by the reader.
func (c *Client) dwr() error {
	b, err := dwrBytes(c.hbh.Add(1), c.e2e.Add(1), c.Origin(), c.cfg.OriginStateID)
	if err != nil {
		return err
	}
	return c.write(b)
}

// Done is closed when the connection has ended (Err says why).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended; nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) watchdog() *watchdog {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd
}

// Peer returns the other end as its CEA named it.
func (c *Client) Peer() Peer { return c.peer }

// Local returns the local address of the connection.
func (c *Client) Local() netip.AddrPort { return c.peer.Local }

// OriginHost returns this end's Origin-Host.
func (c *Client) OriginHost() string { return c.cfg.OriginHost }

// OriginRealm returns this end's Origin-Realm.
func (c *Client) OriginRealm() string { return c.cfg.OriginRealm }

// NewSessionID returns a Session-Id unique to this client:
// <Origin-Host>;<high 32 bits>;<low 32 bits> (RFC 6733 8.8).
func (c *Client) NewSessionID() string {
	return fmt.Sprintf("%s;%d;%d", c.cfg.OriginHost, c.sessHigh, c.sess.Add(1))
}

// Origin returns this end's Origin-Host and Origin-Realm AVPs.
func (c *Client) Origin() []AVP {
	return []AVP{
		DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, c.cfg.OriginHost),
		DiameterIdentity(AVPOriginRealm, 0, AVPFlagMandatory, c.cfg.OriginRealm),
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}

func (c *Client) cer() *Message {
	m := NewRequest(CmdCapabilitiesExchange, AppCommon, 0, 0, c.Origin()...)
	ips := c.cfg.HostIPAddresses
	if len(ips) == 0 {
		ips = []netip.Addr{c.peer.Local.Addr()}
	}
	for _, ip := range ips {
		m.Add(Address(AVPHostIPAddress, 0, AVPFlagMandatory, ip))
	}
	m.Add(Unsigned32(AVPVendorID, 0, AVPFlagMandatory, c.cfg.VendorID))
	pn := c.cfg.ProductName
	if pn == "" {
		pn = "imsconform"
	}
	m.Add(UTF8String(AVPProductName, 0, 0, pn))
	if c.cfg.OriginStateID != 0 {
		m.Add(Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, c.cfg.OriginStateID))
	}
	vendors := map[uint32]bool{}
	for _, app := range c.cfg.Applications {
		if app.VendorID != 0 && !vendors[app.VendorID] {
			vendors[app.VendorID] = true
			m.Add(Unsigned32(AVPSupportedVendorID, 0, AVPFlagMandatory, app.VendorID))
		}
	}
	for _, app := range c.cfg.Applications {
		if app.VendorID == 0 {
			m.Add(Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, app.AuthApplicationID))
		} else {
			m.Add(Grouped(AVPVendorSpecificApplicationID, 0, AVPFlagMandatory,
				Unsigned32(AVPVendorID, 0, AVPFlagMandatory, app.VendorID),
				Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, app.AuthApplicationID)))
		}
	}
	return m
}

// Do sends req and waits for its answer. A zero Hop-by-Hop or End-to-End
// Identifier is filled in (req is modified). It fails when ctx ends (or
// after 5 s when ctx has no deadline), the message cannot be encoded, or the
// connection ends first. An answer with the E bit or a failure Result-Code
// is returned as an answer, not as an error.
func (c *Client) Do(ctx context.Context, req *Message) (*Message, error) {
	if !req.IsRequest() {
		return nil, fmt.Errorf("diameter: client: expected a request, got command %d without the R bit", req.Code)
	}
	if req.HopByHop == 0 {
		req.HopByHop = c.hbh.Add(1)
	}
	if req.EndToEnd == 0 {
		req.EndToEnd = c.e2e.Add(1)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("diameter: client: command %d not sent: %w", req.Code, err)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	ch := make(chan *Message, 1)
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[req.HopByHop] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.HopByHop)
		c.mu.Unlock()
	}()
	if err := c.write(b); err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("diameter: client: no answer to command %d: %w", req.Code, ctx.Err())
	case <-timeout:
		return nil, fmt.Errorf("diameter: client: expected an answer to command %d within 5s, got none", req.Code)
	case <-c.done:
		select {
		case a := <-ch: // the answer came before the connection ended
			return a, nil
		default:
		}
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("diameter: client: no answer to command %d: %w", req.Code, err)
	}
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.observe(b, false)
	_ = c.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if _, err := c.c.Write(b); err != nil {
		c.shut(err)
		return fmt.Errorf("diameter: client: write: %w", err)
	}
	return nil
}

func (c *Client) observe(raw []byte, received bool) {
	if c.cfg.Observer == nil {
		return
	}
	c.cfg.Observer(c.peer.capture(raw, received))
}

// shut marks the client closed with err as the reason and closes the
// connection.
func (c *Client) shut(err error) {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		if err == nil {
			err = ErrClientClosed
		}
		c.err = err
	}
	wd := c.wd
	c.mu.Unlock()
	wd.stop()
	c.c.Close()
}

func (c *Client) read() {
	defer close(c.done)
	maxLen := c.cfg.MaxMessageLen
	if maxLen <= 0 {
		maxLen = DefaultMaxMessageLen
	}
	r := bufio.NewReader(c.c)
	for {
		raw, err := ReadMessage(r, maxLen)
		if err != nil {
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if !closed {
				c.logf("diameter: client %s: connection ended: %v", c.cfg.OriginHost, err)
			}
			c.shut(fmt.Errorf("connection ended: %w", err))
			return
		}
		c.observe(raw, true)
		m, err := Unmarshal(raw)
		if err != nil {
			c.watchdog().received(false)
			c.logf("diameter: client %s: dropping a message that does not decode: %v", c.cfg.OriginHost, err)
			continue
		}
		c.watchdog().received(!m.IsRequest() && m.Code == CmdDeviceWatchdog)
		if !m.IsRequest() {
			c.mu.Lock()
			ch := c.pending[m.HopByHop]
			c.mu.Unlock()
			if ch == nil {
				if m.Code == CmdDeviceWatchdog {
					continue // the DWA to the watchdog's DWR
				}
				c.logf("diameter: client %s: dropping an answer to no pending request, command %d", c.cfg.OriginHost, m.Code)
				continue
			}
			select {
			case ch <- m:
			default:
			}
			if m.Code == CmdDisconnectPeer {
				c.dpaOnce.Do(func() { close(c.dpa) })
			}
			continue
		}
		switch m.Code {
		case CmdDeviceWatchdog:
			c.answer(m, ResultSuccess)
		case CmdDisconnectPeer:
			c.answer(m, ResultSuccess)
			c.logf("diameter: client %s: DPR from the peer: closing", c.cfg.OriginHost)
			c.shut(errors.New("the peer sent DPR"))
			return
		default:
			a := m.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, ResultCommandUnsupported))
			a.Flags |= FlagError
			a.AVPs = append(a.AVPs, c.Origin()...)
			if b, err := a.Marshal(); err == nil {
				_ = c.write(b)
			}
		}
	}
}

// answer sends a DWA or DPA.
func (c *Client) answer(req *Message, rc uint32) {
	a := req.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, rc))
	a.AVPs = append(a.AVPs, c.Origin()...)
	if c.cfg.OriginStateID != 0 {
		a.AVPs = append(a.AVPs, Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, c.cfg.OriginStateID))
	}
	if b, err := a.Marshal(); err == nil {
		_ = c.write(b)
	}
}

// Close sends DPR (Disconnect-Cause REBOOTING), waits up to a second for
// the DPA, and closes the connection. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			dpr := NewRequest(CmdDisconnectPeer, AppCommon, c.hbh.Add(1), c.e2e.Add(1), c.Origin()...)
			dpr.Add(Enumerated(AVPDisconnectCause, 0, AVPFlagMandatory, DisconnectRebooting))
			ch := make(chan *Message, 1)
			c.mu.Lock()
			c.pending[dpr.HopByHop] = ch
			c.mu.Unlock()
			if b, err := dpr.Marshal(); err == nil && c.write(b) == nil {
				t := time.NewTimer(time.Second)
				select {
				case <-c.dpa:
				case <-c.done:
				case <-t.C:
				}
				t.Stop()
			}
		}
		c.shut(ErrClientClosed)
		<-c.done
	})
	return nil
}

// ResultOf returns the Result-Code of an answer, or the
// Experimental-Result-Code of its Experimental-Result (experimental is then
// true); 0 when it has neither.
func ResultOf(m *Message) (code uint32, experimental bool) {
	if a, ok := m.Find(AVPResultCode, 0); ok {
		v, _ := a.Uint32()
		return v, false
	}
	if a, ok := m.Find(AVPExperimentalResult, 0); ok {
		if members, err := a.Group(); err == nil {
			if r, ok := FindAVP(members, AVPExperimentalResultCode, 0); ok {
				v, _ := r.Uint32()
				return v, true
			}
		}
	}
	return 0, false
}
