package sqlledger

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The tamper tests play an attacker with write access to the database (the
// SQLite file, or SQL on PostgreSQL) who edits, deletes and reorders rows
// behind the ledger's back, and check that Verify names what happened
// (DESIGN.md: "an edited row, a deleted middle row, reordered rows, and
// deleted newest rows are each found by `audit verify` with the first bad
// row named").
//
// What Verify cannot see without an anchor, and says so in these tests: an
// attacker who deletes the newest rows and moves the head back, or rewrites
// the chain from some row on with fresh hashes, leaves a chain that is
// consistent in itself. Only the anchor (the head published outside the
// database) finds those.
//
// An edited index column (person, system, time: what `audit --person` and
// `--since` select on) is found too, though the chained bytes are intact:
// otherwise a row could be hidden from a person's audit trail.

// tamperTarget is a backend for the tamper tests.
type tamperTarget struct {
	postgres bool
	// open makes a new, empty ledger. raw closes it, hands the database
	// under it to tamper, and opens the ledger again.
	open func(t *testing.T) (s *Store, raw func(tamper func(db *sql.DB)) *Store)
}

func sqliteTarget() tamperTarget {
	return tamperTarget{open: func(t *testing.T) (*Store, func(func(*sql.DB)) *Store) {
		s, path := openSQLite(t)
		closed := false
		t.Cleanup(func() {
			if !closed {
				s.Close()
			}
		})
		return s, func(tamper func(db *sql.DB)) *Store {
			closed = true
			require.NoError(t, s.Close())
			db, err := sql.Open("sqlite", "file:"+path)
			require.NoError(t, err)
			tamper(db)
			require.NoError(t, db.Close())
			again, err := OpenSQLite(t.Context(), path)
			require.NoError(t, err)
			t.Cleanup(func() { again.Close() })
			return again
		}
	}}
}

var tamperT0 = time.Date(2025, time.August, 1, 7, 30, 0, 0, time.UTC)

// buildChain writes 20 chain rows through the Tx API, one transaction per
// transition, as the engine does:
//
//	rows  1-15  grants g1..g5: pending_approval, provisioning, active (three rows each)
//	rows 16-17  g1: revoking, revoked
//	rows 18-20  other facts: request.accepted and message.rejected (with free
//	            text), person.updated
func buildChain(t *testing.T, s *Store) []ledger.AuditRow {
	t.Helper()
	ctx := t.Context()
	now := tamperT0
	step := func(fn func(tx ledger.Tx)) {
		t.Helper()
		tx, err := s.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback()
		fn(tx)
		require.NoError(t, tx.Commit())
		now = now.Add(time.Minute)
	}
	move := func(id string, to tilgang.GrantState, reason string) {
		t.Helper()
		step(func(tx ledger.Tx) {
			g, err := tx.Grant(id)
			require.NoError(t, err)
			from := tilgang.GrantState("")
			if g == nil {
				n := id[1:]
				g = &ledger.Grant{ID: id, Person: "1547-1000" + n, System: "gerica", Role: "bruker", RequestID: "r" + n,
					Requester: "1547-10001", Entitlements: map[string][]string{"ad": {"CN=APP-Gerica-Bruker"}}, Created: now}
			} else {
				from = g.State
			}
			g.State, g.Updated, g.Catalogue = to, now, "cat-1"
			if from == "" {
				require.NoError(t, tx.InsertGrant(*g))
			} else {
				require.NoError(t, tx.UpdateGrant(*g))
			}
			tx.Audit(ledger.AuditEntry{At: now, Kind: "grant.state", Person: g.Person, Actor: "1547-20001", System: g.System,
				Role: g.Role, GrantID: g.ID, RequestID: g.RequestID, From: string(from), To: string(to), Catalogue: "cat-1", Text: reason})
			tx.Emit(ledger.Event{Kind: "grant." + string(to), Person: g.Person, At: now, Data: map[string]any{"grant_id": g.ID}})
		})
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("g%d", i)
		move(id, tilgang.StatePendingApproval, "ny i heimetenesta")
		move(id, tilgang.StateProvisioning, "")
		move(id, tilgang.StateActive, "")
	}
	move("g1", tilgang.StateRevoking, "sluttar")
	move("g1", tilgang.StateRevoked, "")
	step(func(tx ledger.Tx) {
		tx.Audit(ledger.AuditEntry{At: now, Kind: "request.accepted", Person: "1547-10006", Actor: "1547-10001", System: "visma",
			Role: "laerer", RequestID: "r6", Text: "vikar for Kari Nordmann"})
	})
	step(func(tx ledger.Tx) {
		tx.Audit(ledger.AuditEntry{At: now, Kind: "message.rejected", Actor: "ukjend", Text: "signature does not verify"})
	})
	step(func(tx ledger.Tx) {
		tx.Audit(ledger.AuditEntry{At: now, Kind: "person.updated", Person: "1547-10007", Actor: "hr",
			Details: map[string]string{"version": "3"}})
	})
	rows, err := s.Audit(ctx, ledger.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, rows, 20)
	rep, err := s.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, 5, rep.Grants)
	return rows
}

