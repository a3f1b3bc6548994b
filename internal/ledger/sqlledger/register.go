package sqlledger

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The access register (ledger.Register): one row per grant that became
// active, kept by the transaction that chains its grant.state entries
// (writeHoldings), so the register is read from two indexes instead of
// from the chain. It holds ids only: an erasure leaves it whole.

var _ ledger.Register = (*Store)(nil)

// registerSchema is the holdings table, its indexes, and the holdings of
// the chain a ledger already has when it is upgraded (the statement reads
// the chain only while the table is empty).
func (s *Store) registerSchema() []string {
	// j reads a field of a chain row's canonical JSON (chain.go's canon).
	j := func(field string) string {
		if s.d.postgres {
			return `(canonical::jsonb ->> '` + field + `')`
		}
		return `json_extract(canonical, '$.` + field + `')`
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS holdings (
			grant_id TEXT PRIMARY KEY, person TEXT NOT NULL, system TEXT NOT NULL, role TEXT NOT NULL,
			from_at BIGINT NOT NULL, until_at BIGINT NOT NULL, requester TEXT NOT NULL, approvers TEXT NOT NULL)`,
		// A system's register pages by (role, person, grant_id), a
		// person's by (system, role, grant_id).
		`CREATE INDEX IF NOT EXISTS holdings_system ON holdings (system, role, person, grant_id)`,
		`CREATE INDEX IF NOT EXISTS holdings_person ON holdings (person, system, role, grant_id)`,
		// The requester and approvers are the grant's (Verify holds the
		// grant table to the chain): a chain of an older release does not
		// name them in its entries.
		`INSERT INTO holdings (grant_id, person, system, role, from_at, until_at, requester, approvers)
			SELECT g.id, g.person, g.system, g.role, a.at, COALESCE(e.at, 0), g.requester, g.approvers FROM grants g JOIN (
				SELECT ` + j("grant_id") + ` AS grant_id, MIN(at) AS at
				FROM audit WHERE ` + j("kind") + ` = 'grant.state' AND ` + j("to") + ` = 'active'
				GROUP BY ` + j("grant_id") + `) a ON a.grant_id = g.id
			LEFT JOIN (
				SELECT ` + j("grant_id") + ` AS grant_id, MIN(at) AS at FROM audit
				WHERE ` + j("kind") + ` = 'grant.state' AND ` + j("to") + ` IN ('revoked', 'expired')
				GROUP BY ` + j("grant_id") + `) e ON e.grant_id = a.grant_id
			WHERE NOT EXISTS (SELECT 1 FROM holdings)
			ON CONFLICT (grant_id) DO NOTHING`,
	}
}

// writeHoldings keeps the holdings of the grant.state entries this
// transaction chains: a move to active starts one, a move to revoked or
// expired ends it (ledger.Holding).
func (t *tx) writeHoldings() error {
	var starts [][]any
	for _, e := range t.audit {
		if e.Kind == "grant.state" && e.GrantID != "" && e.To == string(ledger.HoldingStarts) {
			starts = append(starts, []any{e.GrantID, e.Person, e.System, e.Role, ms(e.At), 0,
				e.Details[ledger.GrantRequester], approversJSON(e.Details[ledger.GrantApprovers])})
		}
	}
	if err := t.insertRows(`INSERT INTO holdings (grant_id, person, system, role, from_at, until_at, requester, approvers) VALUES `,
		starts, ` ON CONFLICT (grant_id) DO NOTHING`); err != nil {
		return err
	}
	// The ends, one statement per instant (a batch's moves mostly share
	// one), each grant's first end only.
	var (
		at    []int64
		ended = map[string]bool{}
		ends  = map[int64][]string{}
	)
	for _, e := range t.audit {
		if e.Kind == "grant.state" && e.GrantID != "" && ledger.EndsHolding(e.To) && !ended[e.GrantID] {
			ended[e.GrantID] = true
			m := ms(e.At)
			if ends[m] == nil {
				at = append(at, m)
			}
			ends[m] = append(ends[m], e.GrantID)
		}
	}
	for _, m := range at {
		if _, err := t.exec(`UPDATE holdings SET until_at = ? WHERE until_at = 0 AND `+t.s.d.anyOf("grant_id"), m, t.s.d.list(ends[m])); err != nil {
			return err
		}
	}
	return nil
}

// holdingsQuery is Holdings' statement for f (checked): on the index that
// leads with the system when f names one, else on the person's.
func holdingsQuery(f ledger.HoldingFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	// The key columns after the one the index leads with, in order.
	order := "role, person, grant_id"
	after := []any{f.After.Role, f.After.Person, f.After.GrantID}
	if f.System != "" {
		where, args = append(where, "system = ?"), append(args, f.System)
	}
	if f.Person != "" {
		where, args = append(where, "person = ?"), append(args, f.Person)
	}
	if f.System == "" {
		order = "system, role, grant_id"
		after = []any{f.After.System, f.After.Role, f.After.GrantID}
	}
	where = append(where, "from_at <= ?", "(until_at = 0 OR until_at > ?)")
	args = append(args, f.To.UnixMilli(), f.From.UnixMilli())
	if f.After != (ledger.HoldingKey{}) {
		where = append(where, "("+order+") > (?, ?, ?)")
		args = append(args, after...)
	}
	q := `SELECT ` + holdingCols + ` FROM holdings WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, f.PageSize())
	return q, args
}

// approversJSON is a chained approvers list (comma-separated) as the
// holdings table keeps it: a JSON list, as the grants table does.
func approversJSON(chained string) string {
	out := []string{}
	if chained != "" {
		out = strings.Split(chained, ",")
	}
	return mustJSON(out)
}

const holdingCols = `grant_id, person, system, role, from_at, until_at, requester, approvers`

func (s *Store) Holdings(ctx context.Context, f ledger.HoldingFilter) ([]ledger.Holding, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	q, args := holdingsQuery(f)
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read holdings")
	}
	defer rows.Close()
	var out []ledger.Holding
	for rows.Next() {
		var (
			h           ledger.Holding
			from, until int64
			approvers   string
		)
		if err := rows.Scan(&h.GrantID, &h.Person, &h.System, &h.Role, &from, &until, &h.Requester, &approvers); err != nil {
			return nil, classify(err, "read holdings")
		}
		h.From, h.Until = fromMS(from), fromMS(until)
		if err := json.Unmarshal([]byte(approvers), &h.Approvers); err != nil {
			return nil, corrupt("holding", h.GrantID, "approvers", err)
		}
		if h.Approvers == nil {
			h.Approvers = []string{}
		}
		out = append(out, h)
	}
	return out, classify(rows.Err(), "read holdings")
}
