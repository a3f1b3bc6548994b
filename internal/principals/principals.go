// Package principals knows who may sign messages to tilgang: people and
// service principals, their NATS nkeys, and the capabilities of service
// principals (DESIGN.md "Principals and signatures"). It verifies the
// actorsig of an envelope, makes the keys of `tilgang dev`, and seals
// initial credentials to a principal's curve key.
//
// # The principals file
//
// The worker config names one YAML file:
//
//	principals:
//	  - id: hr-feed                # a person id or a service principal name: letters, digits, '-', '_'
//	    kind: service              # person | service
//	    name: Visma HRM feed       # optional, for humans
//	    key: UCBUBTP4LWGRVP75SMOYBEHJPAXFUIXJNGV4PPEXVUIATCKRVGQL5YFE
//	    capabilities: [hr]         # service principals only: hr | on_behalf | operator | auditor
//	  - id: portal
//	    kind: service
//	    name: Selvbetjeningsportalen
//	    key: UA3A5I4APAJUBCWSB3T75AX2BZMK6EJS5R5UJ2R5VDR7IH6G6JWHLHEP
//	    capabilities: [on_behalf]  # may sign for the person it names as actor (via: portal)
//	  - id: 1547-20001             # a person: a systemansvarlig who signs for herself
//	    kind: person
//	    name: Kari Nordmann
//	    key: UAQMY4OG7DJ6F3I3LTBR4SZ7H6IKO4EXPVURIPF75POVCFRHKK5T2SDN
//	    curve_key: XCWHZ6TID7N5E25TKOOGY6L6FWO3JSOQ24QOXFEB4CUJXXN2X4JG2UAR  # receives sealed initial passwords
//	  - id: hr-desk                # an HR tool that registers people for HR advisers
//	    kind: service
//	    key: UDVZQMIDGTNMYW7SOIOJYECNJ3KKUZ2X3QJ6K72EQUGPSINGQTEN7LHP
//	    capabilities: [on_behalf]
//	    on_behalf_of: [hr-feed]    # service principals it may also act for (persons it always may)
//
// key is an nkeys user public key (U..., Ed25519), used to check actorsig;
// curve_key, optional, is an nkeys curve public key (X...) that initial
// credentials are sealed to. Never put a seed (S...) in this file: it holds
// public keys only, and a seed is refused without being echoed.
// `tilgang principal add|rotate|revoke` make keys and edit this file (Add,
// Rotate, Revoke). A rotated principal lists its earlier keys:
//
//	retired_keys:              # each verifies messages and API calls until its until,
//	  - {key: UAQ..., until: "2026-12-11T15:00:00Z"}  # and the worker's anchors for ever
//
// and a revoked one has no key, curve_key or retired_keys, only
// `revoked: TIME`: nothing it signs verifies, and its entry keeps its id
// and kind (a via acting for it still acts for a service principal).
// deploy/principals.example.yaml is a fuller, annotated example (how to
// make the keys, every capability); TestDeployExample loads it.
//
// Rules, all checked at once and reported as `file:line: what is wrong`:
// ids are unique subject tokens; kind is person or service; every key is
// unique, current and retired (one key, one principal, so a signature
// names its signer); a retired key is a user key with an RFC 3339 until;
// what a person may do follows from the catalogue and HR (manager,
// administrator, self), and a person principal may also hold operator
// (retry and cancel grants), auditor (read everything) and hr_requester
// (ask for anyone, as HR advisers do), which count also when the portal
// signs for them; a service principal may hold hr (send HR events),
// on_behalf (sign as `via` for persons), operator and auditor. on_behalf_of,
// only beside on_behalf, lists the service principals (known ids, not the
// principal itself) it may also act for; without it a `via` acts for
// persons only, so a service principal's capabilities count only when it
// signs for itself or when a principal it trusts so is named here (see
// MayActFor). Unknown keys, repeated keys, aliases and a second YAML
// document are errors.
package principals

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nkeys"

	"github.com/ror-ikt/tilgang"
)

// Principal kinds.
const (
	KindPerson  = "person"
	KindService = "service"
)

