// Package yamldoc decodes the project's hand-written YAML files (scenarios,
// expectations) strictly — unknown fields and wrong types are errors — and
// turns every decoding problem into "file:line: expected …, saw …". It also
// hands back the document's node tree, so that a loader can name the line of
// each list item it checks.
//
// It knows nothing of what the files mean; the loaders do.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSize bounds a file: a hand-written file larger than this is a mistake.
const MaxSize = 4 << 20

// Decode decodes data (named name in errors) into v with unknown fields
// refused, and returns the top-level mapping node. what names the kind of
// file in messages, e.g. "expectations".
func Decode(name, what string, data []byte, v any) (root *yaml.Node, err error) {
	defer func() {
		// The YAML parser is third-party code; no input may panic the harness.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("%s: expected %s YAML, saw input the YAML parser could not handle", name, what)
		}
	}()
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: expected a file of at most %d bytes, saw %d", name, MaxSize, len(data))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return nil, Error(name, what, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Error(name, what, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1: expected a mapping, saw an empty or non-mapping document", name)
	}
	return doc.Content[0], nil
}

var (
	reUnknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
	reLine         = regexp.MustCompile(`line (\d+): (.*)`)
)

// Error turns a yaml.v3 error into "name:line: expected …, saw …".
func Error(name, what string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s:1: expected a YAML document, saw an empty file", name)
	}
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: expected a known field, saw unknown field %q", name, m[1], m[2])
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: expected valid %s YAML, saw %s", name, m[1], what, m[2])
	}
	return fmt.Errorf("%s: expected valid %s YAML, saw %s", name, what, strings.TrimPrefix(msg, "yaml: "))
}

// Items returns the items of the sequence under key in mapping m (nil when
// there is none).
func Items(m *yaml.Node, key string) []*yaml.Node {
	if v := Value(m, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}

// Value returns the value node of key in mapping m, or nil.
func Value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Line returns the line of items[i], or of parent when there is no such item.
func Line(items []*yaml.Node, i int, parent *yaml.Node) int {
	if i < len(items) {
		return items[i].Line
	}
	if parent != nil {
		return parent.Line
	}
	return 1
}
