package lab

import (
	"encoding/hex"
	"fmt"

	"imsconform/harness/aka"
	"imsconform/harness/subscribers"
)

// Subscribers is the population of a load run (harness/subscribers): Count
// subscribers numbered First, First+1, …, whose identities are the patterns
// with their number in place of the %d verb, and whose keys are the
// subscriber section's K and OP (or OPc), shared, or keys derived from them
// per subscriber (subscribers.DeriveK, subscribers.DeriveOPc). AMF and the
// HSS's starting SQN are the subscriber section's. The embedded reference
// core and the HSS emulator provision the same population; against a lab's
// own HSS, provision it from the export (imsload subscribers -csv).
type Subscribers struct {
	Count int      `yaml:"count"` // N; 0: no population (a load run then needs --ues)
	First int      `yaml:"first"` // number of the first subscriber
	IMPI  string   `yaml:"impi"`  // pattern, e.g. user%06d_private@home1.net
	IMPUs []string `yaml:"impus"` // patterns; the first is the one registered
	Keys  string   `yaml:"keys"`  // "shared" or "derived"
	// AvoidZeroRES has the HSSs the harness plays (the embedded core's and
	// the emulator) draw another RAND when RES would hold a zero byte,
	// which SIPp 3.6.1 cuts short: for benchmarks beside SIPp only.
	AvoidZeroRES bool `yaml:"avoid_zero_res"`
}

func defaultSubscribers() Subscribers {
	return Subscribers{
		First: 1,
		IMPI:  "user%06d_private@home1.net",
		IMPUs: []string{"sip:user%06d_public1@home1.net", "tel:+1212%07d"},
		Keys:  subscribers.KeysShared,
	}
}

func init() {
	fieldChecks["subscribers.count"] = func(p *Profile) string {
		if p.Subscribers.Count < 0 {
			return fmt.Sprintf("expected a number of subscribers of 0 or more, saw %d", p.Subscribers.Count)
		}
		return ""
	}
	fieldChecks["subscribers.first"] = func(p *Profile) string {
		if p.Subscribers.First < 0 {
			return fmt.Sprintf("expected the first subscriber's number, 0 or more, saw %d", p.Subscribers.First)
		}
		return ""
	}
	fieldChecks["subscribers.impi"] = func(p *Profile) string {
		if _, err := subscribers.ParsePattern(p.Subscribers.IMPI); err != nil {
			return "expected a private user identity pattern: " + err.Error()
		}
		return ""
	}
	fieldChecks["subscribers.impus"] = func(p *Profile) string {
		if len(p.Subscribers.IMPUs) == 0 {
			return "expected at least one public user identity pattern (e.g. sip:user%06d_public1@home1.net), saw none"
		}
		return ""
	}
	listChecks["subscribers.impus"] = func(s string) string {
		pat, err := subscribers.ParsePattern(s)
		if err != nil {
			return "expected a public user identity pattern: " + err.Error()
		}
		if problem := checkURI(pat.Format(1), true); problem != "" {
			return fmt.Sprintf("expected a pattern that makes sip:, sips: or tel: URIs, saw %s, which makes %s: %s", quote(s), quote(pat.Format(1)), problem)
		}
		return ""
	}
	fieldChecks["subscribers.keys"] = func(p *Profile) string {
		switch p.Subscribers.Keys {
		case subscribers.KeysShared, subscribers.KeysDerived:
			return ""
		}
		return fmt.Sprintf("expected %q (every subscriber has subscriber.k and op/opc) or %q (each its own, derived from them), saw %s",
			subscribers.KeysShared, subscribers.KeysDerived, quote(p.Subscribers.Keys))
	}
}

// Population returns the lab's population with count subscribers (count ≤
// 0: subscribers.count); nil when that is 0. The profile must be valid
// (Validate), so that only a count can be wrong.
func (p *Profile) Population(count int) (*subscribers.Set, error) {
	if count <= 0 {
		count = p.Subscribers.Count
	}
	if count <= 0 {
		return nil, nil
	}
	s := p.Subscriber
	c := subscribers.Config{Count: count, First: p.Subscribers.First, IMPI: p.Subscribers.IMPI, IMPUs: p.Subscribers.IMPUs,
		Keys: p.Subscribers.Keys, AvoidZeroRES: p.Subscribers.AvoidZeroRES}
	var err error
	if c.K, err = hex.DecodeString(s.K.Reveal()); err != nil {
		return nil, p.fieldError("subscriber.k", "expected hex")
	}
	switch {
	case !s.OPc.IsZero():
		if c.OPc, err = hex.DecodeString(s.OPc.Reveal()); err != nil {
			return nil, p.fieldError("subscriber.opc", "expected hex")
		}
	default:
		if c.OP, err = hex.DecodeString(s.OP.Reveal()); err != nil {
			return nil, p.fieldError("subscriber.op", "expected hex")
		}
	}
	amf := s.AMF
	if amf == "" {
		amf = "8000"
	}
	a, err := hex.DecodeString(amf)
	if err != nil || len(a) != aka.AMFLen {
		return nil, p.fieldError("subscriber.amf", "expected 4 hex digits")
	}
	c.AMF = [aka.AMFLen]byte(a)
	if s.SQN != "" {
		b, err := hex.DecodeString(s.SQN)
		if err != nil || len(b) != aka.SQNLen {
			return nil, p.fieldError("subscriber.sqn", "expected 12 hex digits")
		}
		c.SQN = aka.SQNToUint64([aka.SQNLen]byte(b))
	}
	set, err := subscribers.New(c)
	if err != nil {
		return nil, p.fieldError("subscribers.count", err.Error())
	}
	return set, nil
}
