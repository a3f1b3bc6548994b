package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ror-ikt/tilgang"
)

var (
	systemKeys     = []string{"system", "name", "owner", "administrators", "coordinator", "connectors", "roles", "birthright", "reconcile", "review"}
	roleKeys       = []string{"id", "entitlements", "requestable_by", "approval", "eligible", "default_duration", "max_duration", "credentials_to", "requires_training", "conflicts"}
	birthrightKeys = []string{"when", "roles"}
)

// parser reads one policy file, collecting every problem it finds.
type parser struct {
	file       string   // path as shown in problems
	connectors []string // known connector instances; nil = do not check
	lines      int      // in the file
	probs      []Problem
}

func (p *parser) add(line int, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// item is a scalar from a list, with its line.
type item struct {
	v    string
	line int
}

// field is a key and its value in a mapping.
type field struct{ key, val *yaml.Node }

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile reads one system file. stem is the file name without .yaml.
// The system is nil when the file could not be read as a mapping at all.
func (p *parser) parseFile(stem string, data []byte) *System {
	p.lines = bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		p.lines++
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(0, "the file is empty: it must describe one system (system:, name:, owner:, administrators:, connectors:, roles:)")
			return nil
		}
		p.syntax(err)
		return nil
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		p.add(more.Line, "a second YAML document starts here: a policy file describes exactly one system")
	case !errors.Is(err, io.EOF):
		p.syntax(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.add(0, "the file is empty: it must describe one system")
		return nil
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "the file must be a mapping (system: ..., name: ..., roles: ...), not %s", kindName(root))
		return nil
	}
	return p.system(stem, root)
}

// parserProblems are libyaml's parser (not scanner) errors. yaml.v3 prints
// their 0-based line, and no line at all for the first one.
var parserProblems = []string{
	"did not find expected <document start>", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found undefined tag handle", "found duplicate %YAML directive",
	"found incompatible YAML document", "found duplicate %TAG directive",
}

func (p *parser) syntax(err error) {
	line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if slices.Contains(parserProblems, msg) {
		line++
	}
	// A problem at the end of the stream is reported past the last line.
	if n := p.lines; line > n {
		line = n
	}
	p.add(line, "YAML syntax error: %s", msg)
}

