package diameter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultMaxMessageLen bounds the Message Length a Server or ReadMessage
// accepts when none is given: 1 MiB, far above any Cx message.
const DefaultMaxMessageLen = 1 << 20

// DefaultMessageTimeout is Server.MessageTimeout's default: 10 s from a
// message's first byte to its last.
const DefaultMessageTimeout = 10 * time.Second

// WriteTimeout bounds one write of a message to a peer (both sides): a peer
// that does not read loses its connection.
const WriteTimeout = 10 * time.Second

// ReadMessage reads one message from a stream: the 20-byte header, then the
// rest of the Message Length. It returns the raw bytes; decode them with
// Unmarshal. It returns io.EOF when r ends cleanly before a message,
// io.ErrUnexpectedEOF when it ends inside one, and a *DecodeError when the
// header's version is not 1 or its Message Length is below 20, not a
// multiple of 4 or above maxLen (0 means DefaultMaxMessageLen); after such
// an error the stream's framing is lost.
func ReadMessage(r io.Reader, maxLen int) ([]byte, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxMessageLen
	}
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	h, _ := ParseHeader(hdr[:])
	if err := checkFraming(h, maxLen); err != nil {
		return hdr[:], err
	}
	// The buffer grows as the bytes come, so that a peer that declares a
	// large Message Length and sends little holds little.
	b := make([]byte, HeaderLen, min(int(h.Length), readChunk))
	copy(b, hdr[:])
	for len(b) < int(h.Length) {
		n := min(int(h.Length)-len(b), readChunk)
		b = slices.Grow(b, n)
		if _, err := io.ReadFull(r, b[len(b):len(b)+n]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

// readChunk is how much of a message body ReadMessage reads (and
// allocates) at a time.
const readChunk = 16 << 10

func checkFraming(h Header, maxLen int) error {
	switch {
	case h.Version != Version:
		return &DecodeError{ResultCode: ResultUnsupportedVersion, Msg: fmt.Sprintf("expected version %d, got %d", Version, h.Version)}
	case h.Length < HeaderLen:
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected a Message Length of at least %d, got %d", HeaderLen, h.Length)}
	case h.Length%4 != 0:
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected a Message Length that is a multiple of 4, got %d", h.Length)}
	case int(h.Length) > maxLen:
		return &DecodeError{ResultCode: ResultInvalidMessageLength, Offset: 1, Msg: fmt.Sprintf("expected a Message Length of at most %d, got %d", maxLen, h.Length)}
	}
	return nil
}

// Application is one application the server advertises in its CEA and
// accepts requests for. A VendorID other than 0 advertises it inside a
// Vendor-Specific-Application-Id.
type Application struct {
	VendorID          uint32
	AuthApplicationID uint32
}

// CxApplication is the 3GPP Cx application {10415, 16777216}.
var CxApplication = Application{VendorID: Vendor3GPP, AuthApplicationID: AppCx}

// Peer is the other end of a connection, as known after its CER.
type Peer struct {
	OriginHost  string
	OriginRealm string
	Remote      netip.AddrPort
	Local       netip.AddrPort
}

// capture is raw, seen on the connection to this peer now, as an observer
// gets it: a copy, with the ends set by direction.
func (p Peer) capture(raw []byte, received bool) Capture {
	cp := Capture{Time: time.Now(), Received: received, Raw: append([]byte(nil), raw...)}
	if received {
		cp.Src, cp.Dst = p.Remote, p.Local
	} else {
		cp.Src, cp.Dst = p.Local, p.Remote
	}
	return cp
}

// Handler answers application requests (any request other than CER, DWR and
// DPR). It returns the answer, or nil when it does not support the command:
// the server then answers 3001 DIAMETER_COMMAND_UNSUPPORTED with the E bit.
// The server has already validated req against its dictionary (unknown AVPs
// with the M bit, AVP lengths) and checked its application id.
type Handler interface {
	ServeDiameter(req *Message, peer Peer) *Message
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Message, peer Peer) *Message

// ServeDiameter calls f.
func (f HandlerFunc) ServeDiameter(req *Message, peer Peer) *Message { return f(req, peer) }

// Capture is one message as it crossed the wire: Received is true for a
// message the server read, false for one it wrote. Raw is the server's own
// copy; an Observer may keep it.
type Capture struct {
	Time     time.Time
	Received bool
	Src, Dst netip.AddrPort
	Raw      []byte
}

// Server is the responder side of Diameter peer connections over TCP
// (RFC 6733 5): it answers CER with its identity and applications, DWR, and
// DPR (then closes), validates every request, answers malformed ones with
// the Result-Code RFC 6733 7.1 gives, and passes application requests to
// Handler, one at a time per connection, in order. It watches every open
// connection (RFC 3539 3.4.1: DWR after Tw idle, the peer dropped when no
// DWA comes), closes a connection that sends no CER within Tw or leaves a
// message half-sent past MessageTimeout, refuses messages longer than
// MaxMessageLen, and gives up a write after WriteTimeout: whatever a peer
// does, a connection costs one goroutine and at most MaxMessageLen bytes of
// buffer, and not for ever.
//
// Set the fields before Serve; do not change them afterwards.
type Server struct {
	OriginHost       string
	OriginRealm      string
	HostIPAddresses  []netip.Addr // empty: the local address of each connection
	VendorID         uint32
	ProductName      string // empty: "imsconform"
	FirmwareRevision uint32
	OriginStateID    uint32 // 0: not sent
	Applications     []Application
	Handler          Handler
	Dictionary       *Dictionary // nil: Default
	// Observer, when set, is called with every message read and written,
	// including ones that do not decode, from the connection's goroutine.
	Observer func(Capture)
	// Logf, when set, receives one line per notable event (connection,
	// CER, error answer). Lines carry codes and lengths, never AVP data.
	Logf          func(format string, args ...any)
	MaxMessageLen int // 0: DefaultMaxMessageLen
	// Watchdog is Tw (RFC 3539 3.4.1) of every open connection: a DWR after
	// Tw without a message from the peer, the peer dropped after 3·Tw
	// without one. A connection that sends no CER within Tw is closed too.
	// 0 means DefaultWatchdog; negative means no watchdog and no CER wait.
	Watchdog time.Duration
	// MessageTimeout bounds the time from a message's first byte to its
	// last: a message left half-sent longer closes the connection. 0 means
	// DefaultMessageTimeout.
	MessageTimeout time.Duration
	// AcceptPeer, when set, is asked at each CER whether this peer (its
	// Origin-Host and Origin-Realm as the CER gives them) may connect; on
	// false the server answers DIAMETER_UNKNOWN_PEER (3010, RFC 6733 5.3)
	// with the E bit and closes the connection. Nil accepts every peer.
	AcceptPeer func(Peer) bool
	// PeerState, when set, is called when a peer's connection opens (a CEA
	// with DIAMETER_SUCCESS was sent) and again when that connection closes.
	PeerState func(p Peer, open bool)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("diameter: server closed")

// Serve accepts connections on l until Close and serves each in its own
// goroutine. It always returns a non-nil error: ErrServerClosed after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops every listener and connection and waits for the connection
// goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) dict() *Dictionary {
	if s.Dictionary != nil {
		return s.Dictionary
	}
	return Default
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// conn is one peer connection.
type conn struct {
	s    *Server
	c    net.Conn
	peer Peer
	open bool // CER accepted

	wmu sync.Mutex // serialises writes: answers and the watchdog's DWR
	wd  *watchdog
	hbh uint32 // the Hop-by-Hop Identifier of the last DWR sent
}

func (s *Server) tw() time.Duration {
	if s.Watchdog == 0 {
		return DefaultWatchdog
	}
	return s.Watchdog
}

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	pc := &conn{s: s, c: c, peer: Peer{Remote: addrPort(c.RemoteAddr()), Local: addrPort(c.LocalAddr())}, hbh: randUint32()}
	defer func() {
		pc.wd.stop()
		if pc.open && s.PeerState != nil {
			s.PeerState(pc.peer, false)
		}
	}()
	s.logf("diameter: connection from %s", pc.peer.Remote)
	maxLen := s.MaxMessageLen
	if maxLen <= 0 {
		maxLen = DefaultMaxMessageLen
	}
	msgTimeout := s.MessageTimeout
	if msgTimeout <= 0 {
		msgTimeout = DefaultMessageTimeout
	}
	r := bufio.NewReader(c)
	for {
		// Between messages: before the CER, wait Tw for it; once open, the
		// watchdog judges silence.
		idle := time.Time{}
		if !pc.open && s.tw() > 0 {
			idle = time.Now().Add(s.tw())
		}
		_ = c.SetReadDeadline(idle)
		if _, err := r.Peek(1); err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				s.logf("diameter: %s: closing: no CER within %s", pc.peer.Remote, s.tw())
			case err != io.EOF && !errors.Is(err, net.ErrClosed):
				s.logf("diameter: %s: read: %v", pc.peer.Remote, err)
			}
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(msgTimeout))
		raw, err := ReadMessage(r, maxLen)
		if err != nil {
			var de *DecodeError
			var ne net.Error
			switch {
			case errors.As(err, &de):
				// The header is readable but the framing is not to be trusted:
				// answer a request, then close (RFC 6733 7.1.3, 7.1.5).
				pc.observe(raw, true)
				h, _ := ParseHeader(raw)
				s.logf("diameter: %s: closing: %v", pc.peer.Remote, err)
				if h.Flags&FlagRequest != 0 {
					pc.send(pc.errorAnswer(h, nil, de))
				}
			case errors.As(err, &ne) && ne.Timeout():
				s.logf("diameter: %s: closing: a message begun but not completed within %s", pc.peer.Remote, msgTimeout)
			case !errors.Is(err, net.ErrClosed):
				s.logf("diameter: %s: read: %v", pc.peer.Remote, err)
			}
			return
		}
		pc.observe(raw, true)
		if !pc.handle(raw) {
			return
		}
	}
}

