package engine_test

// Ordering (DESIGN.md invariant 3): among due operations of one (person,
// connector instance), operations run in the order (due time, stream
// sequence); an operation not yet due never blocks, and a slow manual task
// blocks only its own connector.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// A revoke queued after a grant on the same connector never runs before it,
// even while the grant waits to be retried.
func TestRevokeNeverOvertakesGrant(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	sak := h.toActive(emp, mgr, "sak", "les")
	// arkivar is granted on ad too; its first attempt fails and waits.
	_, rid, arkivar := h.request(emp, mgr, "arkiv", "arkivar")
	require.Equal(t, engine.Accepted, h.decide(emp, mgrMgr, rid, "approve"))
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA1, rid, "approve"))
	op, ok := h.claim()
	require.True(t, ok)
	require.Equal(t, "grant ad CN=Arkivar,OU=Groups", kinds([]ledger.Operation{op})[0])
	h.failed(op, transient)

	h.advance(time.Second)
	out, _ := h.revoke(emp, mgr, "sak", "les")
	require.Equal(t, engine.Accepted, out)
	require.Equal(t, tilgang.StateRevoking, h.state(sak))
	// The grant is not due again yet, and the revokes queued after it wait.
	require.Empty(t, h.run())
	// Another connector of the same person is not held up.
	require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER"}, kinds(h.run1(emp, mgr, "kasse", "bruker")))

	h.advance(time.Minute)
	require.Equal(t, []string{"grant ad CN=Arkivar,OU=Groups", "revoke ad " + fellesA, "revoke ad " + fellesB, "revoke ad " + sakLes},
		kinds(h.run()))
	require.Equal(t, tilgang.StateActive, h.state(arkivar))
	require.Equal(t, tilgang.StateRevoked, h.state(sak))
}

// run1 requests a grant and runs what is due, returning what ran.
func (h *harness) run1(person, actor, system, role string) []ledger.Operation {
	h.t.Helper()
	h.granted(person, actor, system, role)
	return h.run()
}

// A grant queued after a revoke of the same entitlement runs after it, so
// the entitlement is held at the end.
func TestGrantAfterRevokeRunsAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	sak := h.toActive(emp, mgr, "sak", "les")
	h.revoke(emp, mgr, "sak", "les")
	_, rid, arkiv := h.request(emp, mgr, "arkiv", "leser")
	require.Equal(t, engine.Accepted, h.decide(emp, arkivA2, rid, "approve"))
	ran := h.run()
	require.Equal(t, []string{"revoke ad " + fellesA, "revoke ad " + fellesB, "revoke ad " + sakLes,
		"grant ad " + fellesA, "grant ad " + fellesB}, kinds(ran))
	require.Equal(t, tilgang.StateRevoked, h.state(sak))
	require.Equal(t, tilgang.StateActive, h.state(arkiv))
}

// A manual task waiting for people blocks only the manual connector of that
// person.
func TestManualTaskBlocksOnlyItsConnector(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	manual := h.granted(emp, mgr, "kasse", "manuell")
	require.Equal(t, []string{"ensure_account manual"}, kinds(h.run()))
	account := h.ops(manual)[0]
	require.Equal(t, ledger.OpWaiting, account.State)
	ev := h.eventsOf(tilgang.EvTaskManual, manual)
	require.Len(t, ev, 1)
	require.Equal(t, []any{kasseA1, kasseA2}, ev[0].Data["administrators"])

	// The same person's other connector runs.
	bruker := h.granted(emp, mgr, "kasse", "bruker")
	require.Equal(t, []string{"ensure_account noop", "grant noop KASSE-BRUKER"}, kinds(h.run()))
	require.Equal(t, tilgang.StateActive, h.state(bruker))
	// Another person's manual work runs.
	other := h.granted(emp2, mgr, "kasse", "manuell")
	ran := h.run()
	require.Equal(t, []string{"ensure_account manual"}, kinds(ran))
	require.Equal(t, emp2, ran[0].Person)
	// The person's next manual operation waits behind the task.
	require.Equal(t, ledger.OpQueued, h.ops(manual)[1].State)
	h.advance(time.Hour)
	require.Empty(t, h.run())

	// Only an administrator of the system (or an operator) completes it.
	for _, actor := range []string{mgr, emp, arkivA1} {
		require.Equal(t, engine.Rejected, h.task(emp, actor, account.ID, "done"), actor)
	}
	require.Equal(t, engine.Rejected, h.task(emp2, kasseA1, account.ID, "done"), "the operation is not 1547-4's")
	require.Equal(t, engine.Accepted, h.task(emp, kasseA1, account.ID, "done"))
	require.NotNil(t, h.account(emp, "manual"))
	require.Equal(t, engine.Rejected, h.task(emp, kasseA1, account.ID, "done"), "done once")
	require.Equal(t, []string{"grant manual Kasse: manuell rolle"}, kinds(h.run()))
	g := h.ops(manual)[1]
	require.Equal(t, engine.Accepted, h.task(emp, kasseA2, g.ID, "done"))
	require.Equal(t, tilgang.StateActive, h.state(manual))
	require.Equal(t, tilgang.StateProvisioning, h.state(other))

	// A task marked failed (here by an operator) fails the grant, with no
	// automatic retry.
	require.Equal(t, engine.Accepted, h.task(emp2, kasseA2, h.ops(other)[0].ID, "done"))
	require.Equal(t, []string{"grant manual Kasse: manuell rolle"}, kinds(h.run()))
	require.Equal(t, engine.Accepted, h.task(emp2, "dev", h.ops(other)[1].ID, "failed"))
	require.Equal(t, tilgang.StateFailed, h.state(other))
	require.Equal(t, ledger.OpFailed, h.ops(other)[1].State)
	h.advance(time.Hour)
	require.Empty(t, h.run())
}
