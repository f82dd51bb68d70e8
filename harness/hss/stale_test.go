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

// TestStaleFirstReplayRAND: with FixedRAND the stale vector and the one
// after the re-synchronisation carry the same RAND; the second still
// authenticates (its SQN is fresh).
func TestStaleFirstReplayRAND(t *testing.T) {
	p := testProfile()
	rand := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	next, err := VectorsFromProfile(p.Subscriber, FixedRAND(rand))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := StaleFirstRAND(p.Subscriber, next, FixedRAND(rand))
	if err != nil {
		t.Fatal(err)
	}
	usim := aka.NewUSIM(testMilenage(t), aka.SQNFromUint64(0), 0)
	impi := p.Subscriber.IMPI
	v1, err := vs.Vector(impi)
	if err != nil {
		t.Fatal(err)
	}
	_, err = usim.Authenticate([aka.RANDLen]byte(v1.RAND), [aka.AUTNLen]byte(v1.AUTN))
	var sf *aka.SyncFailureError
	if !errors.As(err, &sf) {
		t.Fatalf("expected a synchronisation failure on the stale vector, got %v", err)
	}
	if err := vs.Resync(impi, v1.RAND, sf.AUTS[:]); err != nil {
		t.Fatal(err)
	}
	v2, err := vs.Vector(impi)
	if err != nil {
		t.Fatal(err)
	}
	if string(v1.RAND) != string(v2.RAND) || string(v2.RAND) != string(rand[:]) {
		t.Fatalf("expected the same RAND twice, got %x and %x", v1.RAND, v2.RAND)
	}
	if _, err := usim.Authenticate([aka.RANDLen]byte(v2.RAND), [aka.AUTNLen]byte(v2.AUTN)); err != nil {
		t.Fatalf("expected the replayed RAND with a fresh SQN to authenticate, got %v", err)
	}
}
