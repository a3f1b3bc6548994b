package sqlledger

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/ledger/ledgertest"
)

func openSQLite(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := OpenSQLite(t.Context(), path)
	require.NoError(t, err)
	return s, path
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	ledgertest.Run(t, func(t *testing.T) ledger.Ledger {
		s, _ := openSQLite(t)
		return s
	})
}

func TestSQLiteLeases(t *testing.T) {
	t.Parallel()
	ledgertest.RunLeases(t, func(t *testing.T) ledger.Ledger {
		s, _ := openSQLite(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestSQLiteLoaded runs the suite with every transaction loading what it
// touches, as the intake's do.
func TestSQLiteLoaded(t *testing.T) {
	t.Parallel()
	ledgertest.RunLoaded(t, func(t *testing.T) ledger.Ledger {
		s, _ := openSQLite(t)
		return s
	})
}

// CacheSize bounds the writer's page cache; the default is 64 MiB.
func TestSQLiteCacheSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []SQLiteOption
		want int64 // PRAGMA cache_size: negative KiB
	}{
		{"default", nil, -65536},
		{"dev", []SQLiteOption{CacheSize(16 << 20)}, -16384},
		{"at least 1 MiB", []SQLiteOption{CacheSize(1)}, -1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "ledger.db"), tc.opts...)
			require.NoError(t, err)
			defer s.Close()
			var got int64
			require.NoError(t, s.write.QueryRow(`PRAGMA cache_size`).Scan(&got))
			require.Equal(t, tc.want, got)
		})
	}
}