func (p *parser) system(stem string, root *yaml.Node) *System {
	f := p.mapping(root, "the system", systemKeys)
	s := &System{Line: root.Line, roles: map[string]*Role{}}

	if fl, ok := f["system"]; !ok {
		p.add(root.Line, "system is missing: write system: %s (the id, equal to the file name)", stem)
	} else if id, ok := p.str(fl.val, "system"); ok {
		s.Line = fl.key.Line
		switch {
		case !tilgang.ValidToken(id):
			p.add(fl.val.Line, "system %q is not an id: use letters, digits, '-' and '_'", id)
		case id != stem && !tilgang.ValidToken(stem):
			p.add(fl.val.Line, "system %q does not match the file name: name the file %s.yaml", id, id)
		case id != stem:
			p.add(fl.val.Line, "system %q does not match the file name: %s.yaml must have system: %s (or rename the file to %s.yaml)", id, stem, stem, id)
		}
		if tilgang.ValidToken(id) {
			s.ID = id // even when mismatched, so other files' references to it do not cascade
		}
	}
	s.Name = p.required(f, root, "name", "name is missing: the system's display name, e.g. name: Gerica")
	s.Owner = p.required(f, root, "owner", "owner is missing: the systemeier, e.g. owner: Helse og omsorg")

	if fl, ok := f["administrators"]; !ok {
		p.add(root.Line, "administrators is missing: list the systemansvarlig person ids, e.g. administrators: [1547-20001]")
	} else {
		for _, it := range p.uniqueList(fl.val, "administrators") {
			if !tilgang.ValidToken(it.v) {
				p.add(it.line, "administrators: %q is not a person id", it.v)
				continue
			}
			s.Administrators = append(s.Administrators, it.v)
		}
		if len(s.Administrators) == 0 && isEmptyList(fl.val) {
			p.add(fl.val.Line, "administrators is empty: a system needs at least one systemansvarlig")
		}
	}
	if fl, ok := f["coordinator"]; ok && !isNull(fl.val) {
		if v, ok := p.str(fl.val, "coordinator"); ok {
			if tilgang.ValidToken(v) {
				s.Coordinator = v
			} else {
				p.add(fl.val.Line, "coordinator %q is not a person id", v)
			}
		}
	}

	connsOK := false
	if fl, ok := f["connectors"]; !ok {
		p.add(root.Line, "connectors is missing: list the connector instances the system is provisioned through, e.g. connectors: [manual]")
	} else {
		connsOK = true
		for _, it := range p.uniqueList(fl.val, "connectors") {
			switch {
			case !tilgang.ValidToken(it.v):
				p.add(it.line, "connectors: %q is not a connector instance name", it.v)
				connsOK = false
			case p.connectors != nil && !slices.Contains(p.connectors, it.v):
				p.add(it.line, "connectors: %q is not a configured connector instance (configured: %s)", it.v, listOr(p.connectors))
				connsOK = false
			default:
				s.Connectors = append(s.Connectors, it.v)
			}
		}
		if len(s.Connectors) == 0 && isEmptyList(fl.val) {
			p.add(fl.val.Line, "connectors is empty: a system needs at least one connector instance (manual when it has no API)")
		}
		if len(s.Connectors) == 0 {
			connsOK = false
		}
	}

	fl, ok := f["roles"]
	switch {
	case !ok:
		p.add(root.Line, "roles is missing: a system needs at least one role")
	case isEmptyList(fl.val):
		p.add(fl.val.Line, "roles is empty: a system needs at least one role")
	case deref(fl.val).Kind != yaml.SequenceNode:
		p.add(fl.val.Line, "roles must be a list of roles (- id: ...), not %s", kindName(deref(fl.val)))
	default:
		seen := map[string]*Role{}
		folded := map[string]*Role{}
		for _, n := range deref(fl.val).Content {
			r := p.role(s, n, connsOK)
			if r == nil || r.ID == "" {
				continue
			}
			if first, dup := seen[r.ID]; dup {
				p.add(r.Line, "role id %q is used twice (first on line %d)", r.ID, first.Line)
				continue
			}
			if first, dup := folded[strings.ToLower(r.ID)]; dup {
				p.add(r.Line, "role id %q differs only in case from role %q (line %d)", r.ID, first.ID, first.Line)
				continue
			}
			seen[r.ID], folded[strings.ToLower(r.ID)] = r, r
			s.Roles = append(s.Roles, r)
			s.roles[r.ID] = r
		}
	}
	rolesOK := len(s.Roles) > 0

	if fl, ok := f["birthright"]; ok && !isNull(fl.val) {
		n := deref(fl.val)
		if n.Kind != yaml.SequenceNode {
			p.add(n.Line, "birthright must be a list of rules (- when: ... roles: [...]), not %s", kindName(n))
		} else {
			for _, rn := range n.Content {
				if b, ok := p.birthright(s, rn, rolesOK); ok {
					s.Birthright = append(s.Birthright, b)
				}
			}
		}
	}

	if fl, ok := f["reconcile"]; ok {
		s.Reconcile = p.reconcile(fl.val)
	} else {
		s.Reconcile = DefaultReconcile
	}
	if fl, ok := f["review"]; ok {
		s.Review = p.review(fl.val)
	}

	// A role nobody may ask for and no birthright gives can never be held.
	for _, r := range s.Roles {
		if r.nobodyRequests && !givenByBirthright(s, r.ID) {
			p.add(r.Line, "role %q: requestable_by is empty and no birthright rule gives it, so nobody can ever hold it", r.ID)
		}
	}
	// Each systemansvarlig stage needs a different administrator, and one
	// who did not ask: a principal approves at most one stage, never their
	// own request.
	for _, r := range s.Roles {
		n, admins := countOf(r.Approval, StageSystemansvarlig), len(s.Administrators)
		switch {
		case n == 0 || admins == 0:
		case n > admins:
			p.add(r.Line, "role %q: approval has %d systemansvarlig stages but the system has %d administrators; each stage needs a different one", r.ID, n, admins)
		case n == admins && slices.Equal(r.RequestableBy, []string{ByAdministrator}) && !givenByBirthright(s, r.ID):
			p.add(r.Line, "role %q: only an administrator may request it, and approval needs %d more systemansvarlig, but the system has %d administrators: a requester cannot approve their own request; add an administrator or let the manager request it", r.ID, n, admins)
		}
	}
	return s
}

