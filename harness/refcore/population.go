package refcore

import (
	"net/netip"
	"strings"

	"imsconform/harness/aka"
	"imsconform/harness/subscribers"
)

// The in-memory HSS serves the lab's subscriber and, for a load run, the
// lab's population (Config.Population, else subscribers.count of the lab):
// the methods below answer for both, the population's members through its
// authentication centre (one SQN per subscriber).

// member returns the population index of impi, or of impu when impi is "".
func (c *Core) member(impi, impu string) (int, bool) {
	if c.pop == nil {
		return 0, false
	}
	if impi != "" {
		return c.pop.ByIMPI(impi)
	}
	return c.pop.ByIMPU(impu)
}

// knows answers the user-registration-status query: is impu a public
// identity of impi (impi "" for any subscriber)?
func (c *Core) knows(impi, impu string) bool {
	if c.hss.knows(impi, impu) {
		return true
	}
	i, ok := c.member(impi, impu)
	if !ok {
		return false
	}
	for _, u := range c.pop.IMPUs(i) {
		if strings.EqualFold(u, impu) {
			return true
		}
	}
	return false
}

// defaultIMPI is the private identity a REGISTER without credentials
// registers: the population member's whose IMPU it names, else the lab
// subscriber's.
func (c *Core) defaultIMPI(impu string) string {
	if i, ok := c.member("", impu); ok {
		return c.pop.IMPI(i)
	}
	return c.hss.impi
}

// impusOf are the public identities of impi's user profile.
func (c *Core) impusOf(impi string) []string {
	if i, ok := c.member(impi, ""); ok {
		return c.pop.IMPUs(i)
	}
	return c.hss.impus
}

// vector builds impi's next authentication vector; stale gives it SQN 0,
// which no USIM accepts as fresh; badMAC corrupts MAC-A in AUTN.
func (c *Core) vector(impi string, stale, badMAC bool) aka.Vector {
	i, ok := c.member(impi, "")
	if !ok {
		return c.hss.vector(stale, badMAC)
	}
	var v aka.Vector
	if stale {
		r, _ := c.auc.Vector(i) // a RAND of the population's kind, its SQN replaced
		v = c.pop.Milenage(i).GenerateVector(r.RAND, aka.SQNFromUint64(0), c.pop.AMF())
	} else {
		var err error
		if v, err = c.auc.Vector(i); err != nil {
			c.log.Warn("in-memory HSS: no vector", "error", err)
		}
	}
	if badMAC {
		for j := 8; j < 16; j++ {
			v.AUTN[j] ^= 0xa5
		}
	}
	return v
}

// resync re-synchronises impi's SQN from an AUTS (TS 33.102 6.3.5).
func (c *Core) resync(impi string, r [aka.RANDLen]byte, auts [aka.AUTSLen]byte) error {
	if i, ok := c.member(impi, ""); ok {
		return c.auc.Resync(i, r, auts)
	}
	return c.hss.resync(r, auts)
}

// population is the set the core serves besides the lab's subscriber:
// cfg.Population, else the lab's (subscribers.count), else none.
func population(cfg Config) (*subscribers.Set, error) {
	if cfg.Population != nil {
		return cfg.Population, nil
	}
	return cfg.Lab.Population(0)
}

// vccFor is where the REGISTER of step 11 of impu's registration goes: its
// slice's VCC Application (Config.ShardVCCApps), else Config.VCCApp.
func (c *Core) vccFor(impu string) netip.AddrPort {
	n := len(c.cfg.ShardVCCApps)
	if n == 0 {
		return c.cfg.VCCApp
	}
	i, ok := c.member("", impu)
	if !ok {
		return c.cfg.VCCApp
	}
	for k := range n {
		if lo, hi := (subscribers.Shard{Index: k, Of: n}).Slice(c.pop.Len()); i >= lo && i < hi {
			return c.cfg.ShardVCCApps[k]
		}
	}
	return c.cfg.VCCApp
}