func (pc *conn) observe(raw []byte, received bool) {
	if pc.s.Observer == nil {
		return
	}
	pc.s.Observer(pc.peer.capture(raw, received))
}

func (pc *conn) send(m *Message) bool {
	b, err := m.Marshal()
	if err != nil {
		pc.s.logf("diameter: %s: cannot encode answer to command %d: %v", pc.peer.Remote, m.Code, err)
		return false
	}
	return pc.write(b) == nil
}

func (pc *conn) write(b []byte) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.observe(b, false)
	_ = pc.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if _, err := pc.c.Write(b); err != nil {
		pc.s.logf("diameter: %s: write: %v", pc.peer.Remote, err)
		pc.c.Close()
		return err
	}
	return nil
}

// dwr sends the watchdog's DWR.
func (pc *conn) dwr() error {
	pc.wmu.Lock()
	pc.hbh++
	hbh := pc.hbh
	pc.wmu.Unlock()
	b, err := dwrBytes(hbh, hbh, pc.s.origin(), pc.s.OriginStateID)
	if err != nil {
		return err
	}
	return pc.write(b)
}

// origin returns Origin-Host and Origin-Realm.
func (s *Server) origin() []AVP {
	return []AVP{
		DiameterIdentity(AVPOriginHost, 0, AVPFlagMandatory, s.OriginHost),
		DiameterIdentity(AVPOriginRealm, 0, AVPFlagMandatory, s.OriginRealm),
	}
}

