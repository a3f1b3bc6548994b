package sqlledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/connectors"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// ---- operations ----

const opCols = `id, grant_id, person, connector, kind, entitlement, state, due_at, next_at, seq, attempts, token, holder, claim_until, target, disabled, last_error, created, updated`

func scanOp(sc interface{ Scan(...any) error }) (*ledger.Operation, error) {
	var (
		o                                        ledger.Operation
		state, target                            string
		due, next, seq, claimUntil, created, upd int64
		disabled                                 int
	)
	if err := sc.Scan(&o.ID, &o.GrantID, &o.Person, &o.Connector, &o.Kind, &o.Entitlement, &state, &due, &next, &seq, &o.Attempts,
		&o.Token, &o.Holder, &claimUntil, &target, &disabled, &o.LastError, &created, &upd); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, classify(err, "read operation")
	}
	o.State = ledger.OpState(state)
	o.DueAt, o.NextAt, o.Seq, o.ClaimUntil = fromMS(due), fromMS(next), uint64(seq), fromMS(claimUntil)
	o.Disabled = disabled == 1
	o.Created, o.Updated = fromMS(created), fromMS(upd)
	if target != "" && target != "null" {
		if err := json.Unmarshal([]byte(target), &o.Target); err != nil {
			return nil, corrupt("operation", strconv.FormatInt(o.ID, 10), "target", err)
		}
	}
	return &o, nil
}

func targetJSON(r connectors.Ref) string {
	if r == nil {
		return ""
	}
	return mustJSON(r)
}

func (t *tx) Operation(id int64) (*ledger.Operation, error) {
	o, err := t.operation(id)
	if err != nil || o == nil {
		return nil, err
	}
	return copyOp(o), nil
}

// operation is the cached operation, read and locked on a miss; nil when
// there is none.
func (t *tx) operation(id int64) (*ledger.Operation, error) {
	if o, ok := t.c.ops[id]; ok {
		return o, nil
	}
	row, err := t.queryRow(`SELECT `+opCols+` FROM operations WHERE id = ? FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	o, err := scanOp(row)
	if err != nil || o == nil {
		return nil, err
	}
	t.c.putOp(o)
	return o, nil
}

func (t *tx) InsertOperation(o ledger.Operation) (int64, error) {
	if o.State == "" {
		o.State = ledger.OpQueued
	}
	id, err := t.allocate()
	if err != nil {
		return 0, err
	}
	o.ID = id
	t.c.putOp(copyOp(&o))
	t.c.dirtyOps.add(id)
	return id, nil
}

// UpdateOperation checks the token against the cached operation: read on a
// miss, it is locked, so the check holds until Commit.
func (t *tx) UpdateOperation(o ledger.Operation, expectToken int64) error {
	old, err := t.operation(o.ID)
	if err != nil {
		return err
	}
	if old == nil {
		if expectToken != 0 {
			return tilgang.Errorf(tilgang.Conflict, "ledger: operation %d is no longer claimed with token %d", o.ID, expectToken)
		}
		return tilgang.Errorf(tilgang.NotFound, "ledger: operation %d does not exist", o.ID)
	}
	if expectToken != 0 && (old.Token != expectToken || old.State != ledger.OpClaimed) {
		return tilgang.Errorf(tilgang.Conflict, "ledger: operation %d is no longer claimed with token %d", o.ID, expectToken)
	}
	// The columns UpdateOperation writes; the rest stay as stored.
	n := copyOp(old)
	n.State, n.DueAt, n.NextAt, n.Attempts, n.Token, n.Holder, n.ClaimUntil = o.State, o.DueAt, o.NextAt, o.Attempts, o.Token, o.Holder, o.ClaimUntil
	n.Target, n.Disabled, n.LastError, n.Updated = maps.Clone(o.Target), o.Disabled, o.LastError, o.Updated
	n.GrantID = o.GrantID // a withdrawn grant's account work moves to the grant relying on it
	t.c.putOp(n)
	t.c.dirtyOps.add(o.ID)
	return nil
}

func collectOps(rows *sql.Rows) ([]ledger.Operation, error) {
	defer rows.Close()
	var out []ledger.Operation
	for rows.Next() {
		o, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, classify(rows.Err(), "read operations")
}

// OperationsOf reads the grant's stored operations unless the cache has
// them all (an open grant of a loaded person, or one inserted here), and
// lays the cached ones over them.
func (t *tx) OperationsOf(grantID string) ([]ledger.Operation, error) {
	var stored []ledger.Operation
	if !t.c.complete[grantID] {
		rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE grant_id = ? ORDER BY due_at, seq, id FOR UPDATE`, grantID)
		if err != nil {
			return nil, err
		}
		if stored, err = collectOps(rows); err != nil {
			return nil, err
		}
	}
	return t.c.overlay(stored, t.c.grantOps(grantID, stored), func(o *ledger.Operation) bool { return o.GrantID == grantID }), nil
}

