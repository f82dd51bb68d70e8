package lab

import (
	"flag"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvLab is the environment variable that names the lab file when no -lab
// flag is given.
const EnvLab = "IMSCONFORM_LAB"

// Override sets fields by YAML path (see Paths), e.g. {"sut.pcscf":
// "127.0.0.1:5060", "ue.address": "127.0.0.1"}, then normalises and validates
// the whole profile (not against this host: see CheckHost). Values are text: integers in Go syntax (0x… allowed),
// booleans as strconv.ParseBool reads them, durations as "5s", lists
// comma-separated ("" is the empty list), secrets as hex. An empty value sets
// the field empty (for sut.pcscf: the reference core). On error p may be
// partly changed.
func (p *Profile) Override(set map[string]string) error {
	if err := p.applySet(set, func(path string) string { return "override " + path }); err != nil {
		return err
	}
	p.normalize()
	return p.Validate()
}

// applySet applies set in path order, without validating; origin names each
// value's source.
func (p *Profile) applySet(set map[string]string, origin func(path string) string) error {
	paths := make([]string, 0, len(set))
	for k := range set {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	fields := map[string]reflect.Value{}
	for _, l := range p.leaves() {
		fields[l.path] = l.v
	}
	given := map[string]bool{}
	for _, path := range paths {
		fv, ok := fields[path]
		if !ok {
			return &FieldError{Where: origin(mask(path)), Field: mask(path), Problem: "unknown field; expected one of " + strings.Join(Paths(), ", ")}
		}
		if problem := setText(fv, set[path]); problem != "" {
			return &FieldError{Where: origin(path), Field: path, Problem: problem}
		}
		p.setOrigin(path, origin(path))
		if fv.Kind() == reflect.Slice {
			n := fv.Len()
			p.clearElemOrigins(path, 0)
			for i := range n {
				p.setOrigin(fmt.Sprintf("%s[%d]", path, i), origin(path))
			}
		}
		given[path] = true
	}
	p.settleKeys(given)
	return nil
}

// setText parses s into a field, or says why it cannot.
func setText(fv reflect.Value, s string) string {
	switch {
	case fv.Type() == secretType:
		fv.Set(reflect.ValueOf(NewSecret(s)))
	case fv.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Sprintf(`expected a duration such as "5s" or "1m30s", saw %s`, quote(s))
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Sprintf("expected true or false, saw %s", quote(s))
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Uint32:
		x, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return fmt.Sprintf("expected %s, saw %s", typeName(fv.Type()), quote(s))
		}
		return setInt(fv, x)
	case fv.Kind() == reflect.Slice:
		list := []string{}
		if strings.TrimSpace(s) != "" {
			for _, e := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(e))
			}
		}
		fv.Set(reflect.ValueOf(list))
	default:
		return "expected a field that can be set"
	}
	return ""
}

// FromEnv picks the overrides out of an environment (as os.Environ gives
// it): IMSCONFORM_<PATH>, the YAML path upper-cased with dots as
// underscores, e.g. IMSCONFORM_SUT_PCSCF=127.0.0.1:5060 → "sut.pcscf".
// Other variables, IMSCONFORM_LAB included, are ignored.
func FromEnv(environ []string) map[string]string {
	byName := map[string]string{}
	for _, path := range Paths() {
		byName[EnvName(path)] = path
	}
	set := map[string]string{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if path, ok := byName[name]; ok {
			set[path] = val
		}
	}
	return set
}

// Settings collects repeated -set key=value flags; it is a flag.Value. The
// last value for a key wins.
type Settings map[string]string

// String lists the settings with secrets redacted.
func (s Settings) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := s[k]
		if slices.Contains(keyPaths, k) {
			v = redacted
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

// Set reads one key=value; the key must be one of Paths.
func (s Settings) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("-set: expected key=value, saw %s with no '='", quote(kv))
	}
	k = strings.TrimSpace(k)
	if !slices.Contains(Paths(), k) {
		return fmt.Errorf("-set: expected a key among %s, saw %s", strings.Join(Paths(), ", "), quote(k))
	}
	s[k] = v
	return nil
}

// Flags are the lab flags of a command or suite.
type Flags struct {
	Lab string   // -lab: the lab file; "" = $IMSCONFORM_LAB, else no file
	Set Settings // -set key=value, repeatable
}

// RegisterFlags registers -lab and -set on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{Set: Settings{}}
	fs.StringVar(&f.Lab, "lab", "", "lab profile YAML file (default $"+EnvLab+"; none: the embedded reference core)")
	fs.Var(f.Set, "set", "override a lab field, key=value with the YAML path as key, e.g. -set sut.pcscf=127.0.0.1:5060 (repeatable; wins over $IMSCONFORM_<KEY>)")
	return f
}

// Profile resolves the lab from the flags and the environment (os.Environ()
// form): see Resolve. The lab file is -lab, else $IMSCONFORM_LAB.
func (f *Flags) Profile(environ []string) (*Profile, error) {
	path := f.Lab
	if path == "" {
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, EnvLab+"="); ok {
				path = v
			}
		}
	}
	return Resolve(path, environ, f.Set)
}

// Resolve builds the profile of a run: DefaultFor(Loopback()), then the lab
// file at path (none when path is ""), then the environment's
// IMSCONFORM_<PATH> variables, then set (flags win); then it normalises,
// validates and checks the profile against this host once, as Load does.
func Resolve(path string, environ []string, set map[string]string) (*Profile, error) {
	p := DefaultFor(Loopback())
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return nil, err
		}
		if err := p.applyYAML(path, data); err != nil {
			return nil, err
		}
	}
	if err := p.applySet(FromEnv(environ), func(path string) string { return "environment " + EnvName(path) }); err != nil {
		return nil, err
	}
	if err := p.applySet(set, func(path string) string { return "flag -set " + path }); err != nil {
		return nil, err
	}
	return p.settle()
}
