package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
)

// decoder decodes a YAML node tree into Go values strictly: every key must
// be a field, no key twice, values of the right kind. yaml.v3's own strict
// mode (Decoder.KnownFields) works only from bytes and names Go types, not
// field paths, so the walk is done here and yaml.v3 decodes the leaves.
type decoder struct {
	file   string
	reg    *connectors.Registry
	lines  map[string]int
	probs  []Problem
	failed []string // paths whose value did not decode
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	connectorsType  = reflect.TypeOf(map[string]Connector{})
)

func reflectOf(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

func (d *decoder) add(line int, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(line int, path, format string, args ...any) {
	if l, ok := d.lines[path]; ok {
		line = l // the key's line: a wrong mapping or list starts on the next one
	}
	d.add(line, path, format, args...)
	d.failed = append(d.failed, path)
}

// failedUnder: a problem at path follows from a value that did not decode.
func (d *decoder) failedUnder(path string) bool {
	for _, f := range d.failed {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

// pairs are a mapping's key/value pairs with merge keys (<<) expanded.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Tag == "!!merge" || (k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style == 0) {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if s = resolve(s); s.Kind == yaml.MappingNode {
					out = append(out, pairs(s)...)
				}
			}
			continue
		}
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// value decodes n into v; secret says the value must never be quoted.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, secret bool) {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return
	}
	t := v.Type()
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path, secret)
		return
	}
	switch {
	case t == connectorsType:
		d.connectors(n, v, path)
		return
	case t == hrSourcesType:
		d.hrSources(n, v, path)
		return
	case t == durationType || reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType):
		d.leaf(n, v, path, secret)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.leaf(n, v, path, secret)
			return
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "must be a mapping (key: value), not %s", kindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		seen := map[string]int{}
		for _, kv := range pairs(n) {
			key := kv[0].Value
			p := join(path, key)
			if first, dup := seen[key]; dup {
				d.add(kv[0].Line, p, "given twice (first on line %d)", first)
				continue
			}
			seen[key] = kv[0].Line
			d.lines[p] = kv[0].Line
			elem := reflect.New(t.Elem()).Elem()
			d.value(kv[1], elem, p, secret || isSecretKey(key))
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "must be a list, not %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.lines[p] = e.Line
			d.value(e, s.Index(i), p, secret)
		}
		v.Set(s)
	default:
		d.leaf(n, v, path, secret)
	}
}

// field is a struct field as YAML names it.
type field struct {
	index  []int
	secret bool // by its secret tag, else by its name (isSecretKey)
	// headers: a map of HTTP header values (secret:"headers"), each a
	// secret unless its header is a known harmless one (knownHeaders):
	// X-API-Key, Ocp-Apim-Subscription-Key, Cookie ... carry credentials
	// under any name.
	headers bool
}

