package sqlledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrInUse is the error of Lock (and Restore) when another process holds
// the ledger's lock file: a worker or `tilgang dev` runs on it.
var ErrInUse = errors.New("a worker uses this ledger")

// Lock takes the exclusive lock of the SQLite ledger at path (a flock on
// path + ".lock"), without waiting: `tilgang dev` and a worker with a
// SQLite ledger hold it while they run, and Restore takes it so that it
// never replaces a ledger in use. The lock is released by unlock or when
// the process ends.
func Lock(path string) (unlock func(), err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("ledger: %s is locked by another process: %w", name, ErrInUse)
		}
		return nil, fmt.Errorf("ledger: lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}

// Lock takes the lock of the store's file (see the function Lock); a
// PostgreSQL store has none to take.
func (s *Store) Lock() (unlock func(), err error) {
	if s.d.postgres || s.path == "" {
		return func() {}, nil
	}
	return Lock(s.path)
}

// Backup writes a consistent copy of the SQLite ledger at path to the file
// to, also while a worker writes to it: VACUUM INTO from a read
// transaction of its own, into a temporary file beside to (mode 0600) that
// is renamed to to once complete.
func Backup(ctx context.Context, path, to string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: the ledger %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)") // VACUUM INTO only reads it
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := isLedger(ctx, db); err != nil {
		return fmt.Errorf("backup: %s %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	name := tmp.Name()
	tmp.Close() // VACUUM INTO writes into an empty file
	done := false
	defer func() {
		if !done {
			os.Remove(name)
		}
	}()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, name); err != nil {
		return fmt.Errorf("backup: copy %s: %w", path, err)
	}
	if err := os.Chmod(name, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(name); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(name, to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	return syncFile(filepath.Dir(to))
}

// isLedger fails when db holds no tilgang ledger.
func isLedger(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit', 'audit_head', 'messages', 'grants')`).Scan(&n)
	if err != nil {
		return fmt.Errorf("is not a tilgang ledger (not a SQLite database: %w)", err)
	}
	if n != 4 {
		return fmt.Errorf("is not a tilgang ledger (it has no audit, audit_head, messages and grants tables)")
	}
	return nil
}

// Restore replaces the SQLite ledger in dir (dir/ledger.db) with the backup
// from, refusing while a worker uses dir (Lock) and when from is not a
// tilgang ledger whose audit chain verifies. The restored ledger is marked
// with its chain head (the table restored), so that the first start chains
// ledger.restored and the intake resumes from the ledger's highest stream
// sequence (ChainRestored). Stale -wal and -shm files of the old ledger
// are removed before the new one is renamed into place. It returns the
// restored chain head.
func Restore(ctx context.Context, from, dir string) (RestoreMark, error) {
	if _, err := os.Stat(dir); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: the data directory: %w", err)
	}
	return RestoreFile(ctx, from, filepath.Join(dir, "ledger.db"))
}

// RestoreFile is Restore for a ledger file at any path, such as the one a
// worker's config names (ledger.dsn of the sqlite driver): the same
// checks, the same lock (path + ".lock"), and the new file is written in
// path's directory and renamed into place.
func RestoreFile(ctx context.Context, from, path string) (RestoreMark, error) {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: the ledger's directory: %w", err)
	} else if !fi.IsDir() {
		return RestoreMark{}, fmt.Errorf("restore: the ledger's directory %s is not a directory", dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return RestoreMark{}, fmt.Errorf("restore: %s is a directory, not a ledger file", path)
	}
	unlock, err := Lock(path)
	if errors.Is(err, ErrInUse) {
		return RestoreMark{}, fmt.Errorf("restore: refused: a worker (or tilgang dev) is running on %s: stop it first (%w)", path, err)
	}
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: %w", err)
	}
	defer unlock()
	src, err := os.Open(from)
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: the backup: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".ledger.db.restore-*")
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: %w", err)
	}
	name := tmp.Name()
	done := false
	defer func() {
		if !done {
			for _, n := range []string{name, name + "-wal", name + "-shm"} {
				os.Remove(n)
			}
		}
	}()
	_, err = io.Copy(tmp, src)
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: %w", err)
	}
	mark, err := checkAndMark(ctx, from, name)
	if err != nil {
		return RestoreMark{}, err
	}
	if err := syncFile(name); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: %w", err)
	}
	// The old ledger's write-ahead log would be applied to the new file.
	for _, n := range []string{path + "-wal", path + "-shm"} {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return RestoreMark{}, fmt.Errorf("restore: remove the old ledger's %s: %w", n, err)
		}
	}
	if err := os.Rename(name, path); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: %w", err)
	}
	done = true
	return mark, syncFile(dir)
}

// checkAndMark checks that the copy at name of the backup from is a
// tilgang ledger whose chain verifies, marks it restored at its head, and
// leaves it in one file (no write-ahead log beside it).
func checkAndMark(ctx context.Context, from, name string) (RestoreMark, error) {
	db, err := sql.Open("sqlite", "file:"+name+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: open %s: %w", from, err)
	}
	err = isLedger(ctx, db)
	db.Close()
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: refused: %s %w", from, err)
	}
	s, err := OpenSQLite(ctx, name, CacheSize(4<<20))
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: refused: %s: %w", from, err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	rep, err := s.Verify(ctx, nil)
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: verify %s: %w", from, err)
	}
	if !rep.OK {
		return RestoreMark{}, fmt.Errorf("restore: refused: the audit chain of %s does not verify: row %d: %s", from, rep.BadSeq, rep.Problem)
	}
	mark := RestoreMark{Seq: rep.Head.Seq, Hash: rep.Head.Hash, At: time.Now().UTC()}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS restored (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, at BIGINT NOT NULL)`,
		`DELETE FROM restored`,
	} {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			return RestoreMark{}, fmt.Errorf("restore: mark %s restored: %w", from, err)
		}
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO restored (id, seq, hash, at) VALUES (1, ?, ?, ?)`, mark.Seq, mark.Hash, ms(mark.At)); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: mark %s restored: %w", from, err)
	}
	closed = true
	if err := s.Close(); err != nil {
		return RestoreMark{}, fmt.Errorf("restore: close %s: %w", from, err)
	}
	db, err = sql.Open("sqlite", "file:"+name+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return RestoreMark{}, fmt.Errorf("restore: open %s: %w", from, err)
	}
	defer db.Close()
	for _, q := range []string{`PRAGMA wal_checkpoint(TRUNCATE)`, `PRAGMA journal_mode=DELETE`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return RestoreMark{}, fmt.Errorf("restore: %s: %w", q, err)
		}
	}
	return mark, db.Close()
}

func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
