package principals

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
)

// The edits of `tilgang principal add|rotate|revoke` (DESIGN.md "Operations
// over years"). Each takes the bytes of a principals file, changes its
// YAML node tree, so that the operator's comments and layout stay (blank
// lines aside, which YAML does not keep), and returns the new bytes only
// when they load (Parse), else the loader's file:line problems. path is
// only for messages. WriteFile then puts them in place.

// Add appends p to the principals list. An id that exists is refused.
func Add(path string, data []byte, p Principal) ([]byte, error) {
	doc, list, err := editable(path, data)
	if err != nil {
		return nil, err
	}
	if find(list, p.ID) != nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: %s: principal %s exists: choose another id, or rotate its key", path, quote(p.ID))
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	put(m, "id", str(p.ID))
	put(m, "kind", str(p.Kind))
	if p.Name != "" {
		put(m, "name", str(p.Name))
	}
	put(m, "key", str(p.Key))
	if p.CurveKey != "" {
		put(m, "curve_key", str(p.CurveKey))
	}
	if len(p.Capabilities) > 0 {
		put(m, "capabilities", flow(p.Capabilities))
	}
	if len(p.OnBehalfOf) > 0 {
		put(m, "on_behalf_of", flow(p.OnBehalfOf))
	}
	list.Content = append(list.Content, m)
	return finish(path, doc)
}

// Rotate makes newKey principal id's key; its key until now moves to
// retired_keys with until. A revoked principal gets newKey and is no
// longer revoked (its revoked keys stay gone). It returns the retired key,
// "" when there was none.
func Rotate(path string, data []byte, id, newKey string, until time.Time) ([]byte, string, error) {
	doc, list, err := editable(path, data)
	if err != nil {
		return nil, "", err
	}
	m := find(list, id)
	if m == nil {
		return nil, "", tilgang.Errorf(tilgang.NotFound, "principals: %s: no principal %s: add it first", path, quote(id))
	}
	old := ""
	if v := get(m, "key"); v != nil && v.Kind == yaml.ScalarNode {
		old = v.Value
	}
	wasRevoked := get(m, "revoked") != nil
	drop(m, "revoked")
	if v := get(m, "key"); v != nil {
		*v = *str(newKey)
	} else {
		put(m, "key", str(newKey))
	}
	if old != "" && !wasRevoked {
		r := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
		put(r, "key", str(old))
		put(r, "until", str(until.UTC().Format(time.RFC3339)))
		if v := get(m, "retired_keys"); v != nil && v.Kind == yaml.SequenceNode {
			v.Content = append(v.Content, r)
		} else {
			drop(m, "retired_keys")
			put(m, "retired_keys", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{r}})
		}
	} else {
		old = ""
	}
	out, err := finish(path, doc)
	return out, old, err
}

// Revoke ends principal id's keys at once: key, curve_key and
// retired_keys go, and revoked: at is set. The entry stays, so that its id
// keeps its kind (a via acting for it is still judged as acting for a
// service principal) and on_behalf_of lists naming it stay valid.
func Revoke(path string, data []byte, id string, at time.Time) ([]byte, error) {
	doc, list, err := editable(path, data)
	if err != nil {
		return nil, err
	}
	m := find(list, id)
	if m == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "principals: %s: no principal %s", path, quote(id))
	}
	if get(m, "revoked") != nil {
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: %s: principal %s is already revoked", path, quote(id))
	}
	for _, k := range []string{"key", "curve_key", "retired_keys"} {
		drop(m, k)
	}
	put(m, "revoked", str(at.UTC().Format(time.RFC3339)))
	return finish(path, doc)
}

// WriteFile replaces the principals file at path with data: written aside
// with the old file's mode, then renamed into place, so that a reader sees
// the old file or the new one.
func WriteFile(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	return nil
}

// editable checks that data loads, then returns its document node and
// its principals sequence (made one when the file has `principals:` alone).
func editable(path string, data []byte) (*yaml.Node, *yaml.Node, error) {
	if _, err := Parse(path, data); err != nil {
		return nil, nil, tilgang.Wrap(tilgang.Invalid, err, "principals: %s must load before it is changed", path)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, tilgang.Wrap(tilgang.Invalid, err, "principals: read %s", path)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	list := get(root, "principals")
	if list == nil {
		list = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		put(root, "principals", list)
	}
	if list.Kind != yaml.SequenceNode { // principals: with nothing after it
		*list = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: list.HeadComment, LineComment: list.LineComment}
	}
	if list.Style == yaml.FlowStyle && len(list.Content) == 0 {
		list.Style = 0 // principals: [] becomes a block list
	}
	return &doc, list, nil
}

func finish(path string, doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	if err := enc.Close(); err != nil {
		return nil, tilgang.Wrap(tilgang.Internal, err, "principals: write %s", path)
	}
	if _, err := Parse(path, b.Bytes()); err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "principals: %s left unchanged: the change would not load (lines as the file would be)", path)
	}
	return b.Bytes(), nil
}

// find is the mapping of the principal with id in list, nil when none.
func find(list *yaml.Node, id string) *yaml.Node {
	for _, item := range list.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		if v := get(item, "id"); v != nil && v.Kind == yaml.ScalarNode && v.Value == id {
			return item
		}
	}
	return nil
}

func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func put(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}

func drop(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func flow(vs []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, v := range vs {
		n.Content = append(n.Content, str(v))
	}
	return n
}
