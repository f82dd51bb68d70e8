package refcore

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imsconform/harness/aka"
	"imsconform/harness/deviation"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/transport"
)

// ---- a minimal VCC Application: answers every REGISTER with 200 OK to the packet source ----

type testVCC struct {
	network string
	addr    netip.AddrPort
	udp     *net.UDPConn
	ln      net.Listener
	mu      sync.Mutex
	got     [][]byte
	from    []netip.AddrPort
	wg      sync.WaitGroup
}

func startVCC(t *testing.T, network, host string) *testVCC {
	t.Helper()
	v := &testVCC{network: network}
	hp := net.JoinHostPort(host, "0")
	if network == "udp" {
		c, err := net.ListenPacket("udp", hp)
		if err != nil {
			t.Fatal(err)
		}
		v.udp = c.(*net.UDPConn)
		v.addr = v.udp.LocalAddr().(*net.UDPAddr).AddrPort()
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			buf := make([]byte, 65535)
			for {
				n, src, err := v.udp.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				raw := append([]byte(nil), buf[:n]...)
				if r := v.record(raw, src); r != nil {
					v.udp.WriteToUDPAddrPort(r, src)
				}
			}
		}()
	} else {
		l, err := net.Listen("tcp", hp)
		if err != nil {
			t.Fatal(err)
		}
		v.ln = l
		v.addr = l.Addr().(*net.TCPAddr).AddrPort()
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					r := bufio.NewReader(c)
					for {
						raw, err := readMsg(r)
						if err != nil {
							return
						}
						if resp := v.record(raw, c.RemoteAddr().(*net.TCPAddr).AddrPort()); resp != nil {
							c.Write(resp)
						}
					}
				}()
			}
		}()
	}
	t.Cleanup(func() {
		if v.udp != nil {
			v.udp.Close()
		}
		if v.ln != nil {
			v.ln.Close()
		}
		v.wg.Wait()
	})
	return v
}

func (v *testVCC) record(raw []byte, src netip.AddrPort) []byte {
	v.mu.Lock()
	v.got = append(v.got, raw)
	v.from = append(v.from, src)
	v.mu.Unlock()
	m, err := sipmsg.Parse(raw)
	if err != nil || !m.Request {
		return nil
	}
	return respond(m, 200, "OK").Bytes()
}

func (v *testVCC) messages() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.got...)
}

func (v *testVCC) wait(t *testing.T, n int, d time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if g := v.messages(); len(g) >= n {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
	return v.messages()
}

// all returns the values of a header (list headers split), as written.
func all(m *sipmsg.Message, name string) []string {
	var out []string
	for _, v := range m.Values(name) {
		out = append(out, v.Text)
	}
	return out
}

// param returns a header parameter of a name-addr value ("" when absent).
func param(v, name string) string {
	p, _ := headerParam(v, name)
	return p
}

// readMsg reads one SIP message off a stream, framed as the transport
// does; it takes a byte at a time so that nothing of the next message is
// consumed.
func readMsg(r *bufio.Reader) ([]byte, error) {
	var f transport.Framer
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		f.Write([]byte{b})
		if raw, ok, err := f.Next(); ok {
			return raw, err
		}
	}
}

// ---- a minimal UE ----

type testUE struct {
	t       *testing.T
	network string
	host    string
	core    netip.AddrPort
	unprot  *net.UDPConn // UDP: the unprotected port
	prot    *net.UDPConn // UDP: port-s, where responses to the protected REGISTER arrive
	tcp     net.Conn
	tcpR    *bufio.Reader
	usim    *aka.USIM
	lab     *lab.Profile
	callID  string
	cseq    int
}

func newUE(t *testing.T, network, host string, core netip.AddrPort, p *lab.Profile) *testUE {
	t.Helper()
	u := &testUE{t: t, network: network, host: host, core: core, lab: p, callID: randHex(8) + "@ue", cseq: 0}
	k, _ := hex.DecodeString(p.Subscriber.K.Reveal())
	op, _ := hex.DecodeString(p.Subscriber.OP.Reveal())
	m, err := aka.NewMilenage(k, op, nil)
	if err != nil {
		t.Fatal(err)
	}
	u.usim = aka.NewUSIM(m, aka.SQNFromUint64(0), 0)
	if network == "udp" {
		for _, c := range []**net.UDPConn{&u.unprot, &u.prot} {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
			if err != nil {
				t.Fatal(err)
			}
			*c = pc.(*net.UDPConn)
		}
	} else {
		c, err := net.Dial("tcp", core.String())
		if err != nil {
			t.Fatal(err)
		}
		u.tcp, u.tcpR = c, bufio.NewReader(c)
	}
	t.Cleanup(func() {
		for _, c := range []*net.UDPConn{u.unprot, u.prot} {
			if c != nil {
				c.Close()
			}
		}
		if u.tcp != nil {
			u.tcp.Close()
		}
	})
	return u
}

