// Package kamailio brings up a real IMS core for the registration flow of TS
// 24.206 annex A.3.2.2: Kamailio 5.6 as P-CSCF, I-CSCF and S-CSCF, each on its
// own address (loopback by default; IPv4 or IPv6, e.g. in a network
// namespace, when given), each listening on UDP and TCP. Its HSS is the
// harness's HSS emulator, played by each run through the lab profile's hss
// section, as for any lab: the CSCFs' cdp connects to it when a run starts
// it. Start writes the three Kamailio configurations (embedded templates),
// the cdp peer files and the I-CSCF's db_text tables into a directory,
// starts each CSCF in the foreground in its own process group, waits until
// each answers an OPTIONS, and returns a Lab whose Profile points the
// harness at the P-CSCF and has it play the HSS. Stop ends every process it
// started. netns-lab.sh runs it in one network namespace and the harness in
// another.
//
// The lab has no DNS and no IPsec: every hop is addressed by IP literal (the
// configurations map the one S-CSCF's name to its address), node names appear
// only where Kamailio writes them into messages (Path, Service-Route), and the
// P-CSCF sets up no security associations (ims_ipsec_pcscf is loaded only
// because ims_registrar_pcscf requires it). There is no Rx, no charging, and
// no database server (usrloc keeps its state in memory).
//
// It is not a general Kamailio launcher nor a conformant core by itself: the
// point is to observe what Kamailio does, deviations included. The subscriber
// keys go only to the run's HSS, in memory, through Overrides; they are
// never written to a file, a log or an error.
package kamailio
