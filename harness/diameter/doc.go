// Package diameter is a small Diameter base protocol (RFC 6733) for the
// harness: the message and AVP codec (header, AVP header with optional
// Vendor-ID, padding, grouped AVPs, the derived data types), a dictionary of
// the base and 3GPP Cx (TS 29.229) AVPs the harness needs, stream framing, and
// a TCP server that does the peer's side of capabilities exchange (CER/CEA),
// device watchdog (DWR/DWA) and disconnect (DPR/DPA) and hands application
// requests to a Handler.
//
// Decoding is strict and never panics: a truncated or inconsistent message
// gives a *DecodeError that carries the Result-Code an answer should use
// (5014 DIAMETER_INVALID_AVP_LENGTH, 5015 DIAMETER_INVALID_MESSAGE_LENGTH,
// 3008 DIAMETER_INVALID_HDR_BITS, ...).
//
// It is test equipment, not a Diameter node: no SCTP, no TLS/DTLS, no
// routing, relaying or proxying, no client-side peer state machine, no
// session state, no failover. It does not interpret AVP values beyond their
// data type; the application packages (harness/hss) do.
package diameter
