// Package transport is the one SIP transport of the harness's roles — the UE
// emulator, the mock VCC Application and the hops of the embedded reference
// core. It binds UDP and TCP together on one address and port (an Endpoint,
// as a registrar listens), frames TCP streams, runs the RFC 3261 17.1.2
// non-INVITE client transaction (Timers E, F and K) and the 17.2.2 server
// transaction that answers a retransmitted request from its cache (Timer J),
// routes responses as RFC 3261 18.2.2 and RFC 3581 say, moves a large request
// from UDP to TCP as RFC 3261 18.1.1 says, and records every message into a
// trace with its exact bytes: a message sent is recorded before it is written,
// one received as it came, with a note when it does not parse as SIP
// (harness/sipmsg decides that; sipgo's parser is consulted too, and its
// refusal only becomes a note).
//
// Transactions are matched by the top Via branch and the CSeq method (RFC 3261
// 17.1.3, 17.2.3), not by socket, so that the endpoints of a Layer (the UE's
// unprotected port, port-c and port-s) share one table and many UEs can share
// one endpoint. The timers run on one injectable Clock. Sockets come from a
// Stack: the kernel's by default, or a user-space TCP/IP stack under
// user-space ESP (the protected ports of TS 33.203), which implements the
// interface with standard library types only.
//
// Nothing listening is detected: a UDP request answered by ICMP port
// unreachable, or a TCP connection refused, ends its client transaction at
// once with an *UnreachableError. On the kernel's UDP sockets the harness
// reads the socket error queue (IP_RECVERR, IPV6_RECVERR) rather than
// connecting a socket per peer: one unconnected socket per port must receive
// from any peer, and the error queue names the destination that failed, so
// that only the transactions sent there end.
//
// A server role bounds what its peers can make it hold (Options): the
// message size, the time from a TCP message's first byte to its last
// (HeaderTimeout, 64·T1 by default), idle TCP connections (IdleTimeout),
// the TCP connections it accepts (MaxConnections) and its server
// transactions (MaxTransactions: a request beyond them is answered 503 with
// Retry-After, statelessly). Every table entry ends by a timer of RFC 3261
// (J, K, F; a request never answered is forgotten after 64·T1).
//
// It is not a SIP stack for applications: no INVITE transactions, no dialogs,
// no DNS (RFC 3263) resolution of targets, no TLS or WebSocket. Raw sends stay
// possible (RequestRaw, ServerTx.Respond with any bytes) so that a deviation
// can put malformed bytes on the wire. It has no address policy: it reaches
// whatever address its caller names (Options.Reach lets a caller such as the
// loopback-only reference core refuse destinations).
package transport
