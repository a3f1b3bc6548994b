package sqlledger

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// registerFilters are the register's reads: a system's and a person's, the
// first page and a later one.
func registerFilters() []ledger.HoldingFilter {
	t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	return []ledger.HoldingFilter{
		{System: "gerica", From: t0, To: t0.Add(24 * time.Hour)},
		{System: "gerica", From: t0, To: t0, After: ledger.HoldingKey{System: "gerica", Role: "bruker", Person: "1547-1", GrantID: "g-1"}},
		{Person: "1547-1", From: t0, To: t0.Add(24 * time.Hour)},
		{Person: "1547-1", From: t0, To: t0, After: ledger.HoldingKey{System: "gerica", Role: "bruker", Person: "1547-1", GrantID: "g-1"}},
	}
}

func wantIndex(f ledger.HoldingFilter) string {
	if f.System != "" {
		return "holdings_system"
	}
	return "holdings_person"
}

// TestHoldingsOnIndexesSQLite: SQLite reads every page of the register
// from the index on system or on person, in the index's order (no sort of
// its own), however large the ledger.
func TestHoldingsOnIndexesSQLite(t *testing.T) {
	t.Parallel()
	s, _ := openSQLite(t)
	for _, f := range registerFilters() {
		q, args := holdingsQuery(f)
		rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		text := strings.Join(plan, "\n")
		require.Contains(t, text, "USING INDEX "+wantIndex(f), "%+v:\n%s", f, text)
		require.NotContains(t, text, "TEMP B-TREE", "%+v: ordered by the index:\n%s", f, text)
	}
}

// TestHoldingsOnIndexesPostgres: PostgreSQL can read every page of the
// register from the index on system or on person in its order: with
// sequential and bitmap scans ruled out (a test's table is too small for
// the planner to prefer an index by itself), the plan is an index scan
// without a sort.
func TestHoldingsOnIndexesPostgres(t *testing.T) {
	t.Parallel()
	s, _ := openPostgres(t)
	ctx := context.Background()
	conn, err := s.read.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, q := range []string{`SET enable_seqscan = off`, `SET enable_bitmapscan = off`} {
		_, err := conn.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	for _, f := range registerFilters() {
		q, args := holdingsQuery(f)
		text := explain(t, conn, s.d.rebind(`EXPLAIN `+q), args)
		require.Contains(t, text, "Index Scan using "+wantIndex(f), "%+v:\n%s", f, text)
		require.NotContains(t, text, "Sort", "%+v: ordered by the index:\n%s", f, text)
	}
}

func explain(t *testing.T, conn *sql.Conn, q string, args []any) string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	return strings.Join(plan, "\n")
}
