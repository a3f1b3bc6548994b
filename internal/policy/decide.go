package policy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ror-ikt/tilgang"
)

// When says at which point of a grant's life Decide is asked.
type When int

const (
	// AtRequest: a new grant request. Who asks (requestable_by) counts, and
	// an end date already past is refused.
	AtRequest When = iota
	// AtProvisioning: the grant has passed its approvals (and training) and
	// is about to be provisioned, or the person's HR record changed. Only
	// what can have changed meanwhile counts: eligibility and conflicts.
	AtProvisioning
)

// Rules a decision can be refused by (Decision.Rule).
const (
	RuleUnknown       = "unknown"        // no such system or role
	RuleRequestableBy = "requestable_by" // the actor may not ask for it
	RuleEligible      = "eligible"       // the person does not meet the condition
	RuleConflicts     = "conflicts"      // separation of duties
	RuleValidUntil    = "valid_until"    // the requested end has passed
)

// Request is what Decide decides on. It is plain data: the engine fills it
// from the message and the ledger.
type Request struct {
	System, Role string
	Actor        string
	// Relations are what the actor is to the person for this system
	// (manager, self, administrator, hr). Ignored when Birthright is set or
	// When is AtProvisioning.
	Relations  []string
	Reason     string
	ValidUntil tilgang.Date // zero: the role's default duration
	Birthright bool         // asked by a birthright rule, not by a person
	When       When
	Now        time.Time // the worker's clock: end dates are planned from its Oslo date
}

// Held is an open grant the person has (any state that is not final).
type Held struct {
	GrantID, System, Role string
	State                 tilgang.GrantState
}

// Conflict is an open grant that separation of duties forbids beside the
// requested role.
type Conflict struct {
	With    string `json:"with"` // "system/role"
	GrantID string `json:"grant_id"`
	State   string `json:"state"`
}

// Decision is Decide's answer. Allowed is false exactly when Reason is set.
type Decision struct {
	Allowed bool   `json:"allowed"`
	Rule    string `json:"rule,omitempty"`   // which rule refused (Rule*)
	Reason  string `json:"reason,omitempty"` // in words, naming the rule or the conflicting grant

	Eligible  bool       `json:"eligible"`
	Conflicts []Conflict `json:"conflicts,omitempty"`

	Approval         []string `json:"approval"`
	RequiresTraining bool     `json:"requires_training"`
	// End is the end date if the grant became active at Now (the last day
	// of access, inclusive; zero = no end), Requested what was asked, and
	// Shortened whether max_duration cut it.
	End       tilgang.Date `json:"end"`
	Requested tilgang.Date `json:"requested"`
	Shortened bool         `json:"shortened,omitempty"`

	Entitlements map[string][]string `json:"entitlements,omitempty"`
	Catalogue    string              `json:"catalogue"`
	FileHash     string              `json:"file_hash,omitempty"`
}

// RequestVars is what conditions see as request.
func RequestVars(r Request) map[string]any {
	vu := any(nil)
	if !r.ValidUntil.IsZero() {
		vu = r.ValidUntil.String()
	}
	return map[string]any{"system": r.System, "role": r.Role, "actor": r.Actor, "reason": r.Reason,
		"valid_until": vu, "birthright": r.Birthright}
}

// Decide is the policy engine: it decides a request for person from the
// catalogue and the person's open grants, and does nothing else (no I/O, no
// clock: r.Now is the time to plan from). The checks, in order:
// requestable_by (at request, unless birthright), the requested end (at
// request), eligible, conflicts. A condition that cannot be evaluated (a
// missing key, say) refuses, saying why.
func Decide(cat *Catalogue, person *tilgang.Person, r Request, held []Held) Decision {
	return decide(cat, PersonVars(person), r, held)
}