// Capabilities lists the known capabilities of service principals.
var Capabilities = []string{tilgang.CapHR, tilgang.CapOnBehalf, tilgang.CapOperator, tilgang.CapAuditor, tilgang.CapHRRequester}

// PersonCapabilities are those a person principal may hold (DESIGN.md
// "Principals and signatures"); they count also when the portal signs for
// the person. ServiceCapabilities are a service principal's.
var (
	PersonCapabilities  = []string{tilgang.CapOperator, tilgang.CapAuditor, tilgang.CapHRRequester}
	ServiceCapabilities = []string{tilgang.CapHR, tilgang.CapOnBehalf, tilgang.CapOperator, tilgang.CapAuditor}
)

// Principal is one entry of the principals file.
type Principal struct {
	ID           string   `yaml:"id" json:"id"`
	Kind         string   `yaml:"kind" json:"kind"`
	Name         string   `yaml:"name,omitempty" json:"name,omitempty"`
	Key          string   `yaml:"key" json:"key"`
	CurveKey     string   `yaml:"curve_key,omitempty" json:"curve_key,omitempty"`
	Capabilities []string `yaml:"capabilities,omitempty" json:"capabilities,omitempty"`
	// OnBehalfOf names the service principals a principal with on_behalf
	// may act for besides persons.
	OnBehalfOf []string `yaml:"on_behalf_of,omitempty" json:"on_behalf_of,omitempty"`
	// RetiredKeys are the principal's earlier user keys (`tilgang
	// principal rotate`): each verifies messages and API calls until its
	// Until, and the worker's verifies audit anchors for ever.
	RetiredKeys []RetiredKey `yaml:"retired_keys,omitempty" json:"retired_keys,omitempty"`
	// Revoked, when set, is when `tilgang principal revoke` ended the
	// principal's keys: it has none, and nothing it signs verifies. The
	// entry stays, so that its id keeps its kind.
	Revoked time.Time `yaml:"revoked,omitempty" json:"revoked,omitzero"`
}

// RetiredKey is a user key a principal had before its current one.
type RetiredKey struct {
	Key   string    `yaml:"key" json:"key"`
	Until time.Time `yaml:"until" json:"until"`
}

func (p Principal) clone() Principal {
	p.Capabilities = slices.Clone(p.Capabilities)
	p.OnBehalfOf = slices.Clone(p.OnBehalfOf)
	p.RetiredKeys = slices.Clone(p.RetiredKeys)
	return p
}

func (p Principal) equal(o Principal) bool {
	sorted := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return s
	}
	return p.ID == o.ID && p.Kind == o.Kind && p.Name == o.Name && p.Key == o.Key && p.CurveKey == o.CurveKey &&
		slices.Equal(sorted(p.Capabilities), sorted(o.Capabilities)) && slices.Equal(sorted(p.OnBehalfOf), sorted(o.OnBehalfOf)) &&
		slices.EqualFunc(p.RetiredKeys, o.RetiredKeys, func(a, b RetiredKey) bool { return a.Key == b.Key && a.Until.Equal(b.Until) }) &&
		p.Revoked.Equal(o.Revoked)
}

// Set is a validated, immutable set of principals, safe for concurrent use.
type Set struct {
	byID map[string]*entry
	now  func() time.Time // when a retired key is judged; time.Now when nil
}

type entry struct {
	p       Principal
	pub     nkeys.KeyPair // verify-only; nil when revoked
	retired []retired
	caps    map[string]bool
	actFor  map[string]bool // on_behalf_of
}

type retired struct {
	pub   nkeys.KeyPair
	until time.Time
}

// problem is one thing wrong with principal number idx (0-based); field
// is the field it concerns ("" for the principal as a whole) and, for one
// capability, "capabilities[i]".
type problem struct {
	idx   int
	field string
	msg   string
}

// New validates ps, reporting every problem at once as a *tilgang.Error
// of kind Invalid, and returns the set.
func New(ps []Principal) (*Set, error) {
	if probs := validate(ps); len(probs) > 0 {
		lines := make([]string, len(probs))
		for i, pr := range probs {
			at := fmt.Sprintf("principals[%d]", pr.idx)
			if id := ps[pr.idx].ID; id != "" {
				at += fmt.Sprintf(" (%s)", quote(id))
			}
			if pr.field != "" {
				at += "." + pr.field
			}
			lines[i] = at + ": " + pr.msg
		}
		return nil, tilgang.Errorf(tilgang.Invalid, "principals: %s", strings.Join(lines, "\n"))
	}
	return build(ps), nil
}

