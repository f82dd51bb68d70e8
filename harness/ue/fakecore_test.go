package ue

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"imsconform/harness/aka"
	"imsconform/harness/lab"
	"imsconform/harness/sipmsg"
	"imsconform/harness/transport"
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
	tl := transport.New(transport.Options{})
	t.Cleanup(func() { tl.Close() })
	e, err := tl.Listen(context.Background(), netip.AddrPortFrom(netip.MustParseAddr(host), 0), func(in *transport.Incoming) {
		if in.Parsed == nil || in.Tx == nil {
			return
		}
		if out := f.handle(in.Parsed); out != nil {
			in.Tx.Respond(out) // RFC 3261 18.2.2: to the Via sent-by (UDP), on the connection (TCP)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f.addr = e.Addr()
	return f
}

func (f *fakeRegistrar) handle(p *sipmsg.Message) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, p)
	d, err := sipmsg.ParseDigest(p.Get("Authorization"))
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
	return f.reply(p, "200 OK", "Contact: "+p.Get("Contact")+"\r\n")
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
		v := p.Get(n)
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
