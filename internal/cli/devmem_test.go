package cli

import (
	"database/sql"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// tilgang dev bounds SQLite's page cache (the ledger's writer asks for 64
// MiB) and sets Go's soft memory limit, unless GOMEMLIMIT does.
func TestBoundDevMemory(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	boundDevMemory()
	require.Equal(t, int64(devGoMemory), debug.SetMemoryLimit(-1))

	path := filepath.Join(t.TempDir(), "ledger.db")
	for _, tc := range []struct {
		dsn  string
		want int64
	}{
		{"file:" + path + "?_pragma=journal_mode(WAL)&_pragma=cache_size(-65536)&_txlock=immediate", -devSQLiteCache >> 10},
		{"file:" + path + "?_pragma=cache_size(100000)", -devSQLiteCache >> 10},
		{"file:" + path + "?_pragma=cache_size(-1000)", -1000},
		{"file:" + path + "?_pragma=query_only(1)", -2000},
	} {
		db, err := sql.Open("sqlite", tc.dsn)
		require.NoError(t, err)
		var got int64
		require.NoError(t, db.QueryRow(`PRAGMA cache_size`).Scan(&got))
		require.NoError(t, db.Close())
		require.Equal(t, tc.want, got, tc.dsn)
	}
}

func TestBoundDevMemoryLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	boundDevMemory()
	require.Equal(t, before, debug.SetMemoryLimit(-1))
}
