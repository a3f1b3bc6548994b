package cli

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/api"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/sqlledger"
	"github.com/ror-ikt/tilgang/internal/principals"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, options{Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

// TestBackupMidRunAndRestore is issue 18's acceptance: a backup taken while
// dev runs, more requests after it, a restore, and a start again: every
// request is in the ledger again (those after the backup applied again from
// the stream), the chain records ledger.restored, and verify passes with
// the anchors published after the backup reported as lost to the restore.
func TestBackupMidRunAndRestore(t *testing.T) {
	data := t.TempDir()
	policies := testenv.WriteCatalogue(t, testenv.Catalogue)
	bk := filepath.Join(t.TempDir(), "ledger.backup")
	e := testenv.Start(t, data, policies)
	e.Joiner(testenv.People()...)
	before := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "kassen"})
	e.Wait("grant.active", "1547-1", nil)

	code, out, errOut := runCLI(t, "backup", "--data", data, "--to", bk)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	fi, err := os.Stat(bk)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	code, _, errOut = runCLI(t, "restore", "--from", bk, "--data", data)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "stop it first")

	after := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "manuell", Reason: "manuelt"})
	e.Wait("request.accepted", "1547-1", testenv.ForRequest(after))
	rep := verifyDev(t, e)
	require.True(t, rep.OK, rep.Problem)
	e.Stop() // anchors the head, past the backup

	code, out, errOut = runCLI(t, "restore", "--from", bk, "--data", data)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	require.False(t, hasRequest(t, data, after), "the restored ledger is the backup's")

	e = testenv.Start(t, data, policies)
	require.Eventually(t, func() bool { return hasRequest(t, data, after) }, 30*time.Second, 50*time.Millisecond,
		"the request after the backup is applied again from the stream")
	require.True(t, hasRequest(t, data, before))
	// The events of what is applied again go out again: their rows take
	// ids past those published before the restore, so JetStream does not
	// drop them as duplicates.
	require.Eventually(t, func() bool {
		n := 0
		for _, ev := range e.Events() {
			if ev.Kind == "request.accepted" && testenv.ForRequest(after)(ev) {
				n++
			}
		}
		return n == 2
	}, 30*time.Second, 50*time.Millisecond, "request.accepted of the request after the backup, before the restore and again after it")
	rep = verifyDev(t, e)
	require.True(t, rep.OK, rep.Problem)
	require.Contains(t, rep.Problem, "lost to the restore at seq")
	e.Stop()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "ledger.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM audit WHERE canonical LIKE '%"kind":"ledger.restored"%'`).Scan(&n))
	require.Equal(t, 1, n, "one ledger.restored entry")
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM restored`).Scan(&n))
	require.Zero(t, n, "the mark is cleared")
}

func hasRequest(t *testing.T, data, id string) bool {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "ledger.db")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM requests WHERE id = ?`, id).Scan(&n))
	return n == 1
}

func verifyDev(t *testing.T, e *testenv.Env) ledger.VerifyReport {
	t.Helper()
	c := &api.Client{NC: e.NC, Key: e.Sender.Key, Actor: principals.DevID, Timeout: 10 * time.Second}
	var rep ledger.VerifyReport
	require.NoError(t, c.Call(context.Background(), api.MethodAuditVerify, struct{}{}, &rep))
	return rep
}

func TestRestoreRefusesWhatIsNotALedger(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("not a ledger at all, just some text\n"), 0o600))
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE t (x INTEGER)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	data := t.TempDir()
	for _, from := range []string{notDB, other} {
		code, _, errOut := runCLI(t, "restore", "--from", from, "--data", data)
		require.Equal(t, 1, code, errOut)
		require.Contains(t, errOut, "is not a tilgang ledger")
	}
	_, err = os.Stat(filepath.Join(data, "ledger.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing was restored")
}

func TestBackupOfPostgresPointsToPgDump(t *testing.T) {
	dir := t.TempDir()
	policies, err := filepath.Abs("../../policies")
	require.NoError(t, err)
	principalsFile, err := filepath.Abs("../principals/testdata/example.yaml")
	require.NoError(t, err)
	key := filepath.Join(dir, "worker.nk")
	require.NoError(t, os.WriteFile(key, []byte("SUAEXAMPLE\n"), 0o600))
	cfg := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("nats: {url: nats://nats-1:4222, stream_replicas: 1}\nledger: {driver: postgres, dsn_file: "+
		filepath.Join(dir, "dsn")+"}\nprincipals: "+principalsFile+"\nworker_key: "+key+"\npolicies: "+policies+
		"\nconnectors: {manual: {type: manual}, noop: {type: noop}}\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dsn"), []byte("postgres://tilgang@db-1/tilgang\n"), 0o600))
	code, _, errOut := runCLI(t, "backup", "--config", cfg, "--to", filepath.Join(dir, "b.db"))
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "pg_dump")
}

