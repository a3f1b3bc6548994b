package sqlledger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang/internal/ledger"
)

// The newest catalogue stored is the one in force, read alike in and out
// of a transaction; a transaction that does not commit stores nothing.
func TestCatalogueInForce(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"sqlite", func(t *testing.T) *Store { s, _ := openSQLite(t); return s }},
		{"postgres", func(t *testing.T) *Store { s, _ := openPostgres(t); return s }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			s := backend.open(t)
			t.Cleanup(func() { s.Close() })
			ctx := t.Context()
			v, err := s.CatalogueVersion(ctx)
			require.NoError(t, err)
			require.Empty(t, v, "none stored")
			c, err := s.Catalogue(ctx)
			require.NoError(t, err)
			require.Nil(t, c)

			at := time.UnixMilli(time.Now().UnixMilli()).UTC()
			put := func(c ledger.Catalogue, commit bool) {
				tx, err := s.Begin(ctx)
				require.NoError(t, err)
				require.NoError(t, tx.PutCatalogue(c))
				v, err := tx.CatalogueVersion()
				require.NoError(t, err)
				require.Equal(t, c.Version, v, "the transaction reads its own")
				if commit {
					require.NoError(t, tx.Commit())
				} else {
					require.NoError(t, tx.Rollback())
				}
			}
			one := ledger.Catalogue{Version: "v1", Files: map[string][]byte{"kasse.yaml": []byte("system: kasse\n")}, At: at, Actor: "start", Holder: "w1"}
			two := ledger.Catalogue{Version: "v2", Files: map[string][]byte{"kasse.yaml": []byte("system: kasse\n"), "helse.yaml": {0xff, 0}},
				At: at, Actor: "1547-20001", Holder: "w2"}
			put(one, true)
			put(two, true)
			put(ledger.Catalogue{Version: "v3", Files: map[string][]byte{"x.yaml": nil}, At: at}, false)

			v, err = s.CatalogueVersion(ctx)
			require.NoError(t, err)
			require.Equal(t, "v2", v)
			c, err = s.Catalogue(ctx)
			require.NoError(t, err)
			require.Equal(t, &two, c)
			tx, err := s.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback()
			c, err = tx.Catalogue()
			require.NoError(t, err)
			require.Equal(t, &two, c)
			require.Error(t, tx.PutCatalogue(ledger.Catalogue{Version: "v4"}), "no files")
		})
	}
}
