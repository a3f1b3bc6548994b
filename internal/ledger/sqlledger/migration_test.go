package sqlledger

import (
	"context"
	"database/sql"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/testenv/pgtest"
)

// The ledgers in testdata/migration were written by the previous release's
// own code (deploy/make-migration-fixture.sh; testdata/migration/RELEASE
// names the commit): a worker applied joiners, an active grant, a manual
// task and a grant waiting for approval.

// checkMigrated checks a previous release's ledger opened with today's
// code: the chain verifies, the rows read back, and the tables this
// release added are there (operations queued before the upgrade are not
// traced, chain_tracing.from_op lies past them).
func checkMigrated(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	rep, err := s.Verify(ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, "row %d: %s", rep.BadSeq, rep.Problem)
	require.Greater(t, rep.Head.Seq, int64(10))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), st.Grants[tilgang.StateActive])
	require.Equal(t, int64(1), st.Grants[tilgang.StatePendingApproval])
	var maxOp, from int64
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM operations`).Scan(&maxOp))
	require.Positive(t, maxOp)
	require.NoError(t, s.read.QueryRowContext(ctx, `SELECT from_op FROM chain_tracing WHERE id = 1`).Scan(&from))
	require.Equal(t, maxOp+1, from, "operations of the previous release run without being traced")
	for _, table := range []string{"catalogues", "hr_snapshots"} {
		var n int
		require.NoError(t, s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n), table)
	}
	p, err := s.Person(ctx, "1547-1")
	require.NoError(t, err)
	require.Equal(t, "1547-1", p.Person.ID)

	// The access register holds the active grant, from the chain the
	// previous release wrote: from its move to active, not ended.
	active, err := s.Grants(ctx, ledger.GrantFilter{})
	require.NoError(t, err)
	active = slices.DeleteFunc(active, func(g ledger.Grant) bool { return g.State != tilgang.StateActive })
	require.Len(t, active, 1)
	g := active[0]
	var activated time.Time
	require.NoError(t, ledger.AuditPages(ctx, s, ledger.AuditFilter{Person: g.Person}, func(rows []ledger.AuditRow) error {
		for _, r := range rows {
			if r.Entry.Kind == "grant.state" && r.Entry.GrantID == g.ID && r.Entry.To == string(tilgang.StateActive) {
				activated = r.Entry.At
			}
		}
		return nil
	}))
	require.False(t, activated.IsZero())
	hs, err := s.Holdings(ctx, ledger.HoldingFilter{Person: g.Person, From: activated, To: time.Now()})
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, g.ID, hs[0].GrantID)
	require.Equal(t, activated.UnixMilli(), hs[0].From.UnixMilli())
	require.True(t, hs[0].Until.IsZero())
	require.Equal(t, g.Requester, hs[0].Requester)
	hs, err = s.Holdings(ctx, ledger.HoldingFilter{Person: g.Person, From: activated.Add(-time.Millisecond), To: activated.Add(-time.Millisecond)})
	require.NoError(t, err)
	require.Empty(t, hs, "not held before it became active")
}

func TestMigrateSQLiteFromPreviousRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	copyFile(t, "testdata/migration/sqlite.db", path)
	s, err := OpenSQLite(context.Background(), path)
	require.NoError(t, err)
	checkMigrated(t, s)
	require.NoError(t, s.Close())
	s, err = OpenSQLite(context.Background(), path) // a second start migrates nothing and breaks nothing
	require.NoError(t, err)
	checkMigrated(t, s)
	require.NoError(t, s.Close())
}

// loadPostgresFixture loads testdata/migration/postgres.sql (a pg_dump of
// schema tilgang_fixture) into the schema of dsn's search_path.
func loadPostgresFixture(t *testing.T, dsn string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	schemaName := u.Query().Get("search_path")
	require.NotEmpty(t, schemaName)
	data, err := os.ReadFile("testdata/migration/postgres.sql")
	require.NoError(t, err)
	script := regexp.MustCompile(`(?m)^CREATE SCHEMA tilgang_fixture;$`).ReplaceAllString(string(data), "")
	script = strings.ReplaceAll(script, "tilgang_fixture.", schemaName+".")
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), script)
	require.NoError(t, err)
}

// TestMigratePostgresFromPreviousRelease starts four replicas at once on a
// previous release's PostgreSQL ledger: every one opens, the schema is
// applied by one of them (one schema_migrations row; a second application
// would fail on its key), and the ledger verifies from each.
func TestMigratePostgresFromPreviousRelease(t *testing.T) {
	dsn := pgtest.Schema(t)
	loadPostgresFixture(t, dsn)
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = OpenPostgres(context.Background(), dsn, 2)
		}()
	}
	close(start)
	wg.Wait()
	for i := range replicas {
		require.NoError(t, errs[i], "replica %d", i)
		t.Cleanup(func() { stores[i].Close() })
	}
	var n int
	var holder string
	require.NoError(t, stores[0].read.QueryRowContext(context.Background(), `SELECT COUNT(*), MIN(holder) FROM schema_migrations`).Scan(&n, &holder))
	require.Equal(t, 1, n, "the schema was applied once")
	require.NotEmpty(t, holder)
	for _, s := range stores {
		checkMigrated(t, s)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
