package sqlledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// TestMailboxMigrationMailsNoPast: a ledger from before the mail outbox
// (events without the notified mark) gets the mark with its events read,
// so nobody is mailed about the past; events after the upgrade are
// pending for the notifier.
func TestMailboxMigrationMailsNoPast(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (*sql.DB, func() (*Store, error))
	}{
		{"sqlite", func(t *testing.T) (*sql.DB, func() (*Store, error)) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			db, err := sql.Open("sqlite", "file:"+path)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db, func() (*Store, error) { return OpenSQLite(context.Background(), path) }
		}},
		{"postgres", func(t *testing.T) (*sql.DB, func() (*Store, error)) {
			// The release before had neither the mail outbox nor schema_migrations.
			s, scoped := openPostgres(t)
			_, err := s.write.Exec(`DROP TABLE mails; DROP INDEX events_unnotified; ALTER TABLE events DROP COLUMN notified; DROP TABLE schema_migrations`)
			require.NoError(t, err)
			require.NoError(t, s.Close())
			db, err := sql.Open("pgx", scoped)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db, func() (*Store, error) { return OpenPostgres(context.Background(), scoped, 2) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, reopen := tc.open(t)
			if tc.name == "sqlite" { // the events table of the release before (on PostgreSQL it is there, its mark dropped)
				_, err := db.Exec(`CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, person TEXT NOT NULL,
					data TEXT NOT NULL, at BIGINT NOT NULL, published INTEGER NOT NULL)`)
				require.NoError(t, err)
			}
			_, err := db.Exec(`INSERT INTO events (kind, person, data, at, published) VALUES ('approval.pending', 'p1', '{}', 1, 1)`)
			require.NoError(t, err)
			s, err := reopen()
			require.NoError(t, err)
			defer s.Close()
			ctx := context.Background()
			pending, err := s.PendingNotifications(ctx, 10)
			require.NoError(t, err)
			require.Empty(t, pending, "an event from before the upgrade is not mailed")
			tx, err := s.Begin(ctx)
			require.NoError(t, err)
			tx.Emit(ledger.Event{Kind: "grant.active", Person: "p1", At: time.Now()})
			require.NoError(t, tx.Commit())
			pending, err = s.PendingNotifications(ctx, 10)
			require.NoError(t, err)
			require.Len(t, pending, 1)
			require.Equal(t, "grant.active", pending[0].Kind)
			// Opening again changes nothing.
			require.NoError(t, s.Close())
			s, err = reopen()
			require.NoError(t, err)
			pending, err = s.PendingNotifications(ctx, 10)
			require.NoError(t, err)
			require.Len(t, pending, 1)
		})
	}
}