// sqliteWorkerConfig writes a worker config whose SQLite ledger is the
// file path, anywhere (not a tilgang dev data directory's ledger.db).
func sqliteWorkerConfig(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	policies, err := filepath.Abs("../../policies")
	require.NoError(t, err)
	principalsFile, err := filepath.Abs("../principals/testdata/example.yaml")
	require.NoError(t, err)
	key := filepath.Join(dir, "worker.nk")
	require.NoError(t, os.WriteFile(key, []byte("SUAEXAMPLE\n"), 0o600))
	cfg := filepath.Join(dir, "worker.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("nats: {url: nats://nats-1:4222, stream_replicas: 1}\nledger: {driver: sqlite, dsn: "+path+
		"}\nprincipals: "+principalsFile+"\nworker_key: "+key+"\npolicies: "+policies+
		"\nconnectors: {manual: {type: manual}, noop: {type: noop}}\n"), 0o600))
	return cfg
}

// TestRestoreAWorkersLedgerByItsConfig restores into the SQLite file a
// worker config names, outside any data directory: the file is replaced
// and marked restored, nothing else is left beside it, and the restore is
// refused while a worker holds the file's lock.
func TestRestoreAWorkersLedgerByItsConfig(t *testing.T) {
	data := t.TempDir()
	e := testenv.Start(t, data, testenv.WriteCatalogue(t, testenv.Catalogue))
	e.Joiner(testenv.People()...)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-2", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "kassen"})
	e.Wait("grant.active", "1547-1", nil)
	bk := filepath.Join(t.TempDir(), "ledger.backup")
	code, out, errOut := runCLI(t, "backup", "--data", data, "--to", bk)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	e.Stop()

	state := filepath.Join(t.TempDir(), "var", "lib", "tilgang")
	require.NoError(t, os.MkdirAll(state, 0o700))
	path := filepath.Join(state, "worker-ledger.sqlite")
	require.NoError(t, os.WriteFile(path, []byte("the old ledger, lost\n"), 0o600))
	cfg := sqliteWorkerConfig(t, path)

	unlock, err := sqlledger.Lock(path)
	require.NoError(t, err)
	code, _, errOut = runCLI(t, "restore", "--from", bk, "--config", cfg)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "stop it first")
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "the old ledger, lost\n", string(old), "a refused restore leaves the file")
	unlock()

	code, out, errOut = runCLI(t, "restore", "--from", bk, "--config", cfg)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	require.Contains(t, out, path)
	names := []string{}
	entries, err := os.ReadDir(state)
	require.NoError(t, err)
	for _, en := range entries {
		names = append(names, en.Name())
	}
	require.ElementsMatch(t, []string{"worker-ledger.sqlite", "worker-ledger.sqlite.lock"}, names)
	_, err = os.Stat(filepath.Join(data, "ledger.db.restore"))
	require.ErrorIs(t, err, os.ErrNotExist)

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM requests WHERE id = ?`, id).Scan(&n))
	require.Equal(t, 1, n, "the backup's request is in the worker's ledger")
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM restored`).Scan(&n))
	require.Equal(t, 1, n, "marked restored, so the worker's next start chains ledger.restored")
	s, err := sqlledger.OpenSQLite(context.Background(), path)
	require.NoError(t, err)
	rep, err := s.Verify(context.Background(), nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.NoError(t, s.Close())
}

func TestRestoreByConfigRefusesPostgresAndBadInput(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCLI(t, "restore", "--from", filepath.Join(dir, "b.db"))
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "either --data DIR or --config FILE")
	code, _, errOut = runCLI(t, "restore", "--from", filepath.Join(dir, "b.db"), "--data", dir, "--config", filepath.Join(dir, "w.yaml"))
	require.Equal(t, 2, code, errOut)
	code, _, errOut = runCLI(t, "restore", "--from", filepath.Join(dir, "b.db"), "--config", filepath.Join(dir, "missing.yaml"))
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "missing.yaml")
	cfg := sqliteWorkerConfig(t, filepath.Join(dir, "nowhere", "ledger.sqlite"))
	code, _, errOut = runCLI(t, "restore", "--from", filepath.Join(dir, "b.db"), "--config", cfg)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "the ledger's directory")
}
