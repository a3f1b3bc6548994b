package policy

import (
	"slices"
	"sort"
)

// Who may ask for a role (requestable_by).
const (
	ByManager       = "manager"       // the person's manager (main employment)
	BySelf          = "self"          // the person for themselves
	ByAdministrator = "administrator" // a systemansvarlig of the system
	ByHR            = "hr"            // a service principal with the hr capability
)

// Approval stages (approval), in the order a role lists them.
const (
	StageManager         = "manager"         // the person's manager; their manager when the manager asked
	StageSystemansvarlig = "systemansvarlig" // any administrator of the system not yet in the grant
)

// Who receives a new account's sealed initial password (credentials_to).
const (
	CredentialsToManager        = "manager"
	CredentialsToAdministrators = "administrators"
)

var (
	requesters  = []string{ByManager, BySelf, ByAdministrator, ByHR}
	stages      = []string{StageManager, StageSystemansvarlig}
	credentials = []string{CredentialsToManager, CredentialsToAdministrators}
)

// Catalogue is every fagsystem's policy, loaded from one directory.
type Catalogue struct {
	// Version is the SHA-256 hex of all catalogue files, in name order, each
	// as its base name, a NUL byte, its own SHA-256 hex and a newline.
	Version string
	Systems map[string]*System
	Dir     string

	sodIndex // conflicts both ways, built on first use
}

// System is one fagsystem's policy file.
type System struct {
	ID, Name, Owner string
	Administrators  []string // systemansvarlig: person ids
	Coordinator     string   // systemkoordinator: person id, "" when none is named
	Connectors      []string // connector instance names
	Roles           []*Role
	Birthright      []Birthright
	File, FileHash  string // path and SHA-256 hex of this system's file
	Line            int    // of the system key
	// Reconcile is the reconcile: settings, defaults applied.
	Reconcile Reconcile
	// Review is the review: settings, nil when the system has none (no
	// access review campaigns).
	Review *Review

	roles map[string]*Role
}

// Role is one role of a system and the rules for granting it.
type Role struct {
	ID               string
	Entitlements     map[string][]string // connector instance -> entitlement strings (AD group DNs, Entra group ids, fagsystem role names)
	RequestableBy    []string            // manager | self | administrator | hr
	Approval         []string            // stages in order: manager | systemansvarlig; empty = none
	Eligible         string              // CEL source for the policy engine; "" = everyone
	DefaultDuration  Days                // when the request names no end; 0 = none
	MaxDuration      Days                // longer requests are shortened; 0 = no limit
	CredentialsTo    string              // manager (default) | administrators
	RequiresTraining bool
	Conflicts        []string // "system/role": never held together with this role
	Line             int      // of the role's list item
	EligibleLine     int      // of the eligible expression, for CEL errors

	eligible       *condition // compiled Eligible; nil when empty
	connectors     []string   // entitlement keys, in the order the system lists its connectors
	conflictLines  []int
	nobodyRequests bool // requestable_by: []
}

// Birthright gives Roles to everyone for whom When holds (HR-driven).
type Birthright struct {
	When  string // CEL source
	Roles []string
	Line  int // of the when expression (or of the rule when it has none)

	when *condition
}

// System returns the system with the id.
func (c *Catalogue) System(id string) (*System, bool) {
	s, ok := c.Systems[id]
	return s, ok
}

// Role returns a role with its system.
func (c *Catalogue) Role(system, role string) (*System, *Role, bool) {
	s, ok := c.Systems[system]
	if !ok {
		return nil, nil, false
	}
	r, ok := s.Role(role)
	if !ok {
		return nil, nil, false
	}
	return s, r, true
}

// SystemIDs lists the system ids in order.
func (c *Catalogue) SystemIDs() []string {
	ids := make([]string, 0, len(c.Systems))
	for id := range c.Systems {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Conflicting lists, sorted, every "system/role" that must not be held
// together with system/role: the ones it names and the ones naming it.
func (c *Catalogue) Conflicting(system, role string) []string {
	self := system + "/" + role
	set := map[string]bool{}
	if _, r, ok := c.Role(system, role); ok {
		for _, x := range r.Conflicts {
			set[x] = true
		}
	}
	for _, s := range c.Systems {
		for _, r := range s.Roles {
			if slices.Contains(r.Conflicts, self) {
				set[s.ID+"/"+r.ID] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// Role returns the system's role with the id.
func (s *System) Role(id string) (*Role, bool) {
	r, ok := s.roles[id]
	return r, ok
}

// IsAdministrator reports whether the person is a systemansvarlig of s.
func (s *System) IsAdministrator(personID string) bool {
	return personID != "" && slices.Contains(s.Administrators, personID)
}

// Requestable reports whether a requester of the kind (manager, self,
// administrator, hr) may ask for the role.
func (r *Role) Requestable(by string) bool { return slices.Contains(r.RequestableBy, by) }

// Connectors lists the connector instances a grant of the role provisions
// through (the keys of Entitlements), in the order the system lists them.
func (r *Role) Connectors() []string { return slices.Clone(r.connectors) }
