package sqlledger

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgertest"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// openPostgres opens the ledger in a schema of the test's own on the test
// server (pgtest: skipped locally without a server, failed under CI=true).
func openPostgres(t testing.TB) (*Store, string) {
	t.Helper()
	scoped := pgtest.Schema(t)
	s, err := OpenPostgres(t.Context(), scoped, 8)
	require.NoError(t, err)
	return s, scoped
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		s, _ := openPostgres(t)
		return s
	})
}

// TestPostgresLoaded runs the suite with every transaction loading what it
// touches, as the intake's do.
func TestPostgresLoaded(t *testing.T) {
	t.Parallel()
	ledgertest.RunLoaded(t, func(t *testing.T) ledger.Ledger {
		s, _ := openPostgres(t)
		return s
	})
}

func postgresTarget() tamperTarget {
	return tamperTarget{postgres: true, open: func(t *testing.T) (*Store, func(func(*sql.DB)) *Store) {
		s, dsn := openPostgres(t)
		closed := false
		t.Cleanup(func() {
			if !closed {
				s.Close()
			}
		})
		return s, func(tamper func(db *sql.DB)) *Store {
			closed = true
			require.NoError(t, s.Close())
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			tamper(db)
			require.NoError(t, db.Close())
			again, err := OpenPostgres(t.Context(), dsn, 8)
			require.NoError(t, err)
			t.Cleanup(func() { again.Close() })
			return again
		}
	}}
}

func TestTamperPostgres(t *testing.T) {
	t.Parallel()
	runTamper(t, postgresTarget())
}

// Replicas start together: the migration runs once under its lock.
func TestPostgresConcurrentMigration(t *testing.T) {
	s, dsn := openPostgres(t)
	s.Close()
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			st, err := OpenPostgres(context.Background(), dsn, 2)
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		require.NoError(t, <-errs)
	}
}

func TestPostgresLeases(t *testing.T) {
	t.Parallel()
	ledgertest.RunLeases(t, func(t *testing.T) ledger.Ledger {
		s, _ := openPostgres(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
