package sqlledger

import (
	"context"
	"strings"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The reads the portal's pages make (a system's holders, an approver's
// inbox), each answered from an index (schema.go: grants_system_key,
// grants_stage, grants_state) rather than from every open grant.

// waitingOrder is the order of PendingApprovals and GrantsInState: oldest
// update first, ties in the order Grants lists grants.
const waitingOrder = ` ORDER BY updated, person, system, role, created, id`

func (s *Store) SystemGrants(ctx context.Context, f ledger.SystemGrantFilter) ([]ledger.Grant, error) {
	if f.System == "" || len(f.States) == 0 {
		return nil, tilgang.Errorf(tilgang.Invalid, "ledger: system grants: a system and at least one state")
	}
	where, args := []string{"system = ?"}, []any{f.System}
	if f.Role != "" {
		where, args = append(where, "role = ?"), append(args, f.Role)
	}
	states := make([]string, len(f.States))
	for i, st := range f.States {
		states[i] = string(st)
	}
	where = append(where, inList("state", states, &args))
	if f.After != (ledger.GrantKey{}) {
		where, args = append(where, "(role, person, id) > (?, ?, ?)"), append(args, f.After.Role, f.After.Person, f.After.ID)
	}
	q := `SELECT ` + grantCols + ` FROM grants WHERE ` + strings.Join(where, " AND ") + ` ORDER BY role, person, id`
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read system grants")
	}
	return collectGrants(rows)
}

func (s *Store) PendingApprovals(ctx context.Context, principal string, systems []string) ([]ledger.Grant, error) {
	var (
		parts []string
		args  []any
	)
	if principal != "" {
		parts = append(parts, `SELECT `+grantCols+` FROM grants WHERE state = ? AND stage_principal = ?`)
		args = append(args, string(tilgang.StatePendingApproval), principal)
	}
	if len(systems) > 0 {
		args = append(args, string(tilgang.StatePendingApproval))
		parts = append(parts, `SELECT `+grantCols+` FROM grants WHERE state = ? AND stage_principal = '' AND `+inList("system", systems, &args))
	}
	if len(parts) == 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(strings.Join(parts, " UNION ALL ")+waitingOrder), args...)
	if err != nil {
		return nil, classify(err, "read pending approvals")
	}
	return collectGrants(rows)
}

func (s *Store) GrantsInState(ctx context.Context, state tilgang.GrantState, systems []string) ([]ledger.Grant, error) {
	if len(systems) == 0 {
		return nil, nil
	}
	args := []any{string(state)}
	q := `SELECT ` + grantCols + ` FROM grants WHERE state = ? AND ` + inList("system", systems, &args) + waitingOrder
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read grants in state")
	}
	return collectGrants(rows)
}

func (s *Store) RequestsByID(ctx context.Context, ids []string) (map[string]*ledger.Request, error) {
	out := map[string]*ledger.Request{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT `+requestCols+` FROM requests WHERE `+s.d.anyOf("id")), s.d.list(ids))
	if err != nil {
		return nil, classify(err, "read requests")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out[r.ID] = r
	}
	return out, classify(rows.Err(), "read requests")
}
