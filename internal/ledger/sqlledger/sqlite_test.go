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
