package lab

import (
	"reflect"
	"strings"
	"time"
)

// Where a value came from when it was not set from a file.
const originDefault = "default"

var (
	secretType   = reflect.TypeFor[Secret]()
	durationType = reflect.TypeFor[time.Duration]()
)

// leaf is one settable field of a Profile, named by its YAML path.
type leaf struct {
	path string
	v    reflect.Value // addressable
}

// leaves lists p's settable fields in declaration order.
func (p *Profile) leaves() []leaf {
	var out []leaf
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			key := yamlKey(f)
			if key == "" {
				continue
			}
			path := prefix + key
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != secretType {
				walk(fv, path+".")
				continue
			}
			out = append(out, leaf{path: path, v: fv})
		}
	}
	walk(reflect.ValueOf(p).Elem(), "")
	return out
}

// yamlKey is a struct field's YAML key, "" for fields YAML does not see.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	k, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if k == "-" || k == "" {
		return ""
	}
	return k
}

// Paths lists every key Override and -set accept, in the order of the YAML
// file: "profile", "sut.pcscf", …, "timeouts.step".
func Paths() []string {
	var p Profile
	var out []string
	for _, l := range p.leaves() {
		out = append(out, l.path)
	}
	return out
}

// EnvName is the environment variable that overrides path:
// "sut.pcscf" → "IMSCONFORM_SUT_PCSCF".
func EnvName(path string) string {
	return "IMSCONFORM_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// typeName says what a field of type t expects, for error messages.
func typeName(t reflect.Type) string {
	switch {
	case t == secretType:
		return "a hex string"
	case t == durationType:
		return `a duration such as "5s"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Uint32:
		return "an integer from 0 to 4294967295"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list of strings"
	}
	return t.String()
}
