package sqlledger

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The tables beside the chain (grants, operations, free text) hold what an
// attacker with disk access would change to gain access without touching
// the chain: Verify compares them with what the chain records.

// buildBeside writes one approved, provisioned grant as the engine does:
// its transitions chain its requester, approvers, valid_until and
// entitlements, the approval comment is free text, and its operation is
// chained by an operations.planned entry. It returns the operation.
func buildBeside(t *testing.T, s *Store) ledger.Operation {
	t.Helper()
	ctx := t.Context()
	g := ledger.Grant{ID: "g1", Person: "1547-10234", System: "gerica", Role: "bruker", RequestID: "r1", Requester: "1547-10001",
		ValidUntil: tilgang.Date{Y: 2026, M: 6, D: 30}, Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker"}},
		State: tilgang.StatePendingApproval, Created: tamperT0, Updated: tamperT0}
	tx, err := s.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.InsertGrant(g))
	tx.Audit(ledger.AuditEntry{At: tamperT0, Kind: "grant.state", Person: g.Person, Actor: g.Requester, System: g.System, Role: g.Role,
		GrantID: g.ID, To: string(g.State), Text: "ny i heimetenesta", Details: ledger.GrantDetails(g, nil)})
	require.NoError(t, tx.Commit())

	now := tamperT0.Add(time.Hour)
	tx, err = s.Begin(ctx)
	require.NoError(t, err)
	g.State, g.Approvers, g.Updated = tilgang.StateProvisioning, []string{"1547-20001"}, now
	require.NoError(t, tx.UpdateGrant(g))
	tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: g.Person, Actor: "1547-20001", System: g.System, Role: g.Role,
		GrantID: g.ID, From: string(tilgang.StatePendingApproval), To: string(g.State), Text: "godkjent, ho treng det",
		Details: ledger.GrantDetails(g, map[string]string{"decision": "approve"})})
	op := ledger.Operation{GrantID: g.ID, Person: g.Person, Connector: "ad", Kind: ledger.KindGrant, Entitlement: "CN=APP-Gerica-Bruker",
		State: ledger.OpQueued, DueAt: now, NextAt: now, Seq: 2, Created: now, Updated: now}
	op.ID, err = tx.InsertOperation(op)
	require.NoError(t, err)
	tx.Audit(ledger.AuditEntry{At: now, Kind: planned, Person: op.Person, Actor: "worker", GrantID: op.GrantID,
		Details: map[string]string{opKey(op.ID): ledger.DigestOp(op)}})
	require.NoError(t, tx.Commit())

	rep, err := s.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	bad, err := s.Untraced(ctx, []ledger.Operation{op})
	require.NoError(t, err)
	require.Empty(t, bad)
	return op
}

