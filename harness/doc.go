// Package harness is the engine of imsconform: it plays the VCC UE and the mock
// VCC Application of TS 24.206 annex A.3.2.2 against an IMS core, captures every
// message, and checks the captured messages against the scenario's rules.
//
// Each role or idea has its own package below this one: aka (Milenage and the
// digest schemes), lab (the lab profile), trace (captured messages and pcap),
// sipmsg (the one SIP grammar and message model), transport (the one SIP
// transport of the roles: UDP and TCP, transactions, timers, routing), esp
// (IPsec ESP in user space: the SAs of TS 33.203 under the protected ports),
// secagree (the ipsec-3gpp mechanisms of Security-Client, -Server and
// -Verify, and their choice), deviation (breaking a field on purpose), scenario (loading the tables
// as rules), check (rules x captured messages -> verdicts), ue (the UE
// emulator), vccapp (the mock VCC Application), refcore (the embedded reference
// IMS core) and flow (one run of the registration flow). Commands live under
// harness/cmd.
package harness
