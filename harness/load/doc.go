// Package load runs the registration flow of TS 24.206 annex A.3.2.2 for
// thousands of UEs at a set rate, and judges every field of every message
// of every registration by the same scenario rules and engine as the
// conformance run (harness/check), aggregated per rule: N pass, M fail,
// with the first failing UEs and their expected and observed values.
//
// Its parts:
//
//   - the population: N subscribers from the lab's patterns
//     (harness/subscribers), the run's slice of them (a shard), UEs that
//     share a few ports (ue.Ports) and cost no socket and no goroutine
//     while idle;
//   - the open-loop schedule (schedule.go): the i-th UE starts its
//     registration at start + i/rate whatever the others' answers, so that
//     a slow SUT cannot hide its latency (no coordinated omission); how
//     late each start was against its schedule is measured;
//   - each UE's registration: the initial registration (steps 2 to 14,
//     judged field by field), optionally re-registrations at an interval
//     and a de-registration at the end (measured, not judged: the tables
//     of A.3.2.2 describe the initial registration); under sut.ipsec over
//     SAs of the UE's own, on protected ports and SPIs it leases from one
//     shared user-space ESP stack, the ESP rules judged on its packets
//     (ipsec.go);
//   - the judge (judge.go): the one seam to the check engine;
//   - the measurements a capacity engineer reads (metrics.go): attempts
//     and completions per second, RFC 6076 Registration Request Delay
//     (RRD) in an HdrHistogram, Ineffective Registration Attempts (IRA) by
//     cause, retransmissions per message, the generator's CPU (getrusage),
//     the check engine's share of it and RSS, and warnings when the
//     generator rather than the SUT is the bottleneck;
//   - the report (report.go): what load.json holds, and Merge, which
//     combines the shards' reports exactly.
//
// A load run keeps no trace of every message: it keeps aggregates, the
// first failing UEs of each rule, and a bounded sample of whole
// registrations. It writes no files (reports/loadreport does) and knows
// nothing of flags (harness/cmd/imsload).
package load
