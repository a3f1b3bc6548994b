package principals

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
)

var principalKeys = []string{"id", "kind", "name", "key", "curve_key", "capabilities", "on_behalf_of", "retired_keys", "revoked"}

// Load reads and validates a principals file (see the package doc). Every
// problem is reported at once, one a line as `path:line: what is wrong`, in
// a *tilgang.Error of kind Invalid.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "principals: cannot read the principals file")
	}
	return Parse(path, data)
}

// Parse is Load on the bytes of a file; path is only for messages.
func Parse(path string, data []byte) (*Set, error) {
	l := &loader{}
	ps, lines := l.file(data)
	for _, pr := range validate(ps) {
		if lines[pr.idx].bad[pr.field] {
			continue // already reported as it was read
		}
		l.add(lines[pr.idx].at(pr.field), "principal %s: %s", label(ps[pr.idx], pr.idx), pr.msg)
	}
	if len(l.probs) > 0 {
		sort.SliceStable(l.probs, func(i, j int) bool { return l.probs[i].line < l.probs[j].line })
		msgs := make([]string, len(l.probs))
		for i, p := range l.probs {
			if p.line > 0 {
				msgs[i] = path + ":" + strconv.Itoa(p.line) + ": " + p.msg
			} else {
				msgs[i] = path + ": " + p.msg
			}
		}
		return nil, tilgang.Errorf(tilgang.Invalid, "%s", strings.Join(msgs, "\n"))
	}
	return build(ps), nil
}

func label(p Principal, idx int) string {
	if p.ID != "" {
		return quote(p.ID)
	}
	return "#" + strconv.Itoa(idx+1)
}

type lineProblem struct {
	line int
	msg  string
}

type loader struct {
	probs []lineProblem
}

func (l *loader) add(line int, format string, args ...any) {
	l.probs = append(l.probs, lineProblem{line, fmt.Sprintf(format, args...)})
}

// lines remembers where each field of one principal is, for messages.
type lines struct {
	item   int             // the line of the list item
	fields map[string]int  // field (or "capabilities[i]") -> line of its value
	bad    map[string]bool // fields that could not be read
}

func (ls lines) at(field string) int {
	if n, ok := ls.fields[field]; ok {
		return n
	}
	if f, _, ok := strings.Cut(field, "["); ok {
		if n, ok := ls.fields[f]; ok {
			return n
		}
	}
	return ls.item
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) file(data []byte) ([]Principal, []lines) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(0, "the file is empty: it must list principals:")
		} else {
			l.syntax(err)
		}
		return nil, nil
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		l.add(more.Line, "a second YAML document starts here: the file holds one")
	case !errors.Is(err, io.EOF):
		l.syntax(err)
	}
	if len(doc.Content) == 0 {
		l.add(0, "the file is empty: it must list principals:")
		return nil, nil
	}
	root := doc.Content[0]
	if !l.plain(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		l.add(root.Line, "the file must be a mapping with principals:, not %s", kindName(root))
		return nil, nil
	}
	var list *yaml.Node
	for _, f := range l.mapping(root) {
		if f.key.Value != "principals" {
			l.add(f.key.Line, "unknown key %s: the file has only principals:", quote(f.key.Value))
			continue
		}
		list = f.val
	}
	if list == nil {
		l.add(root.Line, "principals: is missing")
		return nil, nil
	}
	if !l.plain(list) {
		return nil, nil
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		l.add(list.Line, "principals must be a list, not %s", kindName(list))
		return nil, nil
	}
	var ps []Principal
	var ls []lines
	for _, item := range list.Content {
		p, pl, ok := l.principal(item)
		if ok {
			ps = append(ps, p)
			ls = append(ls, pl)
		}
	}
	return ps, ls
}

