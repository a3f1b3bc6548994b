package sqlledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// OpenPostgres opens the ledger on PostgreSQL (a pgx DSN or URL, e.g.
// postgres://tilgang@db.example:5432/tilgang?sslmode=verify-full) and
// applies the schema. Several replicas may start at once: the migration
// runs under an advisory lock.
func OpenPostgres(ctx context.Context, dsn string, maxConns int) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open postgres: %w", err)
	}
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
	for _, q := range schema(s.d) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("ledger: migrate: %w (in %.60s...)", err, q)
		}
	}
	return nil
}