// errorAnswer builds the answer to a request that failed with de: the E bit
// for protocol errors (3xxx), Result-Code, Origin-Host, Origin-Realm,
// Error-Message and Failed-AVP (RFC 6733 7.2).
func (pc *conn) errorAnswer(h Header, req *Message, de *DecodeError) *Message {
	a := &Message{Flags: h.Flags & FlagProxiable, Code: h.Code, ApplicationID: h.ApplicationID, HopByHop: h.HopByHop, EndToEnd: h.EndToEnd}
	if req != nil {
		a = req.Answer()
	}
	if de.ResultCode >= 3000 && de.ResultCode < 4000 {
		a.Flags |= FlagError
	}
	a.AVPs = append(a.AVPs, pc.s.origin()...)
	a.AVPs = append(a.AVPs, Unsigned32(AVPResultCode, 0, AVPFlagMandatory, de.ResultCode))
	if pc.s.OriginStateID != 0 {
		a.AVPs = append(a.AVPs, Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, pc.s.OriginStateID))
	}
	a.AVPs = append(a.AVPs, UTF8String(AVPErrorMessage, 0, 0, de.Msg))
	if de.FailedAVP != nil {
		a.AVPs = append(a.AVPs, Grouped(AVPFailedAVP, 0, AVPFlagMandatory, *de.FailedAVP))
	}
	return a
}

