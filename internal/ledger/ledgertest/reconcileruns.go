package ledgertest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// reconcileRunTests: the reconciliation runs kept for the system page,
// and what the retention erasure does with them.
var reconcileRunTests = []test{
	{"NewestPerSystem", func(t *testing.T, l ledger.Ledger) {
		rr, ok := l.(ledger.ReconcileRuns)
		if !ok {
			t.Skip("this backend records no reconciliation runs")
		}
		ctx := t.Context()
		last, err := rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Nil(t, last, "none yet")

		dry := ledger.ReconcileRun{System: "gerica", At: t0, Actor: "1547-7", Read: ledger.ReconcileRead{Accounts: 40, Members: 55},
			Counts: ledger.ReconcileCounts{Missing: 1, Extra: 2, Orphan: 3, State: 4, Disputed: 5}}
		fixed := ledger.ReconcileRun{System: "gerica", At: t0.Add(time.Minute), Actor: "reconcile", Fix: true,
			Read: ledger.ReconcileRead{Accounts: 40, Members: 55}, Counts: ledger.ReconcileCounts{Missing: 2, Extra: 1}, Planned: 3, Fixed: 2}
		held := ledger.ReconcileRun{System: "gerica", At: t0.Add(2 * time.Minute), Actor: "1547-10001", Fix: true,
			Read: ledger.ReconcileRead{Accounts: 40, Members: 70}, Counts: ledger.ReconcileCounts{Extra: 12},
			Held: true, HeldWhy: "12 removals is more than 10: nothing was fixed"}
		failed := ledger.ReconcileRun{System: "p360", At: t0.Add(3 * time.Minute), Actor: "reconcile", Fix: true,
			Error: "scim: read /Users: 503 Service Unavailable: nothing was fixed"}
		for _, r := range []ledger.ReconcileRun{dry, fixed, held, failed} {
			require.NoError(t, rr.RecordReconcile(ctx, r))
		}
		last, err = rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Equal(t, &held, last, "the newest run of gerica, held and why")
		last, err = rr.LastReconcile(ctx, "p360")
		require.NoError(t, err)
		require.Equal(t, &failed, last, "each system its own; a failed read is kept with its reason")
		last, err = rr.LastReconcile(ctx, "visma")
		require.NoError(t, err)
		require.Nil(t, last, "a system never reconciled")

		// Recorded later but ran earlier (a --fix run that waited for its
		// fixes): the newest by time still wins.
		late := fixed
		late.At = t0.Add(90 * time.Second)
		require.NoError(t, rr.RecordReconcile(ctx, late))
		last, err = rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Equal(t, &held, last)
		// At the same time: the one recorded last.
		same := dry
		same.At = held.At
		require.NoError(t, rr.RecordReconcile(ctx, same))
		last, err = rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Equal(t, &same, last)
		require.Equal(t, time.UTC, last.At.Location())
	}},
	{"Invalid", func(t *testing.T, l ledger.Ledger) {
		rr, ok := l.(ledger.ReconcileRuns)
		if !ok {
			t.Skip("this backend records no reconciliation runs")
		}
		ctx := t.Context()
		good := ledger.ReconcileRun{System: "gerica", At: t0, Actor: "reconcile", Fix: true, Planned: 2, Fixed: 1,
			Counts: ledger.ReconcileCounts{Missing: 2}}
		require.NoError(t, good.Check())
		for _, tc := range []struct {
			name, want string
			change     func(r *ledger.ReconcileRun)
		}{
			{"no system", "system", func(r *ledger.ReconcileRun) { r.System = "" }},
			{"a bad system id", "system", func(r *ledger.ReconcileRun) { r.System = "ge rica" }},
			{"no time", "no time", func(r *ledger.ReconcileRun) { r.At = time.Time{} }},
			{"no actor", "no actor", func(r *ledger.ReconcileRun) { r.Actor = "" }},
			{"a negative count", "extra -1 is negative", func(r *ledger.ReconcileRun) { r.Counts.Extra = -1 }},
			{"a negative read", "accounts -3 is negative", func(r *ledger.ReconcileRun) { r.Read.Accounts = -3 }},
			{"more fixed than planned", "fixed 3 is more than planned 2", func(r *ledger.ReconcileRun) { r.Fixed = 3 }},
			{"a dry run with fixes", "plans no fixes", func(r *ledger.ReconcileRun) { r.Fix = false }},
			{"a failed run with fixes", "plans no fixes", func(r *ledger.ReconcileRun) { r.Error = "ldap: down" }},
			{"held without why", "says why", func(r *ledger.ReconcileRun) { r.Planned, r.Fixed, r.Held = 0, 0, true }},
			{"why without held", "says why", func(r *ledger.ReconcileRun) { r.Planned, r.Fixed, r.HeldWhy = 0, 0, "too many" }},
			{"a dry run held", "only a --fix run holds", func(r *ledger.ReconcileRun) {
				r.Planned, r.Fixed, r.Fix, r.Held, r.HeldWhy = 0, 0, false, true, "too many"
			}},
			{"held and failed", "does not hold", func(r *ledger.ReconcileRun) {
				r.Planned, r.Fixed, r.Held, r.HeldWhy, r.Error = 0, 0, true, "too many", "ldap: down"
			}},
			{"a long error", "longer than", func(r *ledger.ReconcileRun) {
				r.Planned, r.Fixed, r.Error = 0, 0, strings.Repeat("x", ledger.MaxReconcileText+1)
			}},
			{"an error not UTF-8", "UTF-8", func(r *ledger.ReconcileRun) { r.Planned, r.Fixed, r.Error = 0, 0, "\xff" }},
		} {
			r := good
			tc.change(&r)
			err := rr.RecordReconcile(ctx, r)
			require.Error(t, err, tc.name)
			require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), tc.name)
			require.Contains(t, err.Error(), tc.want, tc.name)
		}
		last, err := rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Nil(t, last, "nothing refused was recorded")
		_, err = rr.LastReconcile(ctx, "")
		require.Equal(t, tilgang.Invalid, tilgang.KindOf(err), "a system id is needed")
	}},
	{"Erase", func(t *testing.T, l ledger.Ledger) {
		rr, ok := l.(ledger.ReconcileRuns)
		er, ok2 := l.(ledger.Eraser)
		if !ok || !ok2 {
			t.Skip("this backend records no reconciliation runs, or erases nothing")
		}
		ctx := t.Context()
		old, before, recent := t0.AddDate(-6, 0, 0), t0.AddDate(-5, 0, 0), t0.AddDate(-1, 0, 0)
		run := func(system string, at time.Time, fail string) ledger.ReconcileRun {
			return ledger.ReconcileRun{System: system, At: at, Actor: "reconcile", Read: ledger.ReconcileRead{Accounts: 9},
				Counts: ledger.ReconcileCounts{Orphan: 1}, Error: fail}
		}
		heldRun := ledger.ReconcileRun{System: "lonn", At: old, Actor: "reconcile", Fix: true, Counts: ledger.ReconcileCounts{Extra: 12},
			Held: true, HeldWhy: "12 removals is more than 10: nothing was fixed"}
		for _, r := range []ledger.ReconcileRun{
			run("gerica", old, ""), run("gerica", old.Add(time.Hour), "ldap: CN=Kari Nordmann: no such object"), run("gerica", recent, ""),
			run("p360", old, ""), run("p360", old.Add(time.Hour), "scim: user kari.nordmann: 500"),
			heldRun,
		} {
			require.NoError(t, rr.RecordReconcile(ctx, r))
		}
		// gerica: two old runs removed; p360: the older removed and the
		// newest's error cleared; lonn: its only run kept as it is.
		want := int64(2 + 1 + 1)
		n, err := er.Erase(ctx, before, t0, "1547-7", true)
		require.NoError(t, err)
		require.Equal(t, want, n.ReconcileRuns, "counted in a dry run")
		last, err := rr.LastReconcile(ctx, "p360")
		require.NoError(t, err)
		require.Equal(t, "scim: user kari.nordmann: 500", last.Error, "a dry run changes nothing")

		n, err = er.Erase(ctx, before, t0, "1547-7", false)
		require.NoError(t, err)
		require.Equal(t, want, n.ReconcileRuns)
		last, err = rr.LastReconcile(ctx, "gerica")
		require.NoError(t, err)
		require.Equal(t, recent, last.At, "the newest stays")
		last, err = rr.LastReconcile(ctx, "p360")
		require.NoError(t, err)
		require.Equal(t, old.Add(time.Hour), last.At, "each system's newest stays, even before the date")
		require.Equal(t, ledger.ErasedReconcileError, last.Error, "its error, the target's words, is gone; it still failed")
		require.Equal(t, ledger.ReconcileCounts{Orphan: 1}, last.Counts, "its counts stay")
		last, err = rr.LastReconcile(ctx, "lonn")
		require.NoError(t, err)
		require.Equal(t, &heldRun, last, "a held run's reason is counts: kept")

		n, err = er.Erase(ctx, before, t0, "1547-7", false)
		require.NoError(t, err)
		require.Zero(t, n.ReconcileRuns, "nothing more to erase")
		rep := verify(t, l, nil)
		require.True(t, rep.OK, rep.Problem)
	}},
}
