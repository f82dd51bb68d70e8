// Package aka computes what the harness needs for IMS AKA authentication on
// both sides of the registration flow of TS 24.206 annex A.3.2.2: the Milenage
// algorithm set of 3GPP TS 35.206 (f1, f1*, f2, f3, f4, f5, f5* and OPc from
// OP), authentication vectors and AUTN as the network builds them (TS 33.102
// 6.3.2), AUTN verification, SQN freshness and AUTS re-synchronisation as the
// USIM does them (TS 33.102 6.3.3 and annex C), the AKAv1-MD5 (RFC 3310) and
// AKAv2-MD5 (RFC 4169) nonce and password rules, and the MD5 HTTP digest
// response (RFC 2617, RFC 7616).
//
// It is not a SIP stack and does not parse or build WWW-Authenticate or
// Authorization headers; it does not choose RAND, store SQNs across runs or
// talk to an HSS; it implements only the simplified SQN scheme of TS 33.102
// annex C (one highest accepted SQN and a window, no SEQ/IND array); and it is
// not hardened against side channels: it is test equipment, not a USIM.
//
// Key material (K, OP, OPc, CK, IK, RES, XRES) never appears in an error or in
// the fmt output of a type of this package.
package aka
