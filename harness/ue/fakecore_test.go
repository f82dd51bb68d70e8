package ue

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"imsconform/harness/aka"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/ue/sipwire"
)

// fakeRegistrar is a minimal P-CSCF+S-CSCF for testing the UE alone: it
// challenges with AKAv1-MD5, checks the digest response, and answers 200.
type fakeRegistrar struct {
	t        *testing.T
	m        *aka.Milenage
	sqn      uint64
	badMAC   bool
	stale    bool // first challenge carries an SQN the UE has already seen
	qop      string
	udp      *net.UDPConn
	ln       net.Listener
	addr     netip.AddrPort
	mu       sync.Mutex
	xres     map[string][]byte // by nonce
	rand     map[string][16]byte
	seen     []*sipmsg.Message
	authOK   int
	resyncOK int
}

func newFakeRegistrar(t *testing.T, l *lab.Profile, network, host string, knobs ...func(*fakeRegistrar)) *fakeRegistrar {
	t.Helper()
	k, _ := hex.DecodeString(l.Subscriber.K.Reveal())
	op, _ := hex.DecodeString(l.Subscriber.OP.Reveal())
	m, err := aka.NewMilenage(k, op, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRegistrar{t: t, m: m, sqn: 32, xres: map[string][]byte{}, rand: map[string][16]byte{}}
	for _, k := range knobs {
		k(f)
	}
	hp := net.JoinHostPort(host, "0")
	if network == "udp" {
		c, err := net.ListenPacket("udp", hp)
		if err != nil {
			t.Fatal(err)
		}
		f.udp = c.(*net.UDPConn)
		f.addr = sipwire.AddrPort(c.LocalAddr())
		go f.serveUDP()
	} else {
		ln, err := net.Listen("tcp", hp)
		if err != nil {
			t.Fatal(err)
		}
		f.ln = ln
		f.addr = sipwire.AddrPort(ln.Addr())
		go f.serveTCP()
	}
	t.Cleanup(f.close)
	return f
}

func (f *fakeRegistrar) close() {
	if f.udp != nil {
		f.udp.Close()
	}
	if f.ln != nil {
		f.ln.Close()
	}
}

func (f *fakeRegistrar) serveUDP() {
	buf := make([]byte, 65536)
	for {
		n, _, err := f.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p, err := sipmsg.Parse(buf[:n])
		if err != nil {
			continue
		}
		out := f.handle(p)
		if out == nil {
			continue
		}
		v := sipwire.TopVia(p)
		dst, err := netip.ParseAddrPort(v.Host + ":" + v.Port)
		if err != nil {
			dst, _ = netip.ParseAddrPort("[" + strings.Trim(v.Host, "[]") + "]:" + v.Port)
		}
		f.udp.WriteToUDPAddrPort(out, dst)
	}
}

func (f *fakeRegistrar) serveTCP() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var fr sipwire.Framer
			buf := make([]byte, 65536)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				fr.Write(buf[:n])
				for {
					raw, ok, _ := fr.Next()
					if !ok {
						break
					}
					p, err := sipmsg.Parse(raw)
					if err != nil {
						continue
					}
					if out := f.handle(p); out != nil {
						c.Write(out)
					}
				}
			}
		}()
	}
}

func (f *fakeRegistrar) handle(p *sipmsg.Message) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, p)
	d, err := sipmsg.ParseDigest(sipwire.HeaderValue(p, "Authorization"))
	if err != nil {
		f.t.Errorf("fake: Authorization: %v", err)
		return nil
	}
	nonce, _ := d.Params.Get("nonce")
	if auts, ok := d.Params.Get("auts"); ok {
		b, _ := base64.StdEncoding.DecodeString(auts)
		var a [aka.AUTSLen]byte
		copy(a[:], b)
		sqnMS, err := f.m.VerifyAUTS(f.rand[nonce], a)
		if err != nil {
			f.t.Errorf("fake: AUTS: %v", err)
			return nil
		}
		f.resyncOK++
		f.sqn = aka.SQNToUint64(sqnMS) + 1
		return f.challenge(p)
	}
	if nonce == "" {
		return f.challenge(p)
	}
	resp, _ := d.Params.Get("response")
	qop, _ := d.Params.Get("qop")
	nc, _ := d.Params.Get("nc")
	cn, _ := d.Params.Get("cnonce")
	uri, _ := d.Params.Get("uri")
	user, _ := d.Params.Get("username")
	realm, _ := d.Params.Get("realm")
	want, _ := aka.DigestResponse(aka.Params{Username: user, Realm: realm, Password: f.xres[nonce], Method: "REGISTER", URI: uri, Nonce: nonce, CNonce: cn, NC: nc, QOP: qop})
	if want != resp {
		return f.reply(p, "403 Forbidden", "")
	}
	f.authOK++
	return f.reply(p, "200 OK", "Contact: "+sipwire.HeaderValue(p, "Contact")+"\r\n")
}

func (f *fakeRegistrar) challenge(p *sipmsg.Message) []byte {
	var r [16]byte
	rand.Read(r[:])
	sqn := f.sqn
	if f.stale {
		sqn, f.stale = 1, false
	} else {
		f.sqn++
	}
	amf := [2]byte{0xb9, 0xb9}
	v := f.m.GenerateVector(r, aka.SQNFromUint64(sqn), amf)
	if f.badMAC {
		v.AUTN[15] ^= 0xff
	}
	n := aka.Nonce{RAND: v.RAND, AUTN: v.AUTN}.Encode()
	f.xres[n] = v.XRES[:]
	f.rand[n] = v.RAND
	q := ""
	if f.qop != "" {
		q = `, qop="` + f.qop + `"`
	}
	return f.reply(p, "401 Unauthorized", `WWW-Authenticate: Digest realm="registrar.home1.net", nonce="`+n+`", algorithm=AKAv1-MD5`+q+"\r\n"+
		"Security-Server: ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531\r\n")
}

func (f *fakeRegistrar) reply(p *sipmsg.Message, status, extra string) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, h := range p.Lines("Via") {
		b.WriteString("Via: " + h.Value + "\r\n")
	}
	for _, n := range []string{"From", "To", "Call-ID", "CSeq"} {
		v := sipwire.HeaderValue(p, n)
		if n == "To" {
			v += ";tag=fake"
		}
		b.WriteString(n + ": " + v + "\r\n")
	}
	b.WriteString(extra)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

func (f *fakeRegistrar) resyncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resyncOK
}