func bracket(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (u *testUE) localPort(protected bool) int {
	if u.tcp != nil {
		return u.tcp.LocalAddr().(*net.TCPAddr).Port
	}
	if protected {
		return u.prot.LocalAddr().(*net.UDPAddr).Port
	}
	return u.unprot.LocalAddr().(*net.UDPAddr).Port
}

// register builds a REGISTER as tables A.3.2.2-2 and -7 do; auth is the
// Authorization value.
func (u *testUE) register(protected bool, auth string, expires int) []byte {
	u.cseq++
	port := u.localPort(protected)
	hp := bracket(u.host) + ":" + strconv.Itoa(port)
	tr := strings.ToUpper(u.network)
	impu := u.lab.Subscriber.IMPUs[0]
	s := "REGISTER " + u.lab.Registrar + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + tr + " " + hp + ";branch=z9hG4bKnashds7\r\n" +
		"Max-Forwards: 70\r\n" +
		"P-Access-Network-Info: 3GPP-UTRAN-TDD; utran-cell-id-3gpp=234151D0FCE11\r\n" +
		"From: <" + impu + ">;tag=4fa3\r\n" +
		"To: <" + impu + ">\r\n" +
		"Contact: <sip:" + hp + ">;expires=" + strconv.Itoa(expires) + "\r\n" +
		"Call-ID: " + u.callID + "\r\n" +
		"Authorization: " + auth + "\r\n" +
		"Security-Client: ipsec-3gpp; alg=hmac-sha-1-96; spi-c=23456789; spi-s=12345678; port-c=2468; port-s=1357\r\n"
	if protected {
		s += "Security-Verify: " + DefaultSecurityServer + "\r\n"
	}
	s += "Require: sec-agree\r\nProxy-Require: sec-agree\r\n" +
		"CSeq: " + strconv.Itoa(u.cseq) + " REGISTER\r\n" +
		"Supported: path\r\n" +
		"Content-Length: 0\r\n\r\n"
	return []byte(s)
}

func (u *testUE) send(raw []byte, protected bool) {
	u.t.Helper()
	var err error
	switch {
	case u.tcp != nil:
		_, err = u.tcp.Write(raw)
	case protected:
		_, err = u.prot.WriteToUDPAddrPort(raw, u.core)
	default:
		_, err = u.unprot.WriteToUDPAddrPort(raw, u.core)
	}
	if err != nil {
		u.t.Fatal(err)
	}
}

var errTimeout = errors.New("nothing received")

// recv returns the next message (raw) on the socket where the answer to a
// request sent with protected is expected.
func (u *testUE) recv(protected bool, d time.Duration) ([]byte, error) {
	if u.tcp != nil {
		u.tcp.SetReadDeadline(time.Now().Add(d))
		type res struct {
			b   []byte
			err error
		}
		// A malformed deviation sends bytes that are not framed: read what comes.
		if b, err := u.tcpR.Peek(1); err == nil && len(b) == 1 && b[0] < 'A' {
			buf := make([]byte, 4096)
			n, _ := u.tcpR.Read(buf)
			return buf[:n], nil
		}
		raw, err := readMsg(u.tcpR)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, errTimeout
			}
			return nil, err
		}
		return raw, nil
	}
	c := u.unprot
	if protected {
		c = u.prot
	}
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65535)
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, errTimeout
	}
	return buf[:n], nil
}

func (u *testUE) mustRecv(protected bool) *sipmsg.Message {
	u.t.Helper()
	raw, err := u.recv(protected, 3*time.Second)
	if err != nil {
		u.t.Fatalf("UE: expected a response, got %v", err)
	}
	m, err := sipmsg.Parse(raw)
	if err != nil {
		u.t.Fatalf("UE: expected a SIP response, got %v: %q", err, raw)
	}
	return m
}