func givenByBirthright(s *System, role string) bool {
	for _, b := range s.Birthright {
		if slices.Contains(b.Roles, role) {
			return true
		}
	}
	return false
}

// role reads one role; connsOK says whether s.Connectors is complete, so
// that entitlement keys can be checked against it.
func (p *parser) role(s *System, n *yaml.Node, connsOK bool) *Role {
	n = deref(n)
	r := &Role{Line: n.Line, CredentialsTo: CredentialsToManager}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "a role must be a mapping (- id: ...), not %s", kindName(n))
		return nil
	}
	f := p.mapping(n, "role", roleKeys)
	name := "the role"
	if fl, ok := f["id"]; !ok {
		p.add(n.Line, "role: id is missing")
	} else if id, ok := p.str(fl.val, "role id"); ok {
		if tilgang.ValidToken(id) {
			r.ID = id
			name = fmt.Sprintf("role %q", id)
		} else {
			p.add(fl.val.Line, "role id %q is not an id: use letters, digits, '-' and '_'", id)
		}
	}

	if fl, ok := f["entitlements"]; !ok {
		p.add(n.Line, "%s: entitlements is missing: name what to grant under each connector, e.g. entitlements: { manual: [Bruker] }", name)
	} else if en := deref(fl.val); isNull(en) || (en.Kind == yaml.MappingNode && len(en.Content) == 0) {
		p.add(fl.val.Line, "%s: entitlements is empty: name at least one connector (an empty list there means an account only)", name)
	} else {
		r.Entitlements = map[string][]string{}
		for conn, fv := range p.orderedMapping(en, name+": entitlements") {
			if connsOK && !slices.Contains(s.Connectors, conn.Value) {
				p.add(conn.Line, "%s: entitlements names connector %q, which is not in the system's connectors (%s)", name, conn.Value, strings.Join(s.Connectors, ", "))
				continue
			}
			var vals []string
			for _, it := range p.uniqueList(fv, fmt.Sprintf("%s: entitlements of %s", name, conn.Value)) {
				if strings.TrimSpace(it.v) == "" {
					p.add(it.line, "%s: entitlements of %s: an entitlement is empty", name, conn.Value)
					continue
				}
				vals = append(vals, it.v)
			}
			r.Entitlements[conn.Value] = vals
		}
		for _, c := range s.Connectors {
			if _, ok := r.Entitlements[c]; ok {
				r.connectors = append(r.connectors, c)
			}
		}
		if !connsOK { // order is unknown; keep something deterministic
			for c := range r.Entitlements {
				r.connectors = append(r.connectors, c)
			}
			slices.Sort(r.connectors)
		}
	}

	if fl, ok := f["requestable_by"]; !ok {
		p.add(n.Line, "%s: requestable_by is missing: write who may ask (%s), or [] when only birthright gives it", name, strings.Join(requesters, ", "))
	} else {
		r.RequestableBy = []string{}
		r.nobodyRequests = isEmptyList(fl.val)
		for _, it := range p.uniqueList(fl.val, name+": requestable_by") {
			if !slices.Contains(requesters, it.v) {
				p.add(it.line, "%s: requestable_by %q is not one of %s", name, it.v, listOr(requesters))
				continue
			}
			r.RequestableBy = append(r.RequestableBy, it.v)
		}
	}

	if fl, ok := f["approval"]; !ok {
		p.add(n.Line, "%s: approval is missing: write the stages in order (%s), or [] for none", name, strings.Join(stages, ", "))
	} else {
		r.Approval = []string{}
		items, _ := p.list(fl.val, name+": approval")
		for _, it := range items {
			switch {
			case !slices.Contains(stages, it.v):
				p.add(it.line, "%s: approval stage %q is not one of %s", name, it.v, listOr(stages))
				continue
			case it.v == StageManager && slices.Contains(r.Approval, StageManager):
				p.add(it.line, "%s: approval has manager twice; a person has one manager", name)
				continue
			}
			r.Approval = append(r.Approval, it.v)
		}
	}

	if fl, ok := f["eligible"]; ok && !isNull(fl.val) {
		if v, ok := p.str(fl.val, name+": eligible"); ok {
			r.Eligible, r.EligibleLine = strings.TrimSpace(v), fl.val.Line
			if r.Eligible != "" {
				c, err := compile(r.Eligible)
				if err != nil {
					p.add(fl.val.Line, "%s: eligible %v", name, err)
				}
				r.eligible = c
			}
		}
	}

	if fl, ok := f["default_duration"]; ok && !isNull(fl.val) {
		r.DefaultDuration = p.days(fl.val, name+": default_duration")
	}
	if fl, ok := f["max_duration"]; ok && !isNull(fl.val) {
		r.MaxDuration = p.days(fl.val, name+": max_duration")
	}
	if r.DefaultDuration > 0 && r.MaxDuration > 0 && r.DefaultDuration > r.MaxDuration {
		p.add(f["default_duration"].val.Line, "%s: default_duration %s is longer than max_duration %s", name, r.DefaultDuration, r.MaxDuration)
	}

	if fl, ok := f["credentials_to"]; ok && !isNull(fl.val) {
		if v, ok := p.str(fl.val, name+": credentials_to"); ok {
			if slices.Contains(credentials, v) {
				r.CredentialsTo = v
			} else {
				p.add(fl.val.Line, "%s: credentials_to %q is not one of %s", name, v, listOr(credentials))
			}
		}
	}

	if fl, ok := f["requires_training"]; ok && !isNull(fl.val) {
		v := deref(fl.val)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&r.RequiresTraining) != nil {
			p.add(fl.val.Line, "%s: requires_training must be true or false, not %s", name, kindName(v))
		}
	}

	if fl, ok := f["conflicts"]; ok {
		for _, it := range p.uniqueList(fl.val, name+": conflicts") {
			sys, role, ok := strings.Cut(it.v, "/")
			if !ok || !tilgang.ValidToken(sys) || !tilgang.ValidToken(role) {
				p.add(it.line, "%s: conflicts %q is not system/role, e.g. gerica/admin", name, it.v)
				continue
			}
			r.Conflicts = append(r.Conflicts, it.v)
			r.conflictLines = append(r.conflictLines, it.line)
		}
	}
	return r
}