func decide(cat *Catalogue, pv map[string]any, r Request, held []Held) Decision {
	d := Decision{Catalogue: cat.Version}
	sys, role, ok := cat.Role(r.System, r.Role)
	if !ok {
		d.Rule, d.Reason = RuleUnknown, fmt.Sprintf("%s/%s is not in the catalogue", r.System, r.Role)
		return d
	}
	d.FileHash = sys.FileHash
	d.Approval = append([]string{}, role.Approval...)
	d.RequiresTraining = role.RequiresTraining
	d.Entitlements = role.Entitlements
	d.Requested = r.ValidUntil
	if !r.Now.IsZero() {
		d.End, d.Shortened = role.End(r.ValidUntil, r.Now)
	}

	var reasons []string
	rule := ""
	refuse := func(ru, why string) {
		if rule == "" {
			rule = ru
		}
		reasons = append(reasons, why)
	}
	if r.When == AtRequest && !r.Birthright {
		ok := false
		for _, rel := range r.Relations {
			ok = ok || role.Requestable(rel)
		}
		if !ok {
			by := strings.Join(role.RequestableBy, ", ")
			if by == "" {
				by = "nobody (birthright only)"
			}
			refuse(RuleRequestableBy, fmt.Sprintf("requestable_by: %s/%s is requestable by %s; %s is none of them for %s",
				r.System, r.Role, by, r.Actor, pv["id"]))
		}
	}
	if r.When == AtRequest && !r.ValidUntil.IsZero() && !r.Now.IsZero() && !r.ValidUntil.End().After(r.Now) {
		refuse(RuleValidUntil, fmt.Sprintf("valid_until %s has passed", r.ValidUntil))
	}
	el, err := role.IsEligible(pv, RequestVars(r))
	d.Eligible = el && err == nil
	switch {
	case err != nil:
		refuse(RuleEligible, fmt.Sprintf("eligible: %s/%s (%s) could not be decided: %v", r.System, r.Role, role.Eligible, err))
	case !el:
		refuse(RuleEligible, fmt.Sprintf("eligible: %s is not eligible for %s/%s (%s, %s:%d)", pv["id"], r.System, r.Role, role.Eligible, sys.File, role.EligibleLine))
	}
	conflicting := cat.conflicting(r.System, r.Role)
	for _, h := range held {
		k := h.System + "/" + h.Role
		if h.State.Final() || !conflicting[k] {
			continue
		}
		d.Conflicts = append(d.Conflicts, Conflict{With: k, GrantID: h.GrantID, State: string(h.State)})
	}
	for _, c := range d.Conflicts {
		refuse(RuleConflicts, fmt.Sprintf("conflicts: %s/%s may not be held together with %s (grant %s, %s)", r.System, r.Role, c.With, c.GrantID, c.State))
	}
	if len(reasons) == 0 {
		d.Allowed = true
		return d
	}
	d.Rule, d.Reason = rule, strings.Join(reasons, "; ")
	return d
}

// conflicting is Conflicting as a set, computed once per catalogue.
func (c *Catalogue) conflicting(system, role string) map[string]bool {
	c.sodOnce.Do(func() {
		c.sod = map[string]map[string]bool{}
		add := func(a, b string) {
			if c.sod[a] == nil {
				c.sod[a] = map[string]bool{}
			}
			c.sod[a][b] = true
		}
		for _, s := range c.Systems {
			for _, r := range s.Roles {
				for _, x := range r.Conflicts {
					add(s.ID+"/"+r.ID, x)
					add(x, s.ID+"/"+r.ID)
				}
			}
		}
	})
	return c.sod[system+"/"+role]
}

// sodIndex holds the conflicts index; embedded in Catalogue.
type sodIndex struct {
	sodOnce sync.Once
	sod     map[string]map[string]bool
}

// End is the last day of access of a grant of r that became active at
// activated, when requested was asked (zero: none). A duration counts from
// the Oslo date of activation, not of the request, so a grant approved
// late still gets its full time: default_duration applies when no end was
// asked, and max_duration caps whatever end results (shortened says it
// did). The grant ends at the end of that Oslo day (tilgang.Date.End). A
// requested date is an end date, not a duration: a late activation does not
// move it. Zero means no end.
func (r *Role) End(requested tilgang.Date, activated time.Time) (end tilgang.Date, shortened bool) {
	day := tilgang.DateOf(activated)
	end = requested
	if end.IsZero() && r.DefaultDuration > 0 {
		end = r.DefaultDuration.After(day)
	}
	if r.MaxDuration > 0 {
		limit := r.MaxDuration.After(day)
		if end.IsZero() {
			end = limit
		} else if limit.Before(end) {
			end, shortened = limit, !requested.IsZero()
		}
	}
	return end, shortened
}

// BirthrightRoles maps every "system/role" the catalogue's birthright rules
// give the person to the first rule giving it ("file:line"), and returns the
// first evaluation error (a rule that cannot be evaluated gives nothing).
func BirthrightRoles(cat *Catalogue, person *tilgang.Person) (map[string]string, error) {
	pv := PersonVars(person)
	act, err := activation(pv, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var first error
	for _, id := range cat.SystemIDs() {
		s := cat.Systems[id]
		for _, b := range s.Birthright {
			var ok bool
			var err error
			if b.when != nil {
				ok, err = b.when.evalIn(act)
			} else {
				ok, err = b.Applies(pv) // built by hand: compiled on the way
			}
			if err != nil {
				if first == nil {
					first = fmt.Errorf("%s:%d: %w", s.File, b.Line, err)
				}
				continue
			}
			if !ok {
				continue
			}
			for _, r := range b.Roles {
				if _, seen := out[s.ID+"/"+r]; !seen {
					out[s.ID+"/"+r] = fmt.Sprintf("%s:%d", s.File, b.Line)
				}
			}
		}
	}
	return out, first
}
