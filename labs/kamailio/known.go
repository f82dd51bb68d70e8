package kamailio

import (
	_ "embed"
	"time"

	"imsconform/harness/check"
	"imsconform/harness/expect"
)

// ExpectationsFile is where the lab's expectations are, in the repository.
const ExpectationsFile = "labs/kamailio/expectations.yaml"

//go:embed expectations.yaml
var expectationsYAML []byte

// Expectations reads the lab's expectations file: the rules that do not pass
// against Kamailio as this lab runs it, each with the verdict it gets, its
// level and why. It is an expectations file as a user writes one for their
// SUT (harness/expect).
func Expectations() (*expect.File, error) {
	return expect.Parse(ExpectationsFile, expectationsYAML)
}

// SUTName is the sut.name of a run against this lab.
const SUTName = "kamailio"

// Compare applies the expectations strictly to one run's results: every rule
// no entry covers must pass, every entry must match and keep its level. It
// returns one line per difference; none means the run is as known.
func Compare(profile, transport, version string, results []check.Result) ([]string, error) {
	f, err := Expectations()
	if err != nil {
		return nil, err
	}
	o := expect.Apply(f, results, expect.Run{Profile: profile, SUT: SUTName, SUTVersion: version, Transport: transport, Today: time.Now()}, expect.Options{Strict: true})
	return o.Problems, nil
}
