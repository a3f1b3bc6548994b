package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

func (h *harness) fixes(fs ...engine.ReconcileFix) (map[int]int64, map[int]string) {
	h.t.Helper()
	var planned map[int]int64
	var skipped map[int]string
	h.inTx(func(tx ledger.Tx) error {
		var err error
		planned, skipped, err = h.eng.ReconcileFixes(tx, fs)
		return err
	})
	return planned, skipped
}

// A fix is an ordinary operation: chained as planned by reconcile with the
// finding as text, run by the executor, and verify passes (the harness's
// cleanup verifies the ledger).
func TestReconcileFixIsAnOrdinaryOperation(t *testing.T) {
	t.Parallel()
	h := newHarness(t).join()
	h.toActive(emp, mgr, "kasse", "bruker")
	planned, skipped := h.fixes(engine.ReconcileFix{Person: emp, Connector: "noop", Kind: ledger.KindGrant,
		Entitlement: "KASSE-BRUKER", Reason: "reconcile: missing KASSE-BRUKER"})
	require.Empty(t, skipped)
	require.Len(t, planned, 1)
	var entry *ledger.AuditEntry
	for _, e := range h.audit(ledger.KindPlanned) {
		if e.Actor == engine.ReconcileActor {
			entry = &e
		}
	}
	require.NotNil(t, entry, "planned by reconcile")
	require.Equal(t, emp, entry.Person)
	require.Contains(t, entry.Details, fmt.Sprintf("op.%d", planned[0]), "the operation is chained")
	ran := h.run()
	require.Equal(t, []string{"grant noop KASSE-BRUKER"}, kinds(ran))
	require.Equal(t, planned[0], ran[0].ID)

	// A fix of a kind reconciliation does not plan, or a grant without an
	// entitlement, is refused and plans nothing.
	h.inTx(func(tx ledger.Tx) error {
		_, _, err := h.eng.ReconcileFixes(tx, []engine.ReconcileFix{{Person: emp, Connector: "noop", Kind: ledger.KindLeave}})
		require.ErrorContains(t, err, "not an operation reconciliation plans")
		_, _, err = h.eng.ReconcileFixes(tx, []engine.ReconcileFix{{Person: emp, Connector: "noop", Kind: ledger.KindGrant}})
		require.ErrorContains(t, err, "names entitlement")
		return nil
	})
	require.Empty(t, h.run())
}

// A reconcile fix racing a leaver: the leaver wins either way.
func TestReconcileFixLosesToLeaver(t *testing.T) {
	t.Parallel()
	left := employee(emp, mgr, since2020, tilgang.Date{Y: 2025, M: 3, D: 1})

	t.Run("leaver first", func(t *testing.T) {
		h := newHarness(t).join()
		h.toActive(emp, mgr, "kasse", "bruker")
		require.Equal(t, engine.Accepted, h.hr(2, left))
		h.run()
		require.True(t, h.person(emp).Left)
		planned, skipped := h.fixes(
			engine.ReconcileFix{Person: emp, Connector: "noop", Kind: ledger.KindGrant, Entitlement: "KASSE-BRUKER", Reason: "missing"},
			engine.ReconcileFix{Person: emp, Connector: "noop", Kind: ledger.KindEnable, Reason: "state"},
			engine.ReconcileFix{Person: emp, Connector: "noop", Kind: ledger.KindDisable, Reason: "orphan"})
		require.Equal(t, map[int]string{0: "the person has left: the leaver's work wins", 1: "the person has left: the leaver's work wins"}, skipped)
		require.Len(t, planned, 1, "taking access away still goes")
		require.Equal(t, []string{"disable noop"}, kinds(h.run()))
	})

	t.Run("fix first", func(t *testing.T) {
		h := newHarness(t).join()
		h.toActive(emp, mgr, "kasse", "bruker")
		planned, skipped := h.fixes(engine.ReconcileFix{Person: emp, Connector: "noop", Kind: ledger.KindGrant,
			Entitlement: "KASSE-BRUKER", Reason: "missing"})
		require.Empty(t, skipped)
		require.Len(t, planned, 1)
		h.advance(time.Second)
		require.Equal(t, engine.Accepted, h.hr(2, left))
		ran := h.run()
		// The leave withdraws the person's queued work, the fix with it,
		// and revokes and disables: the person ends with nothing.
		var noop []string
		for _, k := range kinds(ran) {
			if k != "leave tilgang" {
				noop = append(noop, k)
			}
		}
		require.Equal(t, []string{"revoke noop KASSE-BRUKER", "disable noop"}, noop)
		seen := false
		for _, op := range h.personOps(emp) {
			if op.ID == planned[0] {
				seen = true
				require.Equal(t, ledger.OpCancelled, op.State, "the fix is withdrawn by the leave")
			}
		}
		require.True(t, seen)
		require.False(t, h.account(emp, "noop").Enabled)
	})
}
