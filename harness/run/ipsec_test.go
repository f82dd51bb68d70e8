package run

import (
	"strings"
	"testing"

	"imsconform/harness/deviation"
)

// An ESP deviation without SAs to break is refused when the run is
// prepared, saying what to set; with sut.ipsec it is taken.
func TestESPDeviationNeedsIPsec(t *testing.T) {
	d, err := deviation.Parse("10/bad-icv")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Prepare(Options{Deviations: []deviation.Deviation{d}})
	if err == nil || !strings.Contains(err.Error(), "sut.ipsec=true") {
		t.Fatalf("Prepare without sut.ipsec = %v, want a refusal naming sut.ipsec", err)
	}
	if _, err := Prepare(Options{Deviations: []deviation.Deviation{d}, Overrides: map[string]string{"sut.ipsec": "true"}}); err != nil {
		t.Fatalf("Prepare with sut.ipsec: %v", err)
	}
}
