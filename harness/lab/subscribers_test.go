package lab

import (
	"strings"
	"testing"
)

func TestSubscribersSectionErrorsNameFileAndLine(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"no verb", "subscribers:\n  impi: user_private@home1.net\n", "lab.yaml:2: subscribers.impi: expected a private user identity pattern: expected one %d verb"},
		{"two verbs", "subscribers:\n  impus: [\"sip:u%d@h%d.net\"]\n", "lab.yaml:2: subscribers.impus[0]: expected a public user identity pattern: expected one %d verb, saw a second"},
		{"not a URI", "subscribers:\n  impus: [\"user%06d@home1.net\"]\n", `lab.yaml:2: subscribers.impus[0]: expected a pattern that makes sip:, sips: or tel: URIs, saw "user%06d@home1.net"`},
		{"none", "subscribers:\n  impus: []\n", "lab.yaml:2: subscribers.impus: expected at least one public user identity pattern"},
		{"keys", "subscribers:\n  keys: random\n", `lab.yaml:2: subscribers.keys: expected "shared" (every subscriber has subscriber.k and op/opc) or "derived"`},
		{"count", "subscribers:\n  count: -3\n", "lab.yaml:2: subscribers.count: expected a number of subscribers of 0 or more, saw -3"},
		{"first", "subscribers:\n  first: -1\n", "lab.yaml:2: subscribers.first: expected the first subscriber's number, 0 or more"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("lab.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error\n got %v\nwant it to contain %s", err, c.want)
			}
		})
	}
}

func TestPopulationFromTheLab(t *testing.T) {
	p, err := Parse("lab.yaml", []byte("subscribers:\n  count: 50\n  first: 7\n  keys: derived\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Population(0)
	if err != nil || s == nil {
		t.Fatalf("Population = %v, %v", s, err)
	}
	if s.Len() != 50 || s.IMPI(0) != "user000007_private@home1.net" || !s.Derived() || s.SQN() != 0x20 || s.AMF() != [2]byte{0xb9, 0xb9} {
		t.Errorf("population %v: first IMPI %s, SQN %x, AMF %x", s, s.IMPI(0), s.SQN(), s.AMF())
	}
	if s, _ := p.Population(1000); s.Len() != 1000 {
		t.Errorf("Population(1000): %d subscribers", s.Len())
	}
	if s, err := Default().Population(0); s != nil || err != nil {
		t.Errorf("the default lab: expected no population (count 0), got %v, %v", s, err)
	}
}