func TestVerifyTablesBesideTheChain(t *testing.T) {
	t.Parallel()
	d := dialect{}
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, db *sql.DB)
		bad     int64
		problem []string
	}{
		{
			name: "operation inserted",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `INSERT INTO operations (grant_id, person, connector, kind, entitlement, state, due_at, next_at, seq, attempts,
					token, holder, claim_until, target, disabled, last_error, created, updated)
					SELECT grant_id, person, connector, kind, 'CN=Domain Admins', state, due_at, next_at, seq, attempts, token, holder,
					claim_until, target, disabled, last_error, created, updated FROM operations WHERE id = 1`)
			},
			problem: []string{"operation 2 ", "in no chained decision", "inserted"},
		},
		{
			name: "operation's entitlement edited",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE operations SET entitlement = 'CN=Domain Admins' WHERE id = 1`)
			},
			bad:     3,
			problem: []string{"operation 1 ", "chain row 3", "edited"},
		},
		{
			name: "valid_until moved",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE grants SET valid_until = '2099-12-31' WHERE id = 'g1'`)
			},
			bad:     2,
			problem: []string{"grant g1's valid_until", "2099-12-31", "2026-06-30", "row 2"},
		},
		{
			name: "entitlements widened",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE grants SET entitlements = '{"ad":["CN=APP-Gerica-Bruker","CN=Domain Admins"]}' WHERE id = 'g1'`)
			},
			bad:     2,
			problem: []string{"grant g1's entitlements", "row 2", "edited"},
		},
		{
			name: "approvers edited",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE grants SET approvers = '["1547-20009"]' WHERE id = 'g1'`)
			},
			bad:     2,
			problem: []string{"grant g1's approvers", "1547-20009", "1547-20001"},
		},
		{
			name: "requester edited",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE grants SET requester = '1547-10234' WHERE id = 'g1'`)
			},
			bad:     2,
			problem: []string{"grant g1's requester", "1547-10234", "1547-10001"},
		},
		{
			name: "approval comment nulled",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `UPDATE texts SET text = NULL WHERE text = 'godkjent, ho treng det'`)
			},
			bad:     2,
			problem: []string{"free text of row 2", "no chained erasure"},
		},
		{
			name: "approval comment deleted",
			tamper: func(t *testing.T, db *sql.DB) {
				rawExec(t, d, db, `DELETE FROM texts WHERE text = 'godkjent, ho treng det'`)
			},
			bad:     2,
			problem: []string{"free text of row 2", "no chained erasure"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, raw := sqliteTarget().open(t)
			op := buildBeside(t, s)
			s = raw(func(db *sql.DB) { tc.tamper(t, db) })
			rep, err := s.Verify(t.Context(), nil)
			require.NoError(t, err)
			t.Logf("bad_seq=%d problem=%q", rep.BadSeq, rep.Problem)
			require.False(t, rep.OK)
			require.Equal(t, tc.bad, rep.BadSeq, rep.Problem)
			for _, want := range tc.problem {
				require.Contains(t, rep.Problem, want)
			}
			// The operation the planner queued still traces to the chain
			// unless it is the one edited.
			ops, err := s.Operations(t.Context(), "g1")
			require.NoError(t, err)
			bad, err := s.Untraced(t.Context(), ops)
			require.NoError(t, err)
			for _, o := range ops {
				if o.Entitlement == op.Entitlement {
					require.NotContains(t, bad, o.ID)
				} else {
					require.Contains(t, bad[o.ID], "operation")
				}
			}
		})
	}
}

// An erasure chained after the rows whose free text it removed covers the
// missing text; text of rows after its date does not count as erased.
func TestVerifyErasureCoversText(t *testing.T) {
	t.Parallel()
	s, raw := sqliteTarget().open(t)
	buildBeside(t, s)
	erase := func(before time.Time) {
		tx, err := s.Begin(t.Context())
		require.NoError(t, err)
		tx.Audit(ledger.AuditEntry{At: tamperT0.Add(48 * time.Hour), Kind: ErasureKind, Actor: "drift",
			Details: map[string]string{"before": before.Format(time.DateOnly), "texts": "2"}})
		require.NoError(t, tx.Commit())
	}
	erase(tamperT0.Add(-24 * time.Hour)) // before both rows: covers neither
	s = raw(func(db *sql.DB) { rawExec(t, dialect{}, db, `UPDATE texts SET text = NULL`) })
	rep, err := s.Verify(t.Context(), nil)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Contains(t, rep.Problem, "free text of row 1 ")

	erase(tamperT0.Add(24 * time.Hour))
	rep, err = s.Verify(t.Context(), nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}

// A ledger upgraded from a release that did not chain operations may hold
// queued ones: they still run. An operation queued after the upgrade
// without a chain entry does not.
func TestOperationsQueuedBeforeTracingStillRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := t.TempDir() + "/ledger.db"
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	queue := func(s *Store) ledger.Operation {
		tx, err := s.Begin(ctx)
		require.NoError(t, err)
		op := ledger.Operation{Person: "1547-10234", Connector: "ad", Kind: ledger.KindGrant, Entitlement: "CN=APP-Gerica-Bruker",
			State: ledger.OpQueued, DueAt: tamperT0, NextAt: tamperT0, Created: tamperT0, Updated: tamperT0}
		op.ID, err = tx.InsertOperation(op)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		return op
	}
	// As the previous release left it: no record of where tracing starts.
	_, err = s.write.ExecContext(ctx, `DELETE FROM chain_tracing`)
	require.NoError(t, err)
	old := queue(s)
	require.NoError(t, s.Close())

	s, err = OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	inserted := queue(s)
	bad, err := s.Untraced(ctx, []ledger.Operation{old, inserted})
	require.NoError(t, err)
	require.NotContains(t, bad, old.ID, "queued before the upgrade")
	require.Contains(t, bad, inserted.ID, "queued since, by hand")
}
