package sqlledger

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgertest"
)

// PostgresDSN is the server the PostgreSQL tests use: TILGANG_TEST_POSTGRES,
// else the local server of the development machines and CI.
func postgresDSN() string {
	if v := os.Getenv("TILGANG_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://root@127.0.0.1:5432/test?sslmode=disable"
}

var schemaSeq atomic.Int64

// openPostgres gives each test its own schema on the test server, so tests
// run in parallel and leave nothing behind. Without a server it skips
// locally and fails under CI=true.
func openPostgres(t testing.TB) (*Store, string) {
	t.Helper()
	dsn := postgresDSN()
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is not reachable: %v", dsn, err)
		}
		t.Skipf("PostgreSQL at %s is not reachable (%v); start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start", dsn, err)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), schemaSeq.Add(1))
	_, err = admin.Exec(`CREATE SCHEMA ` + name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + name + ` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	scoped := dsn + sep + "search_path=" + name
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
