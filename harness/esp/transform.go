package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// transform is the ESP processing of one SA (RFC 4303 3.3 and 3.4): the
// cipher keyed with CK_ESP and the HMAC keyed with IK_ESP. It is safe for
// concurrent use.
type transform struct {
	integ Integrity // "" only in tests: no ICV (the RFC 3602 packet vectors have none)
	enc   Encryption
	block cipher.Block // nil for null
	macs  sync.Pool    // of keyed hash.Hash
}

func newTransform(k Keys) (*transform, error) {
	t := &transform{integ: k.Integrity, enc: k.Encryption}
	var err error
	switch k.Encryption {
	case AESCBC:
		t.block, err = aes.NewCipher(k.enc)
	case DESEDE3CBC:
		t.block, err = des.NewTripleDESCipher(k.enc)
	}
	if err != nil {
		return nil, fmt.Errorf("esp: %s key: %w", k.Encryption, err)
	}
	var h func() hash.Hash
	switch k.Integrity {
	case HMACMD596:
		h = md5.New
	case HMACSHA196:
		h = sha1.New
	}
	if h != nil {
		key := append([]byte(nil), k.auth...)
		t.macs.New = func() any { return hmac.New(h, key) }
	}
	return t, nil
}

func (t *transform) icvLen() int {
	if t.integ == "" {
		return 0
	}
	return icvLen
}

// sealedLen is the length of the ESP packet that carries a payload of n bytes.
func (t *transform) sealedLen(n int) int {
	return 8 + t.enc.ivLen() + padded(n+2, t.enc.blockSize()) + t.icvLen()
}

func padded(n, bs int) int { return (n + bs - 1) / bs * bs }

// seal appends to dst the ESP packet (RFC 4303 2) that carries payload, a
// transport segment whose protocol is nextHeader: SPI, sequence number, IV,
// the encrypted payload with its padding (1, 2, 3, … as RFC 4303 2.4
// prescribes), Pad Length and Next Header, then the ICV over all of it. A nil
// iv draws a fresh random one; tests pass the vectors' IVs.
func (t *transform) seal(dst []byte, spi, seq uint32, iv, payload []byte, nextHeader byte) []byte {
	start := len(dst)
	total := t.sealedLen(len(payload))
	dst = grow(dst, total)
	pkt := dst[start : start+total]
	binary.BigEndian.PutUint32(pkt[0:4], spi)
	binary.BigEndian.PutUint32(pkt[4:8], seq)
	ivl := t.enc.ivLen()
	ivb := pkt[8 : 8+ivl]
	if iv != nil {
		copy(ivb, iv)
	} else if ivl > 0 {
		_, _ = rand.Read(ivb) // crypto/rand.Read never fails (Go 1.24+)
	}
	body := pkt[8+ivl : total-t.icvLen()]
	n := copy(body, payload)
	pad := len(body) - n - 2
	for i := 0; i < pad; i++ {
		body[n+i] = byte(i + 1)
	}
	body[len(body)-2] = byte(pad)
	body[len(body)-1] = nextHeader
	if t.block != nil {
		cbcEncrypt(t.block, ivb, body)
	}
	if t.integ != "" {
		t.sum(pkt[total-icvLen:total], pkt[:total-icvLen])
	}
	return dst
}

// sum writes the 96-bit ICV of data into icv.
func (t *transform) sum(icv, data []byte) {
	m := t.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(data)
	var full [sha1.Size]byte
	copy(icv, m.Sum(full[:0]))
	t.macs.Put(m)
}

// Errors wrapped by the errors that report why an inbound ESP packet was
// refused. Match them with errors.Is.
var (
	// ErrMalformed: the packet is too short, its length does not fit the
	// cipher's block, or its trailer is inconsistent.
	ErrMalformed = errors.New("malformed ESP packet")
	// ErrICV: the ICV is not the one IK_ESP computes (RFC 4303 3.4.4).
	ErrICV = errors.New("ICV check failed")
	// ErrPadding: the padding is not 1, 2, 3, … (RFC 4303 2.4).
	ErrPadding = errors.New("padding is not 1, 2, 3, …")
	// ErrReplay: the sequence number was seen already, or is older than the
	// anti-replay window (RFC 4303 3.4.3).
	ErrReplay = errors.New("replayed sequence number")
	// ErrNoSA: no inbound SA has this SPI and destination (RFC 4303 3.4.2).
	ErrNoSA = errors.New("no SA for SPI")
	// ErrSelector: the decrypted packet's addresses, ports or protocol are not
	// the SA's (RFC 4301 5.2, TS 33.203 7.1).
	ErrSelector = errors.New("packet does not match the SA's selectors")
)

