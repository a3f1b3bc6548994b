package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ror-ikt/tilgang"
	"github.com/ror-ikt/tilgang/internal/ledger"
)

// addGrants inserts grants (and their chain entries) into the fixture's ledger.
func (f *fixture) addGrants(t *testing.T, gs ...ledger.Grant) {
	t.Helper()
	tx, err := f.store.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback()
	for _, g := range gs {
		require.NoError(t, tx.InsertGrant(g))
		tx.Audit(ledger.AuditEntry{At: g.Updated, Kind: "grant.state", Person: g.Person, System: g.System, Role: g.Role,
			GrantID: g.ID, To: string(g.State), Details: ledger.GrantDetails(g, nil)})
	}
	require.NoError(t, tx.Commit())
}

func TestSystem(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	// More holders of gerica, in two roles and several states, a grant
	// still in training, and grants that hold nothing (ended, waiting for
	// approval).
	var more []ledger.Grant
	for i := range 7 {
		role, state := "bruker", tilgang.StateActive
		if i%3 == 0 {
			role = "admin"
		}
		if i == 4 {
			state = tilgang.StateRevoking
		}
		more = append(more, ledger.Grant{ID: fmt.Sprintf("h-%d", i), Person: fmt.Sprintf("1547-3000%d", 6-i), System: "gerica",
			Role: role, State: state, Requester: kjell, Created: now, Updated: now})
	}
	more = append(more,
		ledger.Grant{ID: "t-1", Person: bob, System: "gerica", Role: "bruker", State: tilgang.StatePendingTraining, Requester: other, Created: now, Updated: now},
		ledger.Grant{ID: "x-1", Person: other, System: "gerica", Role: "bruker", State: tilgang.StateRevoked, Requester: other, Created: now, Updated: now},
		ledger.Grant{ID: "x-2", Person: "1547-30009", System: "public360", Role: "bruker", State: tilgang.StateActive, Requester: other, Created: now, Updated: now},
	)
	f.addGrants(t, more...)

	var p SystemPage
	require.NoError(t, f.client(marit, portal).Call(ctx, MethodSystem, SystemArgs{System: "gerica"}, &p))
	var holders []string
	for _, g := range p.Holders {
		holders = append(holders, g.Role+"/"+g.Person+"/"+g.ID+"/"+g.State)
	}
	require.Equal(t, []string{
		"admin/1547-30000/h-6/active", "admin/1547-30003/h-3/active", "admin/1547-30006/h-0/active",
		"bruker/1547-10234/g-ase/active",
		"bruker/1547-30001/h-5/active", "bruker/1547-30002/h-4/revoking", "bruker/1547-30004/h-2/active", "bruker/1547-30005/h-1/active",
	}, holders, "the holders by role, person and id; not the ended, pending or other systems' grants")
	require.Equal(t, "", p.Next)
	require.Len(t, p.Training, 1)
	require.Equal(t, "t-1", p.Training[0].ID)
	require.Len(t, p.Tasks, 2, "gerica's manual task, and Bob's account work on its connector (he has a gerica grant in training)")
	require.Equal(t, "g-ase", p.Tasks[0].GrantID)
	require.Equal(t, ledger.KindEnsureAccount, p.Tasks[1].Kind)
	require.Equal(t, "G F", p.Names[ase])
	require.Equal(t, "G F", p.Names[bob], "the trainee's name")
	require.Equal(t, []string{marit}, p.Administrators)
	require.Nil(t, p.LastReconcile, "no reconciliation ran")

	t.Run("last reconciliation", func(t *testing.T) {
		held := ledger.ReconcileRun{System: "gerica", At: now, Actor: drift, Fix: true, Read: ledger.ReconcileRead{Accounts: 8},
			Counts: ledger.ReconcileCounts{Extra: 11}, Held: true, HeldWhy: "11 removals is more than 10: nothing was fixed"}
		other := ledger.ReconcileRun{System: "public360", At: now.Add(time.Minute), Actor: drift, Error: "scim: 503"}
		require.NoError(t, f.store.RecordReconcile(ctx, ledger.ReconcileRun{System: "gerica", At: now.Add(-time.Hour), Actor: drift}))
		require.NoError(t, f.store.RecordReconcile(ctx, held))
		require.NoError(t, f.store.RecordReconcile(ctx, other))
		var p SystemPage
		require.NoError(t, f.client(marit, portal).Call(ctx, MethodSystem, SystemArgs{System: "gerica", Role: "admin"}, &p))
		require.Equal(t, &held, p.LastReconcile, "the system's newest run, not another system's")
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		a := SystemArgs{System: "gerica", Limit: 3}
		for n := 0; ; n++ {
			var page SystemPage
			require.NoError(t, f.client(marit, portal).Call(ctx, MethodSystem, a, &page))
			require.LessOrEqual(t, len(page.Holders), 3)
			if n > 0 {
				require.Empty(t, page.Training, "training is on the first page only")
				require.Empty(t, page.Tasks)
			}
			for _, g := range page.Holders {
				got = append(got, g.Role+"/"+g.Person+"/"+g.ID+"/"+g.State)
			}
			if page.Next == "" {
				break
			}
			a.After = page.Next
		}
		require.Equal(t, holders, got)

		var all []string
		require.NoError(t, f.client(marit, portal).SystemHolders(ctx, "gerica", "admin", func(gs []Grant, names map[string]string) error {
			for _, g := range gs {
				all = append(all, g.ID)
			}
			return nil
		}))
		require.Equal(t, []string{"h-6", "h-3", "h-0"}, all, "one role's holders")
	})

	tests := []struct {
		name  string
		actor string
		via   string
		args  SystemArgs
		kind  tilgang.Kind
	}{
		{name: "an auditor", actor: revisor, args: SystemArgs{System: "gerica"}},
		{name: "an operator", actor: drift, args: SystemArgs{System: "gerica"}},
		{name: "an operator, a system the catalogue lacks", actor: drift, args: SystemArgs{System: "retired"}},
		{name: "an administrator of another system", actor: tor, via: portal, args: SystemArgs{System: "gerica"}, kind: tilgang.Denied},
		{name: "a holder's manager", actor: kjell, via: portal, args: SystemArgs{System: "gerica"}, kind: tilgang.Denied},
		{name: "a stranger", actor: stranger, via: portal, args: SystemArgs{System: "gerica"}, kind: tilgang.Denied},
		{name: "a stranger, a system the catalogue lacks", actor: stranger, via: portal, args: SystemArgs{System: "retired"}, kind: tilgang.Denied},
		{name: "no system", actor: marit, args: SystemArgs{}, kind: tilgang.Invalid},
		{name: "a bad role", actor: marit, args: SystemArgs{System: "gerica", Role: "a b"}, kind: tilgang.Invalid},
		{name: "a limit too large", actor: marit, args: SystemArgs{System: "gerica", Limit: MaxGrants + 1}, kind: tilgang.Invalid},
		{name: "after a grant of another system", actor: marit, args: SystemArgs{System: "gerica", After: "x-2"}, kind: tilgang.Invalid},
		{name: "after a grant of another role", actor: marit, args: SystemArgs{System: "gerica", Role: "admin", After: "h-1"}, kind: tilgang.Invalid},
		{name: "after a grant that is not", actor: marit, args: SystemArgs{System: "gerica", After: "nope"}, kind: tilgang.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p SystemPage
			err := f.client(tc.actor, tc.via).Call(ctx, MethodSystem, tc.args, &p)
			require.Equal(t, tc.kind, kindOf(err), "err: %v", err)
			if tc.kind == tilgang.Denied {
				require.Contains(t, err.Error(), "may not see system")
			}
		})
	}
}
