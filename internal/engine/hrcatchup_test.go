package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/engine"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// Records already in the ledger with a change ahead and none planned (as
// a ledger from before dated changes holds them) get their change planned
// by the catch-up, once however often it runs, and only under its lease;
// on the day the change applies. A record with nothing ahead, one that
// has left and one whose change is planned already are left alone. On
// both ledgers.
func TestCatchUpPlansMissingChanges(t *testing.T) {
	for _, backend := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessOn(t, backend.postgres).join()
			day := tilgang.Date{Y: 2025, M: 4, D: 1}
			moving := func(id string) tilgang.Person {
				p := employee(id, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{Y: 2025, M: 3, D: 31})
				p.Employments = append(p.Employments, tilgang.Employment{ID: id + "-2", Primary: true, Percent: 100,
					OrgUnit: "oppvekst", Position: "rektor", Manager: mgrMgr, Start: day})
				return p
			}
			// 1547-1 and 1547-6: stored with the change ahead, none planned.
			// 1547-7: the same, but has left. 1547-8: planned by the engine.
			for _, id := range []string{emp, "1547-6", "1547-7"} {
				if id != emp {
					require.Equal(t, engine.Accepted, h.hr(1, employee(id, mgr, tilgang.Date{Y: 2020, M: 1, D: 1}, tilgang.Date{})))
				}
				h.inTx(func(tx ledger.Tx) error {
					row, err := tx.Person(id)
					require.NoError(t, err)
					row.Person, row.Version = moving(id), row.Version+1
					row.Left = id == "1547-7"
					return tx.PutPerson(*row)
				})
				require.Empty(t, h.personOps(id, ledger.OpQueued))
			}
			require.Equal(t, engine.Accepted, h.hr(1, moving("1547-8")))
			planned8 := h.personOps("1547-8", ledger.OpQueued)
			require.Len(t, planned8, 1)

			// Another replica holds the lease: this one does nothing.
			tok, err := h.led.AcquireLease(h.ctx, engine.ChangeCatchUpLease, "other", time.Minute)
			require.NoError(t, err)
			require.NotZero(t, tok)
			n, taken, err := h.eng.CatchUpChangesOnce(h.ctx, h.led, "worker-a")
			require.NoError(t, err)
			require.False(t, taken)
			require.Zero(t, n)
			require.Empty(t, h.personOps(emp, ledger.OpQueued))
			require.NoError(t, h.led.ReleaseLease(h.ctx, engine.ChangeCatchUpLease, "other", tok))

			n, taken, err = h.eng.CatchUpChangesOnce(h.ctx, h.led, "worker-a")
			require.NoError(t, err)
			require.True(t, taken)
			require.Equal(t, 2, n, "1547-1 and 1547-6")
			for _, id := range []string{emp, "1547-6"} {
				q := h.personOps(id, ledger.OpQueued)
				require.Equal(t, []string{engine.KindChange + " tilgang"}, kinds(q), id)
				require.True(t, day.Start().Equal(q[0].DueAt), "at 00:00 Oslo on the date: %s", q[0].DueAt)
			}
			require.Empty(t, h.personOps("1547-7", ledger.OpQueued), "a leaver has no change ahead")
			require.Equal(t, planned8, h.personOps("1547-8", ledger.OpQueued), "what was planned stays as it was")
			for _, id := range []string{mgr, mgrMgr, emp2} {
				require.Empty(t, h.personOps(id, ledger.OpQueued), "%s has nothing ahead", id)
			}

			// Again, on another replica too: nothing is planned twice.
			for _, holder := range []string{"worker-a", "worker-b"} {
				n, taken, err = h.eng.CatchUpChangesOnce(h.ctx, h.led, holder)
				require.NoError(t, err)
				require.True(t, taken)
				require.Zero(t, n)
			}
			for _, id := range []string{emp, "1547-6", "1547-8"} {
				require.Len(t, h.personOps(id, ledger.OpQueued), 1, id)
			}

			// The day: the changes apply, and the new manager is the manager.
			h.now = day.Start().Add(time.Minute)
			h.run()
			changes := h.audit("hr.change")
			require.Len(t, changes, 3)
			for _, c := range changes {
				require.Equal(t, mgr, c.Details["manager.from"])
				require.Equal(t, mgrMgr, c.Details["manager.to"])
			}
			for _, id := range []string{emp, "1547-6", "1547-8"} {
				require.Empty(t, h.personOps(id, ledger.OpQueued), id)
			}
			out, _, _ := h.request(emp, mgrMgr, "kasse", "bruker")
			require.Equal(t, engine.Accepted, out, "the manager from the date")
			n, _, err = h.eng.CatchUpChangesOnce(h.ctx, h.led, "worker-a")
			require.NoError(t, err)
			require.Zero(t, n, "nothing is ahead any more")
		})
	}
}