// build makes the set of principals that validate accepted.
func build(ps []Principal) *Set {
	s := &Set{byID: make(map[string]*entry, len(ps))}
	parse := func(k string) nkeys.KeyPair {
		pub, err := nkeys.FromPublicKey(k)
		if err != nil {
			panic("principals: validated key does not parse: " + err.Error())
		}
		return pub
	}
	for _, p := range ps {
		e := &entry{p: p.clone(), caps: map[string]bool{}, actFor: map[string]bool{}}
		if p.Revoked.IsZero() {
			e.pub = parse(p.Key)
			for _, r := range p.RetiredKeys {
				e.retired = append(e.retired, retired{parse(r.Key), r.Until})
			}
		}
		for _, c := range p.Capabilities {
			e.caps[c] = true
		}
		for _, a := range p.OnBehalfOf {
			e.actFor[a] = true
		}
		s.byID[p.ID] = e
	}
	return s
}

func validate(ps []Principal) []problem {
	var probs []problem
	add := func(i int, field, format string, args ...any) {
		probs = append(probs, problem{i, field, fmt.Sprintf(format, args...)})
	}
	ids := map[string]int{}
	keys := map[string]int{}
	for i, p := range ps {
		switch {
		case p.ID == "":
			add(i, "id", "id is missing")
		case !tilgang.ValidToken(p.ID):
			add(i, "id", "id %s must be letters, digits, '-' or '_' (at most 128)", quote(p.ID))
		default:
			if j, dup := ids[p.ID]; dup {
				add(i, "id", "id %s is also principal %d", quote(p.ID), j+1)
			} else {
				ids[p.ID] = i
			}
		}
		switch p.Kind {
		case KindPerson, KindService:
		case "":
			add(i, "kind", "kind is missing: person or service")
		default:
			add(i, "kind", "kind %s must be person or service", quote(p.Kind))
		}
		if err := checkName(p.Name); err != "" {
			add(i, "name", "%s", err)
		}
		userKey := func(field, k string) {
			switch {
			case !nkeys.IsValidPublicUserKey(k):
				add(i, field, "%s", keyProblem(field, k, "an nkeys user public key (U...)"))
			default:
				if j, dup := keys[k]; dup && j == i {
					add(i, field, "%s repeats a key of this principal: a key is current or retired, once", field)
				} else if dup {
					add(i, field, "%s is also the key of principal %d (current or retired): each principal needs its own keys", field, j+1)
				} else {
					keys[k] = i
				}
			}
		}
		switch {
		case !p.Revoked.IsZero():
			if p.Key != "" || len(p.RetiredKeys) > 0 {
				add(i, "revoked", "a revoked principal has no key and no retired_keys: remove them, or remove revoked to give it a key again")
			}
		case p.Key == "":
			add(i, "key", "key is missing: the principal's nkeys user public key (U...)")
		default:
			userKey("key", p.Key)
		}
		for j, r := range p.RetiredKeys {
			f := "retired_keys[" + strconv.Itoa(j) + "]"
			if r.Key == "" {
				add(i, f+".key", "%s.key is missing: the retired nkeys user public key (U...)", f)
			} else if p.Revoked.IsZero() {
				userKey(f+".key", r.Key)
			}
			if r.Until.IsZero() {
				add(i, f+".until", "%s.until is missing: until when the retired key verifies messages (RFC 3339)", f)
			}
		}
		if p.CurveKey != "" && !nkeys.IsValidPublicCurveKey(p.CurveKey) {
			add(i, "curve_key", "%s", keyProblem("curve_key", p.CurveKey, "an nkeys curve public key (X...)"))
		}
		allowed := ServiceCapabilities
		if p.Kind == KindPerson {
			allowed = PersonCapabilities
		}
		seen := map[string]bool{}
		for j, c := range p.Capabilities {
			f := "capabilities[" + strconv.Itoa(j) + "]"
			switch {
			case p.Kind == KindPerson && slices.Contains(ServiceCapabilities, c) && !slices.Contains(allowed, c):
				add(i, f, "a person may hold only %s, not %s: that is a service principal's", strings.Join(allowed, ", "), quote(c))
			case p.Kind == KindService && c == tilgang.CapHRRequester:
				add(i, f, "%s is a person's capability (an HR adviser asking for anyone); a service principal sending for HR holds %s", quote(c), tilgang.CapHR)
			case !slices.Contains(allowed, c):
				add(i, f, "capability %s is not one of %s", quote(c), strings.Join(allowed, ", "))
			case seen[c]:
				add(i, f, "capability %s is repeated", quote(c))
			}
			seen[c] = true
		}
	}
	// on_behalf_of names principals, so it is checked once every id is known.
	for i, p := range ps {
		if len(p.OnBehalfOf) > 0 && !slices.Contains(p.Capabilities, tilgang.CapOnBehalf) {
			add(i, "on_behalf_of", "on_behalf_of needs the %s capability: without it the principal acts for nobody", tilgang.CapOnBehalf)
			continue
		}
		seen := map[string]bool{}
		for j, a := range p.OnBehalfOf {
			f := "on_behalf_of[" + strconv.Itoa(j) + "]"
			_, known := ids[a]
			switch {
			case a == p.ID:
				add(i, f, "on_behalf_of names the principal itself: it signs for itself without it")
			case !known:
				add(i, f, "on_behalf_of names %s, which is not a principal of this file", quote(a))
			case seen[a]:
				add(i, f, "on_behalf_of names %s twice", quote(a))
			}
			seen[a] = true
		}
	}
	return probs
}

