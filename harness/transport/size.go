package transport

// UnknownMTULimit is the largest request that goes over UDP when the path
// MTU is unknown (RFC 3261 18.1.1).
const UnknownMTULimit = 1300

// SizeLimit is the largest request RFC 3261 18.1.1 lets go over UDP on a
// path whose MTU is mtu bytes (0: unknown): a request within 200 bytes of the
// MTU, or larger than 1300 bytes when the MTU is unknown, goes over TCP.
func SizeLimit(mtu int) int {
	if mtu <= 0 {
		return UnknownMTULimit
	}
	return max(mtu-200, 0)
}