// structFields lists t's YAML keys as yaml.v3 names them (the tag's name,
// else the lower-cased field name; ",inline" structs flattened; "-" left
// out), and the index of an inline map catching other keys, if any.
func structFields(t reflect.Type) (map[string]field, []string, []int) {
	fields := map[string]field{}
	var names []string
	var inlineMap []int
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.PkgPath != "" && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(prefix), i)
			if slices.Contains(strings.Split(opts, ","), "inline") {
				switch f.Type.Kind() {
				case reflect.Struct:
					walk(f.Type, idx)
				case reflect.Map:
					inlineMap = idx
				}
				continue
			}
			if f.PkgPath != "" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := fields[name]; !dup {
				names = append(names, name)
			}
			// secret:"true" marks a secret the name does not tell of;
			// secret:"false" a setting whose name sounds like one but is not
			// (password_length).
			mark := f.Tag.Get("secret")
			fields[name] = field{index: idx, secret: mark == "true" || (mark != "false" && mark != "headers" && isSecretKey(name)),
				headers: mark == "headers"}
		}
	}
	walk(t, nil)
	return fields, names, inlineMap
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		what := "settings"
		if path == "" {
			what = "the config"
		}
		d.fail(n.Line, path, "%s must be a mapping (key: value), not %s", what, kindName(n))
		return
	}
	fields, names, inlineMap := structFields(v.Type())
	seen := map[string]int{}
	for _, kv := range pairs(n) {
		k := kv[0]
		key := k.Value
		p := join(path, key)
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "a key must be a plain name, not %s", kindName(k))
			continue
		}
		if first, dup := seen[key]; dup {
			d.add(k.Line, p, "given twice (first on line %d)", first)
			continue
		}
		seen[key] = k.Line
		d.lines[p] = k.Line
		f, ok := fields[key]
		if !ok {
			if inlineMap != nil {
				m := v.FieldByIndex(inlineMap)
				if m.IsNil() {
					m.Set(reflect.MakeMap(m.Type()))
				}
				elem := reflect.New(m.Type().Elem()).Elem()
				d.value(kv[1], elem, p, isSecretKey(key))
				m.SetMapIndex(reflect.ValueOf(key).Convert(m.Type().Key()), elem)
				continue
			}
			d.add(k.Line, p, "unknown setting%s", known(path, key, names))
			continue
		}
		d.value(kv[1], v.FieldByIndex(f.index), p, f.secret)
	}
}

func known(path, key string, names []string) string {
	if len(names) == 0 {
		return " (this has no settings)"
	}
	for _, n := range names {
		if strings.EqualFold(n, key) || strings.ReplaceAll(n, "_", "") == strings.ReplaceAll(strings.ToLower(key), "-", "") {
			return fmt.Sprintf(" (did you mean %s?)", n)
		}
	}
	where := "here"
	if path != "" {
		where = "in " + path
	}
	return fmt.Sprintf(" (known %s: %s)", where, strings.Join(names, ", "))
}

// leaf decodes a single value with yaml.v3 and words its failure plainly.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, path string, secret bool) {
	t := v.Type()
	custom := t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType)
	if !custom && n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "must be a single value, not %s", kindName(n))
		return
	}
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	shown := "the value"
	if !secret {
		shown = strconv.Quote(n.Value)
	}
	switch {
	case custom:
		var te *yaml.TypeError
		msg := err.Error()
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if secret {
			msg = "not accepted"
		}
		d.fail(n.Line, path, "%s", strings.TrimPrefix(msg, "yaml: "))
	case t == durationType:
		d.fail(n.Line, path, "%s is not a duration (write it like 10s, 1m30s or 2h)", shown)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uintptr:
		d.fail(n.Line, path, "%s is not a whole number", shown)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		d.fail(n.Line, path, "%s is not a number", shown)
	case t.Kind() == reflect.Bool:
		d.fail(n.Line, path, "%s is not true or false", shown)
	default:
		d.fail(n.Line, path, "%s cannot be read as %s", shown, t)
	}
}

// typedEntry is one entry of a mapping of named, typed settings
// (connectors, hr_sources) as typedMap hands it on: its name, its path,
// the line of its name, its type (nil when missing) and its other keys.
type typedEntry struct {
	name, path string
	line       int
	body, typ  *yaml.Node
	fields     [][2]*yaml.Node
}

