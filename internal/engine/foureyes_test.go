package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
)

// plania needs training, and has two administrators, one of whom is also
// gerica's.
var planiaTraining = map[string]string{"plania.yaml": `system: plania
name: Plania
owner: Eigedom
administrators: [1547-20005, 1547-20003]
connectors: [noop]
roles:
  - id: bruker
    entitlements: {noop: [PLANIA-BRUKER]}
    requestable_by: [manager, hr]
    approval: []
    requires_training: true
`}

// Training is confirmed by an administrator other than the person.
func TestTrainingByAnotherAdministrator(t *testing.T) {
	t.Parallel()
	h := newHarness(t, planiaTraining).join()
	gid := h.granted(gericaA, "hr", "plania", "bruker")
	require.Equal(t, tilgang.StatePendingTraining, h.state(gid))

	require.Equal(t, engine.Rejected, h.train(gericaA, gericaA, "plania", "bruker"), "her own training")
	require.Equal(t, tilgang.StatePendingTraining, h.state(gid))
	rej := h.audit("message.rejected")
	require.Contains(t, rej[len(rej)-1].Text, "may not confirm their own training")

	require.Equal(t, engine.Accepted, h.train(gericaA, arkivA1, "plania", "bruker"), "the other administrator")
	require.Equal(t, tilgang.StateProvisioning, h.state(gid))
}

// A principal whose request is attached to a grant counts as one of its
// requesters: they approve no stage of it, and a manager stage that was
// theirs goes to their manager.
func TestAttachedRequesterMayNotApprove(t *testing.T) {
	t.Parallel()

	t.Run("manager stage", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		_, rid, gid := h.request(emp, "hr", "arkiv", "arkivar") // [manager, systemansvarlig]
		require.Equal(t, mgr, h.grant(gid).StagePrincipal)

		out, _, attached := h.request(emp, mgr, "arkiv", "arkivar")
		require.Equal(t, engine.Accepted, out)
		require.Equal(t, gid, attached, "attached to the open grant")
		g := h.grant(gid)
		require.Equal(t, tilgang.StatePendingApproval, g.State)
		require.Equal(t, mgrMgr, g.StagePrincipal, "the stage goes up the line")

		require.Equal(t, engine.Rejected, h.decide(emp, mgr, rid, "approve"))
		rej := h.audit("message.rejected")
		require.Contains(t, rej[len(rej)-1].Text, "requested grant "+gid)
		require.Empty(t, h.grant(gid).Approvers)

		require.Equal(t, engine.Accepted, h.decide(emp, mgrMgr, rid, "approve"))
		require.Equal(t, []string{mgrMgr}, h.grant(gid).Approvers)
	})

	t.Run("systemansvarlig stage", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t).join()
		_, rid, gid := h.request(emp, mgr, "arkiv", "leser") // [systemansvarlig], administrators may ask
		out, _, attached := h.request(emp, arkivA1, "arkiv", "leser")
		require.Equal(t, engine.Accepted, out)
		require.Equal(t, gid, attached)

		require.Equal(t, engine.Rejected, h.decide(emp, arkivA1, rid, "approve"))
		require.Equal(t, tilgang.StatePendingApproval, h.state(gid))
		require.Equal(t, engine.Accepted, h.decide(emp, arkivA2, rid, "approve"))
		require.Equal(t, []string{arkivA2}, h.grant(gid).Approvers)
	})
}
