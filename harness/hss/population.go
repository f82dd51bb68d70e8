package hss

import (
	"fmt"

	"imsconform/harness/aka"
	"imsconform/harness/subscribers"
)

// userState is what an SAR stores for one subscriber.
type userState struct {
	assigned   string // S-CSCF name stored by SAR; "" = none
	registered bool
}

// population is a load run's population the HSS holds besides its
// subscriber (Config.Population): the set, its authentication centre, and
// each member's assignment, kept from its first SAR on.
type population struct {
	set   *subscribers.Set
	auc   *subscribers.AuC
	users map[int]*userState // guarded by HSS.mu
}

func newPopulation(s *subscribers.Set) *population {
	return &population{set: s, auc: subscribers.NewAuC(s, nil), users: map[int]*userState{}}
}

// member returns the index of the member impi names, or impu when impi is
// "".
func (p *population) member(impi, impu string) (int, bool) {
	if p == nil {
		return 0, false
	}
	if impi != "" {
		return p.set.ByIMPI(impi)
	}
	return p.set.ByIMPU(impu)
}

// holds reports whether impu is a public identity of a member, and that
// member's IMPI is impi when the request names one.
func (p *population) holds(impi string, hasIMPI bool, impu string) bool {
	i, ok := p.member("", impu)
	if !ok {
		return false
	}
	return !hasIMPI || p.set.IMPI(i) == impi
}

// state returns the assignment of the user impi (or, when impi is "", the
// one impu names): a member's, else the subscriber's. The caller holds h.mu.
func (h *HSS) state(impi, impu string) *userState {
	i, ok := h.pop.member(impi, impu)
	if !ok {
		return &h.own
	}
	st := h.pop.users[i]
	if st == nil {
		st = &userState{}
		h.pop.users[i] = st
	}
	return st
}

// impiOf is the private identity of the user impu names.
func (h *HSS) impiOf(impu string) string {
	if i, ok := h.pop.member("", impu); ok {
		return h.pop.set.IMPI(i)
	}
	return h.cfg.Subscriber.IMPI
}

// impusOf are the public identities of impi's user profile.
func (h *HSS) impusOf(impi string) []string {
	if i, ok := h.pop.member(impi, ""); ok {
		return h.pop.set.IMPUs(i)
	}
	return h.cfg.Subscriber.IMPUs
}

// vectors is the VectorSource of the HSS: the population's AuC for its
// members, next for anyone else.
func (p *population) vectors(next VectorSource) VectorSource {
	return &populationVectors{p: p, next: next}
}

type populationVectors struct {
	p    *population
	next VectorSource
}

func (v *populationVectors) Vector(impi string) (Vector, error) {
	i, ok := v.p.set.ByIMPI(impi)
	if !ok {
		return v.next.Vector(impi)
	}
	av, err := v.p.auc.Vector(i)
	if err != nil {
		return Vector{}, fmt.Errorf("hss: %w", err)
	}
	return Vector{RAND: av.RAND[:], AUTN: av.AUTN[:], XRES: av.XRES[:], CK: av.CK[:], IK: av.IK[:]}, nil
}

func (v *populationVectors) Resync(impi string, rnd, auts []byte) error {
	i, ok := v.p.set.ByIMPI(impi)
	if !ok {
		return v.next.Resync(impi, rnd, auts)
	}
	if len(rnd) != aka.RANDLen || len(auts) != aka.AUTSLen {
		return fmt.Errorf("hss: resync: expected RAND of %d bytes and AUTS of %d, got %d and %d", aka.RANDLen, aka.AUTSLen, len(rnd), len(auts))
	}
	return v.p.auc.Resync(i, [aka.RANDLen]byte(rnd), [aka.AUTSLen]byte(auts))
}

// String never shows key material.
func (v *populationVectors) String() string {
	return fmt.Sprintf("hss.populationVectors{%v, then %v}", v.p.set, v.next)
}
