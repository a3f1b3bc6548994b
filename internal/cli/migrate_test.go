package cli

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/testenv"
)

// TestDevStartsOnThePreviousReleasesLedger starts tilgang dev on a ledger
// the previous release wrote (internal/ledger/sqlledger/testdata/migration,
// made by deploy/make-migration-fixture.sh): it migrates at start, audit
// verify passes through the API, a new request is applied on top of the
// old rows, and verify still passes.
func TestDevStartsOnThePreviousReleasesLedger(t *testing.T) {
	data := t.TempDir()
	src, err := os.Open("../ledger/sqlledger/testdata/migration/sqlite.db")
	require.NoError(t, err)
	dst, err := os.OpenFile(filepath.Join(data, "ledger.db"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	src.Close()

	e := testenv.Start(t, data, testenv.WriteCatalogue(t, testenv.Catalogue))
	rep := verifyDev(t, e)
	require.True(t, rep.OK, rep.Problem)
	id := e.Send(tilgang.TypeRequest, "1547-1", "1547-1", envelope.Request{Action: "grant", System: "kasse", Role: "bruker", Reason: "igjen, etter oppgraderingen"})
	e.Wait("request.accepted", "1547-1", testenv.ForRequest(id))
	rep = verifyDev(t, e)
	require.True(t, rep.OK, rep.Problem)
	e.Stop()
}
