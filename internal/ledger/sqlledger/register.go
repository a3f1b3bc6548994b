package sqlledger

import (
	"context"
	"database/sql"
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
		// registered is 1 on the chain rows of a release that writes the
		// register in the same commit, 0 on those of an earlier release
		// (the column's default), whose holdings CatchUpHoldings fills in.
		// It is not chained: the register it concerns is verified against
		// the chain itself.
		`ALTER TABLE audit ADD COLUMN IF NOT EXISTS registered INTEGER NOT NULL DEFAULT 0`,
		// The chain row up to which CatchUpHoldings has compared the
		// register with the chain.
		`CREATE TABLE IF NOT EXISTS holdings_caught_up (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL)`,
	}
}

// CatchUpHoldings fills in the access register what a replica of a
// release before the register chained without writing it (during a
// rolling upgrade): the chain rows not marked registered, after the row
// it was last caught up to. It returns how many rows it added or ended. A
// move to active whose grant has no row gets one (as writeHoldings writes
// it, from the chain's row), a move to revoked or expired ends a row still
// open. It runs at every start (Open) and may run at any time: what is
// there already is left as it is, so running it again changes nothing.
// Rows this release chained are not looked at: a holdings row of theirs
// that is missing or edited was tampered with, and audit verify says so.
func (s *Store) CatchUpHoldings(ctx context.Context) (int, error) {
	j := func(field string) string {
		if s.d.postgres {
			return `(canonical::jsonb ->> '` + field + `')`
		}
		return `json_extract(canonical, '$.` + field + `')`
	}
	detail := func(key string) string {
		if s.d.postgres {
			return `(canonical::jsonb -> 'details' ->> '` + key + `')`
		}
		return `json_extract(canonical, '$.details."` + key + `"')`
	}
	stx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, classify(err, "begin")
	}
	t := &tx{s: s, ctx: ctx, tx: stx, c: newCache()}
	defer t.Rollback()
	var from, head int64
	if err := stx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM holdings_caught_up`).Scan(&from); err != nil {
		return 0, classify(err, "read the register's catch-up")
	}
	if err := stx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_head`).Scan(&head); err != nil {
		return 0, classify(err, "read the chain head")
	}
	if head <= from {
		return 0, nil
	}
	rows, err := stx.QueryContext(ctx, s.d.rebind(`SELECT at, `+j("grant_id")+`, `+j("to")+`, `+j("person")+`, `+j("system")+`, `+j("role")+`,
		`+detail(ledger.GrantRequester)+`, `+detail(ledger.GrantApprovers)+` FROM audit
		WHERE seq > ? AND seq <= ? AND registered = 0 AND `+j("kind")+` = 'grant.state' AND `+j("to")+` IN ('active', 'revoked', 'expired') ORDER BY seq`), from, head)
	if err != nil {
		return 0, classify(err, "read the chain")
	}
	type start struct {
		at                   int64
		person, system, role string
		requester, approvers sql.NullString
	}
	starts, ends := map[string]start{}, map[string]int64{}
	var ids []string
	for rows.Next() {
		var (
			st     start
			id, to string
		)
		if err := rows.Scan(&st.at, &id, &to, &st.person, &st.system, &st.role, &st.requester, &st.approvers); err != nil {
			rows.Close()
			return 0, classify(err, "read the chain")
		}
		_, started := starts[id]
		_, ended := ends[id]
		if !started && !ended {
			ids = append(ids, id)
		}
		// The first move of each kind counts, as writeHoldings keeps it.
		switch {
		case to == string(ledger.HoldingStarts) && !started:
			starts[id] = st
		case to != string(ledger.HoldingStarts) && !ended:
			ends[id] = st.at
		}
	}
	rows.Close()
	if err := classify(rows.Err(), "read the chain"); err != nil {
		return 0, err
	}
	// What the register has of them.
	until := map[string]int64{}
	for i := 0; i < len(ids); i += 1000 {
		part := ids[i:min(i+1000, len(ids))]
		rows, err := t.query(`SELECT grant_id, until_at FROM holdings WHERE `+s.d.anyOf("grant_id"), s.d.list(part))
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var (
				id string
				u  int64
			)
			if err := rows.Scan(&id, &u); err != nil {
				rows.Close()
				return 0, classify(err, "read holdings")
			}
			until[id] = u
		}
		rows.Close()
		if err := classify(rows.Err(), "read holdings"); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, id := range ids {
		u, have := until[id]
		st, started := starts[id]
		var res sql.Result
		switch {
		case !have && started && st.requester.Valid:
			// As writeHoldings writes it, from the chain's row.
			res, err = t.exec(`INSERT INTO holdings (grant_id, person, system, role, from_at, until_at, requester, approvers)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (grant_id) DO NOTHING`,
				id, st.person, st.system, st.role, st.at, ends[id], st.requester.String, approversJSON(st.approvers.String))
		case !have && started:
			// A chain row of a release that did not name them: the grant's,
			// as the register's first fill takes them.
			res, err = t.exec(`INSERT INTO holdings (grant_id, person, system, role, from_at, until_at, requester, approvers)
				SELECT id, ?, ?, ?, ?, ?, requester, approvers FROM grants WHERE id = ? ON CONFLICT (grant_id) DO NOTHING`,
				st.person, st.system, st.role, st.at, ends[id], id)
		case have && u == 0 && ends[id] != 0:
			res, err = t.exec(`UPDATE holdings SET until_at = ? WHERE grant_id = ? AND until_at = 0`, ends[id], id)
		default:
			continue
		}
		if err != nil {
			return 0, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if _, err := t.exec(`INSERT INTO holdings_caught_up (id, seq) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq WHERE holdings_caught_up.seq < excluded.seq`, head); err != nil {
		return 0, err
	}
	t.done = true
	err = stx.Commit()
	t.prepareMissing()
	return n, classify(err, "commit")
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
	// On PostgreSQL the ids are a table joined on the primary key: with
	// "= ANY" the generic plan (plan_cache_mode auto, set by flush) scans
	// the whole table.
	q := `UPDATE holdings SET until_at = ? WHERE until_at = 0 AND ` + t.s.d.anyOf("grant_id")
	if t.s.d.postgres {
		q = `UPDATE holdings h SET until_at = ? FROM unnest(?::text[]) AS e(id) WHERE h.grant_id = e.id AND h.until_at = 0`
	}
	for _, m := range at {
		if _, err := t.exec(q, m, t.s.d.list(ends[m])); err != nil {
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

var _ ledger.RegisterCatchUp = (*Store)(nil)