const initialAuth = `Digest username="user1_private@home1.net", realm="registrar.home1.net", nonce="", uri="sip:registrar.home1.net", response=""`

// answer computes the Authorization for a 401's challenge.
func (u *testUE) answer(w401 string, qop string) (string, error) {
	d, ok := digestParams(w401)
	if !ok {
		return "", fmt.Errorf("expected a Digest challenge, got %q", w401)
	}
	n, err := aka.ParseNonce(d["nonce"])
	if err != nil {
		return "", err
	}
	a, err := u.usim.Authenticate(n.RAND, n.AUTN)
	if err != nil {
		return "", err
	}
	uri := u.lab.Registrar
	p := aka.Params{Username: u.lab.Subscriber.IMPI, Realm: d["realm"], Password: aka.AKAv1Password(a.RES[:]),
		Method: "REGISTER", URI: uri, Nonce: d["nonce"], QOP: qop}
	extra := ""
	if qop != "" {
		p.CNonce, p.NC = "0a4f113b", "00000001"
		extra = `, qop=` + qop + `, cnonce="0a4f113b", nc=00000001`
	}
	resp, err := aka.DigestResponse(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", algorithm=AKAv1-MD5, uri="%s", response="%s"%s`,
		p.Username, p.Realm, p.Nonce, uri, resp, extra), nil
}

type env struct {
	core *Core
	vcc  *testVCC
	ue   *testUE
	lab  *lab.Profile
}

func setup(t *testing.T, network, host string, ds []deviation.Deviation, mod func(*lab.Profile)) *env {
	t.Helper()
	p := lab.DefaultFor(host)
	if mod != nil {
		mod(p)
	}
	vcc := startVCC(t, network, host)
	core, err := Start(context.Background(), Config{Lab: p, Host: host, Transport: network, VCCApp: vcc.addr, Deviations: ds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	return &env{core: core, vcc: vcc, ue: newUE(t, network, host, core.PCSCF(), p), lab: p}
}

// flow runs steps 2..10 and returns the 401 and the final response.
func (e *env) flow(t *testing.T, qop string) (*sipmsg.Message, *sipmsg.Message) {
	t.Helper()
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	if r401.StatusCode != 401 {
		t.Fatalf("step 5: expected 401, got %q", r401.StartLine)
	}
	auth, err := e.ue.answer(r401.Get("WWW-Authenticate"), qop)
	if err != nil {
		t.Fatalf("step 6: %v", err)
	}
	e.ue.send(e.ue.register(true, auth, 600000), true)
	return r401, e.ue.mustRecv(true)
}

func hosts(t *testing.T) []string {
	out := []string{"127.0.0.1"}
	if c, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
		c.Close()
		out = append(out, "::1")
	} else {
		t.Logf("no IPv6 loopback on this machine: [::1] cases not run")
	}
	return out
}

func TestCleanFlow(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		for _, host := range hosts(t) {
			t.Run(network+"/"+host, func(t *testing.T) {
				e := setup(t, network, host, nil, nil)
				names := e.lab.Core
				r401, r200 := e.flow(t, "")
				// Step 5 (table A.3.2.2-5).
				w := r401.Get("WWW-Authenticate")
				d, _ := digestParams(w)
				if d["realm"] != e.lab.Realm || d["algorithm"] != "AKAv1-MD5" || !strings.Contains(w, `nonce="`) {
					t.Errorf("step 5: expected realm, quoted nonce, algorithm=AKAv1-MD5, got %q", w)
				}
				if _, ok := d["ck"]; ok {
					t.Errorf("step 5: expected no ck, got %q", w)
				}
				if _, ok := d["ik"]; ok {
					t.Errorf("step 5: expected no ik, got %q", w)
				}
				if r401.Get("Security-Server") != DefaultSecurityServer {
					t.Errorf("step 5: expected Security-Server %q, got %q", DefaultSecurityServer, r401.Get("Security-Server"))
				}
				if vias := all(r401, "Via"); len(vias) != 1 || !strings.Contains(vias[0], "branch=z9hG4bKnashds7") {
					t.Errorf("step 5: expected the UE's Via only, got %q", vias)
				}
				// Steps 10/14.
				if r200.StatusCode != 200 {
					t.Fatalf("step 10: expected 200, got %q", r200.StartLine)
				}
				want := map[string]string{
					"Path":             "<sip:term@" + names.PCSCFName + ";lr>",
					"Service-Route":    "<sip:orig@" + names.SCSCFName + ";lr>",
					"Call-ID":          e.ue.callID,
					"CSeq":             "2 REGISTER",
					"P-Associated-URI": "<sip:user1_public1@home1.net>, <sip:user1_public2@home1.net>, <sip:user1_public3@home1.net>, <tel:+1-212-555-1111>",
					"Content-Length":   "0",
				}
				for h, v := range want {
					if got := r200.Get(h); got != v {
						t.Errorf("step 10: %s: expected %q, got %q", h, v, got)
					}
				}
				if _, ok := headerParam(r200.Get("To"), "tag"); !ok {
					t.Errorf("step 10: expected a To tag, got %q", r200.Get("To"))
				}
				if param(r200.Get("Contact"), "expires") != "600000" {
					t.Errorf("step 10: expected Contact expires=600000, got %q", r200.Get("Contact"))
				}
				if _, err := time.Parse(time.RFC1123, r200.Get("Date")); err != nil || !strings.HasSuffix(r200.Get("Date"), "GMT") {
					t.Errorf("step 10: expected an RFC 1123 GMT Date, got %q", r200.Get("Date"))
				}
				// Step 11: the third-party REGISTER of TS 24.229 5.4.1.7.
				got := e.vcc.wait(t, 1, 3*time.Second)
				if len(got) != 1 {
					t.Fatalf("step 11: expected one REGISTER at the VCC App, got %d", len(got))
				}
				checkThirdParty(t, e, got[0])
				if network == "udp" && e.vcc.from[0] != e.core.SCSCF() {
					t.Errorf("step 11: expected it from the S-CSCF %s, got %s", e.core.SCSCF(), e.vcc.from[0])
				}
				// Step 13 reached the core: no retransmission follows.
				time.Sleep(800 * time.Millisecond)
				if n := len(e.vcc.messages()); n != 1 {
					t.Errorf("step 13: expected the core to stop after the 200, got %d REGISTERs", n)
				}
			})
		}
	}
}

