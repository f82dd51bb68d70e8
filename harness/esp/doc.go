// Package esp is IPsec ESP (RFC 4303) in transport mode, in user space, for
// the security agreement of TS 33.203 between the UE and the P-CSCF: the SAs
// of a registration, their sealing and opening of every packet, and a
// user-space TCP/IP stack whose protected ports run over them, UDP and TCP
// alike. The machines this harness runs on have the kernel's XFRM core but
// no ESP protocol (see the lab notes), so the kernel cannot do it.
//
// It is not the security agreement itself: it does not parse or build
// Security-Client, Security-Server or Security-Verify (RFC 3329), choose an
// algorithm, or decide when SAs are made or removed; the UE and the
// reference P-CSCF do that, and hand this package the outcome (Agreement).
// It does not do IKE, tunnel mode, AH, extended sequence numbers or
// algorithms other than those of TS 33.203 7.2. It never touches the
// kernel's XFRM state, routes, rules or addresses, so it can neither leave
// anything behind in the kernel nor disturb what another program made.
//
// # The packet's way
//
// The files follow the packet, as wireguard-go's device/ does:
//
//	alg.go        the algorithms of TS 33.203 7.2 and their sizes
//	keys.go       IK/CK → IK_ESP/CK_ESP (TS 33.203 annex I)
//	sa.go         SAs, the four of an agreement (Bundle), the tables
//	pool.go       SPIs and protected ports that never collide (Lease)
//	stack.go      the user-space stack and its protected sockets
//	outbound.go   gVisor's packet → SA by selectors → seal → raw socket
//	inbound.go    raw socket → SA by SPI and destination → replay check
//	              → ICV → decrypt → selectors → gVisor
//	transform.go  sealing and opening: padding, Next Header, CBC, ICV
//	replay.go     the anti-replay window (RFC 4303 3.4.3)
//	wire.go       the raw ESP socket
//	buffers.go    pooled packet buffers
//	espsa.go      Wireshark's esp_sa file
//
// # The datapath, and why this one
//
// A Stack owns a raw IP socket for protocol 50 bound to its address, through
// which the kernel hands it every ESP packet to that address and sends the
// ones it seals, and a gVisor TCP/IP stack (gvisor.dev/gvisor/pkg/tcpip, as
// wireguard-go's netstack mode uses it) for the protected ports. What gVisor
// sends leaves through the stack's NIC, is sealed with the outbound SA its
// source and destination address and port select (TS 33.203 7.1) and goes
// out on the raw socket; what the raw socket receives is opened with the
// inbound SA of its SPI and destination, checked and injected into gVisor.
// Stack.ListenPacket, Listen and Dial give the protected ports as
// net.PacketConn, net.Listener and net.Conn, so the SIP transport runs on
// them as on the kernel's sockets; they behave as those do where the
// transport tells cases apart: a closed socket's blocked call returns an
// error wrapping net.ErrClosed, a listener's port takes a Dial from the
// same port (SO_REUSEPORT), a refused connection wraps ECONNREFUSED and a
// port in use EADDRINUSE.
//
// The other ways were weighed:
//
//   - Raw ESP sockets with the harness framing UDP itself: UDP only. TCP over
//     the SAs (TS 24.229 requires it for large messages) would need a TCP of
//     our own; a toy TCP is not what a P-CSCF under test deserves.
//   - A TUN device with policy routing by port, so that the kernel's own
//     sockets run over it: the default run is the embedded reference core on
//     loopback with UE and P-CSCF in one process, and the kernel routes a
//     packet to a local address through the local table (rule priority 0)
//     before any policy rule, so the packets never reach the TUN device;
//     moving that rule rewrites the host's routing for every program, and
//     127/8 sources are martians on a non-loopback device. It also needs
//     CAP_NET_ADMIN and leaves devices and rules to clean up.
//
// The user-space stack needs only CAP_NET_RAW, changes nothing on the host,
// works on loopback as towards a remote P-CSCF, gives a real TCP, and lets
// the harness see every ESP packet it sends and receives, with its SPI,
// sequence number and whether its ICV verified (Config.OnPacket), for the
// trace. What it costs: gVisor is a large dependency (it builds in about
// 25 s here), and the protected ports are not kernel sockets (ss does not
// list them; a packet sent in clear to one never reaches it: the kernel,
// which has no socket there, answers with ICMP port unreachable or a RST,
// a louder refusal than the silent drop of a kernel IPsec policy).
//
// Raw sockets see every ESP packet to their address: two stacks of one
// process on one address (the UE and the reference P-CSCF on ::1) each see
// the other's packets, and their own on the way out over loopback. Every
// inbound SA of the process is in one index by SPI and destination, SPIs are
// unique in the process, and a stack leaves alone a packet whose SPI is
// another stack's or one it sends with itself. An SPI no stack holds any more
// (its peer may send a segment or two after the SAs went), or one a
// FaultWrongSPI packet carries, is remembered as a stray of the stack it is
// meant for: that stack alone reports such a packet, the others on the
// address leave it alone.
//
// # The pool
//
// Allocate and Claim lease protected ports and SPIs from one pool per
// process (pool.go): thousands of UEs and their P-CSCF in one process never
// share one. A drawn port is skipped when a kernel socket holds it, and when
// Wireshark dissects it as another protocol than SIP by port number
// (trace.WiresharkOther), so that a capture shows the SIP inside the SAs as
// SIP.
//
// # Keys and algorithms
//
// Integrity hmac-md5-96 (RFC 2403) and hmac-sha-1-96 (RFC 2404); encryption
// null (RFC 2410), aes-cbc (RFC 3602) and des-ede3-cbc (RFC 2451), with a
// random IV per packet. The keys come from the AKA run's IK and CK (see
// ExpandKeys for the expansion of TS 33.203 annex I per algorithm). The
// padding is RFC 4303 2.4's default (1, 2, 3, …), checked on receipt. The
// anti-replay window is 64 packets (RFC 4303 3.4.3); a sender never wraps
// its sequence number. Keys are written nowhere but the esp_sa file for
// Wireshark (WriteESPSA); K, OP and OPc never reach this package.
//
// Known-answer tests: RFC 2403 and RFC 2404 (the RFC 2202 HMAC cases,
// truncated to 96 bits), RFC 3602 cases 1–4 (AES-CBC) and 5–8 (whole ESP
// packets, sealed byte for byte), and NIST's TDES-CBC example
// (csrc.nist.gov, TDES_CBC.pdf) for the three-key and the two-key bundle,
// the latter also through the expansion of annex I; RFC 2451 has none.
package esp
