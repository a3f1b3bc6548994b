package sqlledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ror-ikt/tilgang"
)

// OpenPostgres opens the ledger on PostgreSQL (a pgx DSN or URL, e.g.
// postgres://tilgang@db.example:5432/tilgang?sslmode=verify-full) and
// applies the schema. Several replicas may start at once: the migration
// runs under an advisory lock.
func OpenPostgres(ctx context.Context, dsn string, maxConns int) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, tilgang.Wrap(tilgang.Invalid, err, "ledger: postgres DSN")
	}
	// A replica stopped in the middle of a transaction (paused, hung) must
	// not hold its row locks forever: the server ends such a session, its
	// transaction rolls back, and another replica takes over.
	if _, set := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	}
	// Plan each statement for its arguments and the table as it is now. A
	// prepared statement's generic plan is fixed after a few runs, and one
	// fixed while the tables were still small (a fresh ledger) scans whole
	// tables for ever after.
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	db := stdlib.OpenDB(*cfg)
	if maxConns <= 0 {
		maxConns = 8
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, classify(err, "connect to postgres")
	}
	s, err := OpenDB(ctx, db, true)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrationLock is the advisory lock key of the schema migration.
const migrationLock = 0x74696c67616e67 // "tilgang"

// migratePostgres applies the schema on one connection holding the
// advisory lock, so replicas starting together do not race on DDL.
func (s *Store) migratePostgres(ctx context.Context) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return classify(err, "migrate")
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return classify(err, "migrate: lock")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	// Each schema is applied once: the first replica to take the lock
	// applies it and records its digest; the others find it recorded.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		digest TEXT PRIMARY KEY, at BIGINT NOT NULL, holder TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	qs := schema(s.d)
	// The later steps (the mail outbox) are listed, not run, so that the
	// digest covers every statement.
	if err := s.migrateMail(ctx, func(_ context.Context, q string) error {
		qs = append(qs, q)
		return nil
	}); err != nil {
		return err
	}
	qs = append(qs, s.registerSchema()...)
	digest := schemaDigest(qs)
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE digest = $1`, digest).Scan(&n); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	if n > 0 {
		return nil
	}
	for _, q := range qs {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("ledger: migrate: %w (in %.60s...)", err, q)
		}
	}
	host, _ := os.Hostname()
	// No ON CONFLICT: a second run of the same schema (the lock not
	// held) is an error, not hidden.
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (digest, at, holder) VALUES ($1, $2, $3)`,
		digest, time.Now().UnixMilli(), fmt.Sprintf("%s-%d", host, os.Getpid())); err != nil {
		return fmt.Errorf("ledger: migrate: record schema %s: %w", digest[:12], err)
	}
	return nil
}

// schemaDigest names a schema by its statements: any change to schema()
// is a new migration, applied once.
func schemaDigest(qs []string) string {
	h := sha256.New()
	for _, q := range qs {
		h.Write([]byte(q))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
