package lab

// Secret holds key material (K, OP, OPc) as a hex string. It never prints:
// String, GoString, every fmt verb, JSON and YAML all give "[redacted]".
// Reveal returns the value for the one place that needs it (AKA).
type Secret struct{ v string }

const redacted = "[redacted]"

// NewSecret wraps a hex string.
func NewSecret(hex string) Secret { return Secret{v: hex} }

// Reveal returns the secret value. Call it only to compute AKA.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no value was given.
func (s Secret) IsZero() bool { return s.v == "" }