func (p *parser) birthright(s *System, n *yaml.Node, rolesOK bool) (Birthright, bool) {
	n = deref(n)
	b := Birthright{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "a birthright rule must be a mapping (- when: ... roles: [...]), not %s", kindName(n))
		return b, false
	}
	f := p.mapping(n, "birthright", birthrightKeys)
	ok := true
	if fl, has := f["when"]; !has || isNull(fl.val) {
		p.add(n.Line, "birthright: when is missing: a CEL condition on person, e.g. when: 'person.position == \"sykepleier\"'")
		ok = false
	} else if v, good := p.str(fl.val, "birthright: when"); good && strings.TrimSpace(v) != "" {
		b.When, b.Line = strings.TrimSpace(v), fl.val.Line
		c, err := compile(b.When)
		if err != nil {
			p.add(fl.val.Line, "birthright: when %v", err)
			ok = false
		}
		b.when = c
	} else {
		if good {
			p.add(fl.val.Line, "birthright: when is empty")
		}
		ok = false
	}
	if fl, has := f["roles"]; !has || isEmptyList(fl.val) {
		p.add(n.Line, "birthright: roles is missing or empty: name the roles the rule gives")
		ok = false
	} else {
		for _, it := range p.uniqueList(fl.val, "birthright: roles") {
			if _, known := s.roles[it.v]; rolesOK && !known {
				p.add(it.line, "birthright: role %q is not a role of %s (roles: %s)", it.v, systemName(s), strings.Join(roleIDs(s), ", "))
				ok = false
				continue
			}
			b.Roles = append(b.Roles, it.v)
		}
	}
	return b, ok
}

func (p *parser) days(n *yaml.Node, what string) Days {
	v, ok := p.str(n, what)
	if !ok {
		return 0
	}
	d, err := ParseDays(v)
	if err != nil {
		p.add(n.Line, "%s %v", what, err)
		return 0
	}
	return d
}

