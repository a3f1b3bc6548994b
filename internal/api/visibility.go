package api

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// viewer judges, for one call, which rows its actor may see (see the
// package doc). Manager lookups are cached for the call.
type viewer struct {
	ctx      context.Context
	r        ledger.Reader
	actor    string
	all      bool // operator or auditor
	operator bool
	cat      *policy.Catalogue
	managers map[string]string
	now      time.Time                 // managers are those of the records in effect then
	grants   map[string][]ledger.Grant // person -> all their grants, for account work
}

func (s *Server) viewer(ctx context.Context, actor string) *viewer {
	set := s.principals()
	return &viewer{
		ctx: ctx, r: s.Ledger, actor: actor,
		all:      set.Can(actor, tilgang.CapOperator) || set.Can(actor, tilgang.CapAuditor),
		operator: set.Can(actor, tilgang.CapOperator),
		cat:      s.catalogue(), managers: map[string]string{}, grants: map[string][]ledger.Grant{}, now: s.now(),
	}
}

// sees reports whether a row about person in system is visible: to
// operators and auditors, the person, the person's manager and the
// administrators of the system.
func (v *viewer) sees(person, system string) (bool, error) {
	if v.all {
		return true, nil
	}
	if person != "" && person == v.actor {
		return true, nil
	}
	if v.administers(system) {
		return true, nil
	}
	if person == "" || person == "_" {
		return false, nil
	}
	m, err := v.manager(person)
	return m != "" && m == v.actor, err
}

func (v *viewer) administers(system string) bool {
	if system == "" || v.cat == nil {
		return false
	}
	s, ok := v.cat.System(system)
	return ok && s.IsAdministrator(v.actor)
}

// administered lists the systems of the catalogue the actor administers.
func (v *viewer) administered() []string {
	if v.cat == nil {
		return nil
	}
	var out []string
	for id, s := range v.cat.Systems {
		if s.IsAdministrator(v.actor) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (v *viewer) manager(person string) (string, error) {
	if m, ok := v.managers[person]; ok {
		return m, nil
	}
	p, err := v.r.Person(v.ctx, person)
	if err != nil {
		return "", err
	}
	m := ""
	if p != nil {
		m = managerAt(p, v.now)
	}
	v.managers[person] = m
	return m, nil
}

// seesGrant: sees, or the principal the pending approval stage names.
func (v *viewer) seesGrant(g *ledger.Grant) (bool, error) {
	if g.State == tilgang.StatePendingApproval && g.StagePrincipal != "" && g.StagePrincipal == v.actor {
		return true, nil
	}
	return v.sees(g.Person, g.System)
}

// seesOperation: an operation of a grant is the grant's; account work
// without a grant belongs to the systems engine.TaskSystems names.
func (v *viewer) seesOperation(op *ledger.Operation) (bool, error) {
	var g *ledger.Grant
	if op.GrantID != "" {
		var err error
		if g, err = v.r.Grant(v.ctx, op.GrantID); err != nil {
			return false, err
		}
	}
	return v.seesOperationOf(op, g)
}

// seesOperationOf is seesOperation with op's grant already read (nil when
// it has none, or the grant is gone).
func (v *viewer) seesOperationOf(op *ledger.Operation, g *ledger.Grant) (bool, error) {
	if g != nil {
		return v.seesGrant(g)
	}
	if ok, err := v.sees(op.Person, ""); ok || err != nil {
		return ok, err
	}
	systems, err := v.opSystems(op, nil)
	return slices.ContainsFunc(systems, v.administers), err
}

// opSystems are the systems an operation belongs to (g is its grant, nil
// when none), as engine.TaskSystems says: their administrators are the
// ones who may complete it as a manual task (the engine's mayDoTask).
func (v *viewer) opSystems(op *ledger.Operation, g *ledger.Grant) ([]string, error) {
	var grants []ledger.Grant
	if g == nil && op.GrantID == "" {
		var known bool
		if grants, known = v.grants[op.Person]; !known {
			var err error
			if grants, err = v.r.Grants(v.ctx, ledger.GrantFilter{Person: op.Person}); err != nil {
				return nil, err
			}
			v.grants[op.Person] = grants
		}
	}
	return engine.TaskSystems(v.cat, op, g, grants), nil
}

// taskOf describes a waiting operation; systems are opSystems(op, g).
func (v *viewer) taskOf(op *ledger.Operation, g *ledger.Grant, systems []string) Task {
	t := Task{OperationID: strconv.FormatInt(op.ID, 10), Person: op.Person, GrantID: op.GrantID, Kind: op.Kind,
		Connector: op.Connector, Entitlement: op.Entitlement, Since: op.Updated.UTC(), Administrators: []string{}}
	if g != nil {
		t.System, t.Role = g.System, g.Role
	}
	if v.cat == nil {
		return t
	}
	for _, id := range systems {
		if s, ok := v.cat.System(id); ok {
			for _, a := range s.Administrators {
				if !slices.Contains(t.Administrators, a) {
					t.Administrators = append(t.Administrators, a)
				}
			}
		}
	}
	return t
}
