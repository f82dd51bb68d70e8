// Package diameter is a small Diameter base protocol (RFC 6733) for the
// harness: the message and AVP codec (header, AVP header with optional
// Vendor-ID, padding, grouped AVPs, the derived data types), a dictionary of
// the base and 3GPP Cx (TS 29.229) AVPs the harness needs, stream framing, a
// TCP server that does the peer's side of capabilities exchange (CER/CEA),
// device watchdog (DWR/DWA) and disconnect (DPR/DPA) and hands application
// requests to a Handler, a client of one peer connection, and a Link that
// keeps a client connection up, trying again every Tc (RFC 6733 2.1).
//
// Both sides run the RFC 3539 3.4.1 watchdog (DWR after Tw without a
// message, the connection closed after 3·Tw without one; Tw 30 s by
// default). A server's connection costs one goroutine and at most
// MaxMessageLen bytes of buffer (a message's buffer grows with the bytes
// that came, not with the length it declares), and ends when its peer sends
// no CER within Tw, leaves a message half-sent past MessageTimeout (10 s),
// does not read what it is sent (WriteTimeout, 10 s) or goes silent.
//
// Decoding is strict and never panics: a truncated or inconsistent message
// gives a *DecodeError that carries the Result-Code an answer should use
// (5014 DIAMETER_INVALID_AVP_LENGTH, 5015 DIAMETER_INVALID_MESSAGE_LENGTH,
// 3008 DIAMETER_INVALID_HDR_BITS, ...).
//
// It is test equipment, not a Diameter node: no SCTP, no TLS/DTLS, no
// routing, relaying or proxying, no election, no session state, no
// failover (a Link has one peer). It does not interpret AVP values beyond
// their data type; the application packages (harness/hss) do.
package diameter