// PersonOperations answers from the cache when only unfinished states are
// asked for (a loaded person's are all cached); otherwise it reads the
// person's stored operations (or takes those LoadHistory read) and lays
// the cached ones over them.
func (t *tx) PersonOperations(person string, states ...ledger.OpState) ([]ledger.Operation, error) {
	var stored []ledger.Operation
	if len(states) > 0 && !slices.ContainsFunc(states, func(s ledger.OpState) bool { return !pending(s) }) {
		if err := t.load(person); err != nil {
			return nil, err
		}
	} else if h, ok := t.c.history[person]; ok {
		stored = h
	} else {
		rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE person = ? ORDER BY due_at, seq, id FOR UPDATE`, person)
		if err != nil {
			return nil, err
		}
		if stored, err = collectOps(rows); err != nil {
			return nil, err
		}
	}
	return t.c.overlay(stored, t.c.opsOf[person], func(o *ledger.Operation) bool {
		return o.Person == person && (len(states) == 0 || slices.Contains(states, o.State))
	}), nil
}

var _ ledger.HistoryLoader = (*tx)(nil)

// LoadHistory reads all of these people's stored operations in one
// statement, locked as PersonOperations locks them. What the transaction
// writes later is in the cache, which PersonOperations lays over them.
func (t *tx) LoadHistory(persons []string) error {
	todo := notIn(persons, t.c.history)
	if len(todo) == 0 {
		return nil
	}
	rows, err := t.query(`SELECT `+opCols+` FROM operations WHERE `+t.s.d.anyOf("person")+` ORDER BY person, due_at, seq, id FOR UPDATE`,
		t.s.d.list(todo))
	if err != nil {
		return err
	}
	ops, err := collectOps(rows)
	if err != nil {
		return err
	}
	for _, p := range todo {
		t.c.history[p] = nil
	}
	for _, o := range ops {
		t.c.history[o.Person] = append(t.c.history[o.Person], o)
	}
	return nil
}

// ---- claims ----

func (s *Store) Claim(ctx context.Context, holder string, now time.Time, lease time.Duration, n int) ([]ledger.Operation, error) {
	nowMS := ms(now)
	// A lapsed claim goes back to the queue first; its holder's late result
	// is refused by the token check (UpdateOperation wants state claimed).
	// Claims lapse only when an executor died, so this looks at most once a
	// second (by the caller's clock), not at every claim.
	if last := s.lapsedChecked.Load(); nowMS-last >= 1000 || nowMS < last {
		lapsed, err := s.stmt(ctx, `UPDATE operations SET state = 'queued', holder = '' WHERE state = 'claimed' AND claim_until < ?`)
		if err != nil {
			return nil, err
		}
		if _, err := lapsed.ExecContext(ctx, nowMS); err != nil {
			return nil, classify(err, "claim: release lapsed")
		}
		s.lapsedChecked.Store(nowMS)
	}
	// An operation is claimable when it is queued, due, past its retry time,
	// and no earlier due operation of the same person and connector is still
	// unfinished: per-(person, connector) order. The queue is read a window
	// at a time, in order (the operations_order index): a claim costs what
	// it looks at, not the length of the queue, and a window of operations
	// all waiting behind others moves on to the next.
	window := max(4*n, 64)
	next, err := s.stmt(ctx, `SELECT due_at, seq, id FROM operations
		WHERE state = 'queued' AND due_at <= ? AND next_at <= ? AND (due_at, seq, id) > (?, ?, ?)
		ORDER BY state, due_at, seq, id LIMIT ?`)
	if err != nil {
		return nil, err
	}
	claim, err := s.stmt(ctx, `UPDATE operations SET state = 'claimed', holder = ?, claim_until = ?, token = token + 1, attempts = attempts + 1, updated = ?
		WHERE id IN (
			SELECT o.id FROM operations o
			WHERE o.state = 'queued' AND o.due_at <= ? AND o.next_at <= ? AND (o.due_at, o.seq, o.id) > (?, ?, ?) AND (o.due_at, o.seq, o.id) <= (?, ?, ?)
			AND NOT EXISTS (
				SELECT 1 FROM operations p
				WHERE p.person = o.person AND p.connector = o.connector
				AND p.state IN ('queued', 'claimed', 'waiting') AND p.due_at <= ?
				AND (p.due_at < o.due_at OR (p.due_at = o.due_at AND (p.seq < o.seq OR (p.seq = o.seq AND p.id < o.id)))))
			ORDER BY o.state, o.due_at, o.seq, o.id LIMIT ? FOR UPDATE SKIP LOCKED)
		RETURNING `+opCols)
	if err != nil {
		return nil, err
	}
	var ops []ledger.Operation
	after := [3]int64{-1 << 62, -1 << 62, -1 << 62} // (due_at, seq, id) before the window
	for len(ops) < n {
		var last [3]int64
		rows, err := next.QueryContext(ctx, nowMS, nowMS, after[0], after[1], after[2], window)
		if err != nil {
			return nil, classify(err, "claim: read the queue")
		}
		seen := 0
		for rows.Next() {
			if err := rows.Scan(&last[0], &last[1], &last[2]); err != nil {
				rows.Close()
				return nil, classify(err, "claim: read the queue")
			}
			seen++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err, "claim: read the queue")
		}
		if seen == 0 {
			break
		}
		rows, err = claim.QueryContext(ctx, holder, ms(now.Add(lease)), nowMS, nowMS, nowMS, after[0], after[1], after[2],
			last[0], last[1], last[2], nowMS, n-len(ops))
		if err != nil {
			return nil, classify(err, "claim")
		}
		got, err := collectOps(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, got...)
		if seen < window {
			break // the end of the queue
		}
		after = last
	}
	sort.Slice(ops, func(i, j int) bool { return opLess(ops[i], ops[j]) })
	return ops, nil
}

func opLess(a, b ledger.Operation) bool { return ledger.ChainLess(a, b) }

func (s *Store) ReleaseClaims(ctx context.Context, holder string) (int64, error) {
	res, err := s.write.ExecContext(ctx, s.d.rebind(`UPDATE operations SET state = 'queued', claim_until = 0, holder = '' WHERE state = 'claimed' AND holder = ?`), holder)
	if err != nil {
		return 0, classify(err, "release claims")
	}
	return res.RowsAffected()
}

func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	// Only the first unfinished operation of each (person, connector) counts:
	// the ones behind it wait for it to finish, not for a time, and their
	// past due times would have executors poll without pause while a
	// manual task waits.
	err := s.read.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(CASE WHEN o.next_at > o.due_at THEN o.next_at ELSE o.due_at END)
		FROM operations o WHERE o.state = 'queued' AND NOT EXISTS (
			SELECT 1 FROM operations p
			WHERE p.person = o.person AND p.connector = o.connector AND p.state IN ('queued', 'claimed', 'waiting')
			AND (p.due_at < o.due_at OR (p.due_at = o.due_at AND (p.seq < o.seq OR (p.seq = o.seq AND p.id < o.id)))))`)).Scan(&v)
	if err != nil {
		return time.Time{}, classify(err, "next due")
	}
	var lapse sql.NullInt64
	err = s.read.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(claim_until) FROM operations WHERE state = 'claimed'`)).Scan(&lapse)
	if err != nil {
		return time.Time{}, classify(err, "next due")
	}
	t := v.Int64
	if lapse.Valid && (t == 0 || lapse.Int64 < t) {
		t = lapse.Int64
	}
	return fromMS(t), nil
}
