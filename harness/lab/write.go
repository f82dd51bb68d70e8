package lab

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteYAML writes p as a lab file that Load reads back to the same profile,
// except for the keys: K, OP and OPc are never written (give them through
// the environment, IMSCONFORM_SUBSCRIBER_K and the like, or leave them out
// for TS 35.208 test set 1, the defaults). header, when not empty, becomes
// comment lines at the top.
func (p *Profile) WriteYAML(w io.Writer, header string) error {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	section := ""
	for _, l := range p.leaves() {
		if slices.Contains(keyPaths, l.path) {
			continue
		}
		sec, key, nested := strings.Cut(l.path, ".")
		indent := ""
		if nested {
			if sec != section {
				b.WriteString(sec + ":\n")
				section = sec
			}
			indent = "  "
		} else {
			key, section = sec, ""
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, key, yamlScalar(l.v))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar writes a field's value as the lab file reads it: strings and
// durations double-quoted, lists as flow sequences of quoted strings.
func yamlScalar(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return strconv.Quote(time.Duration(v.Int()).String())
	case v.Kind() == reflect.String:
		return strconv.Quote(v.String())
	case v.Kind() == reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case v.Kind() == reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case v.Kind() == reflect.Uint32:
		return strconv.FormatUint(v.Uint(), 10)
	case v.Kind() == reflect.Slice:
		var q []string
		for _, s := range v.Interface().([]string) {
			q = append(q, strconv.Quote(s))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return `""`
}