func rawExec(t *testing.T, d dialect, db *sql.DB, q string, args ...any) {
	t.Helper()
	res, err := db.ExecContext(t.Context(), d.rebind(q), args...)
	require.NoError(t, err, q)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n, "%s changed nothing", q)
}

// rechain rewrites rows from..n of the chain with fresh hashes, as an
// attacker who knows the format would, applying edit to row from.
func rechain(t *testing.T, d dialect, db *sql.DB, rows []ledger.AuditRow, from int64, edit func(c *canon)) {
	t.Helper()
	prev := genesis
	if from > 1 {
		prev = rows[from-2].Hash
	}
	for _, r := range rows[from-1:] {
		var c canon
		require.NoError(t, json.Unmarshal([]byte(r.Canonical), &c))
		if r.Seq == from {
			edit(&c)
		}
		c.Prev = prev
		b := mustJSON(c)
		prev = sha256hex([]byte(b))
		rawExec(t, d, db, `UPDATE audit SET canonical = ?, hash = ? WHERE seq = ?`, b, prev, r.Seq)
	}
	rawExec(t, d, db, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, rows[len(rows)-1].Seq, prev)
}

func runTamper(t *testing.T, target tamperTarget) {
	d := dialect{postgres: target.postgres}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, rows []ledger.AuditRow)
		// then runs on the tampered ledger before it is verified.
		then func(t *testing.T, s *Store)
		// anchorOnly: the chain is consistent in itself; only the anchor finds it.
		anchorOnly bool
		bad        int64 // the first bad row, 0 when the problem is not a chain row
		problem    []string
	}{
		{
			name: "edited row",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				c := rows[9].Canonical
				i := strings.Index(c, `"actor":"`) + len(`"actor":"`)
				edited := c[:i] + "9" + c[i+1:] // one byte: 1547-20001 becomes 9547-20001
				require.NotEqual(t, c, edited)
				rawExec(t, d, db, `UPDATE audit SET canonical = ? WHERE seq = 10`, edited)
			},
			bad:     10,
			problem: []string{"row 10 ", "edited"},
		},
		{
			name: "edited row with its hash recomputed",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				edited := strings.Replace(rows[9].Canonical, `"actor":"1547-20001"`, `"actor":"1547-20002"`, 1)
				require.NotEqual(t, rows[9].Canonical, edited)
				rawExec(t, d, db, `UPDATE audit SET canonical = ?, hash = ? WHERE seq = 10`, edited, sha256hex([]byte(edited)))
			},
			// Row 10 is consistent in itself now; the break is found at
			// the row after it, and the problem names both.
			bad:     11,
			problem: []string{"row 11 ", "row 10"},
		},
		{
			name: "edited row and the chain after it rewritten",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rechain(t, d, db, rows, 10, func(c *canon) { c.Actor = "1547-20002" })
			},
			anchorOnly: true,
			bad:        20, // the anchored row: the first the anchor can prove bad
			problem:    []string{"row 20 ", "anchor"},
		},
		{
			name: "edited person column",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE audit SET person = ? WHERE seq = 10`, "1547-99999")
			},
			bad:     10,
			problem: []string{"row 10", "person", "edited"},
		},
		{
			name: "edited time column",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE audit SET at = at - 86400000 WHERE seq = 12`)
			},
			bad:     12,
			problem: []string{"row 12", "time", "edited"},
		},
		{
			name: "deleted middle row",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM audit WHERE seq = 10`)
			},
			bad:     10,
			problem: []string{"row 10 ", "missing", "deleted"},
		},
		{
			name: "reordered rows",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE audit SET seq = -8 WHERE seq = 8`)
				rawExec(t, d, db, `UPDATE audit SET seq = 8 WHERE seq = 12`)
				rawExec(t, d, db, `UPDATE audit SET seq = 12 WHERE seq = -8`)
			},
			bad:     8,
			problem: []string{"row 8 ", "row 12", "reordered"},
		},
		{
			name: "swapped contents",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				a, b := rows[7], rows[11]
				rawExec(t, d, db, `UPDATE audit SET canonical = ?, hash = ? WHERE seq = 8`, b.Canonical, b.Hash)
				rawExec(t, d, db, `UPDATE audit SET canonical = ?, hash = ? WHERE seq = 12`, a.Canonical, a.Hash)
			},
			bad:     8,
			problem: []string{"row 8 ", "reordered"},
		},
		{
			name: "deleted newest rows",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM audit WHERE seq > 17`)
			},
			bad:     18,
			problem: []string{"row 17", "20", "deleted"},
		},
		{
			name: "deleted newest rows and the head moved back",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM audit WHERE seq > 17`)
				rawExec(t, d, db, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, rows[16].Seq, rows[16].Hash)
			},
			anchorOnly: true,
			bad:        18,
			problem:    []string{"row 17", "row 20", "anchored", "deleted"},
		},
		{
			name: "deleted newest rows, the head moved back, and new rows written",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM audit WHERE seq > 17`)
				rawExec(t, d, db, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, rows[16].Seq, rows[16].Hash)
			},
			then: func(t *testing.T, s *Store) {
				tx, err := s.Begin(t.Context())
				require.NoError(t, err)
				for i := range 4 {
					tx.Audit(ledger.AuditEntry{At: tamperT0.Add(time.Hour), Kind: "person.updated", Person: fmt.Sprintf("1547-2000%d", i), Actor: "hr"})
				}
				require.NoError(t, tx.Commit())
			},
			anchorOnly: true,
			bad:        20,
			problem:    []string{"row 20 ", "anchor"},
		},
		{
			name: "grant state edited",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE grants SET state = 'active', open = 1 WHERE id = 'g1'`)
			},
			problem: []string{"grant g1 ", "active", "revoked", "row 17"},
		},
		{
			name: "grant moved to another person",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE grants SET person = '1547-66666' WHERE id = 'g2'`)
			},
			problem: []string{"grant g2", "person", "1547-66666", "1547-10002", "row 6", "edited"},
		},
		{
			name: "grant role changed",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE grants SET role = 'admin' WHERE id = 'g4'`)
			},
			problem: []string{"grant g4", "role", "admin", "bruker", "row 12"},
		},
		{
			name: "grant row deleted",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM grants WHERE id = 'g3'`)
			},
			problem: []string{"grant g3 ", "row 9", "deleted"},
		},
		{
			name: "grant row inserted",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `INSERT INTO grants SELECT 'g9', person, 'gerica', 'admin', state, open, request_id, requester, stage,
					stage_principal, approvers, valid_until, revoke_after, revoke_cause, entitlements, catalogue, created, updated
					FROM grants WHERE id = 'g2'`)
			},
			problem: []string{"grant g9 ", "not in the chain"},
		},
		{
			name: "register row edited",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `UPDATE holdings SET until_at = 0 WHERE grant_id = 'g1'`)
			},
			bad:     3,
			problem: []string{"access register", "grant g1", "row 3", "edited"},
		},
		{
			name: "register row deleted",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `DELETE FROM holdings WHERE grant_id = 'g2'`)
			},
			bad:     6,
			problem: []string{"grant g2 became active (row 6)", "access register", "deleted"},
		},
		{
			name: "register row inserted",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				rawExec(t, d, db, `INSERT INTO holdings SELECT 'g9', person, system, 'admin', from_at, until_at, requester, approvers
					FROM holdings WHERE grant_id = 'g2'`)
			},
			problem: []string{"access register holds grant g9", "inserted"},
		},
		{
			name: "free text edited",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				require.NotEmpty(t, rows[17].TextHash)
				rawExec(t, d, db, `UPDATE texts SET text = ? WHERE hash = ?`, "vikar for Ola Nordmann", rows[17].TextHash)
			},
			bad:     18,
			problem: []string{"row 18", "text", "edited"},
		},
		{
			name: "free text edited where it is first used",
			tamper: func(t *testing.T, db *sql.DB, rows []ledger.AuditRow) {
				// Rows 1, 4, 7, 10 and 13 share the reason; the first names it.
				require.Equal(t, rows[0].TextHash, rows[12].TextHash)
				rawExec(t, d, db, `UPDATE texts SET text = ? WHERE hash = ?`, "ny i heimetenesta!", rows[0].TextHash)
			},
			bad:     1,
			problem: []string{"row 1 ", "text"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, raw := target.open(t)
			rows := buildChain(t, s)
			anchor, err := s.Head(t.Context())
			require.NoError(t, err)
			require.Equal(t, ledger.Head{Seq: 20, Hash: rows[19].Hash}, anchor)

			s = raw(func(db *sql.DB) { tc.tamper(t, db, rows) })
			if tc.then != nil {
				tc.then(t, s)
			}

			blind, err := s.Verify(t.Context(), nil)
			require.NoError(t, err)
			anchored, err := s.Verify(t.Context(), &anchor)
			require.NoError(t, err)
			reps := []ledger.VerifyReport{anchored}
			if tc.anchorOnly {
				require.True(t, blind.OK, "without an anchor the chain looks whole: %s", blind.Problem)
			} else {
				reps = append(reps, blind) // an anchor never hides a problem
			}
			for _, rep := range reps {
				t.Logf("bad_seq=%d problem=%q", rep.BadSeq, rep.Problem)
				require.False(t, rep.OK)
				require.Equal(t, tc.bad, rep.BadSeq, rep.Problem)
				for _, want := range tc.problem {
					require.Contains(t, rep.Problem, want)
				}
			}
		})
	}
}

func TestTamperSQLite(t *testing.T) {
	t.Parallel()
	runTamper(t, sqliteTarget())
}

// Erasing free text at the end of retention (DESIGN.md) keeps the chain
// whole: the erasure is chained, and covers the text of the rows before it.
func TestErasedTextVerifies(t *testing.T) {
	t.Parallel()
	s, raw := sqliteTarget().open(t)
	rows := buildChain(t, s)
	anchor, err := s.Head(t.Context())
	require.NoError(t, err)
	tx, err := s.Begin(t.Context())
	require.NoError(t, err)
	tx.Audit(ledger.AuditEntry{At: tamperT0.Add(48 * time.Hour), Kind: ErasureKind, Actor: "drift",
		Details: map[string]string{"before": tamperT0.Add(24 * time.Hour).Format(time.RFC3339), "texts": "4"}})
	require.NoError(t, tx.Commit())
	s = raw(func(db *sql.DB) {
		rawExec(t, dialect{}, db, `UPDATE texts SET text = NULL`)
	})
	rep, err := s.Verify(t.Context(), &anchor)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	got, err := s.Audit(t.Context(), ledger.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, got, 21)
	for i, r := range got[:20] {
		require.Empty(t, r.Entry.Text)
		require.Equal(t, rows[i].TextHash, r.TextHash, "the hash stays in the chain")
	}
}
