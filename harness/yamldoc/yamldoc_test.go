package yamldoc

import (
	"strings"
	"testing"
)

type doc struct {
	Name  string `yaml:"name"`
	Items []struct {
		ID string `yaml:"id"`
	} `yaml:"items"`
}

func TestDecodeNamesTheLine(t *testing.T) {
	var d doc
	root, err := Decode("f.yaml", "test", []byte("name: x\nitems:\n  - id: a\n  - id: b\n"), &d)
	if err != nil {
		t.Fatal(err)
	}
	items := Items(root, "items")
	if len(items) != 2 || Line(items, 1, root) != 4 || Line(items, 5, root) != root.Line || Value(root, "name").Value != "x" {
		t.Errorf("lines: %d items, second at %d", len(items), Line(items, 1, root))
	}
	for _, c := range []struct{ src, want string }{
		{"", "f.yaml:1: expected a YAML document, saw an empty file"},
		{"name: x\nnope: 1\n", `f.yaml:2: expected a known field, saw unknown field "nope"`},
		{"name: [1\n", "f.yaml:"},
		{"items: 3\n", "f.yaml:1: expected valid test YAML"},
		{"- a\n", "f.yaml:1: expected valid test YAML"},
		{strings.Repeat("#", MaxSize+1), "f.yaml: expected a file of at most"},
	} {
		var d doc
		if _, err := Decode("f.yaml", "test", []byte(c.src), &d); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%.30q: %v, want %q", c.src, err, c.want)
		}
	}
}
