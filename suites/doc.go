// Package suites holds the Ginkgo conformance suites: thin wrappers that run
// the flow once and turn every rule of the scenario into one spec. The engine
// lives in harness/; see harness/run for the run context.
package suites
