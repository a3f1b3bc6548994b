package sqlledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func (s *Store) Person(ctx context.Context, id string) (*ledger.PersonRow, error) {
	return scanPerson(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT `+personCols+` FROM persons WHERE id = ?`), id))
}

func (s *Store) PersonIDs(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT id FROM persons WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, classify(err, "list people")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err, "list people")
		}
		out = append(out, id)
	}
	return out, classify(rows.Err(), "list people")
}

func (s *Store) Request(ctx context.Context, id string) (*ledger.Request, error) {
	return scanRequest(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT `+requestCols+` FROM requests WHERE id = ?`), id))
}

func (s *Store) Grant(ctx context.Context, id string) (*ledger.Grant, error) {
	return scanGrant(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT `+grantCols+` FROM grants WHERE id = ?`), id))
}

func inList(col string, vals []string, args *[]any) string {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")
	for _, v := range vals {
		*args = append(*args, v)
	}
	return col + " IN (" + ph + ")"
}

func (s *Store) Grants(ctx context.Context, f ledger.GrantFilter) ([]ledger.Grant, error) {
	var (
		where []string
		args  []any
	)
	if f.Person != "" {
		where, args = append(where, "person = ?"), append(args, f.Person)
	}
	if f.System != "" {
		where, args = append(where, "system = ?"), append(args, f.System)
	}
	if f.Systems != nil || f.Persons != nil {
		// Scope: the grants of these systems or these people. Empty means none.
		var any []string
		if len(f.Systems) > 0 {
			any = append(any, inList("system", f.Systems, &args))
		}
		if len(f.Persons) > 0 {
			any = append(any, inList("person", f.Persons, &args))
		}
		if len(any) == 0 {
			return nil, nil
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}
	if f.OpenOnly {
		where = append(where, "open = 1")
	}
	q := `SELECT ` + grantCols + ` FROM grants`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY person, system, role, created"
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read grants")
	}
	return collectGrants(rows)
}

func (s *Store) Operation(ctx context.Context, id int64) (*ledger.Operation, error) {
	return scanOp(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT `+opCols+` FROM operations WHERE id = ?`), id))
}

func (s *Store) Operations(ctx context.Context, grantID string) ([]ledger.Operation, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT `+opCols+` FROM operations WHERE grant_id = ? ORDER BY due_at, seq, id`), grantID)
	if err != nil {
		return nil, classify(err, "read operations")
	}
	return collectOps(rows)
}

func (s *Store) WaitingOperations(ctx context.Context) ([]ledger.Operation, error) {
	// operations_order (state, due_at, seq, id) serves both the filter and the order.
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT `+opCols+` FROM operations WHERE state = ? ORDER BY due_at, seq, id`), string(ledger.OpWaiting))
	if err != nil {
		return nil, classify(err, "read waiting operations")
	}
	return collectOps(rows)
}