// handle processes one framed message; it returns false when the connection
// is to be closed.
func (pc *conn) handle(raw []byte) bool {
	s := pc.s
	h, _ := ParseHeader(raw)
	m, err := Unmarshal(raw)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			de = &DecodeError{ResultCode: ResultUnableToComply, Msg: err.Error()}
		}
		s.logf("diameter: %s: command %d does not decode: %v", pc.peer.Remote, h.Code, err)
		if h.Flags&FlagRequest == 0 {
			return true // a broken answer: nothing to answer
		}
		return pc.send(pc.errorAnswer(h, nil, de))
	}
	pc.wd.received(!m.IsRequest() && m.Code == CmdDeviceWatchdog)
	if !m.IsRequest() {
		// The server's only request is the watchdog's DWR; any other answer
		// is unexpected. Drop it.
		if m.Code != CmdDeviceWatchdog {
			s.logf("diameter: %s: dropping unexpected answer, command %d", pc.peer.Remote, m.Code)
		}
		return true
	}
	if !pc.open && m.Code != CmdCapabilitiesExchange {
		s.logf("diameter: %s: closing: expected CER first, got command %d", pc.peer.Remote, m.Code)
		return false
	}
	if err := s.dict().Validate(m); err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			de = &DecodeError{ResultCode: ResultUnableToComply, Msg: err.Error()}
		}
		s.logf("diameter: %s: command %d rejected: %v", pc.peer.Remote, m.Code, err)
		ok := pc.send(pc.errorAnswer(h, m, de))
		return ok && pc.open
	}
	switch m.Code {
	case CmdCapabilitiesExchange:
		return pc.handleCER(m)
	case CmdDeviceWatchdog:
		return pc.send(pc.baseAnswer(m, ResultSuccess))
	case CmdDisconnectPeer:
		pc.send(pc.baseAnswer(m, ResultSuccess))
		s.logf("diameter: %s: DPR: closing", pc.peer.Remote)
		return false
	}
	if m.ApplicationID == AppCommon || !s.accepts(m.ApplicationID) {
		rc := ResultApplicationUnsupported
		msg := fmt.Sprintf("expected application %s, got %d", s.appList(), m.ApplicationID)
		if m.ApplicationID == AppCommon {
			rc = ResultCommandUnsupported
			msg = fmt.Sprintf("expected base command 257, 280 or 282, got %d", m.Code)
		}
		return pc.send(pc.errorAnswer(h, m, &DecodeError{ResultCode: rc, Msg: msg}))
	}
	var a *Message
	if s.Handler != nil {
		a = s.Handler.ServeDiameter(m, pc.peer)
	}
	if a == nil {
		return pc.send(pc.errorAnswer(h, m, &DecodeError{ResultCode: ResultCommandUnsupported, Msg: fmt.Sprintf("command %d of application %d is not supported", m.Code, m.ApplicationID)}))
	}
	return pc.send(a)
}

func (s *Server) accepts(app uint32) bool {
	for _, a := range s.Applications {
		if a.AuthApplicationID == app {
			return true
		}
	}
	return false
}

func (s *Server) appList() string {
	out := ""
	for i, a := range s.Applications {
		if i > 0 {
			out += " or "
		}
		out += fmt.Sprintf("%d", a.AuthApplicationID)
	}
	if out == "" {
		return "(none)"
	}
	return out
}

// baseAnswer is a DWA or DPA: Result-Code, Origin-Host, Origin-Realm,
// [Origin-State-Id].
func (pc *conn) baseAnswer(req *Message, rc uint32) *Message {
	a := req.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, rc))
	a.AVPs = append(a.AVPs, pc.s.origin()...)
	if pc.s.OriginStateID != 0 {
		a.AVPs = append(a.AVPs, Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, pc.s.OriginStateID))
	}
	return a
}

// peerApplications lists the application ids a CER advertises, top level
// and inside Vendor-Specific-Application-Id.
func peerApplications(m *Message) []uint32 {
	var ids []uint32
	add := func(avps []AVP) {
		for _, a := range avps {
			if a.Vendor() == 0 && (a.Code == AVPAuthApplicationID || a.Code == AVPAcctApplicationID) {
				if v, err := a.Uint32(); err == nil {
					ids = append(ids, v)
				}
			}
		}
	}
	add(m.AVPs)
	for _, vsai := range m.FindAll(AVPVendorSpecificApplicationID, 0) {
		if members, err := vsai.Group(); err == nil {
			add(members)
		}
	}
	return ids
}