// espHeader reads the SPI and the sequence number of an ESP packet.
func espHeader(pkt []byte) (spi, seq uint32, err error) {
	if len(pkt) < 8 {
		return 0, 0, fmt.Errorf("%w: expected at least the 8 bytes of SPI and sequence number, got %d bytes", ErrMalformed, len(pkt))
	}
	return binary.BigEndian.Uint32(pkt[0:4]), binary.BigEndian.Uint32(pkt[4:8]), nil
}

// checkLen checks that pkt can be an ESP packet of this transform.
func (t *transform) checkLen(pkt []byte) error {
	bs, ivl := t.enc.blockSize(), t.enc.ivLen()
	body := len(pkt) - 8 - ivl - t.icvLen()
	if body < bs || body%bs != 0 {
		return fmt.Errorf("%w: %s with %s: expected 8 bytes of header, %d of IV, a multiple of %d bytes of payload and trailer and %d of ICV, got %d bytes in all",
			ErrMalformed, t.enc, t.integ, ivl, bs, t.icvLen(), len(pkt))
	}
	return nil
}

// verify checks the ICV of pkt (RFC 4303 3.4.4.1); pkt has passed checkLen.
func (t *transform) verify(pkt []byte) error {
	if t.integ == "" {
		return nil
	}
	var want [icvLen]byte
	data, got := pkt[:len(pkt)-icvLen], pkt[len(pkt)-icvLen:]
	t.sum(want[:], data)
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return fmt.Errorf("%w: %s: expected ICV %x, got %x", ErrICV, t.integ, want, got)
	}
	return nil
}

// decrypt decrypts the payload and trailer of pkt (which has passed
// checkLen and verify) into dst, which must hold as many bytes, and returns
// the payload, a slice of dst, and the Next Header. pkt is left as it was
// on the wire.
func (t *transform) decrypt(dst, pkt []byte) (payload []byte, nextHeader byte, err error) {
	ivl := t.enc.ivLen()
	body := pkt[8+ivl : len(pkt)-t.icvLen()]
	dst = dst[:len(body)]
	if t.block != nil {
		cbcDecrypt(t.block, pkt[8:8+ivl], dst, body)
	} else {
		copy(dst, body)
	}
	pad := int(dst[len(dst)-2])
	nextHeader = dst[len(dst)-1]
	if pad+2 > len(dst) {
		return nil, 0, fmt.Errorf("%w: Pad Length %d does not fit in %d bytes of payload and trailer", ErrMalformed, pad, len(dst))
	}
	n := len(dst) - 2 - pad
	for i := 0; i < pad; i++ {
		if dst[n+i] != byte(i+1) {
			return nil, 0, fmt.Errorf("%w: padding byte %d is %d, expected %d", ErrPadding, i+1, dst[n+i], i+1)
		}
	}
	return dst[:n], nextHeader, nil
}

// bodyLen is how many bytes decrypt writes for pkt.
func (t *transform) bodyLen(pkt []byte) int { return len(pkt) - 8 - t.enc.ivLen() - t.icvLen() }

// cbcEncrypt encrypts b in place in CBC mode (b is a multiple of the block size).
func cbcEncrypt(c cipher.Block, iv, b []byte) {
	bs := c.BlockSize()
	prev := iv
	for i := 0; i < len(b); i += bs {
		blk := b[i : i+bs]
		subtle.XORBytes(blk, blk, prev)
		c.Encrypt(blk, blk)
		prev = blk
	}
}

// cbcDecrypt decrypts src into dst in CBC mode (src is a multiple of the
// block size; dst and src do not overlap).
func cbcDecrypt(c cipher.Block, iv, dst, src []byte) {
	bs := c.BlockSize()
	prev := iv
	for i := 0; i < len(src); i += bs {
		c.Decrypt(dst[i:i+bs], src[i:i+bs])
		subtle.XORBytes(dst[i:i+bs], dst[i:i+bs], prev)
		prev = src[i : i+bs]
	}
}

// grow extends b by n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*len(b)+n)
	copy(nb, b)
	return nb
}
