package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is the error Load, Parse, Override, Resolve and Validate return:
// one problem, with the field's YAML path and where its value came from.
type FieldError struct {
	// Where the value came from: "lab.yaml:12", "default", "environment
	// IMSCONFORM_SUT_PCSCF", "flag -set sut.pcscf"; "" when unknown.
	Where string
	// Field is the YAML path, e.g. "subscriber.k"; "" for a problem with the
	// file as a whole.
	Field string
	// Problem says what was expected and what was seen. It never holds the
	// value of a secret.
	Problem string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// MaxFileSize bounds a lab file.
const MaxFileSize = 1 << 20

// Load reads the lab file at path over Default, normalises it (sut.transport
// and profile to lower case), validates it and checks it against this host
// (CheckHost). A ue.address left at its default becomes the address this
// host reaches an IP-literal sut.pcscf from. Fields the file leaves out, or
// gives as null (`pcscf: ~` or `pcscf:`), keep their Default value; lists
// (impus, accept_from) are replaced whole, not merged. See Default for the
// K/OP/OPc group rule.
//
// The file must be one YAML document holding a mapping; unknown fields,
// fields given twice, and values of the wrong type are errors. Every error is
// a *FieldError naming the field and path:line.
func Load(path string) (*Profile, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load for a file already read; name is used in errors.
func Parse(name string, data []byte) (*Profile, error) {
	p := Default()
	if err := p.applyYAML(name, data); err != nil {
		return nil, err
	}
	return p.settle()
}

// settle normalises p, picks a default ue.address from the route to
// sut.pcscf, validates p and checks it against this host.
func (p *Profile) settle() (*Profile, error) {
	p.normalize()
	p.settleUEAddress()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := p.CheckHost(); err != nil {
		return nil, err
	}
	return p, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FieldError{Where: path, Problem: fmt.Sprintf("expected a readable lab file: %v", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &FieldError{Where: path, Problem: fmt.Sprintf("expected a readable lab file: %v", err)}
	}
	return data, nil
}

// applyYAML decodes a lab file over p, without validating it.
func (p *Profile) applyYAML(name string, data []byte) (err error) {
	defer func() {
		// The YAML parser is third-party code; no input may panic the harness.
		if r := recover(); r != nil {
			err = &FieldError{Where: name, Problem: "expected a YAML document, saw input the YAML parser could not handle"}
		}
	}()
	if len(data) > MaxFileSize {
		return &FieldError{Where: name, Problem: fmt.Sprintf("expected a lab file of at most %d bytes, saw more", MaxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &FieldError{Where: name, Problem: "expected a mapping of lab settings, saw an empty file"}
		}
		return yamlError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return yamlError(name, err)
	default:
		return &FieldError{Where: at(name, extra.Line), Problem: "expected one YAML document, saw a second"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = deref(root)
	if root == nil || root.Kind != yaml.MappingNode {
		line := 1
		if root != nil {
			line = root.Line
		}
		return &FieldError{Where: at(name, line), Problem: "expected a mapping of lab settings, saw a " + kindName(orNull(root))}
	}
	d := fileDecoder{name: name, p: p, given: map[string]bool{}}
	if err := d.mapping(root, reflect.ValueOf(p).Elem(), ""); err != nil {
		return err
	}
	p.settleKeys(d.given)
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into file:line form. yaml.v3's
// syntax errors describe the structure, not the text, so no value leaks.
func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return &FieldError{Where: name + ":" + m[1], Problem: "expected valid YAML: " + m[2]}
	}
	return &FieldError{Where: name, Problem: "expected valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func at(name string, line int) string { return name + ":" + strconv.Itoa(line) }

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func orNull(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// fileDecoder walks a lab file's nodes alongside the Profile's fields: the
// equivalent of yaml.v3's KnownFields, with the field's path in each error.
type fileDecoder struct {
	name  string
	p     *Profile
	given map[string]bool
}

func (d *fileDecoder) mapping(n *yaml.Node, v reflect.Value, prefix string) error {
	t := v.Type()
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), deref(n.Content[i+1])
		if kn == nil || vn == nil {
			return &FieldError{Where: at(d.name, n.Content[i].Line), Field: strings.TrimSuffix(prefix, "."), Problem: "expected a value, saw an alias that names no node"}
		}
		if kn.Kind != yaml.ScalarNode {
			return &FieldError{Where: at(d.name, kn.Line), Field: strings.TrimSuffix(prefix, "."), Problem: "expected a field name, saw a " + kindName(kn)}
		}
		path := prefix + mask(kn.Value)
		if kn.Value == "<<" {
			return &FieldError{Where: at(d.name, kn.Line), Field: strings.TrimSuffix(prefix, "."), Problem: "expected a field name, saw a merge key (<<), which the lab file does not support"}
		}
		if first, dup := seen[kn.Value]; dup {
			return &FieldError{Where: at(d.name, kn.Line), Field: path, Problem: fmt.Sprintf("expected each field once, saw it again (first at line %d)", first)}
		}
		seen[kn.Value] = kn.Line
		fi := -1
		var names []string
		for j := range t.NumField() {
			k := yamlKey(t.Field(j))
			if k == "" {
				continue
			}
			names = append(names, k)
			if k == kn.Value {
				fi = j
			}
		}
		if fi < 0 {
			return &FieldError{Where: at(d.name, kn.Line), Field: path, Problem: "unknown field; expected one of " + strings.Join(names, ", ")}
		}
		fv := v.Field(fi)
		if isNull(vn) {
			continue // left out: the default stays
		}
		if fv.Kind() == reflect.Struct && fv.Type() != secretType {
			if vn.Kind != yaml.MappingNode {
				return &FieldError{Where: at(d.name, vn.Line), Field: path, Problem: "expected a mapping, saw a " + kindName(vn)}
			}
			if err := d.mapping(vn, fv, path+"."); err != nil {
				return err
			}
			continue
		}
		if err := d.leaf(path, vn, fv); err != nil {
			return err
		}
	}
	return nil
}

func (d *fileDecoder) leaf(path string, n *yaml.Node, fv reflect.Value) error {
	where := at(d.name, n.Line)
	fail := func(problem string) error { return &FieldError{Where: where, Field: path, Problem: problem} }
	if fv.Kind() == reflect.Slice {
		if n.Kind != yaml.SequenceNode {
			return fail(fmt.Sprintf("expected a list of strings (write [x] for one), saw a %s", kindName(n)))
		}
		list := make([]string, 0, len(n.Content))
		for i, e := range n.Content {
			e = deref(e)
			ep := fmt.Sprintf("%s[%d]", path, i)
			if e == nil || e.Kind != yaml.ScalarNode || isNull(e) {
				return &FieldError{Where: at(d.name, n.Content[i].Line), Field: ep, Problem: "expected a string, saw a " + kindName(orNull(e))}
			}
			list = append(list, e.Value)
			d.p.setOrigin(ep, at(d.name, e.Line))
		}
		fv.Set(reflect.ValueOf(list))
		d.p.clearElemOrigins(path, len(list))
		d.p.setOrigin(path, where)
		d.given[path] = true
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fail(fmt.Sprintf("expected %s, saw a %s", typeName(fv.Type()), kindName(n)))
	}
	tag := n.ShortTag()
	switch {
	case fv.Type() == secretType:
		fv.Set(reflect.ValueOf(NewSecret(n.Value)))
	case fv.Type() == durationType:
		if tag != "!!str" {
			return fail(fmt.Sprintf(`expected a duration with a unit such as "5s", saw a %s`, kindName(n)))
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			return fail(fmt.Sprintf(`expected a duration such as "5s" or "1m30s", saw %s`, quote(n.Value)))
		}
		fv.SetInt(int64(dur))
	case fv.Kind() == reflect.String:
		fv.SetString(n.Value)
	case fv.Kind() == reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			return fail(fmt.Sprintf("expected true or false, saw %s", quote(n.Value)))
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Uint32:
		var x int64
		if tag != "!!int" || n.Decode(&x) != nil {
			return fail(fmt.Sprintf("expected %s, saw %s", typeName(fv.Type()), quote(n.Value)))
		}
		if err := setInt(fv, x); err != "" {
			return fail(err)
		}
	default:
		return fail("expected a field the lab file can set")
	}
	d.p.setOrigin(path, where)
	d.given[path] = true
	return nil
}

// setInt stores x in an int or uint32 field, or says why it does not fit.
func setInt(fv reflect.Value, x int64) string {
	switch fv.Kind() {
	case reflect.Uint32:
		if x < 0 || x > 1<<32-1 {
			return fmt.Sprintf("expected %s, saw %d", typeName(fv.Type()), x)
		}
		fv.SetUint(uint64(x))
	default:
		if fv.OverflowInt(x) {
			return fmt.Sprintf("expected %s, saw %d, which does not fit", typeName(fv.Type()), x)
		}
		fv.SetInt(x)
	}
	return ""
}

func (p *Profile) setOrigin(path, where string) {
	if p.src == nil {
		p.src = map[string]string{}
	}
	p.src[path] = where
}

// clearElemOrigins forgets the origins of list elements past n.
func (p *Profile) clearElemOrigins(path string, n int) {
	for k := range p.src {
		if rest, ok := strings.CutPrefix(k, path+"["); ok {
			if i, err := strconv.Atoi(strings.TrimSuffix(rest, "]")); err == nil && i >= n {
				delete(p.src, k)
			}
		}
	}
}

var keyPaths = []string{"subscriber.k", "subscriber.op", "subscriber.opc"}

// settleKeys applies the K/OP/OPc group rule: when a source gave any of them,
// those still holding the default are dropped.
func (p *Profile) settleKeys(given map[string]bool) {
	if !slices.ContainsFunc(keyPaths, func(k string) bool { return given[k] }) {
		return
	}
	for _, s := range []struct {
		path string
		sec  *Secret
	}{{"subscriber.k", &p.Subscriber.K}, {"subscriber.op", &p.Subscriber.OP}, {"subscriber.opc", &p.Subscriber.OPc}} {
		if p.src[s.path] == originDefault {
			*s.sec = Secret{}
			delete(p.src, s.path)
		}
	}
}

// normalize lower-cases the fields whose case carries no meaning.
func (p *Profile) normalize() {
	p.Profile = strings.ToLower(p.Profile)
	p.SUT.Transport = strings.ToLower(p.SUT.Transport)
}

var hexRun = regexp.MustCompile(`[0-9A-Fa-f]{16,}`)

// mask hides anything in s that could be key material (16 or more hex digits
// in a row) and bounds its length, for echoing user input in errors.
func mask(s string) string {
	s = hexRun.ReplaceAllString(s, redacted)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// quote is strconv.Quote of mask(s).
func quote(s string) string { return strconv.Quote(mask(s)) }
