package diameter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTc is the default of Tc, the interval between attempts to connect
// to a peer (RFC 6733 2.1, 12: 30 s).
const DefaultTc = 30 * time.Second

// DefaultDialTimeout bounds one attempt to connect: the TCP connection and
// the CER/CEA exchange.
const DefaultDialTimeout = 5 * time.Second

// ErrNotConnected is the error of a request on a Link whose peer connection
// is not open; it wraps why the last attempt failed.
var ErrNotConnected = errors.New("diameter: no open connection to the peer")

// Link keeps one client peer connection up, as RFC 6733 2.1 and 5.1 have
// an initiator do: it connects (TCP, then CER/CEA) at once, and whenever an
// attempt fails or the open connection ends — a DPR from the peer, the
// watchdog finding it dead (RFC 3539), a write that fails — it tries again
// Tc after the previous attempt began. Each attempt has its own budget
// (DialTimeout). Requests go on the connection open at the time; with none
// open they fail at once with ErrNotConnected.
//
// Session-Ids stay unique across its connections. Its methods are safe for
// concurrent use.
type Link struct {
	remote  netip.AddrPort
	cfg     ClientConfig
	tc      time.Duration
	timeout time.Duration

	sessHigh uint32
	sess     atomic.Uint32

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	cur     *Client
	lastErr error
	changed chan struct{} // closed and replaced when cur changes
	tries   int
}

// LinkConfig is how a Link connects.
type LinkConfig struct {
	Client ClientConfig
	// Tc is the interval between attempts; 0 means DefaultTc.
	Tc time.Duration
	// DialTimeout bounds each attempt; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
}

// NewLink starts keeping a connection to remote up; Close stops it.
func NewLink(remote netip.AddrPort, cfg LinkConfig) (*Link, error) {
	if cfg.Client.OriginHost == "" || cfg.Client.OriginRealm == "" {
		return nil, fmt.Errorf("diameter: link: expected an Origin-Host and an Origin-Realm, got %q and %q", cfg.Client.OriginHost, cfg.Client.OriginRealm)
	}
	l := &Link{remote: remote, cfg: cfg.Client, tc: cfg.Tc, timeout: cfg.DialTimeout,
		sessHigh: uint32(time.Now().Unix()), done: make(chan struct{}), changed: make(chan struct{}),
		lastErr: errors.New("not connected yet")}
	if l.tc <= 0 {
		l.tc = DefaultTc
	}
	if l.timeout <= 0 {
		l.timeout = DefaultDialTimeout
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.run()
	return l, nil
}

func (l *Link) run() {
	defer close(l.done)
	for {
		began := time.Now()
		ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
		c, err := Dial(ctx, l.remote, l.cfg)
		cancel()
		l.mu.Lock()
		l.tries++
		if err != nil {
			l.lastErr = err
		} else {
			l.cur, l.lastErr = c, nil
			close(l.changed)
			l.changed = make(chan struct{})
		}
		l.mu.Unlock()
		if err != nil {
			l.logf("diameter: link %s: %v; next attempt in %s", l.cfg.OriginHost, err, time.Until(began.Add(l.tc)).Round(time.Millisecond))
		} else {
			select {
			case <-c.Done():
				l.mu.Lock()
				l.cur, l.lastErr = nil, fmt.Errorf("the connection to %s ended: %w", l.remote, c.Err())
				close(l.changed)
				l.changed = make(chan struct{})
				l.mu.Unlock()
				l.logf("diameter: link %s: connection to %s ended: %v; reconnecting every %s", l.cfg.OriginHost, l.remote, c.Err(), l.tc)
			case <-l.ctx.Done():
				c.Close()
				return
			}
		}
		t := time.NewTimer(time.Until(began.Add(l.tc)))
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return
		}
	}
}

func (l *Link) logf(format string, args ...any) {
	if l.cfg.Logf != nil {
		l.cfg.Logf(format, args...)
	}
}

// Client returns the open connection, or ErrNotConnected wrapping why there
// is none.
func (l *Link) Client() (*Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		return l.cur, nil
	}
	return nil, fmt.Errorf("%w at %s: %v", ErrNotConnected, l.remote, l.lastErr)
}

// WaitOpen waits until a connection is open, or ctx ends (then the error
// says why the last attempt failed).
func (l *Link) WaitOpen(ctx context.Context) (*Client, error) {
	for {
		l.mu.Lock()
		c, ch := l.cur, l.changed
		l.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			l.mu.Lock()
			last, tries := l.lastErr, l.tries
			l.mu.Unlock()
			return nil, fmt.Errorf("%w at %s after %d attempt(s), every %s: %v", ErrNotConnected, l.remote, tries, l.tc, last)
		case <-l.done:
			return nil, fmt.Errorf("%w at %s: the link is closed", ErrNotConnected, l.remote)
		}
	}
}

// Do sends req on the open connection and waits for its answer (see
// Client.Do).
func (l *Link) Do(ctx context.Context, req *Message) (*Message, error) {
	c, err := l.Client()
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, req)
}

// OriginHost is this end's Origin-Host.
func (l *Link) OriginHost() string { return l.cfg.OriginHost }

// OriginRealm is this end's Origin-Realm.
func (l *Link) OriginRealm() string { return l.cfg.OriginRealm }

// NewSessionID returns a Session-Id unique to this link:
// <Origin-Host>;<high 32 bits>;<low 32 bits> (RFC 6733 8.8).
func (l *Link) NewSessionID() string {
	return fmt.Sprintf("%s;%d;%d", l.cfg.OriginHost, l.sessHigh, l.sess.Add(1))
}

// Close stops reconnecting and closes the open connection (with DPR). It is
// idempotent.
func (l *Link) Close() error {
	l.cancel()
	<-l.done
	return nil
}