func TestQOPVariants(t *testing.T) {
	for _, qop := range []string{"auth", "auth-int"} {
		t.Run(qop, func(t *testing.T) {
			e := setup(t, "udp", "127.0.0.1", nil, nil)
			_, r := e.flow(t, qop)
			if r.StatusCode != 200 {
				t.Fatalf("expected 200 with qop=%s, got %q", qop, r.StartLine)
			}
		})
	}
}

func TestTS24229Profile(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", nil, func(p *lab.Profile) { p.Profile = "ts24229" })
	_, r := e.flow(t, "")
	if r.StatusCode != 200 {
		t.Fatalf("expected 200, got %q", r.StartLine)
	}
	got := e.vcc.wait(t, 1, 3*time.Second)
	if len(got) < 1 {
		t.Fatal("step 11: expected a REGISTER at the VCC App, got none")
	}
	checkThirdParty(t, e, got[0])
}

// checkThirdParty checks the REGISTER of step 11 as TS 24.229 5.4.1.7 has
// the S-CSCF originate it.
func checkThirdParty(t *testing.T, e *env, raw []byte) {
	t.Helper()
	m, err := sipmsg.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	names := e.lab.Core
	checks := map[string]string{
		"start":        "REGISTER " + e.lab.VCCApp.URI + " SIP/2.0",
		"Max-Forwards": "70",
		"To":           "<sip:user1_public1@home1.net>",
		"Contact":      "<sip:" + names.SCSCFName + ">",
		"Expires":      "600000",
	}
	for h, v := range checks {
		g := m.Get(h)
		if h == "start" {
			g = m.StartLine
		}
		if g != v {
			t.Errorf("step 11: %s: expected %q, got %q", h, v, g)
		}
	}
	if vias := all(m, "Via"); len(vias) != 1 || !strings.Contains(vias[0], " "+names.SCSCFName+";rport;branch=") {
		t.Errorf("step 11: expected one S-CSCF Via, got %q", vias)
	}
	if !strings.HasPrefix(m.Get("From"), "<sip:"+names.SCSCFName+">") || m.Get("Call-ID") == e.ue.callID || m.Get("P-Charging-Vector") == "" {
		t.Errorf("step 11: expected From <sip:%s>, a new Call-ID and P-Charging-Vector, got From %q Call-ID %q PCV %q", names.SCSCFName, m.Get("From"), m.Get("Call-ID"), m.Get("P-Charging-Vector"))
	}
	for _, h := range []string{"Authorization", "Security-Client", "Security-Verify", "Path"} {
		if m.Has(h) {
			t.Errorf("step 11: expected no %s in the third-party REGISTER, got %q", h, m.Get(h))
		}
	}
}

