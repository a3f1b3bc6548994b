package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/policy"
)

// MethodPlan is the dry run of `tilgang plan`.
const MethodPlan = "plan"

func init() { handlers[MethodPlan] = (*Server).plan }

// PlanArgs are the args of plan: a person, and optionally one role.
type PlanArgs struct {
	Person string `json:"person"`
	System string `json:"system,omitempty"`
	Role   string `json:"role,omitempty"`
}

// PlanResult is what the policy would decide for the person now, for every
// role the asker may see (or the one named). Nothing is changed.
type PlanResult struct {
	Person    string     `json:"person"`
	Catalogue string     `json:"catalogue"`
	At        string     `json:"at"` // the worker's clock, Oslo
	Left      bool       `json:"left,omitempty"`
	Roles     []PlanRole `json:"roles"`
}

// PlanRole is the plan for one role.
type PlanRole struct {
	System        string          `json:"system"`
	Role          string          `json:"role"`
	Decision      policy.Decision `json:"decision"`
	RequestableBy []string        `json:"requestable_by"`
	Birthright    string          `json:"birthright,omitempty"` // the rule ("file:line") that gives it
	Open          string          `json:"open,omitempty"`       // an open grant a request would attach to: "GRANT_ID STATE"
	Stages        []PlanStage     `json:"stages,omitempty"`
	Operations    []string        `json:"operations"` // what would follow once approved: "ensure_account noop", "grant noop X", "expire tilgang at ..."
}

// PlanStage is one approval stage and who may decide it.
type PlanStage struct {
	Kind string   `json:"kind"`
	Who  []string `json:"who"`
}

func (s *Server) plan(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a PlanArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.Person == "" {
		return nil, invalidf("person is missing")
	}
	if (a.System == "") != (a.Role == "") {
		return nil, invalidf("give both system and role, or neither")
	}
	cat := v.cat
	if cat == nil {
		return nil, tilgang.Errorf(tilgang.Unavailable, "api: no catalogue loaded")
	}
	if a.System != "" {
		if _, _, ok := cat.Role(a.System, a.Role); !ok {
			return nil, tilgang.Errorf(tilgang.NotFound, "%s/%s is not in the catalogue", a.System, a.Role)
		}
	}
	// Visibility first, and one answer for whatever is hidden: whether the
	// person exists or has left is itself something to be allowed to see.
	var visible []string
	for _, sysID := range cat.SystemIDs() {
		if a.System != "" && sysID != a.System {
			continue
		}
		ok, err := v.sees(a.Person, sysID)
		if err != nil {
			return nil, err
		}
		if ok {
			visible = append(visible, sysID)
		}
	}
	if len(visible) == 0 {
		if a.System != "" {
			return nil, deniedf("%s may not see %s's access to %s", v.actor, a.Person, a.System)
		}
		return nil, deniedf("%s may not see %s's access", v.actor, a.Person)
	}
	p, err := s.Ledger.Person(ctx, a.Person)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, tilgang.Errorf(tilgang.NotFound, "no HR record of %s", a.Person)
	}
	gs, err := s.Ledger.Grants(ctx, ledger.GrantFilter{Person: a.Person, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	held := make([]policy.Held, 0, len(gs))
	for _, g := range gs {
		held = append(held, policy.Held{GrantID: g.ID, System: g.System, Role: g.Role, State: g.State})
	}
	now := s.now()
	pv := p.Person.At(now) // the record in effect now
	gives, _ := policy.BirthrightRoles(cat, &pv)
	res := PlanResult{Person: a.Person, Catalogue: cat.Version, At: now.In(tilgang.Oslo).Format("2006-01-02 15:04"),
		Left: p.Left || (!p.LeaveAt.IsZero() && !p.LeaveAt.After(now)), Roles: []PlanRole{}}
	managerStage, err := s.managerStage(ctx, &pv, v.actor, now)
	if err != nil {
		return nil, err
	}
	accounts := map[string]bool{}
	for _, sysID := range visible {
		sys := cat.Systems[sysID]
		for _, role := range sys.Roles {
			if a.Role != "" && role.ID != a.Role {
				continue
			}
			others := slices.DeleteFunc(slices.Clone(held), func(h policy.Held) bool { return h.System == sysID && h.Role == role.ID })
			d := policy.Decide(cat, &pv, policy.Request{System: sysID, Role: role.ID, Actor: v.actor,
				When: policy.AtProvisioning, Now: now}, others)
			pr := PlanRole{System: sysID, Role: role.ID, Decision: d, RequestableBy: role.RequestableBy,
				Birthright: gives[sysID+"/"+role.ID], Operations: []string{}}
			for _, g := range gs {
				if g.System == sysID && g.Role == role.ID {
					pr.Open = g.ID + " " + string(g.State)
				}
			}
			for _, st := range role.Approval {
				who := []string{}
				if st == policy.StageManager && managerStage != "" {
					who = append(who, managerStage)
				} else {
					who = append(who, sys.Administrators...)
				}
				pr.Stages = append(pr.Stages, PlanStage{Kind: st, Who: who})
			}
			if d.Allowed && pr.Open == "" {
				for _, conn := range role.Connectors() {
					has, seen := accounts[conn]
					if !seen {
						acct, err := s.Ledger.Account(ctx, a.Person, conn)
						if err != nil {
							return nil, err
						}
						has = acct != nil
						accounts[conn] = has
					}
					if !has {
						pr.Operations = append(pr.Operations, "ensure_account "+conn)
					}
					for _, ent := range role.Entitlements[conn] {
						pr.Operations = append(pr.Operations, fmt.Sprintf("grant %s %s", conn, ent))
					}
				}
				if !d.End.IsZero() {
					pr.Operations = append(pr.Operations, fmt.Sprintf("expire %s at %s (if active today)", ledger.Internal,
						d.End.End().In(tilgang.Oslo).Format("2006-01-02 15:04")))
				}
			}
			res.Roles = append(res.Roles, pr)
		}
	}
	return res, nil
}

// managerStage is who would decide a manager stage of a request by actor
// for person, as the engine resolves it when the request arrives: the
// person's manager, one level up (and on) while that is the asker or the
// person; "" when nobody suitable is up the line (then the system's
// administrators decide).
func (s *Server) managerStage(ctx context.Context, person *tilgang.Person, actor string, now time.Time) (string, error) {
	m := person.Manager()
	seen := map[string]bool{}
	for i := 0; m != "" && i < 16 && !seen[m]; i++ {
		seen[m] = true
		if m != actor && m != person.ID {
			return m, nil
		}
		mp, err := s.Ledger.Person(ctx, m)
		if err != nil {
			return "", err
		}
		if mp == nil {
			break
		}
		m = managerAt(mp, now)
	}
	return "", nil
}
