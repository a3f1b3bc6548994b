package sqlledger

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// commitMessages records messages at the stream sequences seqs, each with
// an audit entry.
func commitMessages(t *testing.T, s *Store, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		tx, err := s.Begin(t.Context())
		require.NoError(t, err)
		_, err = tx.RecordMessage(ledger.Message{Key: fmt.Sprintf("k%d", seq), PayloadHash: "h", Type: "t", Person: "1547-1", Seq: seq, At: time.Now()})
		require.NoError(t, err)
		tx.Audit(ledger.AuditEntry{At: time.Now(), Kind: "request.accepted", Person: "1547-1", RequestID: fmt.Sprintf("r%d", seq)})
		tx.Emit(ledger.Event{Kind: "request.accepted", Person: "1547-1", Data: map[string]any{"seq": seq}, At: time.Now()})
		require.NoError(t, tx.Commit())
	}
}

// TestBackupRestoreRoundTrip backs up an open ledger, writes more, restores
// the backup: the mark gives the backup's head and the stream sequence to
// resume from, the first start chains ledger.restored, and the anchor of a
// row written after the backup is lost to that restore, while the chain
// goes on from the restored head.
func TestBackupRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	s, err := OpenSQLite(t.Context(), path)
	require.NoError(t, err)
	commitMessages(t, s, 1, 2, 3)
	atBackup, err := s.Head(t.Context())
	require.NoError(t, err)
	bk := filepath.Join(t.TempDir(), "b.db")
	require.NoError(t, Backup(t.Context(), path, bk))
	commitMessages(t, s, 4, 5)
	lostAnchor, err := s.Head(t.Context())
	require.NoError(t, err)

	_, err = Restore(t.Context(), bk, dir)
	require.NoError(t, err, "no lock is held: the store is open but nobody locked it")
	require.NoError(t, s.Close())

	s, err = OpenSQLite(t.Context(), path)
	require.NoError(t, err)
	defer s.Close()
	mark, resume, err := s.Restored(t.Context())
	require.NoError(t, err)
	require.NotNil(t, mark)
	require.Equal(t, atBackup.Seq, mark.Seq)
	require.Equal(t, atBackup.Hash, mark.Hash)
	require.Equal(t, uint64(4), resume)
	require.NoError(t, s.ChainRestored(t.Context(), *mark, time.Now()))
	mark, _, err = s.Restored(t.Context())
	require.NoError(t, err)
	require.Nil(t, mark, "the mark is cleared")

	restoredAt := time.Now()
	commitMessages(t, s, 4, 5, 6)
	requireEventIDsPast(t, s, restoredAt)
	rep, err := s.Verify(t.Context(), nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)

	rep, err = s.Verify(t.Context(), &lostAnchor)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, fmt.Sprintf("warning: the anchor of row %d was lost to the restore at seq %d", lostAnchor.Seq, atBackup.Seq), rep.Problem)
	rep, err = s.Verify(t.Context(), &ledger.Head{Seq: 2, Hash: lostAnchor.Hash})
	require.NoError(t, err)
	require.False(t, rep.OK, "an anchor before the restore still counts")

	lost, err := s.LostToRestore(t.Context(), []ledger.Head{atBackup, lostAnchor})
	require.NoError(t, err)
	require.Equal(t, map[ledger.Head]ledger.Head{lostAnchor: atBackup}, lost)
	head, err := s.ChainsFrom(t.Context(), lostAnchor)
	require.NoError(t, err, "the chain goes on from the restored head")
	require.Equal(t, rep.Head, head)
	_, err = s.ChainsFrom(t.Context(), ledger.Head{Seq: 2, Hash: lostAnchor.Hash})
	require.Error(t, err, "a rewritten row before the restore is no loss to it")
}

func TestRestoreRefused(t *testing.T) {
	src, srcPath := openSQLite(t)
	commitMessages(t, src, 1, 2)
	require.NoError(t, src.Close())

	t.Run("while the ledger is locked", func(t *testing.T) {
		dir := t.TempDir()
		unlock, err := Lock(filepath.Join(dir, "ledger.db"))
		require.NoError(t, err)
		defer unlock()
		_, err = Restore(t.Context(), srcPath, dir)
		require.ErrorIs(t, err, ErrInUse)
		require.Contains(t, err.Error(), "stop it first")
	})
	t.Run("a chain that does not verify", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.db")
		require.NoError(t, Backup(t.Context(), srcPath, bad))
		db, err := sql.Open("sqlite", "file:"+bad)
		require.NoError(t, err)
		_, err = db.Exec(`UPDATE audit SET canonical = replace(canonical, 'r1', 'r9') WHERE seq = 1`)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		dir := t.TempDir()
		_, err = Restore(t.Context(), bad, dir)
		require.ErrorContains(t, err, "does not verify: row 1")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.Equal(t, []string{"ledger.db.lock"}, names, "nothing is left behind but the lock file")
	})
	t.Run("not a ledger", func(t *testing.T) {
		junk := filepath.Join(t.TempDir(), "junk")
		require.NoError(t, os.WriteFile(junk, []byte("junk junk junk"), 0o600))
		_, err := Restore(t.Context(), junk, t.TempDir())
		require.ErrorContains(t, err, "is not a tilgang ledger")
	})
}

func TestLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	unlock, err := Lock(path)
	require.NoError(t, err)
	_, err = Lock(path)
	require.ErrorIs(t, err, ErrInUse)
	unlock()
	unlock, err = Lock(path)
	require.NoError(t, err, "free again once released")
	unlock()
}

// TestPostgresRestoreMark: a PostgreSQL ledger restored with pg_restore and
// marked with the README's statement chains ledger.restored once.
func TestPostgresRestoreMark(t *testing.T) {
	s, _ := openPostgres(t)
	defer s.Close()
	commitMessages(t, s, 7, 9)
	head, err := s.Head(t.Context())
	require.NoError(t, err)
	mark, _, err := s.Restored(t.Context())
	require.NoError(t, err)
	require.Nil(t, mark, "not restored")
	_, err = s.write.ExecContext(t.Context(), PostgreSQLRestoreMark)
	require.NoError(t, err)
	mark, resume, err := s.Restored(t.Context())
	require.NoError(t, err)
	require.NotNil(t, mark)
	require.Equal(t, head, ledger.Head{Seq: mark.Seq, Hash: mark.Hash})
	require.Equal(t, uint64(10), resume)
	restoredAt := time.Now()
	require.NoError(t, s.ChainRestored(t.Context(), *mark, restoredAt))
	require.NoError(t, s.ChainRestored(t.Context(), *mark, time.Now()), "a second replica finds it done")
	commitMessages(t, s, 10)
	requireEventIDsPast(t, s, restoredAt)
	after, err := s.Head(t.Context())
	require.NoError(t, err)
	require.Equal(t, head.Seq+2, after.Seq, "chained once (and the message after)")
	mark, _, err = s.Restored(t.Context())
	require.NoError(t, err)
	require.Nil(t, mark)
}

// requireEventIDsPast: the newest event row's id is past at's Unix
// milliseconds, so it was never published before the restore.
func requireEventIDsPast(t *testing.T, s *Store, at time.Time) {
	t.Helper()
	var id int64
	require.NoError(t, s.read.QueryRowContext(t.Context(), `SELECT MAX(id) FROM events`).Scan(&id))
	require.Greater(t, id, at.UnixMilli()-1000)
}
