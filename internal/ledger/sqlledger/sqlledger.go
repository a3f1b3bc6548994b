// Package sqlledger is the SQL implementation of the ledger, one code path
// for SQLite (the embedded default) and PostgreSQL (production): the same
// statements with the placeholders and the chain-head lock each needs.
//
// SQLite runs in WAL mode with synchronous=FULL, one writer connection and a
// busy timeout; reads use a separate pool of read-only connections.
package sqlledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

type dialect struct {
	postgres bool
}

// rebind is q as the database takes it: on PostgreSQL with $n
// placeholders; on SQLite, which has one writer and so nothing to lock
// rows against, without its row locks (FOR UPDATE, SKIP LOCKED).
//
// A writing transaction locks, on PostgreSQL, the rows it reads to change
// them (a grant's state, an operation's, a person's): without the lock two
// replicas' transactions would overwrite each other's changes. Each such
// statement says FOR UPDATE where it is written.
func (d dialect) rebind(q string) string {
	if !d.postgres {
		if strings.Contains(q, " FOR UPDATE") {
			q = strings.ReplaceAll(strings.ReplaceAll(q, " FOR UPDATE SKIP LOCKED", ""), " FOR UPDATE", "")
		}
		if strings.Contains(q, " FOR SHARE") {
			q = strings.ReplaceAll(q, " FOR SHARE", "")
		}
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Store is a SQL ledger.
type Store struct {
	d     dialect
	write *sql.DB
	read  *sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	stopCheckpoints func() // SQLite
	path            string // SQLite: the database file

	lapsedChecked atomic.Int64 // when Claim last released lapsed claims (ms)
}

var _ ledger.Ledger = (*Store)(nil)

// SQLiteOption changes how OpenSQLite opens a ledger.
type SQLiteOption func(*sqliteOptions)

type sqliteOptions struct {
	cacheKiB int64
}

// CacheSize sets the writer's page cache, in bytes (default 64 MiB).
// SQLite's allocator keeps what the cache once used, outside Go's heap, so
// this bounds the process's resident memory: `tilgang dev` takes 16 MiB.
func CacheSize(bytes int64) SQLiteOption {
	return func(o *sqliteOptions) { o.cacheKiB = max(bytes>>10, 1024) }
}

// OpenSQLite opens (creating if needed) the ledger in a SQLite file.
func OpenSQLite(ctx context.Context, path string, opts ...SQLiteOption) (*Store, error) {
	o := sqliteOptions{cacheKiB: 64 << 10}
	for _, opt := range opts {
		opt(&o)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)" +
		fmt.Sprintf("&_pragma=cache_size(-%d)", o.cacheKiB) + "&_pragma=wal_autocheckpoint(16384)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	// Every read connection stays open between reads (database/sql keeps
	// only two idle by default): one closed and opened again reads the
	// schema anew and starts with an empty page cache.
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s := &Store{d: dialect{}, write: w, read: r, stmts: map[string]*sql.Stmt{}, path: path}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkpointInBackground(path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkpointInBackground copies the write-ahead log into the database file
// from a connection of its own, twice a second, so the writer does not
// stop to do it in the middle of a commit. The writer still checkpoints by
// itself once the log passes 64 MiB (wal_autocheckpoint), should this fall
// behind.
func (s *Store) checkpointInBackground(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer db.Close()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_, _ = db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`) // busy or behind: the next tick, or the writer, does it
			}
		}
	}()
	s.stopCheckpoints = func() { close(stop); <-done }
	return nil
}

// OpenDB wraps an already opened database (PostgreSQL through pgx's
// database/sql driver) and applies the schema.
func OpenDB(ctx context.Context, db *sql.DB, postgres bool) (*Store, error) {
	s := &Store{d: dialect{postgres: postgres}, write: db, read: db, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// migrate applies the schema, then fills in the access register what the
// chain records and it lacks (CatchUpHoldings).
func (s *Store) migrate(ctx context.Context) error {
	if err := s.migrateSchema(ctx); err != nil {
		return err
	}
	if _, err := s.CatchUpHoldings(ctx); err != nil {
		return fmt.Errorf("ledger: catch up the access register: %w", err)
	}
	return nil
}

func (s *Store) migrateSchema(ctx context.Context) error {
	if s.d.postgres {
		return s.migratePostgres(ctx)
	}
	exec := func(ctx context.Context, q string) error {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("ledger: migrate: %w (in %.60s...)", err, strings.TrimSpace(q))
		}
		return nil
	}
	for _, q := range schema(s.d) {
		if err := exec(ctx, q); err != nil {
			return err
		}
	}
	if err := s.migrateMail(ctx, exec); err != nil {
		return err
	}
	var n int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = 'registered'`).Scan(&n); err != nil {
		return classify(err, "migrate: audit")
	}
	for _, q := range s.registerSchema() {
		if strings.HasPrefix(q, "ALTER TABLE audit ADD COLUMN") {
			if n > 0 {
				continue
			}
			q = strings.Replace(q, " IF NOT EXISTS", "", 1)
		}
		if err := exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		s.stopCheckpoints = nil
	}
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	err := s.write.Close()
	if s.read != s.write {
		if e := s.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

// stmt returns a statement prepared once on the writer. It prepares
// without holding mu: on SQLite, preparing waits for the one writer
// connection, and a transaction holding that connection needs mu (tx.stmt).
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[q]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.write.PrepareContext(ctx, s.d.rebind(q))
	if err != nil {
		return nil, classify(err, "prepare")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.stmts[q]; ok {
		st.Close()
		return prev, nil
	}
	s.stmts[q] = st
	return st, nil
}

// classify turns a database error into the project's kinds.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	return tilgang.Wrap(kindOf(err), err, "ledger: %s", what)
}

// kindOf reads a database error's kind from its code (PostgreSQL's
// SQLSTATE, SQLite's result code) or its type, never from its text.
// Unavailable means trying again may succeed: the database is down or
// unreachable, busy, or a statement met another transaction (a deadlock, a
// serialization failure, a lock or statement timeout), which the intake
// retries a few times as a batch.
func kindOf(err error) tilgang.Kind {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch code := pg.Code; {
		case code == "23505": // unique_violation
			return tilgang.Conflict
		case code == "40001", code == "40P01", // serialization_failure, deadlock_detected
			code == "57014", code == "55P03", // query_canceled (statement timeout), lock_not_available (lock timeout)
			strings.HasPrefix(code, "08"),  // connection exceptions
			strings.HasPrefix(code, "57P"), // the server shuts down or starts
			strings.HasPrefix(code, "53"):  // insufficient resources (too many connections)
			return tilgang.Unavailable
		}
		return tilgang.Internal
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch code := lite.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return tilgang.Conflict
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED, code&0xff == sqlite3.SQLITE_INTERRUPT:
			return tilgang.Unavailable
		}
		return tilgang.Internal
	}
	var (
		netErr     net.Error
		connectErr *pgconn.ConnectError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed),
		errors.As(err, &netErr), errors.As(err, &connectErr),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return tilgang.Unavailable
	}
	return tilgang.Internal
}

// corrupt is the error for a stored value that does not decode: a row
// edited or damaged behind the ledger's back. It is never read as empty,
// since an empty value would be acted on (a grant without entitlements
// revokes nothing).
func corrupt(table, id, column string, err error) error {
	return tilgang.Wrap(tilgang.Internal, err, "ledger: %s %s: column %s does not decode", table, id, column)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
