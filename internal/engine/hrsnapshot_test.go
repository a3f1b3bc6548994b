package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/envelope"
	"github.com/ror-ikt/tilgang/internal/hrsource"
	"github.com/ror-ikt/tilgang/internal/ledger"
	"github.com/ror-ikt/tilgang/internal/principals"
)

// An HR event a sync sent (source hr-sync/NAME) keeps the source's
// snapshot when it is accepted: the record at its version, present unless a
// leaver. Other senders, ignored versions and rejected events keep nothing.
func TestHRSyncKeepsTheSnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sync := func(typ string, version int64, p tilgang.Person, source string) engine.Outcome {
		t.Helper()
		e := h.envelope(typ, p.ID, principals.HRID, envelope.HR{Version: version, Person: p})
		e.Source = source
		require.NoError(t, e.Sign(h.dev))
		return h.sendEnv(e)
	}
	snapshot := func(source string) map[string]ledger.HRSnapshotRow {
		rows, err := h.led.HRSnapshot(h.ctx, source, "", 0)
		require.NoError(t, err)
		out := map[string]ledger.HRSnapshotRow{}
		for _, r := range rows {
			out[r.Person] = r
		}
		return out
	}
	p := employee(emp, mgr, since2020, tilgang.Date{})

	require.Equal(t, engine.Accepted, sync(tilgang.TypeHRJoiner, 3, p, hrsource.EnvelopeSource("visma")))
	snap := snapshot("visma")
	require.Len(t, snap, 1)
	require.Equal(t, int64(3), snap[emp].Version)
	require.True(t, snap[emp].Present)
	require.Equal(t, p, snap[emp].Record)

	// Another sender's event moves the person, not the source's snapshot.
	moved := p
	moved.GivenName = "Åsa"
	require.Equal(t, engine.Accepted, sync(tilgang.TypeHRMover, 4, moved, "tilgang-cli"))
	require.Equal(t, int64(3), snapshot("visma")[emp].Version)
	// A version not newer is ignored and keeps nothing.
	require.Equal(t, engine.Ignored, sync(tilgang.TypeHRMover, 4, moved, hrsource.EnvelopeSource("visma")))
	require.Equal(t, int64(3), snapshot("visma")[emp].Version)
	// Nor does a sender without hr.
	e := h.envelope(tilgang.TypeHRMover, emp, principals.DevID, envelope.HR{Version: 9, Person: moved})
	e.Source = hrsource.EnvelopeSource("visma")
	require.NoError(t, e.Sign(h.dev))
	require.Equal(t, engine.Rejected, h.sendEnv(e))
	require.Equal(t, int64(3), snapshot("visma")[emp].Version)

	left := employee(emp, mgr, since2020, tilgang.DateOf(h.now.AddDate(0, 0, -1)))
	require.Equal(t, engine.Accepted, sync(tilgang.TypeHRLeaver, 5, left, hrsource.EnvelopeSource("visma")))
	snap = snapshot("visma")
	require.Equal(t, int64(5), snap[emp].Version)
	require.False(t, snap[emp].Present, "a leaver is gone from the source")
	require.True(t, h.person(emp).Left)
	require.Empty(t, snapshot("fint"))
}