func checkName(s string) string {
	if n := utf8.RuneCountInString(s); n > 256 {
		return fmt.Sprintf("name is %d characters, more than 256", n)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("name %s contains the control character %U", quote(s), r)
		}
	}
	return ""
}

// keyProblem says what is wrong with a public key value. A value that
// looks like a seed (S...) is a secret and is never echoed.
func keyProblem(field, v, want string) string {
	if strings.HasPrefix(v, "S") {
		if _, _, err := nkeys.DecodeSeed([]byte(v)); err == nil {
			return field + " is a seed, a secret: put the public key here and treat the seed as leaked"
		}
		return field + " is not " + want
	}
	return field + " " + quote(v) + " is not " + want
}

// Get returns the principal with id.
func (s *Set) Get(id string) (Principal, bool) {
	if s == nil {
		return Principal{}, false
	}
	e, ok := s.byID[id]
	if !ok {
		return Principal{}, false
	}
	return e.p.clone(), true
}

// Can reports whether principal id exists and has capability.
func (s *Set) Can(id, capability string) bool {
	if s == nil {
		return false
	}
	e, ok := s.byID[id]
	return ok && e.caps[capability]
}

// IDs lists the principals' ids, sorted.
func (s *Set) IDs() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.byID))
}

// Len is the number of principals.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.byID)
}

// All returns the principals sorted by id.
func (s *Set) All() []Principal {
	ids := s.IDs()
	out := make([]Principal, len(ids))
	for i, id := range ids {
		out[i] = s.byID[id].p.clone()
	}
	return out
}

// Merge is the union of a and b (either may be nil). The same id in both
// is an error unless the two entries are identical; so is one key used
// by two ids.
func Merge(a, b *Set) (*Set, error) {
	ps := a.All()
	for _, p := range b.All() {
		if e, ok := a.byIDOrNil(p.ID); ok {
			if !e.p.equal(p) {
				return nil, tilgang.Errorf(tilgang.Invalid, "principals: merge: %s is defined twice, differently", quote(p.ID))
			}
			continue
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return New(ps)
}

func (s *Set) byIDOrNil(id string) (*entry, bool) {
	if s == nil {
		return nil, false
	}
	e, ok := s.byID[id]
	return e, ok
}

// quote quotes a value for an error message, shortened.
func quote(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(string([]rune(s)[:max])) + "..."
}