// TestStep11AsTable: with the deviation 11/as-table the S-CSCF passes the
// authenticated REGISTER on as table A.3.2.2-11 shows it, the credentials
// marked integrity-protected by the P-CSCF (TS 24.229 5.2.2), under either
// profile.
func TestStep11AsTable(t *testing.T) {
	for _, profile := range []string{"a322", "ts24229"} {
		t.Run(profile, func(t *testing.T) {
			e := setup(t, "udp", "127.0.0.1", []deviation.Deviation{{Step: "11", Action: deviation.AsTable}}, func(p *lab.Profile) { p.Profile = profile })
			names := e.lab.Core
			_, r200 := e.flow(t, "")
			if r200.StatusCode != 200 {
				t.Fatalf("expected 200, got %q", r200.StartLine)
			}
			got := e.vcc.wait(t, 1, 3*time.Second)
			if len(got) != 1 {
				t.Fatalf("step 11: expected one REGISTER at the VCC App, got %d", len(got))
			}
			m, err := sipmsg.Parse(got[0])
			if err != nil {
				t.Fatal(err)
			}
			if m.StartLine != "REGISTER sip:"+names.SCSCFName+" SIP/2.0" {
				t.Errorf("step 11: expected Request-URI sip:%s, got %q", names.SCSCFName, m.StartLine)
			}
			vias := all(m, "Via")
			if len(vias) != 3 || !strings.Contains(vias[0], " "+names.ICSCFName+";") || !strings.Contains(vias[1], " "+names.PCSCFName+";") {
				t.Errorf("step 11: expected Vias icscf, pcscf, UE, got %q", vias)
			}
			if m.Get("Max-Forwards") != "68" {
				t.Errorf("step 11: expected Max-Forwards 68, got %q", m.Get("Max-Forwards"))
			}
			for _, h := range a322Step11 {
				if !m.Has(h) {
					t.Errorf("step 11: expected %s, got none", h)
				}
			}
			if a := m.Get("Authorization"); !strings.Contains(a, `integrity-protected="`) {
				t.Errorf("step 11: expected the P-CSCF's integrity-protected in Authorization, got %q", a)
			}
			if m.Has("Security-Client") || m.Has("Security-Verify") {
				t.Error("step 11: expected no Security-Client or Security-Verify past the P-CSCF")
			}
		})
	}
}

func TestExpires(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", nil, func(p *lab.Profile) { p.Core.MaxExpires = 3600 })
	_, r := e.flow(t, "")
	if param(r.Get("Contact"), "expires") != "3600" {
		t.Errorf("expected the granted expiry capped at 3600, got %q", r.Get("Contact"))
	}
	// De-registration: a new challenge, then expires=0.
	e.ue.send(e.ue.register(true, initialAuth, 0), true)
	r401 := e.ue.mustRecv(true)
	auth, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
	if err != nil {
		t.Fatal(err)
	}
	e.ue.send(e.ue.register(true, auth, 0), true)
	r = e.ue.mustRecv(true)
	if r.StatusCode != 200 || param(r.Get("Contact"), "expires") != "0" {
		t.Errorf("de-registration: expected 200 with expires=0, got %q %q", r.StartLine, r.Get("Contact"))
	}
}

func TestWrongResponseGets403(t *testing.T) {
	e := setup(t, "udp", "127.0.0.1", nil, nil)
	e.ue.send(e.ue.register(false, initialAuth, 600000), false)
	r401 := e.ue.mustRecv(false)
	auth, err := e.ue.answer(r401.Get("WWW-Authenticate"), "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := digestParams(auth)
	auth = strings.Replace(auth, d["response"], strings.Repeat("0", 32), 1)
	e.ue.send(e.ue.register(true, auth, 600000), true)
	if r := e.ue.mustRecv(true); r.StatusCode != 403 {
		t.Errorf("expected 403 for a wrong response, got %q", r.StartLine)
	}
	if got := e.vcc.wait(t, 1, 700*time.Millisecond); len(got) != 0 {
		t.Errorf("expected no REGISTER at the VCC App, got %d", len(got))
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