func (s *Store) Requests(ctx context.Context, person string) ([]ledger.Request, error) {
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT `+requestCols+` FROM requests WHERE person = ? ORDER BY seq, at`), person)
	if err != nil {
		return nil, classify(err, "read requests")
	}
	defer rows.Close()
	var out []ledger.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, classify(rows.Err(), "read requests")
}

func (s *Store) Account(ctx context.Context, person, connector string) (*ledger.AccountRow, error) {
	return scanAccount(s.read.QueryRowContext(ctx, s.d.rebind(`SELECT person, connector, ref, enabled, updated FROM accounts WHERE person = ? AND connector = ?`), person, connector))
}

func (s *Store) People(ctx context.Context, ids []string) (map[string]*ledger.PersonRow, []ledger.AccountRow, error) {
	people := map[string]*ledger.PersonRow{}
	if len(ids) == 0 {
		return people, nil, nil
	}
	arg := s.d.list(ids)
	rows, err := s.read.QueryContext(ctx, s.d.rebind(`SELECT `+personCols+` FROM persons WHERE `+s.d.anyOf("id")), arg)
	if err != nil {
		return nil, nil, classify(err, "read persons")
	}
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		people[p.Person.ID] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, classify(err, "read persons")
	}
	rows, err = s.read.QueryContext(ctx, s.d.rebind(`SELECT person, connector, ref, enabled, updated FROM accounts WHERE `+s.d.anyOf("person")+` ORDER BY person, connector`), arg)
	if err != nil {
		return nil, nil, classify(err, "read accounts")
	}
	defer rows.Close()
	var accts []ledger.AccountRow
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, nil, err
		}
		accts = append(accts, *a)
	}
	return people, accts, classify(rows.Err(), "read accounts")
}

func (s *Store) Audit(ctx context.Context, f ledger.AuditFilter) ([]ledger.AuditRow, error) {
	var (
		where []string
		args  []any
	)
	if f.Person != "" {
		where, args = append(where, "a.person = ?"), append(args, f.Person)
	}
	if f.System != "" {
		where, args = append(where, "a.system = ?"), append(args, f.System)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "a.at >= ?"), append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "a.at < ?"), append(args, ms(f.Until))
	}
	if f.After > 0 {
		where, args = append(where, "a.seq > ?"), append(args, f.After)
	}
	q := `SELECT a.seq, a.hash, a.canonical FROM audit a`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// One page at most, so a read of years of chain holds one page of rows
	// and of their texts, never the whole chain.
	q += fmt.Sprintf(" ORDER BY a.seq LIMIT %d", f.PageSize())
	rows, err := s.read.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, classify(err, "read audit")
	}
	defer rows.Close()
	var out []ledger.AuditRow
	hashes := map[string]bool{}
	for rows.Next() {
		var r ledger.AuditRow
		if err := rows.Scan(&r.Seq, &r.Hash, &r.Canonical); err != nil {
			return nil, classify(err, "read audit")
		}
		var c canon
		if err := json.Unmarshal([]byte(r.Canonical), &c); err != nil {
			return nil, tilgang.Wrap(tilgang.Internal, err, "ledger: audit row %d", r.Seq)
		}
		r.Entry, r.TextHash = entryOf(c), c.TextHash
		if c.TextHash != "" {
			hashes[c.TextHash] = true
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "read audit")
	}
	if len(hashes) > 0 {
		texts := map[string]string{}
		var hs []string
		for h := range hashes {
			hs = append(hs, h)
		}
		for len(hs) > 0 {
			chunk := hs
			if len(chunk) > 500 {
				chunk = hs[:500]
			}
			hs = hs[len(chunk):]
			var targs []any
			q := `SELECT hash, text FROM texts WHERE ` + inList("hash", chunk, &targs)
			trows, err := s.read.QueryContext(ctx, s.d.rebind(q), targs...)
			if err != nil {
				return nil, classify(err, "read texts")
			}
			for trows.Next() {
				var h string
				var t sql.NullString
				if err := trows.Scan(&h, &t); err != nil {
					trows.Close()
					return nil, classify(err, "read texts")
				}
				texts[h] = t.String
			}
			trows.Close()
		}
		for i := range out {
			out[i].Entry.Text = texts[out[i].TextHash]
		}
	}
	return out, nil
}

func (s *Store) Head(ctx context.Context) (ledger.Head, error) {
	var h ledger.Head
	err := s.read.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Head{Hash: genesis}, nil
	}
	return h, classify(err, "read head")
}

// Verify walks the chain in order. Row seq numbers must run 1, 2, 3, ...,
// each row's bytes must claim its own seq and the previous row's hash, and
// hash to the stored hash: an edited row fails its hash, a deleted middle
// row leaves a gap, reordered rows claim the wrong seq, and deleted newest
// rows leave the chain short of the anchor. The person, system and time
// columns beside each row must agree with its bytes (they select rows for
// `audit --person`, so an edit there could hide a row), and kept free text
// must still hash to the hash its rows chain. Then the tables beside the
// chain are compared with what it records (verify_more.go).
func (s *Store) Verify(ctx context.Context, anchor *ledger.Head) (ledger.VerifyReport, error) {
	rep := ledger.VerifyReport{Head: ledger.Head{Hash: genesis}}
	fail := func(seq int64, format string, args ...any) (ledger.VerifyReport, error) {
		rep.BadSeq, rep.Problem = seq, fmt.Sprintf(format, args...)
		return rep, nil
	}
	// One snapshot, so rows, head and grants are read as of one moment.
	opts := &sql.TxOptions{}
	if s.d.postgres {
		opts.Isolation, opts.ReadOnly = sql.LevelRepeatableRead, true
	}
	rtx, err := s.read.BeginTx(ctx, opts)
	if err != nil {
		return rep, classify(err, "verify")
	}
	defer rtx.Rollback()
	rows, err := rtx.QueryContext(ctx, `SELECT seq, hash, canonical, person, system, at FROM audit ORDER BY seq`)
	if err != nil {
		return rep, classify(err, "verify")
	}
	defer rows.Close()
	grantState := map[string]string{}
	grantRow := map[string]int64{}     // grant -> the row of its newest transition
	grantWho := map[string][3]string{} // grant -> person, system, role as chained
	textFirst := map[string]int64{}    // text hash -> the first row that chains it
	var anchorHash string
	more := newBeside()
	for rows.Next() {
		var (
			seq, at                    int64
			hash, text, person, system string
		)
		if err := rows.Scan(&seq, &hash, &text, &person, &system, &at); err != nil {
			return rep, classify(err, "verify")
		}
		want := rep.Head.Seq + 1
		if seq != want {
			return fail(want, "row %d is missing (the next row is %d): rows were deleted", want, seq)
		}
		var c canon
		if err := json.Unmarshal([]byte(text), &c); err != nil {
			return fail(seq, "row %d is not valid chained JSON: edited", seq)
		}
		if got := sha256hex([]byte(text)); got != hash {
			return fail(seq, "row %d does not hash to its stored hash: edited", seq)
		}
		if c.Seq != seq {
			return fail(seq, "row %d holds the bytes of row %d: rows were reordered", seq, c.Seq)
		}
		if c.Prev != rep.Head.Hash {
			return fail(seq, "row %d does not follow row %d's hash: edited or reordered", seq, seq-1)
		}
		chainedAt, _ := time.Parse(time.RFC3339Nano, c.At)
		switch {
		case person != c.Person:
			return fail(seq, "row %d's person column is %q but its chained bytes say %q: edited", seq, person, c.Person)
		case system != c.System:
			return fail(seq, "row %d's system column is %q but its chained bytes say %q: edited", seq, system, c.System)
		case at != ms(chainedAt):
			return fail(seq, "row %d's time column is %s but its chained bytes say %s: edited", seq, fromMS(at).Format(time.RFC3339Nano), c.At)
		}
		if _, ok := textFirst[c.TextHash]; !ok && c.TextHash != "" {
			textFirst[c.TextHash] = seq
		}
		rep.Head = ledger.Head{Seq: seq, Hash: hash}
		rep.Rows++
		more.row(seq, &c, chainedAt)
		if anchor != nil && seq == anchor.Seq {
			anchorHash = hash
		}
		if c.Kind == "grant.state" && c.GrantID != "" {
			grantState[c.GrantID], grantRow[c.GrantID] = c.To, seq
			grantWho[c.GrantID] = [3]string{c.Person, c.System, c.Role}
		}
	}
	if err := rows.Err(); err != nil {
		return rep, classify(err, "verify")
	}
	lost := ""
	if anchor != nil && anchor.Seq > 0 && (anchor.Seq > rep.Head.Seq || anchorHash != anchor.Hash) {
		if lost, err = s.anchorLost(ctx, *anchor); err != nil {
			return rep, err
		} else if lost != "" {
			anchor = nil // restored.go
		}
	}
	if anchor != nil && anchor.Seq > 0 {
		if anchor.Seq > rep.Head.Seq {
			return fail(rep.Head.Seq+1, "the chain ends at row %d but row %d was anchored: the newest rows were deleted", rep.Head.Seq, anchor.Seq)
		}
		if anchorHash != anchor.Hash {
			return fail(anchor.Seq, "row %d differs from its anchored hash: the chain was rewritten at or before it", anchor.Seq)
		}
	}
	var headSeq int64
	var headHash string
	if err := rtx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return rep, classify(err, "verify head")
	}
	if headSeq > rep.Head.Seq {
		return fail(rep.Head.Seq+1, "the chain ends at row %d but its head says %d: rows were deleted", rep.Head.Seq, headSeq)
	}
	if headSeq != rep.Head.Seq || (headSeq > 0 && headHash != rep.Head.Hash) {
		return fail(headSeq+1, "the chain ends at row %d but its head says row %d: rows were written or the head edited outside the ledger", rep.Head.Seq, headSeq)
	}
	if len(textFirst) > 0 {
		trows, err := rtx.QueryContext(ctx, `SELECT hash, text FROM texts WHERE text IS NOT NULL`)
		if err != nil {
			return rep, classify(err, "verify texts")
		}
		defer trows.Close()
		var bad int64
		for trows.Next() {
			var h, text string
			if err := trows.Scan(&h, &text); err != nil {
				return rep, classify(err, "verify texts")
			}
			if seq, ok := textFirst[h]; ok && sha256hex([]byte(text)) != h && (bad == 0 || seq < bad) {
				bad = seq
			}
		}
		if err := trows.Err(); err != nil {
			return rep, classify(err, "verify texts")
		}
		if bad != 0 {
			return fail(bad, "the free text of row %d does not hash to the hash the row chains: edited", bad)
		}
	}
	grows, err := rtx.QueryContext(ctx, `SELECT id, state, person, system, role FROM grants ORDER BY id`)
	if err != nil {
		return rep, classify(err, "verify grants")
	}
	defer grows.Close()
	seen := map[string]bool{}
	for grows.Next() {
		var id, state string
		var who [3]string
		if err := grows.Scan(&id, &state, &who[0], &who[1], &who[2]); err != nil {
			return rep, classify(err, "verify grants")
		}
		seen[id] = true
		chained, ok := grantState[id]
		if !ok {
			return fail(0, "grant %s is in the grant table but not in the chain", id)
		}
		if chained != state {
			return fail(0, "grant %s is %s in the grant table but %s in the chain (row %d)", id, state, chained, grantRow[id])
		}
		for i, col := range []string{"person", "system", "role"} {
			if chained := grantWho[id][i]; chained != "" && chained != who[i] {
				return fail(0, "grant %s's %s is %q in the grant table but %q in the chain (row %d): edited", id, col, who[i], chained, grantRow[id])
			}
		}
	}
	if err := grows.Err(); err != nil {
		return rep, classify(err, "verify grants")
	}
	if len(seen) != len(grantState) {
		var missing []string
		for id := range grantState {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		more := ""
		if len(missing) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(missing)-1)
		}
		return fail(0, "grant %s is in the chain (row %d) but not in the grant table: deleted%s", missing[0], grantRow[missing[0]], more)
	}
	if seq, problem, err := more.check(ctx, rtx); err != nil || problem != "" {
		if err != nil {
			return rep, err
		}
		return fail(seq, "%s", problem)
	}
	rep.Grants = len(seen)
	rep.OK = true
	rep.Problem = lost
	return rep, nil
}

func (s *Store) Stats(ctx context.Context) (ledger.Stats, error) {
	st := ledger.Stats{Grants: map[tilgang.GrantState]int64{}, OpsByState: map[ledger.OpState]int64{}}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages`).Scan(&st.Messages); err != nil {
		return st, classify(err, "stats")
	}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&st.Requests); err != nil {
		return st, classify(err, "stats")
	}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE published = 0`).Scan(&st.EventsUnsent); err != nil {
		return st, classify(err, "stats")
	}
	for _, q := range []struct {
		sql string
		put func(k string, n int64)
	}{
		{`SELECT state, COUNT(*) FROM grants GROUP BY state`, func(k string, n int64) { st.Grants[tilgang.GrantState(k)] = n }},
		{`SELECT state, COUNT(*) FROM operations GROUP BY state`, func(k string, n int64) { st.OpsByState[ledger.OpState(k)] = n }},
	} {
		rows, err := s.read.QueryContext(ctx, q.sql)
		if err != nil {
			return st, classify(err, "stats")
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return st, classify(err, "stats")
			}
			q.put(k, n)
		}
		rows.Close()
	}
	return st, nil
}
