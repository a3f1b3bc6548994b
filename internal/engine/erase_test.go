package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// After an erasure took the record of someone who left, the engine still
// answers about them by id: a request or revoke for them is refused, their
// grants stay as they were, and an HR record for the same id, at any
// version, is a new person (nothing restored).
func TestAfterErasure(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	old := h.toActive(emp, mgr, "kasse", "bruker")
	left := employee(emp, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 2, D: 28})
	require.Equal(t, engine.Accepted, h.hr(2, left))
	h.run()
	require.True(t, h.person(emp).Left)
	require.Equal(t, tilgang.StateRevoked, h.state(old))

	h.now = h.now.AddDate(6, 0, 0)
	n, err := h.led.Erase(h.ctx, tilgang.Date{Y: 2026, M: 1, D: 1}.Start(), h.now, "drift", false)
	require.NoError(t, err)
	require.Equal(t, int64(1), n.Persons)
	gone, err := h.led.Person(h.ctx, emp)
	require.NoError(t, err)
	require.Nil(t, gone)

	out, id, gid := h.request(emp, mgr, "kasse", "manuell")
	require.Equal(t, engine.Rejected, out)
	require.Contains(t, h.request1(id).Why, "no HR record")
	require.Empty(t, gid)
	out, _ = h.revoke(emp, mgr, "kasse", "bruker")
	require.NotEqual(t, engine.Accepted, out)
	require.Equal(t, tilgang.StateRevoked, h.state(old))
	require.Empty(t, h.run())

	// Hired again, at a version below the erased record's.
	back := employee(emp, mgr, tilgang.DateOf(h.now), tilgang.Date{})
	require.Equal(t, engine.Accepted, h.hr(1, back))
	row := h.person(emp)
	require.NotNil(t, row)
	require.False(t, row.Left)
	require.Equal(t, int64(1), row.Version)
	gid = h.toActive(emp, mgr, "kasse", "bruker")
	require.NotEqual(t, old, gid)
	require.Equal(t, tilgang.StateRevoked, h.state(old), "nothing is restored")
	require.True(t, h.account(emp, "noop").Enabled)

	rep, err := h.led.Verify(h.ctx, nil)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	rows, err := h.led.Audit(h.ctx, ledger.AuditFilter{Person: emp})
	require.NoError(t, err)
	require.NotEmpty(t, rows)
}
