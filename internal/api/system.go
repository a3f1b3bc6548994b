package api

import (
	"context"
	"encoding/json"
	"slices"
	"sort"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// MethodSystem is one system's page for its administrators (DESIGN.md
// "The portal", /systems/{system}).
const MethodSystem = "system"

func init() { handlers[MethodSystem] = (*Server).system }

// SystemArgs are the args of system.
type SystemArgs struct {
	System string `json:"system"`
	// Role, when not "", keeps the holders of that role only.
	Role string `json:"role,omitempty"`
	// Limit is how many holders one page holds at most: 1..MaxGrants; 0
	// is MaxGrants.
	Limit int `json:"limit,omitempty"`
	// After is the Next of the page before; "" for the first page.
	After string `json:"after,omitempty"`
}

// HolderStates are the states of the grants a system's page lists as
// holders: past approval and training, and not yet ended (provisioned,
// being provisioned or revoked, or failed at it).
var HolderStates = []tilgang.GrantState{tilgang.StateProvisioning, tilgang.StateActive, tilgang.StateFailed,
	tilgang.StateRevoking, tilgang.StateRevokeFailed}

// SystemPage is one page of a system's page, as the system method answers
// it to the system's administrators, operators and auditors (anyone else
// is denied; a system the catalogue does not hold is answered, with no
// name and no roles, to operators and auditors only):
//
//   - Holders: the system's grants in HolderStates (each with its state),
//     of Role when the args name one, ordered by role, person and grant id;
//     at most Limit of them. Next is the After of the next page, "" when
//     this page is the last: a CSV export of every holder walks the pages
//     (Client.SystemHolders).
//   - Training: its grants in pending_training, oldest first, the
//     viewer's own included (the worker refuses a confirmation of one's own).
//   - Tasks: the manual tasks (waiting operations) that are the system's
//     (engine.TaskSystems), oldest first, as tasks {system} lists them.
//
// LastReconcile is the system's newest reconciliation run (failed and
// held ones too; ledger.ReconcileRuns), nil when none ran or the ledger
// keeps none: counts by finding kind, never a finding's person.
//
// Training and Tasks are read for the first page only (After ""); later
// pages hold them empty. Names are the names (given and family) of the
// people this page lists who have an HR record, by id.
//
// Fields may be added to it; none will change its meaning.
type SystemPage struct {
	System         string               `json:"system"`
	Name           string               `json:"name"`           // the catalogue's name for it
	Administrators []string             `json:"administrators"` // its systemansvarlige, from the catalogue
	Roles          []string             `json:"roles"`          // the catalogue's role ids, in its order
	Reviewed       bool                 `json:"reviewed"`       // its policy has a review: block
	Holders        []Grant              `json:"holders"`
	Next           string               `json:"next"`
	Training       []Grant              `json:"training"`
	Tasks          []Task               `json:"tasks"`
	Names          map[string]string    `json:"names"`
	LastReconcile  *ledger.ReconcileRun `json:"last_reconcile"`
}

func (s *Server) system(ctx context.Context, v *viewer, args json.RawMessage) (any, error) {
	var a SystemArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.System == "" || !tilgang.ValidToken(a.System) {
		return nil, invalidf("system %q is not a system id", short(a.System))
	}
	if a.Role != "" && !tilgang.ValidToken(a.Role) {
		return nil, invalidf("role %q is not a role id", short(a.Role))
	}
	if a.Limit < 0 || a.Limit > MaxGrants {
		return nil, invalidf("limit %d is outside 1..%d (0: %d)", a.Limit, MaxGrants, MaxGrants)
	}
	if a.After != "" && !tilgang.ValidToken(a.After) {
		return nil, invalidf("after %q is not a grant id", short(a.After))
	}
	if !v.all && !v.administers(a.System) {
		return nil, deniedf("%s may not see system %s: its administrators, operators and auditors only", v.actor, a.System)
	}
	out := SystemPage{System: a.System, Administrators: []string{}, Roles: []string{}, Holders: []Grant{},
		Training: []Grant{}, Tasks: []Task{}, Names: map[string]string{}}
	if v.cat != nil {
		if sys, ok := v.cat.System(a.System); ok {
			out.Name = sys.Name
			out.Reviewed = sys.Review != nil
			out.Administrators = append(out.Administrators, sys.Administrators...)
			for _, r := range sys.Roles {
				out.Roles = append(out.Roles, r.ID)
			}
		}
	}
	limit := a.Limit
	if limit == 0 {
		limit = MaxGrants
	}
	f := ledger.SystemGrantFilter{System: a.System, Role: a.Role, States: HolderStates, Limit: limit + 1}
	if a.After != "" {
		g, err := s.Ledger.Grant(ctx, a.After)
		if err != nil {
			return nil, err
		}
		if g == nil || g.System != a.System || (a.Role != "" && g.Role != a.Role) {
			return nil, invalidf("after %q is not a grant of system %s%s", short(a.After), a.System, roleOf(a.Role))
		}
		f.After = ledger.KeyOf(g)
	}
	gs, err := s.Ledger.SystemGrants(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(gs) > limit {
		gs = gs[:limit]
		out.Next = gs[limit-1].ID
	}
	for i := range gs {
		out.Holders = append(out.Holders, grantOf(&gs[i]))
	}
	if a.After == "" {
		training, tasks, err := s.waitingIn(ctx, v, []string{a.System}, func(*ledger.Grant) bool { return true })
		if err != nil {
			return nil, err
		}
		out.Training, out.Tasks = append(out.Training, training...), append(out.Tasks, tasks...)
	}
	if out.Names, err = s.namesOf(ctx, [][]Grant{out.Holders, out.Training}, out.Tasks); err != nil {
		return nil, err
	}
	if rr, ok := s.Ledger.(ledger.ReconcileRuns); ok {
		if out.LastReconcile, err = rr.LastReconcile(ctx, a.System); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// waitingIn reads what waits for the administrators of systems: the
// grants in training there that keep accepts, and the waiting manual
// tasks of any of them (as the ledger orders each).
func (s *Server) waitingIn(ctx context.Context, v *viewer, systems []string, keep func(*ledger.Grant) bool) ([]Grant, []Task, error) {
	tr, err := s.Ledger.GrantsInState(ctx, tilgang.StatePendingTraining, systems)
	if err != nil {
		return nil, nil, err
	}
	var training []Grant
	for i := range tr {
		if keep(&tr[i]) {
			training = append(training, grantOf(&tr[i]))
		}
	}
	tasks, err := s.waitingTasks(ctx, v, func(_ *ledger.Operation, _ *ledger.Grant, of []string) (bool, error) {
		return slices.ContainsFunc(of, func(sys string) bool { return slices.Contains(systems, sys) }), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return training, tasks, nil
}

// namesOf reads the names of the people the grants and tasks are about,
// and of others (requesters), as names does.
func (s *Server) namesOf(ctx context.Context, grants [][]Grant, tasks []Task, others ...string) (map[string]string, error) {
	ids := slices.Clone(others)
	for _, gs := range grants {
		for _, g := range gs {
			ids = append(ids, g.Person)
		}
	}
	for _, t := range tasks {
		ids = append(ids, t.Person)
	}
	return s.names(ctx, ids)
}

func roleOf(role string) string {
	if role == "" {
		return ""
	}
	return " role " + role
}

// names reads the names of the people ids (repeats and "" allowed) who
// have an HR record.
func (s *Server) names(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "" })
	sort.Strings(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return out, nil
	}
	names, err := s.Ledger.PersonNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, n := range names {
		if n == "" {
			n = id
		}
		out[id] = n
	}
	return out, nil
}