func (pc *conn) handleCER(m *Message) bool {
	s := pc.s
	h := Header{Flags: m.Flags, Code: m.Code, ApplicationID: m.ApplicationID, HopByHop: m.HopByHop, EndToEnd: m.EndToEnd}
	if pc.open {
		// RFC 6733 5.6.4: a CER in the Open state is an election/duplicate; answer
		// it as unable to comply and keep the connection.
		return pc.send(pc.errorAnswer(h, m, &DecodeError{ResultCode: ResultUnableToComply, Msg: "expected no CER on an open connection, got one"}))
	}
	for _, code := range []uint32{AVPOriginHost, AVPOriginRealm} {
		if _, ok := m.Find(code, 0); !ok {
			def, _ := s.dict().Lookup(code, 0)
			pc.send(pc.errorAnswer(h, m, &DecodeError{ResultCode: ResultMissingAVP, Msg: fmt.Sprintf("expected %s in CER, got none", def.Name), FailedAVP: &AVP{Code: code, Flags: AVPFlagMandatory}}))
			return false
		}
	}
	oh, _ := m.Find(AVPOriginHost, 0)
	or, _ := m.Find(AVPOriginRealm, 0)
	pc.peer.OriginHost, _ = oh.UTF8()
	pc.peer.OriginRealm, _ = or.UTF8()
	if s.AcceptPeer != nil && !s.AcceptPeer(pc.peer) {
		s.logf("diameter: %s: CER from unknown peer %q realm %q: DIAMETER_UNKNOWN_PEER", pc.peer.Remote, pc.peer.OriginHost, pc.peer.OriginRealm)
		pc.send(pc.errorAnswer(h, m, &DecodeError{ResultCode: ResultUnknownPeer, Msg: fmt.Sprintf("expected a CER from a known peer, got one from Origin-Host %q", pc.peer.OriginHost)}))
		return false
	}

	common := len(s.Applications) == 0
	ids := peerApplications(m)
	for _, id := range ids {
		if id == AppRelay || s.accepts(id) {
			common = true
		}
	}
	rc := ResultSuccess
	if !common {
		rc = ResultNoCommonApplication
	}
	a := m.Answer(Unsigned32(AVPResultCode, 0, AVPFlagMandatory, rc))
	a.AVPs = append(a.AVPs, s.origin()...)
	ips := s.HostIPAddresses
	if len(ips) == 0 {
		ips = []netip.Addr{pc.peer.Local.Addr()}
	}
	for _, ip := range ips {
		a.AVPs = append(a.AVPs, Address(AVPHostIPAddress, 0, AVPFlagMandatory, ip))
	}
	a.AVPs = append(a.AVPs, Unsigned32(AVPVendorID, 0, AVPFlagMandatory, s.VendorID))
	pn := s.ProductName
	if pn == "" {
		pn = "imsconform"
	}
	a.AVPs = append(a.AVPs, UTF8String(AVPProductName, 0, 0, pn))
	if s.OriginStateID != 0 {
		a.AVPs = append(a.AVPs, Unsigned32(AVPOriginStateID, 0, AVPFlagMandatory, s.OriginStateID))
	}
	if !common {
		a.AVPs = append(a.AVPs, UTF8String(AVPErrorMessage, 0, 0, fmt.Sprintf("expected application %s, got %v", s.appList(), ids)))
	}
	vendors := map[uint32]bool{}
	for _, app := range s.Applications {
		if app.VendorID != 0 && !vendors[app.VendorID] {
			vendors[app.VendorID] = true
			a.AVPs = append(a.AVPs, Unsigned32(AVPSupportedVendorID, 0, AVPFlagMandatory, app.VendorID))
		}
	}
	for _, app := range s.Applications {
		if app.VendorID == 0 {
			a.AVPs = append(a.AVPs, Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, app.AuthApplicationID))
		}
	}
	for _, app := range s.Applications {
		if app.VendorID != 0 {
			a.AVPs = append(a.AVPs, Grouped(AVPVendorSpecificApplicationID, 0, AVPFlagMandatory,
				Unsigned32(AVPVendorID, 0, AVPFlagMandatory, app.VendorID),
				Unsigned32(AVPAuthApplicationID, 0, AVPFlagMandatory, app.AuthApplicationID)))
		}
	}
	if s.FirmwareRevision != 0 {
		a.AVPs = append(a.AVPs, Unsigned32(AVPFirmwareRevision, 0, 0, s.FirmwareRevision))
	}
	s.logf("diameter: %s: CER from %q realm %q: %s", pc.peer.Remote, pc.peer.OriginHost, pc.peer.OriginRealm, ResultCodeName(rc))
	if !pc.send(a) || !common {
		return false
	}
	pc.open = true
	pc.wd = watch(s.tw(), pc.dwr, func(reason string) {
		s.logf("diameter: %s: closing: peer %q is down: %s", pc.peer.Remote, pc.peer.OriginHost, reason)
		pc.c.Close()
	})
	if s.PeerState != nil {
		s.PeerState(pc.peer, true)
	}
	return true
}