func (l *loader) principal(n *yaml.Node) (Principal, lines, bool) {
	var p Principal
	pl := lines{item: n.Line, fields: map[string]int{}, bad: map[string]bool{}}
	if !l.plain(n) {
		return p, pl, false
	}
	if n.Kind != yaml.MappingNode {
		l.add(n.Line, "a principal must be a mapping (id: ..., kind: ..., key: ...), not %s", kindName(n))
		return p, pl, false
	}
	for _, f := range l.mapping(n) {
		k := f.key.Value
		if !slices.Contains(principalKeys, k) {
			l.add(f.key.Line, "unknown key %s: a principal has %s", quote(k), strings.Join(principalKeys, ", "))
			continue
		}
		pl.fields[k] = f.val.Line
		if !l.plain(f.val) {
			pl.bad[k] = true
			continue
		}
		switch k {
		case "capabilities":
			p.Capabilities = l.strings(f.val, k, pl)
			continue
		case "on_behalf_of":
			p.OnBehalfOf = l.strings(f.val, k, pl)
			continue
		case "retired_keys":
			p.RetiredKeys = l.retired(f.val, pl)
			continue
		}
		v, ok := l.scalar(f.val, k)
		if !ok {
			pl.bad[k] = true
			continue
		}
		switch k {
		case "id":
			p.ID = v
		case "kind":
			p.Kind = v
		case "name":
			p.Name = v
		case "key":
			p.Key = v
		case "curve_key":
			p.CurveKey = v
		case "revoked":
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				l.add(f.val.Line, "revoked %s is not a time (RFC 3339, e.g. 2026-12-04T15:00:00Z)", quote(v))
				pl.bad[k] = true
				continue
			}
			p.Revoked = t
		}
	}
	return p, pl, true
}

// strings reads a list of scalars, recording each item's line.
func (l *loader) strings(n *yaml.Node, field string, pl lines) []string {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.add(n.Line, "%s must be a list, not %s", field, kindName(n))
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if !l.plain(c) {
			continue
		}
		v, ok := l.scalar(c, field)
		if !ok {
			continue
		}
		pl.fields[field+"["+strconv.Itoa(len(out))+"]"] = c.Line
		out = append(out, v)
	}
	return out
}

// retired reads retired_keys: a list of {key, until}, recording lines.
func (l *loader) retired(n *yaml.Node, pl lines) []RetiredKey {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.add(n.Line, "retired_keys must be a list of {key, until}, not %s", kindName(n))
		return nil
	}
	var out []RetiredKey
	for _, c := range n.Content {
		if !l.plain(c) {
			continue
		}
		if c.Kind != yaml.MappingNode {
			l.add(c.Line, "a retired key must be a mapping {key: U..., until: TIME}, not %s", kindName(c))
			continue
		}
		f := "retired_keys[" + strconv.Itoa(len(out)) + "]"
		pl.fields[f] = c.Line
		var r RetiredKey
		for _, kv := range l.mapping(c) {
			k := kv.key.Value
			if k != "key" && k != "until" {
				l.add(kv.key.Line, "unknown key %s: a retired key has key, until", quote(k))
				continue
			}
			pl.fields[f+"."+k] = kv.val.Line
			if !l.plain(kv.val) {
				pl.bad[f+"."+k] = true
				continue
			}
			v, ok := l.scalar(kv.val, "retired_keys "+k)
			if !ok {
				pl.bad[f+"."+k] = true
				continue
			}
			if k == "key" {
				r.Key = v
				continue
			}
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				l.add(kv.val.Line, "until %s is not a time (RFC 3339, e.g. 2026-12-11T15:00:00Z)", quote(v))
				pl.bad[f+".until"] = true
				continue
			}
			r.Until = t
		}
		out = append(out, r)
	}
	return out
}

func (l *loader) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		l.add(n.Line, "%s must be a single value, not %s", field, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

// plain refuses aliases and anchors: a principals file is short, and an
// alias would make one entry silently follow another.
func (l *loader) plain(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		l.add(n.Line, "aliases (*%s) are not allowed here: write the value out", n.Value)
		return false
	}
	return true
}

type field struct{ key, val *yaml.Node }

// mapping lists the fields of a mapping node, reporting repeated keys.
func (l *loader) mapping(n *yaml.Node) []field {
	var out []field
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.add(k.Line, "a key must be a plain word, not %s", kindName(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.add(k.Line, "key %s is repeated (first on line %d)", quote(k.Value), first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, field{k, v})
	}
	return out
}

func (l *loader) syntax(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			l.syntaxLine(e)
		}
		return
	}
	l.syntaxLine(err.Error())
}

func (l *loader) syntaxLine(msg string) {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		l.add(line, "not valid YAML: %s", m[2])
		return
	}
	l.add(0, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return "the value " + quote(n.Value)
	}
	return "a YAML document"
}
