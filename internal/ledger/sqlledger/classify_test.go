package sqlledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "from the server"})
	}
	for _, tc := range []struct {
		name string
		err  error
		want tilgang.Kind
	}{
		{"unique violation", pg("23505"), tilgang.Conflict},
		{"serialization failure", pg("40001"), tilgang.Unavailable},
		{"deadlock", pg("40P01"), tilgang.Unavailable},
		{"statement timeout", pg("57014"), tilgang.Unavailable},
		{"lock timeout", pg("55P03"), tilgang.Unavailable},
		{"connection failure", pg("08006"), tilgang.Unavailable},
		{"admin shutdown", pg("57P01"), tilgang.Unavailable},
		{"too many connections", pg("53300"), tilgang.Unavailable},
		{"syntax error", pg("42601"), tilgang.Internal},
		{"foreign key violation", pg("23503"), tilgang.Internal},
		{"not null violation", pg("23502"), tilgang.Internal},
		{"server error whose text mentions EOF", pg("XX000"), tilgang.Internal},
		{"EOF", fmt.Errorf("read: %w", io.EOF), tilgang.Unavailable},
		{"unexpected EOF", io.ErrUnexpectedEOF, tilgang.Unavailable},
		{"bad connection", driver.ErrBadConn, tilgang.Unavailable},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, tilgang.Unavailable},
		{"closed network connection", net.ErrClosed, tilgang.Unavailable},
		{"pgx conn closed", pgconn.ErrConnClosed, tilgang.Unavailable},
		{"cancelled", context.Canceled, tilgang.Unavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), tilgang.Unavailable},
		{"text alone says nothing", errors.New("unexpected EOF; conn closed; database is locked"), tilgang.Internal},
		{"no rows", sql.ErrNoRows, tilgang.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := classify(tc.err, "test")
			require.Equal(t, tc.want, tilgang.KindOf(err), "%v", err)
			require.ErrorIs(t, err, tc.err)
		})
	}
	require.NoError(t, classify(nil, "test"))
}

// SQLite's result codes, as the driver reports them.
func TestClassifySQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "codes.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_txlock=immediate")
		require.NoError(t, err)
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	_, err := a.Exec(`CREATE TABLE k (id TEXT PRIMARY KEY, v TEXT UNIQUE)`)
	require.NoError(t, err)
	_, err = a.Exec(`INSERT INTO k VALUES ('1', 'x')`)
	require.NoError(t, err)

	_, err = a.Exec(`INSERT INTO k VALUES ('1', 'y')`)
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(classify(err, "insert")), "primary key: %v", err)
	_, err = a.Exec(`INSERT INTO k VALUES ('2', 'x')`)
	require.Equal(t, tilgang.Conflict, tilgang.KindOf(classify(err, "insert")), "unique: %v", err)
	_, err = a.Exec(`INSERT INTO nope VALUES (1)`)
	require.Equal(t, tilgang.Internal, tilgang.KindOf(classify(err, "insert")), "no such table: %v", err)

	held, err := a.Begin() // BEGIN IMMEDIATE: the write lock
	require.NoError(t, err)
	defer held.Rollback()
	_, err = b.Begin()
	require.Error(t, err)
	require.Equal(t, tilgang.Unavailable, tilgang.KindOf(classify(err, "begin")), "busy: %v", err)
}

// A statement or lock timeout on PostgreSQL is Unavailable: the statement
// met other work and may go through when tried again.
func TestClassifyPostgresTimeouts(t *testing.T) {
	t.Parallel()
	s, _ := openPostgres(t)
	defer s.Close()
	ctx := t.Context()

	t.Run("statement timeout", func(t *testing.T) {
		l, err := s.Begin(ctx)
		require.NoError(t, err)
		defer l.Rollback()
		tx := l.(*tx)
		_, err = tx.exec(`SET LOCAL statement_timeout = '1ms'`)
		require.NoError(t, err)
		_, err = tx.exec(`SELECT pg_sleep(1)`)
		require.Error(t, err)
		require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
	})

	t.Run("lock timeout", func(t *testing.T) {
		inTx := func(fn func(tx ledger.Tx)) {
			tx, err := s.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback()
			fn(tx)
			require.NoError(t, tx.Commit())
		}
		inTx(func(tx ledger.Tx) {
			require.NoError(t, tx.InsertGrant(ledger.Grant{ID: "g1", Person: "p1", System: "gerica", Role: "bruker", State: "active"}))
			tx.Audit(ledger.AuditEntry{Kind: "grant.state", GrantID: "g1", To: "active"})
		})
		holder, err := s.Begin(ctx)
		require.NoError(t, err)
		defer holder.Rollback()
		g, err := holder.Grant("g1") // locks the row
		require.NoError(t, err)
		require.NotNil(t, g)

		l, err := s.Begin(ctx)
		require.NoError(t, err)
		defer l.Rollback()
		_, err = l.(*tx).exec(`SET LOCAL lock_timeout = '1ms'`)
		require.NoError(t, err)
		_, err = l.Grant("g1")
		require.Error(t, err)
		require.Equal(t, tilgang.Unavailable, tilgang.KindOf(err), "%v", err)
	})
}
