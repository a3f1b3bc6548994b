// Package pgtest gives a test a PostgreSQL schema of its own on the test
// server. It depends on nothing of tilgang's, so any package's tests can
// use it, the ledger's own included.
package pgtest

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

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

var schemas atomic.Int64

// DSN is the server the PostgreSQL tests use: TILGANG_TEST_POSTGRES,
// else the local server of the development machines and CI.
func DSN() string {
	if v := os.Getenv("TILGANG_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://root@127.0.0.1:5432/test?sslmode=disable"
}

// Schema makes a schema of the test's own on the test server and
// returns a DSN whose search_path is that schema; it is dropped when the
// test ends. Without a server it skips locally and fails under CI=true.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := DSN()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is not reachable: %v", dsn, err)
		}
		t.Skipf("PostgreSQL at %s is not reachable (%v); start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start", dsn, err)
	}
	name := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemas.Add(1))
	_, err = db.Exec(`CREATE SCHEMA ` + name)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec(`DROP SCHEMA ` + name + ` CASCADE`); db.Close() })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + name
}
