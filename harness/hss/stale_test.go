package hss

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"imsconform/harness/aka"
)

func TestStaleFirst(t *testing.T) {
	p := testProfile()
	next, err := VectorsFromProfile(p.Subscriber, nil)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := StaleFirst(p.Subscriber, next)
	if err != nil {
		t.Fatal(err)
	}
	m := testMilenage(t)
	usim := aka.NewUSIM(m, aka.SQNFromUint64(0), 0)
	impi := p.Subscriber.IMPI
	v, err := vs.Vector(impi)
	if err != nil {
		t.Fatal(err)
	}
	_, err = usim.Authenticate([aka.RANDLen]byte(v.RAND), [aka.AUTNLen]byte(v.AUTN))
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("first vector: expected a synchronisation failure at a fresh USIM, got %v", err)
	}
	if aka.SQNToUint64(sf.SQN) != 0 {
		t.Errorf("first vector: expected SQN 0, got %d", aka.SQNToUint64(sf.SQN))
	}
	if err := vs.Resync(impi, v.RAND, sf.AUTS[:]); err != nil {
		t.Fatalf("resync: %v", err)
	}
	v2, err := vs.Vector(impi)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := usim.Authenticate([aka.RANDLen]byte(v2.RAND), [aka.AUTNLen]byte(v2.AUTN)); err != nil {
		t.Errorf("vector after resync: expected fresh, got %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", vs, vs, vs); strings.Contains(strings.ToLower(s), p.Subscriber.K.Reveal()) {
		t.Error("fmt output shows K")
	}
	if _, err := StaleFirst(p.Subscriber, nil); err == nil {
		t.Error("expected an error without a following source")
	}
}
