package lab

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Secret holds key material (K, OP, OPc) as a hex string. It never prints:
// String, GoString, every fmt verb, JSON, YAML and text marshalling all give
// "[redacted]". Reveal returns the value for the one place that needs it (AKA).
//
// A Secret marshalled to YAML or JSON does not load back: the output holds
// "[redacted]", not the key.
type Secret struct{ v string }

const redacted = "[redacted]"

// NewSecret wraps a hex string.
func NewSecret(hex string) Secret { return Secret{v: hex} }

// Reveal returns the secret value. Call it only to compute AKA.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no value was given.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter: every verb and flag prints "[redacted]".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return redacted, nil }

// UnmarshalYAML reads the hex string from a YAML scalar. It does not check the
// hex (Validate does, with the field name); its errors never hold the value.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a hex string, saw a %s", n.Line, kindName(n))
	}
	if n.Tag == "!!null" {
		s.v = ""
		return nil
	}
	s.v = n.Value
	return nil
}

// kindName names a YAML node's kind for error messages, never its value.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean"
		case "!!int":
			return "integer"
		case "!!float":
			return "number"
		case "!!timestamp":
			return "timestamp"
		case "!!binary":
			return "binary value"
		}
		return "string"
	}
	return "node"
}