// required reads a non-empty text field of the system.
func (p *parser) required(f map[string]field, parent *yaml.Node, key, missing string) string {
	fl, ok := f[key]
	if !ok {
		p.add(parent.Line, "%s", missing)
		return ""
	}
	v, ok := p.str(fl.val, key)
	if ok && strings.TrimSpace(v) == "" {
		p.add(fl.val.Line, "%s is empty", key)
	}
	return strings.TrimSpace(v)
}

// mapping reads n's keys: each a plain scalar, at most once, and in allowed.
func (p *parser) mapping(n *yaml.Node, what string, allowed []string) map[string]field {
	out := map[string]field{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k.Line, "%s: a key must be a plain word, not %s", what, kindName(k))
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			msg := fmt.Sprintf("%s: unknown key %q", what, k.Value)
			if k.Value == "<<" {
				msg = fmt.Sprintf("%s: merge keys (<<) are not supported: write the keys out", what)
			} else if near := nearest(k.Value, allowed); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			} else {
				msg += fmt.Sprintf(" (known: %s)", strings.Join(allowed, ", "))
			}
			p.add(k.Line, "%s", msg)
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.add(k.Line, "%s: key %q appears twice (first on line %d)", what, k.Value, prev.key.Line)
			continue
		}
		out[k.Value] = field{k, v}
	}
	return out
}

// orderedMapping yields the pairs of a mapping with free keys, reporting
// non-scalar and repeated keys.
func (p *parser) orderedMapping(n *yaml.Node, what string) func(func(*yaml.Node, *yaml.Node) bool) {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		if n.Kind != yaml.MappingNode {
			p.add(n.Line, "%s must be a mapping of connector to a list, like { manual: [Bruker] }, not %s", what, kindName(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				p.add(k.Line, "%s: a key must be a connector instance name, not %s", what, kindName(k))
				continue
			}
			if line, dup := seen[k.Value]; dup {
				p.add(k.Line, "%s: connector %q appears twice (first on line %d)", what, k.Value, line)
				continue
			}
			seen[k.Value] = k.Line
			if !yield(k, v) {
				return
			}
		}
	}
}

// str reads a single non-null scalar.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		p.add(n.Line, "%s is empty", what)
		return "", false
	case n.Kind != yaml.ScalarNode:
		p.add(n.Line, "%s must be a single value, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// list reads a list of scalars; null is the empty list.
func (p *parser) list(n *yaml.Node, what string) ([]item, bool) {
	n = deref(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, "%s must be a list, like [a, b], not %s", what, kindName(n))
		return nil, false
	}
	var out []item
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			p.add(c.Line, "%s: each entry must be a single value, not %s", what, kindName(c))
			continue
		}
		out = append(out, item{c.Value, c.Line})
	}
	return out, true
}

// uniqueList is list, reporting and dropping repeated entries.
func (p *parser) uniqueList(n *yaml.Node, what string) []item {
	items, _ := p.list(n, what)
	seen := map[string]int{}
	out := items[:0]
	for _, it := range items {
		if line, dup := seen[it.v]; dup {
			p.add(it.line, "%s: %q is listed twice (first on line %d)", what, it.v, line)
			continue
		}
		seen[it.v] = it.line
		out = append(out, it)
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func isEmptyList(n *yaml.Node) bool {
	n = deref(n)
	return isNull(n) || (n.Kind == yaml.SequenceNode && len(n.Content) == 0)
}

func kindName(n *yaml.Node) string {
	switch n = deref(n); n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func listOr(xs []string) string {
	switch len(xs) {
	case 0:
		return "(none)"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

func roleIDs(s *System) []string {
	ids := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		ids[i] = r.ID
	}
	return ids
}

func systemName(s *System) string {
	if s.ID != "" {
		return s.ID
	}
	return "this system"
}

// nearest is the allowed key within two edits of k (or equal but for case
// and '-'), "" when none is that close.
func nearest(k string, allowed []string) string {
	norm := strings.ReplaceAll(strings.ToLower(k), "-", "_")
	best, bestD := "", 3
	for _, a := range allowed {
		d := editDistance(norm, a)
		if d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