// typedMap walks a mapping of name to {type: T, ...settings}: it makes the
// map v, refuses a name given twice and an entry that is not a mapping, and
// calls fn with each entry's type and other keys. what names an entry in
// errors ("instance", "source"), owner what has the type ("connector",
// "source"); example is a short valid entry.
func (d *decoder) typedMap(n *yaml.Node, v reflect.Value, path, what, owner, example string, fn func(typedEntry)) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping of %s name to its settings, not %s", what, kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]int{}
	for _, kv := range pairs(n) {
		e := typedEntry{name: kv[0].Value, path: join(path, kv[0].Value), line: kv[0].Line}
		if first, dup := seen[e.name]; dup {
			d.add(e.line, e.path, "%s given twice (first on line %d)", what, first)
			continue
		}
		seen[e.name] = e.line
		d.lines[e.path] = e.line
		e.body = kv[1]
		if e.body.Kind != yaml.MappingNode {
			d.fail(e.line, e.path, "must be a mapping with the %s's type and settings, e.g. %s", owner, example)
			continue
		}
		for _, f := range pairs(e.body) {
			if f[0].Value == "type" {
				e.typ = f[1]
				d.lines[e.path+".type"] = f[0].Line
				continue
			}
			e.fields = append(e.fields, f)
		}
		if e.typ != nil && (e.typ.Kind != yaml.ScalarNode || e.typ.Value == "") {
			e.typ = nil
		}
		fn(e)
	}
}

// mappingOf is a mapping node holding fields, placed where at is.
func mappingOf(at *yaml.Node, fields [][2]*yaml.Node) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: at.Line, Column: at.Column}
	for _, f := range fields {
		m.Content = append(m.Content, f[0], f[1])
	}
	return m
}

// connectors decodes the connectors mapping: each instance's type, then
// the rest of its settings into the Config its type registered.
func (d *decoder) connectors(n *yaml.Node, v reflect.Value, path string) {
	d.typedMap(n, v, path, "instance", "connector", "{type: manual}", func(e typedEntry) {
		p := e.path
		switch {
		case e.typ == nil:
			d.fail(e.line, p+".type", "missing: say which connector type this instance is%s", d.knownTypes())
			d.failed = append(d.failed, p)
			return
		case d.reg == nil:
			d.fail(e.typ.Line, p+".type", "no connector types are registered in this build")
			d.failed = append(d.failed, p)
			return
		}
		cfg, err := d.reg.New(e.typ.Value)
		if err != nil {
			d.fail(e.typ.Line, p+".type", "%q is not a connector type this build knows%s", e.typ.Value, d.knownTypes())
			d.failed = append(d.failed, p)
			return
		}
		rest := mappingOf(e.body, e.fields)
		cv := reflect.ValueOf(cfg)
		if cv.Kind() != reflect.Pointer {
			// A value Config: decode into an addressable copy.
			nv := reflect.New(cv.Type()).Elem()
			nv.Set(cv)
			d.value(rest, nv, p, false)
			cfg = nv.Interface().(connectors.Config)
		} else {
			d.value(rest, cv, p, false)
		}
		v.SetMapIndex(reflect.ValueOf(e.name), reflect.ValueOf(Connector{Type: e.typ.Value, Config: cfg}))
	})
}

func (d *decoder) knownTypes() string {
	if d.reg == nil {
		return ""
	}
	_, err := d.reg.New("")
	var te *tilgang.Error
	if errors.As(err, &te) {
		if _, list, ok := strings.Cut(te.Message, "(known: "); ok {
			return " (known: " + strings.Join(strings.Fields(strings.Trim(list, "[])")), ", ") + ")"
		}
	}
	return ""
}

// knownHeaders are the request headers whose values are printed; every
// other header's value is redacted, since a static header is where an API
// key ends up (X-API-Key, Ocp-Apim-Subscription-Key, Cookie,
// Proxy-Authorization, ...).
var knownHeaders = map[string]bool{
	"accept": true, "accept-charset": true, "accept-encoding": true, "accept-language": true,
	"cache-control": true, "content-type": true, "prefer": true, "user-agent": true,
}

// isSecretHeader: a header whose value is printed only as REDACTED.
func isSecretHeader(name string) bool { return !knownHeaders[strings.ToLower(strings.TrimSpace(name))] }

// isSecretKey: a key whose value is a secret itself (not where one is).
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_env") || strings.HasSuffix(k, "_path") {
		return false
	}
	for _, s := range []string{"password", "passwd", "secret", "token", "passphrase", "credential", "api_key", "apikey", "private_key", "seed"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
